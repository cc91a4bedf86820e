/* The Uffd memory backend (vmm/snapuffd.c) without KVM: guest RAM registered with a
 * userfaultfd on a plain mapping, Firecracker's handshake read by an in-process handler
 * that parses it as Firecracker's handlers do (serde: an array of objects with exactly the
 * four integer fields), pages served from a file, and the watch: a silent handler misses
 * the deadline, a dead one hangs up, a missing or never-accepting one fails the attach. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "snapuffd.h"
#include "test.h"

#define PAGES 64
#define RAM (PAGES * 4096)

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Why userfaultfd cannot be used here, or NULL. */
static const char *uffd_unavailable(void)
{
	static char why[160];
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0) {
		close(fd);
		return NULL;
	}
	snprintf(why, sizeof(why), "userfaultfd(): %s (uid %d; see /proc/sys/vm/unprivileged_userfaultfd)",
		 strerror(errno), (int)getuid());
	return why;
}

enum mode { SERVE, SILENT, HANGUP };

struct handler {
	enum mode mode;
	int lfd;
	const uint8_t *file;
	int nregions;
	uint64_t base[2], size[2], offset[2];
	int bad; /* the handshake did not parse as Firecracker's handlers parse it */
	int go[2]; /* HANGUP: hangs up once the test writes here (after the handshake is done) */
};

/* serde_json::from_str::<Vec<GuestRegionUffdMapping>>: every field present, an unsigned
 * integer, no other field. */
static int parse_firecracker(struct handler *h, const char *body)
{
	cJSON *a = cJSON_Parse(body), *o;
	int n = 0;

	if (!cJSON_IsArray(a))
		goto bad;
	cJSON_ArrayForEach(o, a)
	{
		static const char *const names[] = { "base_host_virt_addr", "size", "offset", "page_size_kib" };
		double v[4];

		if (!cJSON_IsObject(o) || cJSON_GetArraySize(o) != 4 || n == 2)
			goto bad;
		for (int i = 0; i < 4; i++) {
			cJSON *f = cJSON_GetObjectItemCaseSensitive(o, names[i]);

			if (!cJSON_IsNumber(f) || f->valuedouble < 0 || strchr(f->string, '.'))
				goto bad;
			v[i] = f->valuedouble;
		}
		if (v[3] != 4)
			goto bad;
		h->base[n] = (uint64_t)v[0];
		h->size[n] = (uint64_t)v[1];
		h->offset[n] = (uint64_t)v[2];
		n++;
	}
	cJSON_Delete(a);
	h->nregions = n;
	return n ? 0 : -1;
bad:
	cJSON_Delete(a);
	return -1;
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	char body[1024], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = body, .iov_len = sizeof(body) - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int conn, uffd = -1;
	ssize_t n;

	conn = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return NULL;
	n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
	cm = CMSG_FIRSTHDR(&msg);
	if (n <= 0 || !cm || cm->cmsg_type != SCM_RIGHTS) {
		h->bad = 1;
		close(conn);
		return NULL;
	}
	body[n] = '\0';
	memcpy(&uffd, CMSG_DATA(cm), sizeof(int));
	h->bad = parse_firecracker(h, body) != 0;
	if (h->mode == HANGUP) {
		char c;

		/* Not before the handshake has ended: a hang-up during it fails the load. */
		while (read(h->go[0], &c, 1) < 0 && errno == EINTR)
			;
		goto out;
	}
	if (h->bad)
		goto out;
	for (;;) {
		struct pollfd p[2] = { { .fd = conn, .events = POLLRDHUP }, { .fd = uffd, .events = POLLIN } };
		struct uffd_msg m;

		if (poll(p, h->mode == SERVE ? 2 : 1, -1) < 0 || p[0].revents)
			break; /* the VMM hung up */
		if (read(uffd, &m, sizeof(m)) != sizeof(m) || m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		uint64_t a = m.arg.pagefault.address & ~4095ull;

		for (int i = 0; i < h->nregions; i++) {
			if (a >= h->base[i] && a - h->base[i] < h->size[i]) {
				struct uffdio_copy c = { .dst = a,
							 .src = (uintptr_t)(h->file + h->offset[i] + (a - h->base[i])),
							 .len = 4096 };

				if (ioctl(uffd, UFFDIO_COPY, &c) < 0 && errno != EEXIST)
					h->bad = 1;
			}
		}
	}
out:
	close(uffd);
	close(conn);
	return NULL;
}

struct fixture {
	char dir[64], sock[96], memfile[96];
	uint8_t *file;
	struct guest_mem m;
	struct handler h;
	pthread_t thread;
	int thread_started;
};

/* RAM of PAGES pages (page i holds i+1 in every byte, page 7 a hole), a trailer after it as
 * kindling's memory files have, a listening socket. */
static int setup(struct fixture *f, enum mode mode, int start_handler)
{
	int fd;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/kindling-uffd-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->sock, sizeof(f->sock), "%s/uffd.sock", f->dir);
	snprintf(f->memfile, sizeof(f->memfile), "%s/mem", f->dir);
	f->file = calloc(1, RAM + 4096);
	if (!f->file)
		return -1;
	for (int i = 0; i < PAGES; i++)
		if (i != 7)
			memset(f->file + (size_t)i * 4096, i + 1, 4096);
	memset(f->file + RAM, 0xee, 4096);
	fd = open(f->memfile, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, f->file, RAM + 4096) != RAM + 4096)
		return -1;
	close(fd);
	if (mem_create(&f->m, RAM))
		return -1;
	f->h.mode = mode;
	f->h.file = f->file;
	if (pipe2(f->h.go, O_CLOEXEC))
		return -1;
	f->h.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	if (f->h.lfd < 0 || bind(f->h.lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(f->h.lfd, 1))
		return -1;
	if (start_handler) {
		if (pthread_create(&f->thread, NULL, handler_main, &f->h))
			return -1;
		f->thread_started = 1;
	}
	return 0;
}

