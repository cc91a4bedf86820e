/* Per-thread seccomp filters (libseccomp): the one table of which thread kind may make which
 * system call, and why. Everything else kills the whole process.
 *
 * Who runs what, after its filter is in place:
 *   api      accepts and reads API connections, hands requests to the VMM thread over
 *            eventfds and writes the answers back (api/server.c).
 *   vmm      the main thread's event loop once the VM is built: API requests after boot,
 *            virtio block/net back-ends, serial input, metrics timer, pause/resume, teardown.
 *            It opens nothing after boot.
 *   vcpu     KVM_RUN and the exit handlers: port and MMIO devices, virtio-mmio registers
 *            (device activation included), vm_stop, the boot timer, the RTC (its time is
 *            clock_gettime(CLOCK_REALTIME), done in the vDSO or by the rule below).
 *   console  drains the serial output buffer to stdout (vmm/outbuf.c).
 *   uffd     with a snapshot loaded with the Uffd backend: watches the page-fault handler
 *            and, if it dies or goes silent, stops the VM and fences its RAM (vmm/snapuffd.c).
 *   prefetch with `--restore ... --prefetch FILE`: populates the working set's pages of the
 *            guest RAM mapping (madvise), logs one line and exits (vmm/prefetch.c). Short-lived
 *            and the narrowest: no memory allocation, no fd of its own, no signal to send.
 *   lazy     with a signed snapshot loaded with `--snapshot-verify lazy`: reads each fault's
 *            2 MiB chunk from the memory file, checks its digest, copies it in (userfaultfd
 *            ioctls) or stops the VM and fences its RAM (vmm/snaplazy.c). No allocation.
 * Setting up (opening /dev/kvm, creating the VM, mapping memory, starting threads) happens
 * before the filters, as in Firecracker: the VMM thread's filter goes on after the vCPUs
 * started, so it holds no clone, no KVM_CREATE_*, no socket. */
#include "vmm_seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "vm.h"

#define API (1u << SECCOMP_API)
#define VMM (1u << SECCOMP_VMM)
#define VCPU (1u << SECCOMP_VCPU)
#define CONSOLE (1u << SECCOMP_CONSOLE)
#define UFFD (1u << SECCOMP_UFFD)
#define PREFETCH (1u << SECCOMP_PREFETCH)
#define LAZY (1u << SECCOMP_LAZY)
/* The long-lived threads; the prefetch thread takes only a few of their common calls. */
#define ALL (API | VMM | VCPU | CONSOLE | UFFD | LAZY)

/* How a rule's arguments are pinned. */
enum pin {
	ANY,          /* any arguments */
	NO_EXEC,      /* mmap/mprotect: arg 2 (prot) without PROT_EXEC: no new code */
	OWN_PROCESS,  /* tgkill: arg 0 is our own pid, arg 2 the vCPU kick or SIGABRT */
	DENY_EACCES,  /* not allowed, but fails with EACCES instead of killing */
	BLK_FD,       /* arg 0 is a drive's fd (seccomp_io_fds.blk) */
	TAP_FD,       /* arg 0 is a tap's fd (seccomp_io_fds.tap) */
	CREATE_NEW,   /* openat: only with O_CREAT|O_EXCL (a new file, never an existing one
		       * such as /proc/self/mem); any other open fails with EACCES */
};

