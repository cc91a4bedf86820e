/* The seccomp filters precompiled at build time (vmm/gen/seccomp_gen.c) against what
 * libseccomp builds at run time from the same rules: the same program, instruction for
 * instruction, for any pid. */
#include <errno.h>
#include <linux/filter.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "vmm_seccomp.h"

TEST(seccomp_precompiled_matches_libseccomp)
{
	static const pid_t pids[] = { 1, 2, 4194303, 0 };
	struct sock_filter pre[BPF_MAXINSNS], now[BPF_MAXINSNS];
	int kinds = 0;

	for (int k = 0; k < SECCOMP_THREAD_KINDS; k++) {
		for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
			pid_t pid = pids[i] ? pids[i] : getpid();
			int n = seccomp_precompiled(k, pid, pre, BPF_MAXINSNS), m;

			if (k == SECCOMP_VMM) {
				CHECK(n == -ENOENT); /* its fds differ per VM: always built at run time */
				continue;
			}
			m = seccomp_build_kill(k, pid, now, BPF_MAXINSNS);
			if (n <= 0 || n != m || memcmp(pre, now, (size_t)n * sizeof(pre[0])))
				printf("  %s, pid %d: precompiled %d instructions, libseccomp %d\n", seccomp_thread_name(k),
				       (int)pid, n, m);
			CHECK(n > 0 && n == m && !memcmp(pre, now, (size_t)n * sizeof(pre[0])));
		}
		kinds += k != SECCOMP_VMM;
	}
	CHECK(kinds == SECCOMP_THREAD_KINDS - 1);
	CHECK(seccomp_precompiled(SECCOMP_VCPU, 1, pre, 3) == -E2BIG);
	CHECK(seccomp_build_kill(SECCOMP_VCPU, 1, now, 3) == -E2BIG);
	CHECK(seccomp_precompiled(SECCOMP_THREAD_KINDS, 1, pre, BPF_MAXINSNS) == -ENOENT);
}
