/* seccomp-harness: tests the per-thread filters of vmm/vmm_seccomp.c without the VMM. A thread
 * installs the filter of KIND, then either makes the calls that kind of thread makes in the
 * VMM (it must survive: exit 0) or one it must not make (the process must die of SIGSYS).
 *   seccomp-harness KIND allowed|forbidden|bad-ioctl|exec-mmap|socket|open-after-boot|
 *                        pwritev-other-fd|writev-other-fd
 * open-after-boot survives only if every open is refused with EACCES.
 * KIND is api, vmm, vcpu, console or prefetch (whose allowed calls populate a private file
 * mapping, as a restore's working-set prefetch does; it may not open anything at all, so
 * open-after-boot kills it). Exit 3: a forbidden call was survived; 4: an allowed one
 * failed; 77: the case needs /dev/kvm, which is missing. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "vm.h"
#include "vmm_seccomp.h"

struct kvm {
	int vm_fd, vcpu_fd;
	struct kvm_run *run;
};

static enum seccomp_thread kind;
static const char *what;
static char tmpdir[] = "/tmp/seccomp-harness.XXXXXX";
static struct kvm kvm = { -1, -1, NULL };
/* "Guest RAM" for the prefetch kind: a file mapped MAP_PRIVATE, as a restore maps it. */
#define RAM_PAGES 16
static uint8_t *ram;
static int efd, epfd, listen_fd, sp[2], pfd[2], file_fd, tfd, vtfd;
static pthread_t peer;
static volatile sig_atomic_t kicks;

static void kick(int sig)
{
	(void)sig;
	kicks++;
}

static void need(bool ok, const char *call)
{
	if (!ok) {
		fprintf(stderr, "seccomp-harness: %s thread: allowed call %s failed: %s\n", seccomp_thread_name(kind),
			call, strerror(errno));
		exit(4);
	}
}

/* Before the filter: what the VMM sets up before its threads install theirs. */
/* What open-after-boot created on the VMM thread. */
static void remove_snapshot_file(void)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/snapshot", tmpdir);
	unlink(path);
}

static int setup(void)
{
	struct sigaction sa = { .sa_handler = kick };
	struct itimerspec its = { { 60, 0 }, { 60, 0 } };
	int kvm_fd;

	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	if (!mkdtemp(tmpdir))
		return -1;
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	listen(listen_fd, 1);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	char path[64];

	snprintf(path, sizeof(path), "%s/sock", tmpdir);
	close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	timerfd_settime(tfd, 0, &its, NULL);
	vtfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK); /* a device's limiter timer */
	snprintf(path, sizeof(path), "%s/disk", tmpdir);
	file_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	unlink(path); /* a disk image nobody else sees; the fd keeps it */
	snprintf(path, sizeof(path), "%s/ram", tmpdir);
	int ram_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	unlink(path);
	if (ram_fd < 0 || ftruncate(ram_fd, RAM_PAGES * 4096) < 0)
		return -1;
	ram = mmap(NULL, RAM_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, ram_fd, 0);
	close(ram_fd);
	if (ram == MAP_FAILED)
		return -1;
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd >= 0) {
		int size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

		kvm.vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
		if (kvm.vm_fd >= 0 && ioctl(kvm.vm_fd, KVM_CREATE_IRQCHIP, 0) == 0)
			kvm.vcpu_fd = ioctl(kvm.vm_fd, KVM_CREATE_VCPU, 0);
		if (kvm.vcpu_fd >= 0 && size > 0)
			kvm.run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, kvm.vcpu_fd, 0);
		if (kvm.run == MAP_FAILED)
			kvm.run = NULL;
	}
	return efd >= 0 && epfd >= 0 && listen_fd >= 0 && file_fd >= 0 ? 0 : -1;
}

static void *peer_thread(void *arg)
{
	(void)arg;
	struct timespec ms = { 0, 1000000 };

	while (!kicks)
		nanosleep(&ms, NULL);
	return NULL;
}

static void use_memory(void)
{
	for (int i = 0; i < 64; i++) {
		void *small = malloc(100), *big = malloc(1 << 20);

		need(small && big, "malloc");
		memset(big, 1, 1 << 20);
		big = realloc(big, 4 << 20);
		need(big != NULL, "realloc");
		free(small);
		free(big);
	}
}