static const struct rule {
	int nr;
	unsigned threads;
	enum pin pin;
} rules[] = {
	/* --- every thread (prefetch: those marked) --------------------------------------------- */
	{ SCMP_SYS(futex), ALL | PREFETCH, ANY },   /* mutexes, condition variables, pthread_join; a
						     * thread's exit may take glibc's stack lock */
	{ SCMP_SYS(write), ALL | PREFETCH, ANY },   /* log lines; eventfds; console bytes to stdout */
	{ SCMP_SYS(madvise), ALL | PREFETCH, ANY }, /* malloc trimming; a thread frees its stack at exit;
						     * prefetch: MADV_POPULATE_WRITE, _READ or
						     * MADV_WILLNEED (any advice: not filtered) */
	{ SCMP_SYS(exit), ALL | PREFETCH, ANY },    /* thread exit (vCPU/API/console threads end on stop) */
	{ SCMP_SYS(rt_sigreturn), ALL | PREFETCH, ANY }, /* return from the vCPU kick handler (SIGRTMIN);
							  * prefetch: from SIGSYS in SECCOMP_TRAP mode */
	{ SCMP_SYS(restart_syscall), ALL, ANY }, /* a futex wait interrupted by a signal */
	{ SCMP_SYS(clock_gettime), ALL | PREFETCH, ANY }, /* now_ns/cpu_now_ns (CPU clocks bypass the
							   * vDSO), timeouts; log file timestamps;
							   * the RTC's time (vCPUs) */
	{ SCMP_SYS(gettimeofday), ALL, ANY },    /* metrics timestamps, when the vDSO falls back */
	{ SCMP_SYS(sched_yield), ALL, ANY },     /* glibc lock back-off */
	{ SCMP_SYS(rt_sigprocmask), ALL | PREFETCH, ANY }, /* glibc blocks signals in a thread that exits,
							    * and around pthread_kill's tgkill */
	/* --- memory: malloc in the API, VMM and vCPU threads --------------------------------- */
	{ SCMP_SYS(brk), API | VMM | VCPU, ANY },
	{ SCMP_SYS(mmap), API | VMM | VCPU, NO_EXEC },     /* large blocks, per-thread malloc arenas */
	{ SCMP_SYS(mprotect), API | VMM | VCPU, NO_EXEC }, /* growing a malloc arena */
	{ SCMP_SYS(mprotect), UFFD | LAZY, NO_EXEC },      /* fencing guest RAM (PROT_NONE) */
	{ SCMP_SYS(munmap), API | VMM | VCPU, ANY },       /* free(); guest RAM and run areas at teardown */
	{ SCMP_SYS(mremap), API | VMM | VCPU, ANY },       /* realloc() of large blocks (JSON output) */
	/* --- signals: pthread_kill() to kick vCPUs (pause, stop) ----------------------------- */
	{ SCMP_SYS(getpid), VMM | VCPU | UFFD | LAZY, ANY }, /* pthread_kill: tgkill's first argument */
	{ SCMP_SYS(gettid), VMM | VCPU, ANY },         /* pthread_kill of itself (vm_stop from a vCPU) */
	{ SCMP_SYS(tgkill), VMM | VCPU | UFFD | LAZY, OWN_PROCESS }, /* the kick; vm_stop from a vCPU
							 * (or the uffd monitor, the lazy
							 * verifier) kicks the vCPUs */
	/* --- event loops ---------------------------------------------------------------------- */
	{ SCMP_SYS(epoll_wait), API | VMM, ANY },
	{ SCMP_SYS(epoll_pwait), API | VMM, ANY },
	{ SCMP_SYS(epoll_ctl), API | VMM, ANY }, /* API: connections; VMM: stdin/tap re-arm, teardown (never vCPUs) */
	{ SCMP_SYS(read), API | VMM, ANY },      /* eventfds, signalfd, timerfd, stdin */
	{ SCMP_SYS(close), API | VMM, ANY },     /* API: finished connections; VMM: teardown */
	/* --- API server ----------------------------------------------------------------------- */
	{ SCMP_SYS(accept4), API, ANY },
	{ SCMP_SYS(recvfrom), API, ANY },        /* recv() */
	{ SCMP_SYS(sendto), API, ANY },          /* send(..., MSG_NOSIGNAL) */
	/* --- VMM thread: virtio back-ends ----------------------------------------------------- */
	{ SCMP_SYS(preadv), VMM, BLK_FD },       /* virtio-blk reads */
	{ SCMP_SYS(pwritev), VMM, BLK_FD },      /* virtio-blk writes */
	{ SCMP_SYS(fdatasync), VMM, BLK_FD },    /* virtio-blk flush */
	{ SCMP_SYS(readv), VMM, TAP_FD },        /* virtio-net RX from the tap */
	{ SCMP_SYS(writev), VMM, TAP_FD },       /* virtio-net TX to the tap */
	/* A device's rate limiter timer (made before boot): armed by the VMM thread, disarmed on
	 * a device reset, which a vCPU's MMIO write does. */
	{ SCMP_SYS(timerfd_settime), VMM | VCPU, ANY },
	/* --- VMM thread: API requests after boot ---------------------------------------------- */
	{ SCMP_SYS(newfstatat), VMM, ANY },      /* PATCH /drives checks the new path (stat) */
	{ SCMP_SYS(access), VMM, ANY },          /* ... and its permissions */
	{ SCMP_SYS(faccessat), VMM, ANY },
	{ SCMP_SYS(faccessat2), VMM, ANY },
	/* No fcntl or timerfd_create: PUT /logger and PUT /metrics, which opened their output and
	 * started the metrics timer, are refused after boot (as in Firecracker). openat only
	 * creates new files (CREATE_NEW): an open of an existing one would let a write reach
	 * /proc/self/mem. */
	/* --- VMM thread: PUT /snapshot/create (the vCPUs parked) -------------------------------- */
	{ SCMP_SYS(openat), VMM, CREATE_NEW },   /* the state and memory files' temporary names */
	{ SCMP_SYS(ftruncate), VMM, ANY },       /* the memory file's length (its holes) */
	{ SCMP_SYS(pwrite64), VMM, ANY },        /* RAM and the trailer into the memory file */
	{ SCMP_SYS(fsync), VMM, ANY },
	{ SCMP_SYS(rename), VMM, ANY },          /* a complete file under its final name */
	{ SCMP_SYS(renameat), VMM, ANY },
	{ SCMP_SYS(renameat2), VMM, ANY },
	{ SCMP_SYS(getrandom), VMM, ANY },       /* the snapshot id */
	/* --- uffd monitor: a snapshot loaded with the Uffd backend (vmm/snapuffd.c) --------- */
	{ SCMP_SYS(ppoll), UFFD, ANY },          /* the handler's hang-up, a fault left unread */
	/* --- lazy verifier: a signed snapshot loaded with --snapshot-verify lazy (vmm/snaplazy.c) */
	{ SCMP_SYS(ppoll), LAZY, ANY },          /* a fault, or the end */
	{ SCMP_SYS(read), LAZY, ANY },           /* the faults (uffd_msg) */
	{ SCMP_SYS(pread64), LAZY, ANY },        /* a chunk of the memory file */
	{ SCMP_SYS(lseek), LAZY, ANY },          /* SEEK_DATA: a chunk that is a hole is not read */
	/* --- VMM thread: shutdown ------------------------------------------------------------- */
	{ SCMP_SYS(unlink), VMM, ANY },          /* remove the API socket */
	{ SCMP_SYS(exit_group), VMM, ANY },      /* main() returns */
	/* glibc's malloc reads /proc/sys/vm/overcommit_memory the first time it trims a thread's
	 * heap, in whichever thread that is; refused, it trims with madvise instead. */
	{ SCMP_SYS(openat), API | VCPU | CONSOLE | UFFD | LAZY, DENY_EACCES },
	/* --- ioctl: only the requests below (see ioctls[]) ------------------------------------ */
	{ SCMP_SYS(ioctl), VMM | VCPU | UFFD | LAZY, ANY },
};

