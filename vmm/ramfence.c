/* A fault in withdrawn guest RAM ends the VMM with its reason (ramfence.h). */
#include "ramfence.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

static uintptr_t fence_base, fence_end;
static bool withdrawn;
static char fence_msg[512];
static size_t fence_msg_len;

/* SA_RESETHAND: a fault that is not ours returns to the same instruction, which faults again
 * under the default action (a core dump, as without this handler). */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	(void)sig;
	(void)uc;
	if (__atomic_load_n(&withdrawn, __ATOMIC_ACQUIRE) && a >= fence_base && a < fence_end) {
		if (write(STDERR_FILENO, fence_msg, fence_msg_len) < 0)
			_exit(1);
		_exit(1);
	}
}

int ramfence_install(void *base, size_t len)
{
	struct sigaction sa;

	__atomic_store_n(&withdrawn, false, __ATOMIC_RELEASE);
	fence_base = (uintptr_t)base;
	fence_end = (uintptr_t)base + len;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) < 0 || sigaction(SIGBUS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

void ramfence_withdraw(const char *why)
{
	int n = snprintf(fence_msg, sizeof(fence_msg),
			 "kindling: error: the VMM touched guest RAM withdrawn from the VM (%s); exiting\n", why);

	fence_msg_len = n < 0 ? 0 : (size_t)n < sizeof(fence_msg) ? (size_t)n : sizeof(fence_msg) - 1;
	__atomic_store_n(&withdrawn, true, __ATOMIC_RELEASE);
}

void ramfence_fence(int uffd, void *base, size_t len, const char *why)
{
	struct uffdio_range range = { .start = (uintptr_t)base, .len = len };

	ramfence_withdraw(why);
	if (mprotect(base, len, PROT_NONE) < 0)
		log_debug("mprotect guest RAM: %s", strerror(errno));
	if (ioctl(uffd, UFFDIO_UNREGISTER, &range) < 0)
		log_debug("UFFDIO_UNREGISTER: %s", strerror(errno));
}