static void allowed_common(void)
{
	uint64_t one = 1, v;
	struct timespec ts;

	if (kind != SECCOMP_CONSOLE && kind != SECCOMP_PREFETCH) /* neither ever allocates */
		use_memory();
	need(write(efd, &one, sizeof(one)) == sizeof(one), "write(eventfd)");
	need(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0, "clock_gettime(CPU)");
	if (kind != SECCOMP_CONSOLE && kind != SECCOMP_VCPU && kind != SECCOMP_PREFETCH)
		need(read(efd, &v, sizeof(v)) == sizeof(v), "read(eventfd)");
	/* glibc's malloc may try this; it must fail softly. The prefetch thread never mallocs. */
	if (kind != SECCOMP_PREFETCH)
		need(open("/proc/sys/vm/overcommit_memory", O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES,
		     "open refused softly");
}

/* vmm/prefetch.c's calls: populate (or, before Linux 5.14, read ahead) guest RAM, one log
 * line with its timestamp (as a log file's head takes it). */
static void allowed_prefetch(void)
{
	struct timespec ts;

	need(madvise(ram, RAM_PAGES * 4096, MADV_POPULATE_READ) == 0 || errno == EINVAL, "madvise(POPULATE_READ)");
	need(madvise(ram, RAM_PAGES * 4096, MADV_POPULATE_WRITE) == 0 || errno == EINVAL,
	     "madvise(POPULATE_WRITE)");
	need(madvise(ram, RAM_PAGES * 4096, MADV_WILLNEED) == 0, "madvise(WILLNEED)");
	need(clock_gettime(CLOCK_REALTIME, &ts) == 0 && clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	log_info("seccomp-harness: prefetch: %d pages in %d ranges (%d written) in %.1f ms", RAM_PAGES, 1, 0, 0.0);
}

static void allowed_api(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	char buf[16];

	need(epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) == 0, "epoll_ctl");
	need(epoll_wait(epfd, out, 4, 0) >= 0, "epoll_wait");
	need(accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK) < 0 && errno != ENOSYS, "accept4");
	need(send(sp[0], "x", 1, MSG_NOSIGNAL) == 1, "send");
	need(recv(sp[1], buf, sizeof(buf), 0) == 1, "recv");
	need(close(sp[0]) == 0, "close");
}

static void allowed_vmm(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	char data[16] = "0123456789";
	struct iovec iov = { data, 10 };
	struct kvm_irq_level irq = { .irq = 4, .level = 0 };
	char path[64], buf[16];
	uint64_t ticks;
	struct stat st;

	need(epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) == 0, "epoll_ctl");
	need(epoll_wait(epfd, out, 4, 0) >= 0, "epoll_wait");
	need(pwritev(file_fd, &iov, 1, 4096) == 10, "pwritev");
	need(preadv(file_fd, &iov, 1, 4096) == 10, "preadv");
	need(fdatasync(file_fd) == 0, "fdatasync");
	need(writev(pfd[1], &iov, 1) == 10, "writev");
	iov.iov_base = buf;
	need(readv(pfd[0], &iov, 1) == 10, "readv");
	snprintf(path, sizeof(path), "%s/sock", tmpdir); /* made by setup(), as the API socket */
	need(stat(path, &st) == 0 && access(path, R_OK | W_OK) == 0, "stat/access");
	need(open(path, O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES, "open(read) refused with EACCES");
	need(unlink(path) == 0, "unlink");
	/* The metrics timer fd exists from before boot; the VMM thread only reads it. A
	 * device's rate limiter timer (also made before boot) is armed and disarmed. */
	need(read(tfd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN, "read(timerfd)");
	need(timerfd_settime(tfd, 0, &(struct itimerspec){ .it_value = { 1000, 0 } }, NULL) == 0 &&
	     timerfd_settime(tfd, 0, &(struct itimerspec){ 0 }, NULL) == 0, "timerfd_settime");
	need(close(tfd) == 0, "close");
	if (kvm.vm_fd >= 0)
		need(ioctl(kvm.vm_fd, KVM_IRQ_LINE, &irq) == 0, "ioctl(KVM_IRQ_LINE)");
	/* Pause: kick another thread. */
	need(pthread_kill(peer, VCPU_KICK_SIGNAL) == 0, "pthread_kill");
	need(pthread_join(peer, NULL) == 0, "pthread_join");
}

static void allowed_vcpu(void)
{
	struct kvm_irq_level irq = { .irq = 4, .level = 1 };
	struct timespec ts;

	/* The RTC's time, as the system call the vDSO falls back to. */
	need(syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts) == 0, "clock_gettime(REALTIME)");
	/* A driver resetting a rate-limited virtio device disarms its timer. */
	need(timerfd_settime(vtfd, 0, &(struct itimerspec){ 0 }, NULL) == 0, "timerfd_settime(disarm)");

	if (kvm.run) {
		kvm.run->immediate_exit = 1;
		need(ioctl(kvm.vcpu_fd, KVM_RUN, 0) < 0 && errno == EINTR, "ioctl(KVM_RUN)");
		need(ioctl(kvm.vm_fd, KVM_IRQ_LINE, &irq) == 0, "ioctl(KVM_IRQ_LINE)");
	}
	/* vm_stop from a vCPU kicks every vCPU, itself included. */
	need(pthread_kill(pthread_self(), VCPU_KICK_SIGNAL) == 0 && kicks, "pthread_kill(self)");
	need(pthread_kill(peer, VCPU_KICK_SIGNAL) == 0, "pthread_kill");
}