static void teardown(struct fixture *f)
{
	/* EOF on go: a HANGUP handler still waiting ends (a test that failed early). */
	if (f->h.go[1] > 0)
		close(f->h.go[1]);
	if (f->thread_started)
		pthread_join(f->thread, NULL);
	if (f->h.go[0] > 0)
		close(f->h.go[0]);
	if (f->h.lfd > 0)
		close(f->h.lfd);
	mem_destroy(&f->m);
	free(f->file);
	unlink(f->sock);
	unlink(f->memfile);
	rmdir(f->dir);
}

/* Touches a page from the kernel, as KVM does (a write() from it into a pipe): returns
 * 1 once served, or -EFAULT once the RAM is fenced (snapuffd_release). */
static int touch_pipe[2];

static void *touch(void *p)
{
	ssize_t n = write(touch_pipe[1], p, 1);

	return (void *)(intptr_t)(n < 0 ? -errno : n);
}

TEST(snapuffd_mappings_json_firecracker_layout)
{
	struct guest_mem m;
	char buf[512];
	uint8_t *fake = (uint8_t *)(uintptr_t)0x7f0000000000ull;
	struct handler h = { 0 };

	CHECK(mem_layout(&m, 64ull << 20, fake) == 0);
	m.map = fake;
	CHECK(snapuffd_mappings_json(&m, buf, sizeof(buf)) > 0);
	/* serde_json's own rendering of the struct, byte for byte. */
	CHECK(!strcmp(buf, "[{\"base_host_virt_addr\":139637976727552,\"size\":67108864,\"offset\":0,\"page_size_kib\":4}]"));
	/* Above the MMIO gap: two regions, the second at its offset in the memory file. */
	CHECK(mem_layout(&m, 4ull << 30, fake) == 0);
	m.map = fake;
	CHECK(snapuffd_mappings_json(&m, buf, sizeof(buf)) > 0);
	CHECK(parse_firecracker(&h, buf) == 0);
	CHECK(h.nregions == 2);
	CHECK(h.base[0] == 0x7f0000000000ull && h.size[0] == 3ull << 30 && h.offset[0] == 0);
	CHECK(h.base[1] == 0x7f0000000000ull + (3ull << 30) && h.size[1] == 1ull << 30 && h.offset[1] == 3ull << 30);
	CHECK(snapuffd_mappings_json(&m, buf, 40) == -ENOSPC);
}

