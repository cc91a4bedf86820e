/* The Uffd memory backend (snapuffd.h): registration, Firecracker's handshake, and the
 * watch on the handler. */
#include "snapuffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ramfence.h"
#include "vmm_seccomp.h"
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

		bool hup;

		if (ioctl(sock, SIOCOUTQ, &outq) < 0)
			return -errno;
		/* A handler that is gone already fails the load, whether or not it read the
		 * handshake first: checked after the queue, so that an early hang-up is seen
		 * the same way however the two race. (A peer closing unread also empties it.) */
		hup = poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
		if (hup)
			return -EPIPE;
		if (outq == 0)
			return 0;
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
	u->uffd = u->sock = u->wake_fd = -1;
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
	/* Before any thread's filter (no rt_sigaction there): a device that touches the RAM
	 * once it is withdrawn ends the VMM with the reason, not a crash. */
	r = ramfence_install(m->map, m->map_size);
	if (r) {
		errorf(err, errlen, r, "cannot install the guest RAM fault handler: %s", strerror(-r));
		ioctl(u->uffd, UFFDIO_UNREGISTER, &reg.range);
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
	u->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->wake_fd < 0) {
		r = errorf_errno(err, errlen, errno, "eventfd");
		goto fail;
	}
	return 0;
fail:
	/* Nothing ran on this RAM yet: unregistered, it is plain anonymous memory again. */
	if (u->len)
		ioctl(u->uffd, UFFDIO_UNREGISTER, &reg.range);
	u->len = 0;
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

/* Makes the RAM inaccessible, then wakes every fault still waiting on the handler: the woken
 * faults fail (a vCPU's KVM_RUN with EFAULT, a device's I/O with EFAULT) instead of reading
 * a zero page in place of the guest's data, which could otherwise reach a disk. Only with
 * the VM stopping or gone. */
static void fence(struct snapuffd *u)
{
	if (!u->len || u->uffd < 0)
		return;
	ramfence_fence(u->uffd, u->base, u->len, u->why[0] ? u->why : "the VM is being torn down");
	u->len = 0;
}

/* The monitor: its own thread, because the VMM thread may itself be the one waiting on a
 * fault (a device touching a page the guest never did), and then its event loop could not
 * notice anything. It makes no allocation (its seccomp filter has no mmap or brk). */
static void *monitor(void *arg)
{
	struct snapuffd *u = arg;

	if (u->seccomp && seccomp_install(SECCOMP_UFFD)) {
		snprintf(u->why, sizeof(u->why), "cannot install the page-fault watch's seccomp filter");
		goto failed;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = u->sock, .events = POLLRDHUP }, { .fd = u->wake_fd, .events = POLLIN } };
		struct timespec tick = { .tv_nsec = SNAPUFFD_POLL_MS * 1000000l };

		if (ppoll(p, 2, &tick, NULL) > 0 && (p[1].revents & POLLIN))
			break; /* snapuffd_release */
		if (snapuffd_check(u, mono_ns()))
			goto failed;
	}
	fence(u);
	return NULL;
failed:
	__atomic_store_n(&u->failed, true, __ATOMIC_SEQ_CST);
	log_error("%s", u->why);
	u->fail(u->opaque, u->why);
	fence(u);
	return NULL;
}

int snapuffd_watch(struct snapuffd *u, bool seccomp, void (*fail)(void *opaque, const char *why), void *opaque)
{
	int r;

	u->fail = fail;
	u->opaque = opaque;
	u->seccomp = seccomp;
	r = -pthread_create(&u->thread, NULL, monitor, u);
	if (r)
		return r;
	pthread_setname_np(u->thread, "kindling-uffd");
	u->thread_started = true;
	return 0;
}

bool snapuffd_failed(const struct snapuffd *u)
{
	return __atomic_load_n(&u->failed, __ATOMIC_SEQ_CST);
}

void snapuffd_release(struct snapuffd *u)
{
	if (!u->active)
		return;
	if (u->thread_started) {
		uint64_t one = 1;

		/* The monitor fences the RAM on its way out, under its own filter. */
		if (write(u->wake_fd, &one, sizeof(one)) < 0)
			log_debug("uffd monitor wake-up: %s", strerror(errno));
		pthread_join(u->thread, NULL);
		u->thread_started = false;
	}
	fence(u);
	if (u->sock >= 0)
		close(u->sock);
	if (u->uffd >= 0)
		close(u->uffd);
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	u->sock = u->uffd = u->wake_fd = -1;
	u->active = false;
}
