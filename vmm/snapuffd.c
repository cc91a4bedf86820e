/* The Uffd memory backend (snapuffd.h): registration, Firecracker's handshake, and the
 * watch on the handler. */
#include "snapuffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "util.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int snapuffd_mappings_json(const struct guest_mem *m, char *buf, size_t len)
{
	size_t n = 0;
	int w;

	/* serde_json's rendering of Vec<GuestRegionUffdMapping>: fields in declaration order,
	 * no spaces. The memory file holds the regions back to back in mapping order. */
	w = snprintf(buf, len, "[");
	for (int i = 0; i < m->nr_regions && w >= 0 && (size_t)w < len - n; i++) {
		n += (size_t)w;
		w = snprintf(buf + n, len - n,
			     "%s{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":%llu,\"page_size_kib\":4}",
			     i ? "," : "", (unsigned long long)(uintptr_t)m->region[i].host,
			     (unsigned long long)m->region[i].size,
			     (unsigned long long)(m->region[i].host - m->map));
	}
	if (w < 0 || (size_t)w >= len - n)
		return -ENOSPC;
	n += (size_t)w;
	w = snprintf(buf + n, len - n, "]");
	if (w < 0 || (size_t)w >= len - n)
		return -ENOSPC;
	return (int)(n + (size_t)w);
}

/* Connects without blocking: a Unix stream connect waits only when the listener's backlog
 * is full, and then not past the deadline. */
static int connect_handler(const char *path, uint64_t deadline_ns, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errorf(err, errlen, -ENAMETOOLONG, "the page-fault handler's socket path is too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errorf_errno(err, errlen, errno, "socket");
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		if ((e == EAGAIN || e == EINPROGRESS || e == EINTR) && mono_ns() < deadline_ns) {
			usleep(1000);
			continue;
		}
		close(fd);
		if (e == EAGAIN || e == EINPROGRESS)
			return errorf(err, errlen, -ETIMEDOUT, "the page-fault handler at %s does not accept connections",
				      path);
		return errorf(err, errlen, -e, "cannot connect to the page-fault handler at %s: %s", path, strerror(e));
	}
	return fd;
}

static int send_handshake(int sock, const char *body, size_t len, int uffd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} c;
	struct iovec iov = { .iov_base = (void *)body, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	memset(&c, 0, sizeof(c));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &uffd, sizeof(int));
	/* One message, as Firecracker sends it: handlers read it with one recvmsg. It is far
	 * smaller than the socket buffer, so it goes out whole or not at all. */
	n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

/* Until the handler has read the handshake: a Unix stream socket's SIOCOUTQ counts the bytes
 * sent and not yet read. Without this a handler that never accepts would only show up at
 * the first fault, which may be the VMM thread's own (restoring a device) and unwatched. */
static int wait_taken(int sock, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLRDHUP };
		int outq = 0;

		if (ioctl(sock, SIOCOUTQ, &outq) < 0)
			return -errno;
		if (outq == 0)
			return 0;
		if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return -EPIPE;
		if (mono_ns() >= deadline_ns)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

int snapuffd_attach(struct snapuffd *u, struct guest_mem *m, const char *path, unsigned deadline_ms, char *err,
		    size_t errlen)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { .start = (uintptr_t)m->map, .len = m->map_size },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	uint64_t deadline_ns = mono_ns() + (uint64_t)deadline_ms * 1000000ull;
	char body[512];
	int n, r;

	memset(u, 0, sizeof(*u));
	u->uffd = u->sock = u->timer_fd = -1;
	u->active = true;
	u->deadline_ms = deadline_ms;
	n = snapuffd_mappings_json(m, body, sizeof(body));
	if (n < 0)
		return errorf(err, errlen, n, "the memory layout does not fit the handshake");
	/* As Firecracker: close-on-exec, non-blocking (also what lets poll() report a pending
	 * fault), faults from the kernel (KVM) too, not only user mode. */
	u->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u->uffd < 0 && errno == EPERM)
		return errorf(err, errlen, -EPERM,
			      "userfaultfd: not permitted (without CAP_SYS_PTRACE, e.g. in a jail, the host needs "
			      "vm.unprivileged_userfaultfd=1)");
	if (u->uffd < 0)
		return errorf_errno(err, errlen, errno, "userfaultfd");
	if (ioctl(u->uffd, UFFDIO_API, &api) < 0) {
		r = errorf_errno(err, errlen, errno, "UFFDIO_API");
		goto fail;
	}
	/* Any page already touched (nothing should have been) would never fault: drop it. */
	madvise(m->map, m->map_size, MADV_DONTNEED);
	if (ioctl(u->uffd, UFFDIO_REGISTER, &reg) < 0) {
		r = errorf_errno(err, errlen, errno, "UFFDIO_REGISTER");
		goto fail;
	}
	u->base = m->map;
	u->len = m->map_size;
	u->sock = connect_handler(path, deadline_ns, err, errlen);
	if (u->sock < 0) {
		r = u->sock;
		goto fail;
	}
	r = send_handshake(u->sock, body, (size_t)n, u->uffd);
	if (r) {
		errorf(err, errlen, r, "cannot send the memory mappings to the page-fault handler: %s", strerror(-r));
		goto fail;
	}
	r = wait_taken(u->sock, deadline_ns);
	if (r == -ETIMEDOUT)
		errorf(err, errlen, r, "the page-fault handler at %s did not take the userfaultfd within %u ms", path,
		       deadline_ms);
	else if (r == -EPIPE)
		errorf(err, errlen, r, "the page-fault handler at %s hung up during the handshake", path);
	else if (r)
		errorf(err, errlen, r, "SIOCOUTQ: %s", strerror(-r));
	if (r)
		goto fail;
	u->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (u->timer_fd < 0) {
		r = errorf_errno(err, errlen, errno, "timerfd_create");
		goto fail;
	}
	return 0;