/* ioctl request numbers, each pinned for the threads that issue it. */
static const struct ioctl_rule {
	unsigned long request;
	unsigned threads;
} ioctls[] = {
	{ KVM_RUN, VCPU },                /* the vCPU loop */
	{ KVM_GET_REGS, VCPU },           /* SIGUSR1 diagnostics: each vCPU reads its own state */
	{ KVM_GET_SREGS, VCPU },
	{ KVM_GET_MP_STATE, VCPU },
	{ KVM_IRQ_LINE, VMM | VCPU },     /* serial/i8042 interrupts: guest port writes (vCPU), stdin
					   * input and SendCtrlAltDel (VMM) */
	{ TUNSETOFFLOAD, VMM | VCPU },    /* virtio-net activation: DRIVER_OK is written by the guest
					   * (vCPU); a restored device activates on the VMM thread */
	{ KVM_IOEVENTFD, VMM },           /* virtio-mmio teardown deassigns the notify eventfds */
	{ KVM_IRQFD, VMM },               /* ... and the interrupt eventfd */
	/* PUT /snapshot/create reads the paused VM's state (vmm_save: vm.c, cpu.c). */
	{ KVM_GET_MSR_INDEX_LIST, VMM },
	{ KVM_GET_IRQCHIP, VMM },
	{ KVM_GET_PIT2, VMM },
	{ KVM_GET_CLOCK, VMM },
	{ KVM_GET_MP_STATE, VMM },
	{ KVM_GET_REGS, VMM },
	{ KVM_GET_SREGS, VMM },
	{ KVM_GET_XSAVE, VMM },
	{ KVM_GET_XCRS, VMM },
	{ KVM_GET_DEBUGREGS, VMM },
	{ KVM_GET_LAPIC, VMM },
	{ KVM_GET_TSC_KHZ, VMM },
	{ KVM_GET_MSRS, VMM },
	{ KVM_GET_VCPU_EVENTS, VMM },
	{ KVM_GET_DIRTY_LOG, VMM },       /* ... and a diff snapshot's pages */
	/* A dead or stuck page-fault handler, or the VM's end: wake the faults waiting on it so
	 * that the vCPUs can be joined (vmm/snapuffd.c). The vCPUs need nothing for the Uffd
	 * backend: a fault blocks inside KVM_RUN. */
	{ UFFDIO_UNREGISTER, UFFD | LAZY },
	/* The lazy verifier maps a checked chunk's pages (or zero pages) and wakes its faults. */
	{ UFFDIO_COPY, LAZY },
	{ UFFDIO_ZEROPAGE, LAZY },
	{ UFFDIO_WAKE, LAZY },
};