TEST(snapuffd_serves_pages_from_file)
{
	const char *why = uffd_unavailable();
	struct fixture f;
	struct snapuffd u;
	char err[256];
	int ok = 1;

	if (why)
		SKIP(why);
	CHECK(setup(&f, SERVE, 1) == 0);
	f.m.map[3] = 0x55; /* touched before the attach: dropped, the file's byte wins */
	CHECK(snapuffd_attach(&u, &f.m, f.sock, 2000, err, sizeof(err)) == 0);
	for (int i = 0; i < PAGES; i++)
		ok &= f.m.map[(size_t)i * 4096 + 100] == (i == 7 ? 0 : i + 1);
	ok &= f.m.map[3] == 1;
	ok &= snapuffd_check(&u, now()) == 0;
	snapuffd_release(&u);
	snapuffd_release(&u); /* idempotent */
	teardown(&f);
	CHECK(!f.h.bad);
	CHECK(f.h.nregions == 1);
	CHECK(ok);
}

TEST(snapuffd_deadline_when_handler_silent)
{
	const char *why = uffd_unavailable();
	struct fixture f;
	struct snapuffd u;
	pthread_t t;
	void *res = NULL;
	char err[256];
	int r = 0, first;
	uint64_t t0;

	if (why)
		SKIP(why);
	CHECK(setup(&f, SILENT, 1) == 0);
	CHECK(snapuffd_attach(&u, &f.m, f.sock, 300, err, sizeof(err)) == 0);
	first = snapuffd_check(&u, now()); /* nothing pending yet */
	CHECK(pipe2(touch_pipe, O_CLOEXEC | O_NONBLOCK) == 0);
	CHECK(pthread_create(&t, NULL, touch, f.m.map + 5 * 4096) == 0);
	t0 = now();
	while (r == 0 && now() - t0 < 3000000000ull) {
		usleep(50000);
		r = snapuffd_check(&u, now());
	}
	/* The release fences the RAM and wakes the fault, which fails: no zero page read. */
	snapuffd_release(&u);
	pthread_join(t, &res);
	close(touch_pipe[0]);
	close(touch_pipe[1]);
	teardown(&f);
	CHECK(first == 0);
	CHECK((intptr_t)res == -EFAULT);
	CHECK(r == -ETIMEDOUT);
	CHECK(now() - t0 >= 300000000ull);
	CHECK(strstr(u.why, "left a fault unserved for 300 ms"));
}

TEST(snapuffd_handler_hangup_detected)
{
	const char *why = uffd_unavailable();
	struct fixture f;
	struct snapuffd u;
	pthread_t t;
	void *res = NULL;
	char err[256];
	int r = 0, joined;
	uint64_t t0;

	if (why)
		SKIP(why);
	CHECK(setup(&f, HANGUP, 1) == 0);
	CHECK(snapuffd_attach(&u, &f.m, f.sock, 2000, err, sizeof(err)) == 0);
	CHECK(write(f.h.go[1], "x", 1) == 1);
	pthread_join(f.thread, NULL);
	f.thread_started = 0;
	t0 = now();
	while (r == 0 && now() - t0 < 2000000000ull) {
		r = snapuffd_check(&u, now());
		usleep(10000);
	}
	/* The VMM's own copy of the uffd keeps a fault waiting (no silent zero page) until
	 * the VMM gives up on the handler. */
	CHECK(pipe2(touch_pipe, O_CLOEXEC | O_NONBLOCK) == 0);
	CHECK(pthread_create(&t, NULL, touch, f.m.map + 9 * 4096) == 0);
	usleep(200000);
	joined = pthread_tryjoin_np(t, &res) == 0;
	snapuffd_release(&u);
	if (!joined)
		pthread_join(t, &res);
	close(touch_pipe[0]);
	close(touch_pipe[1]);
	teardown(&f);
	CHECK(r == -EPIPE);
	CHECK((intptr_t)res == -EFAULT);
	CHECK(strstr(u.why, "the page-fault handler went away"));
	CHECK(!joined);
}

