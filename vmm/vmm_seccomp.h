/* Per-thread seccomp filters: each kind of VMM thread may make only the system calls it is
 * known to make (vmm/vmm_seccomp.c holds the one table), and any other call kills the process. */
#ifndef KINDLING_VMM_SECCOMP_H
#define KINDLING_VMM_SECCOMP_H

#include <stddef.h>
#include <sys/types.h>

enum seccomp_thread {
	SECCOMP_API,     /* the API server thread (api/server.c) */
	SECCOMP_VMM,     /* the main thread's event loop, once the VM is built */
	SECCOMP_VCPU,    /* each vCPU thread */
	SECCOMP_CONSOLE, /* the serial console writer (vmm/outbuf.c) */
	SECCOMP_UFFD,    /* the page-fault handler's monitor (vmm/snapuffd.c), Uffd snapshots only */
	SECCOMP_PREFETCH, /* the working-set prefetch at a restore (vmm/prefetch.c), --prefetch only */
	SECCOMP_LAZY,    /* the lazy verifier of a signed snapshot's memory (vmm/snaplazy.c) */
	SECCOMP_THREAD_KINDS,
};

/* What a call outside the allowlist does. Only SECCOMP_KILL is for production; LOG and TRAP
 * are for finding a missing entry (the audit log, or SIGSYS with the syscall number). */
enum seccomp_mode {
	SECCOMP_KILL,
	SECCOMP_LOG,
	SECCOMP_TRAP,
};

/* The fds the VMM thread's virtio back-ends do I/O on. Its filter allows preadv, pwritev
 * and fdatasync on the drives' fds only, readv and writev on the taps' only. */
#define SECCOMP_MAX_IO_FDS 32
struct seccomp_io_fds {
	int blk[SECCOMP_MAX_IO_FDS];
	int nr_blk;
	int tap[SECCOMP_MAX_IO_FDS];
	int nr_tap;
};

/* Installs the calling thread's filter (with PR_SET_NO_NEW_PRIVS). Call it from the thread
 * itself, before it handles untrusted input. Returns 0 or -errno. Without io fds (NULL),
 * the VMM thread may do no block or tap I/O at all. */
int seccomp_install(enum seccomp_thread kind) __attribute__((warn_unused_result));
int seccomp_install_mode(enum seccomp_thread kind, enum seccomp_mode mode) __attribute__((warn_unused_result));
int seccomp_install_io(enum seccomp_thread kind, enum seccomp_mode mode, const struct seccomp_io_fds *io)
	__attribute__((warn_unused_result));

/* "api", "vmm", "vcpu", "console", "uffd", "prefetch", "lazy". */
const char *seccomp_thread_name(enum seccomp_thread kind);

/* The number of syscalls a kind allows (ioctl counted once), for logs and tests. */
int seccomp_allowed_count(enum seccomp_thread kind);

struct sock_filter;

/* kind's SECCOMP_KILL filter with pid in its tgkill rules and io's fds in the VMM thread's
 * rules (io may be NULL: no block or tap I/O), as libseccomp builds it now, into out (max
 * instructions): its length, or -errno (-E2BIG: max is too small). For the build-time
 * generator (vmm/gen/seccomp_gen.c) and the tests. */
int seccomp_build_kill(enum seccomp_thread kind, pid_t pid, const struct seccomp_io_fds *io, struct sock_filter *out,
		       size_t max);

/* The VMM thread's precompiled filter has this many drive and tap fd slots: a VM with more
 * has its filter built at run time. */
#define SECCOMP_PRE_BLK 8
#define SECCOMP_PRE_TAP 4

/* The same filter as precompiled at build time, with pid and io's fds filled in, into out
 * (max instructions): its length, -ENOENT for a kind with none or a VM with more fds than
 * slots, -E2BIG when max is too small. seccomp_install_io uses it for SECCOMP_KILL. A slot
 * without an fd compares against 0xffffffff, which is never an open fd. */
int seccomp_precompiled(enum seccomp_thread kind, pid_t pid, const struct seccomp_io_fds *io, struct sock_filter *out,
			size_t max);

#endif