static const char *const names[SECCOMP_THREAD_KINDS] = { "api", "vmm", "vcpu", "console", "uffd", "prefetch",
								    "lazy" };

const char *seccomp_thread_name(enum seccomp_thread kind)
{
	return kind < SECCOMP_THREAD_KINDS ? names[kind] : "?";
}

int seccomp_allowed_count(enum seccomp_thread kind)
{
	int n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		n += rules[i].pin != DENY_EACCES && ((rules[i].threads >> kind) & 1);
	return n;
}

/* One rule per fd: a call on any other fd is outside the allowlist. */
static int add_fd_rules(scmp_filter_ctx ctx, int nr, const int *fds, int n)
{
	int e = 0;

	for (int i = 0; i < n && !e; i++)
		e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fds[i], 0));
	return e;
}

static int add_rule(scmp_filter_ctx ctx, const struct rule *r, unsigned kind_bit, const struct seccomp_io_fds *io,
		    pid_t pid)
{
	switch (r->pin) {
	case BLK_FD:
		return io ? add_fd_rules(ctx, r->nr, io->blk, io->nr_blk) : 0;
	case TAP_FD:
		return io ? add_fd_rules(ctx, r->nr, io->tap, io->nr_tap) : 0;
	case ANY:
		if (r->nr == SCMP_SYS(ioctl)) {
			for (size_t i = 0; i < ARRAY_SIZE(ioctls); i++) {
				int e;

				if (!(ioctls[i].threads & kind_bit))
					continue;
				/* The kernel takes the request as an unsigned int. */
				e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
						     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i].request));
				if (e)
					return e;
			}
			return 0;
		}
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
	case NO_EXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case OWN_PROCESS: {
		int e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)pid, 0),
					 SCMP_A2(SCMP_CMP_EQ, VCPU_KICK_SIGNAL, 0));

		/* abort() must still be able to abort: a clearer death than SIGSYS. */
		return e ? e
			 : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 2,
					    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)pid, 0), SCMP_A2(SCMP_CMP_EQ, SIGABRT, 0));
	}
	case DENY_EACCES:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), r->nr, 0);
	case CREATE_NEW: {
		int e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
					 SCMP_A2(SCMP_CMP_MASKED_EQ, O_CREAT | O_EXCL, O_CREAT | O_EXCL));

		/* Anything else (no O_CREAT, or no O_EXCL) fails softly, as for the other threads. */
		if (!e)
			e = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), r->nr, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, O_CREAT, 0));
		return e ? e : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), r->nr, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, O_EXCL, 0));
	}
	}
	return -EINVAL;
}

/* Set by seccomp_install_mode in trap mode only, for on_sigsys's message. */
static _Thread_local enum seccomp_thread trap_kind;