TEST(snapuffd_attach_fails_without_handler)
{
	const char *why = uffd_unavailable();
	struct fixture f;
	struct snapuffd u;
	char err[256], err2[256], missing[128];
	int r1, r2;
	uint64_t t0, t1;

	if (why)
		SKIP(why);
	/* Listening, never accepting: the handshake is never read. */
	CHECK(setup(&f, SERVE, 0) == 0);
	snprintf(missing, sizeof(missing), "%s/nobody.sock", f.dir);
	t0 = now();
	r1 = snapuffd_attach(&u, &f.m, missing, 300, err, sizeof(err));
	t1 = now();
	r2 = snapuffd_attach(&u, &f.m, f.sock, 300, err2, sizeof(err2));
	/* Nothing stays registered: the RAM reads as plain anonymous memory again. */
	CHECK(f.m.map[4096] == 0);
	teardown(&f);
	CHECK(r1 == -ENOENT && strstr(err, "cannot connect to the page-fault handler"));
	CHECK(t1 - t0 < 200000000ull);
	CHECK(r2 == -ETIMEDOUT && strstr(err2, "did not take the userfaultfd within 300 ms"));
}

/* examples/uffd/uffd-handler, when built (make), in place of the in-process handler. */
TEST(snapuffd_example_handler)
{
	const char *why = uffd_unavailable(), *bin = "build/examples/uffd-handler";
	struct fixture f;
	struct snapuffd u;
	char err[256];
	int ok = 1, r = -1, status;
	pid_t pid;

	if (why)
		SKIP(why);
	if (access(bin, X_OK))
		SKIP("build/examples/uffd-handler not built (make)");
	CHECK(setup(&f, SERVE, 0) == 0);
	close(f.h.lfd);
	f.h.lfd = -1;
	unlink(f.sock);
	pid = fork();
	if (pid == 0) {
		execl(bin, bin, f.sock, f.memfile, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && access(f.sock, F_OK); i++)
		usleep(10000);
	r = snapuffd_attach(&u, &f.m, f.sock, 2000, err, sizeof(err));
	if (r == 0) {
		for (int i = 0; i < PAGES; i++)
			ok &= f.m.map[(size_t)i * 4096 + 4095] == (i == 7 ? 0 : i + 1);
		snapuffd_release(&u); /* the handler sees the hang-up and exits */
	} else {
		kill(pid, SIGKILL);
	}
	waitpid(pid, &status, 0);
	teardown(&f);
	CHECK(r == 0);
	CHECK(ok);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int fail_calls;
static char fail_why[160];

static void on_fail(void *opaque, const char *why)
{
	(void)opaque;
	fail_calls++;
	snprintf(fail_why, sizeof(fail_why), "%s", why);
}

/* The monitor thread (no seccomp here): a silent handler, a fault blocked on it; the monitor
 * calls fail once, then fences the RAM, so the blocked fault fails instead of reading a zero
 * page, without anyone else's help. */
TEST(snapuffd_monitor_stops_and_fences)
{
	const char *why = uffd_unavailable();
	struct fixture f;
	struct snapuffd u;
	pthread_t t;
	void *res = NULL;
	char err[256];
	int watched;
	uint64_t t0;

	if (why)
		SKIP(why);
	fail_calls = 0;
	CHECK(setup(&f, SILENT, 1) == 0);
	CHECK(snapuffd_attach(&u, &f.m, f.sock, 500, err, sizeof(err)) == 0);
	watched = snapuffd_watch(&u, false, on_fail, NULL);
	CHECK(pipe2(touch_pipe, O_CLOEXEC | O_NONBLOCK) == 0);
	CHECK(pthread_create(&t, NULL, touch, f.m.map + 3 * 4096) == 0);
	t0 = now();
	pthread_join(t, &res); /* returns only once the monitor fenced the RAM */
	t0 = now() - t0;
	snapuffd_release(&u);
	close(touch_pipe[0]);
	close(touch_pipe[1]);
	teardown(&f);
	CHECK(watched == 0);
	CHECK((intptr_t)res == -EFAULT);
	CHECK(t0 >= 500000000ull && t0 < 3000000000ull);
	CHECK(fail_calls == 1);
	CHECK(strstr(fail_why, "left a fault unserved for 500 ms"));
}