fail:
	snapuffd_release(u);
	return r;
}

int snapuffd_check(struct snapuffd *u, uint64_t now_ns)
{
	struct pollfd p[2] = { { .fd = u->sock, .events = POLLRDHUP }, { .fd = u->uffd, .events = POLLIN } };

	if (u->sock < 0 || u->uffd < 0)
		return 0;
	if (ppoll(p, 2, &(struct timespec){ 0 }, NULL) < 0)
		return 0; /* EINTR: look again next tick */
	if (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
		snprintf(u->why, sizeof(u->why), "the page-fault handler went away (its socket hung up)");
		return -EPIPE;
	}
	if (p[1].revents & POLLERR) {
		snprintf(u->why, sizeof(u->why), "the userfaultfd failed");
		return -EPIPE;
	}
	/* A readable uffd holds a fault the handler has not read yet. A live handler reads each
	 * within microseconds, so a streak of looks that all find one means it stopped reading
	 * (or cannot keep up at all). */
	if (!(p[1].revents & POLLIN)) {
		u->pending_since_ns = 0;
		return 0;
	}
	if (!u->pending_since_ns)
		u->pending_since_ns = now_ns;
	if (now_ns - u->pending_since_ns >= (uint64_t)u->deadline_ms * 1000000ull) {
		snprintf(u->why, sizeof(u->why), "the page-fault handler left a fault unserved for %u ms", u->deadline_ms);
		return -ETIMEDOUT;
	}
	return 0;
}

static void on_event(struct snapuffd *u)
{
	if (snapuffd_check(u, mono_ns()) == 0)
		return;
	/* Once: the VM is stopping. */
	evloop_del(u->loop, u->sock);
	evloop_del(u->loop, u->timer_fd);
	u->loop = NULL;
	log_error("%s", u->why);
	u->fail(u->opaque, u->why);
}

static void on_sock(void *opaque, uint32_t events)
{
	struct snapuffd *u = opaque;
	char buf[256];

	/* Firecracker's handlers send nothing; whatever one sends is read and dropped, so
	 * that the level-triggered watch does not spin. */
	if (events & EPOLLIN) {
		ssize_t n = read(u->sock, buf, sizeof(buf));

		if (n > 0)
			return;
	}
	on_event(u);
}

static void on_tick(void *opaque, uint32_t events)
{
	struct snapuffd *u = opaque;
	uint64_t ticks;

	(void)events;
	if (read(u->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("uffd timer read: %s", strerror(errno));
	on_event(u);
}

int snapuffd_watch(struct snapuffd *u, struct evloop *l, void (*fail)(void *opaque, const char *why), void *opaque)
{
	struct itimerspec it = { .it_interval = { .tv_nsec = SNAPUFFD_POLL_MS * 1000000l },
				 .it_value = { .tv_nsec = SNAPUFFD_POLL_MS * 1000000l } };
	int r;

	u->fail = fail;
	u->opaque = opaque;
	if (timerfd_settime(u->timer_fd, 0, &it, NULL) < 0)
		return -errno;
	r = evloop_add(l, u->sock, EPOLLIN | EPOLLRDHUP, on_sock, u);
	if (r)
		return r;
	r = evloop_add(l, u->timer_fd, EPOLLIN, on_tick, u);
	if (r) {
		evloop_del(l, u->sock);
		return r;
	}
	u->loop = l;
	return 0;
}

void snapuffd_release(struct snapuffd *u)
{
	if (!u->active)
		return;
	if (u->loop) {
		evloop_del(u->loop, u->sock);
		evloop_del(u->loop, u->timer_fd);
		u->loop = NULL;
	}
	if (u->len && u->uffd >= 0) {
		struct uffdio_range range = { .start = (uintptr_t)u->base, .len = u->len };

		/* Wakes every fault still waiting on the handler (vCPUs, the VMM thread). */
		if (ioctl(u->uffd, UFFDIO_UNREGISTER, &range) < 0)
			log_debug("UFFDIO_UNREGISTER: %s", strerror(errno));
	}
	if (u->sock >= 0)
		close(u->sock);
	if (u->uffd >= 0)
		close(u->uffd);
	if (u->timer_fd >= 0)
		close(u->timer_fd);
	u->sock = u->uffd = u->timer_fd = -1;
	u->len = 0;
	u->active = false;
}