/* SECCOMP_TRAP: report the call and let it fail with ENOSYS, so one run finds every missing
 * entry. Async-signal-safe: no stdio, no malloc. */
static void put_num(char **p, unsigned long v, int base)
{
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = "0123456789abcdef"[v % (unsigned long)base];
	while ((v /= (unsigned long)base) && n < (int)sizeof(tmp));
	while (n)
		*(*p)++ = tmp[--n];
}

static void on_sigsys(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	char buf[160], *p = buf;
	static const char head[] = "kindling: seccomp(trap): forbidden in the thread kind ";
	const char *kind = names[trap_kind];

	(void)sig;
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	while (*kind)
		*p++ = *kind++;
	memcpy(p, ": syscall ", 10);
	p += 10;
	put_num(&p, (unsigned long)si->si_syscall, 10);
	if (si->si_syscall == SCMP_SYS(ioctl)) {
		memcpy(p, " request 0x", 11);
		p += 11;
		put_num(&p, (unsigned long)uc->uc_mcontext.gregs[REG_RSI] & 0xffffffffu, 16);
	}
	*p++ = '\n';
	if (write(STDERR_FILENO, buf, (size_t)(p - buf)) < 0) {
		/* nothing more to do in a signal handler */
	}
	uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
}

/* kind's filter as libseccomp builds it, with def as the default action; NULL (*err) on
 * failure. */
static scmp_filter_ctx build(enum seccomp_thread kind, uint32_t def, const struct seccomp_io_fds *io, pid_t pid,
			     int *err)
{
	scmp_filter_ctx ctx = seccomp_init(def);
	unsigned bit = 1u << kind;
	int r = 0;

	/* NO_NEW_PRIVS is set by default (SCMP_FLTATR_CTL_NNP), so no CAP_SYS_ADMIN is needed. */
	if (!ctx) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(rules) && !r; i++) {
		if (rules[i].threads & bit)
			r = add_rule(ctx, &rules[i], bit, io, pid);
	}
	if (r) {
		seccomp_release(ctx);
		*err = r;
		return NULL;
	}
	return ctx;
}

int seccomp_build_kill(enum seccomp_thread kind, pid_t pid, const struct seccomp_io_fds *io, struct sock_filter *out,
		       size_t max)
{
	scmp_filter_ctx ctx;
	off_t size = 0;
	int r = 0, fd;

	if (kind >= SECCOMP_THREAD_KINDS)
		return -EINVAL;
	ctx = build(kind, SCMP_ACT_KILL_PROCESS, io, pid, &r);
	if (!ctx)
		return r;
	/* libseccomp 2.5 exports only to an fd. */
	fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (!r)
		size = lseek(fd, 0, SEEK_END);
	if (!r && (size <= 0 || size % (off_t)sizeof(*out)))
		r = -EINVAL;
	else if (!r && (size_t)size / sizeof(*out) > max)
		r = -E2BIG;
	else if (!r && pread(fd, out, (size_t)size, 0) != size)
		r = -EIO;
	if (fd >= 0)
		close(fd);
	return r ? r : (int)((size_t)size / sizeof(*out));
}

#ifndef KINDLING_SECCOMP_GEN
/* The KILL-mode filters, compiled by libseccomp at build time (vmm/gen/seccomp_gen.c): each
 * thread then only loads its filter, 0.05-0.08 ms on this host against 0.23 ms to compile
 * and load the VMM thread's (0.6-0.8 ms against ~2 ms in the lab), much of it on a restore's
 * way to the guest's first instruction. The tgkill rules' pid and the VMM
 * thread's fds are placeholders, filled in here: the generator checked that they are
 * compared in JEQ instructions and nowhere else. */
#include "seccomp_bpf.h"

/* The value for fd slot i (drives first, then taps): the VM's fd, or 0xffffffff, which the
 * kernel takes as fd 4294967295: never an open one (fds stay under INT_MAX). */
static uint32_t slot_fd(const struct seccomp_io_fds *io, unsigned i)
{
	if (i < SECCOMP_PRE_BLK)
		return io && (int)i < io->nr_blk ? (uint32_t)io->blk[i] : 0xffffffffu;
	i -= SECCOMP_PRE_BLK;
	return io && (int)i < io->nr_tap ? (uint32_t)io->tap[i] : 0xffffffffu;
}