static void *filtered(void *arg)
{
	(void)arg;
	/* SECCOMP_HARNESS_TRAP=1: report each forbidden call instead of dying (development). */
	/* The VMM thread's block and tap I/O is pinned to the devices' fds: file_fd is the
	 * "drive", the pipe the "tap". */
	struct seccomp_io_fds io = { .blk = { file_fd }, .nr_blk = 1, .tap = { pfd[0], pfd[1] }, .nr_tap = 2 };

	if (seccomp_install_io(kind, getenv("SECCOMP_HARNESS_TRAP") ? SECCOMP_TRAP : SECCOMP_KILL, &io))
		exit(5);
	if (!strcmp(what, "allowed")) {
		allowed_common();
		if (kind == SECCOMP_API)
			allowed_api();
		else if (kind == SECCOMP_VMM)
			allowed_vmm();
		else if (kind == SECCOMP_VCPU)
			allowed_vcpu();
		else if (kind == SECCOMP_PREFETCH)
			allowed_prefetch();
		return NULL; /* the thread's exit is part of the test */
	}
	if (!strcmp(what, "open-after-boot")) {
		/* Neither what PUT /logger used to open nor /proc/self/mem, which pwritev could
		 * then rewrite the program's code through: both refused, softly (EACCES). */
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "%s/log", tmpdir);
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
		if (fd < 0 && errno == EACCES)
			fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
		if (fd < 0 && errno == EACCES && kind == SECCOMP_VMM) {
			/* The VMM thread may create new files (a snapshot's): O_CREAT|O_EXCL, which
			 * an existing file such as /proc/self/mem refuses with EEXIST. */
			snprintf(path, sizeof(path), "%s/snapshot", tmpdir);
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fd < 0) {
				fprintf(stderr, "seccomp-harness: vmm thread cannot create a file: %s\n", strerror(errno));
				exit(4);
			}
			close(fd);
			fd = open("/proc/self/mem", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fd < 0 && errno == EEXIST)
				errno = EACCES;
		}
		if (fd < 0 && errno == EACCES)
			return NULL;
		fprintf(stderr, "seccomp-harness: %s thread opened a file (fd %d, %s)\n", seccomp_thread_name(kind),
			fd, fd < 0 ? strerror(errno) : "open");
		exit(3);
	}
	if (!strcmp(what, "pwritev-other-fd")) {
		/* An fd that is no drive (here a pipe, on a real VMM any fd it holds). */
		struct iovec iov = { "x", 1 };

		ssize_t r = pwritev(efd, &iov, 1, 0); /* must not return: fails with ESPIPE if it does */

		(void)r;
	} else if (!strcmp(what, "writev-other-fd")) {
		struct iovec iov = { "x", 1 };

		ssize_t r = writev(sp[1], &iov, 1);

		(void)r;
	}
	if (!strcmp(what, "forbidden"))
		(void)getppid();
	else if (!strcmp(what, "bad-ioctl"))
		(void)ioctl(kvm.vm_fd, KVM_CREATE_VCPU, 1); /* no thread makes vCPUs after set-up */
	else if (!strcmp(what, "exec-mmap"))
		(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else if (!strcmp(what, "socket"))
		(void)socket(AF_INET, SOCK_STREAM, 0);
	fprintf(stderr, "seccomp-harness: %s thread survived '%s'\n", seccomp_thread_name(kind), what);
	exit(3);
}

int main(int argc, char **argv)
{
	char sock_path[64];
	pthread_t t;
	int k;

	if (argc != 3) {
		fprintf(stderr, "usage: seccomp-harness api|vmm|vcpu|console|prefetch allowed|forbidden|bad-ioctl|exec-mmap|socket|open-after-boot|"
				"pwritev-other-fd|writev-other-fd\n");
		return 2;
	}
	for (k = 0; k < SECCOMP_THREAD_KINDS && strcmp(argv[1], seccomp_thread_name((enum seccomp_thread)k)); k++)
		;
	if (k == SECCOMP_THREAD_KINDS)
		return 2;
	kind = (enum seccomp_thread)k;
	what = argv[2];
	if (setup()) {
		perror("seccomp-harness: setup");
		return 2;
	}
	if (!strcmp(what, "bad-ioctl") && kvm.vm_fd < 0)
		return 77;
	/* Only the VMM's allowed calls use the directory; a killed run must leave nothing. */
	if (kind != SECCOMP_VMM || (strcmp(what, "allowed") && strcmp(what, "open-after-boot"))) {
		snprintf(sock_path, sizeof(sock_path), "%s/sock", tmpdir);
		unlink(sock_path);
		remove_snapshot_file();
		rmdir(tmpdir);
	}
	pthread_create(&peer, NULL, peer_thread, NULL);
	pthread_create(&t, NULL, filtered, NULL);
	pthread_join(t, NULL);
	if (kind != SECCOMP_VMM) {
		kicks = 1;
		pthread_kill(peer, VCPU_KICK_SIGNAL);
		pthread_join(peer, NULL);
	}
	snprintf(sock_path, sizeof(sock_path), "%s/log", tmpdir);
	unlink(sock_path);
	remove_snapshot_file();
	rmdir(tmpdir);
	printf("%s: %d syscalls allowed, '%s' survived\n", seccomp_thread_name(kind), seccomp_allowed_count(kind), what);
	return 0;
}
