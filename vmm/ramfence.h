/* Guest RAM withdrawn from a VM whose memory source failed (the lazy verifier found a chunk
 * that fails its digest, or the Uffd backend's handler went away): the RAM is made PROT_NONE
 * so that nothing reads a page that was never served. A vCPU then gets EFAULT from KVM_RUN;
 * the VMM's own device emulation takes a SIGSEGV, which ramfence turns into an exit with
 * the reason (status 1) instead of a crash. */
#ifndef KINDLING_RAMFENCE_H
#define KINDLING_RAMFENCE_H

#include <stddef.h>

/* When RAM at [base, base + len) is given a memory source that may fail: installs the
 * SIGSEGV and SIGBUS handler (sigaction: before the calling thread's seccomp filter, which
 * has no rt_sigaction). Until ramfence_withdraw, and for any address outside the RAM, a
 * fault keeps its default action. -errno if sigaction fails. */
int ramfence_install(void *base, size_t len);
/* Just before the RAM is made inaccessible, from any thread (no system call): from then on
 * a fault inside it prints why on stderr and ends the process with status 1. */
void ramfence_withdraw(const char *why);
/* Withdraws the userfaultfd-registered RAM at [base, base + len): ramfence_withdraw(why),
 * then PROT_NONE, then unregisters it from uffd, which wakes every fault still waiting
 * there; a woken vCPU's KVM_RUN and a device's I/O fail with EFAULT, and no thread reads a
 * page that was never served. Failures are logged (debug) and otherwise ignored. */
void ramfence_fence(int uffd, void *base, size_t len, const char *why);

#endif