int seccomp_precompiled(enum seccomp_thread kind, pid_t pid, const struct seccomp_io_fds *io, struct sock_filter *out,
			size_t max)
{
	unsigned len;

	if (kind >= SECCOMP_THREAD_KINDS || !seccomp_bpf[kind].insns)
		return -ENOENT;
	if (io && (io->nr_blk > SECCOMP_PRE_BLK || io->nr_tap > SECCOMP_PRE_TAP || io->nr_blk < 0 || io->nr_tap < 0))
		return -ENOENT;
	for (int i = 0; io && i < io->nr_blk + io->nr_tap; i++) {
		if ((i < io->nr_blk ? io->blk[i] : io->tap[i - io->nr_blk]) < 0)
			return -ENOENT; /* as libseccomp would, at run time */
	}
	len = seccomp_bpf[kind].len;
	if (len > max)
		return -E2BIG;
	memcpy(out, seccomp_bpf[kind].insns, len * sizeof(*out));
	for (unsigned i = 0; i < len; i++) {
		if (out[i].code != (BPF_JMP | BPF_JEQ | BPF_K))
			continue;
		if (out[i].k == SECCOMP_BPF_PID)
			out[i].k = (uint32_t)pid;
		else if (out[i].k - SECCOMP_BPF_FD < SECCOMP_PRE_BLK + SECCOMP_PRE_TAP)
			out[i].k = slot_fd(io, out[i].k - SECCOMP_BPF_FD);
	}
	return (int)len;
}

static int load_precompiled(enum seccomp_thread kind, const struct seccomp_io_fds *io)
{
	struct sock_filter f[SECCOMP_BPF_MAX_LEN];
	struct sock_fprog prog = { .filter = f };
	int n = seccomp_precompiled(kind, getpid(), io, f, ARRAY_SIZE(f));

	if (n < 0)
		return n;
	prog.len = (unsigned short)n;
	/* As libseccomp's seccomp_load does with its defaults: NO_NEW_PRIVS, then the filter on
	 * the calling thread alone (no TSYNC, no flags). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}
#endif

int seccomp_install_io(enum seccomp_thread kind, enum seccomp_mode mode, const struct seccomp_io_fds *io)
{
	uint32_t def = mode == SECCOMP_LOG ? SCMP_ACT_LOG : mode == SECCOMP_TRAP ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx;
	int r = -ENOENT;

	if (kind >= SECCOMP_THREAD_KINDS)
		return -EINVAL;
	if (mode == SECCOMP_TRAP) {
		struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

		trap_kind = kind;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSYS, &sa, NULL) < 0)
			return -errno;
	}
#ifndef KINDLING_SECCOMP_GEN
	if (mode == SECCOMP_KILL)
		r = load_precompiled(kind, io);
#endif
	if (r == -ENOENT) { /* none precompiled: more fds than slots, LOG and TRAP modes */
		ctx = build(kind, def, io, getpid(), &r);
		if (ctx) {
			r = seccomp_load(ctx);
			seccomp_release(ctx);
		}
	}
	if (r) {
		log_error("seccomp: cannot install the %s thread's filter: %s", names[kind], strerror(-r));
		return r;
	}
#ifdef KINDLING_SECCOMP_SELFTEST
	/* Test builds only (build/kindling-seccomp-test): prove the filter kills the process by
	 * making a call no thread kind allows, in the thread kind the variable names. */
	const char *which = getenv("KINDLING_SECCOMP_SELFTEST");

	if (which && !strcmp(which, names[kind])) {
		log_info("seccomp selftest: %s thread calls getppid(), which it must not survive", names[kind]);
		(void)getppid();
		log_error("seccomp selftest: the %s thread survived a forbidden syscall", names[kind]);
	}
#endif
	return 0;
}

int seccomp_install_mode(enum seccomp_thread kind, enum seccomp_mode mode)
{
	return seccomp_install_io(kind, mode, NULL);
}

int seccomp_install(enum seccomp_thread kind)
{
	return seccomp_install_mode(kind, SECCOMP_KILL);
}
