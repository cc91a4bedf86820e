/* The seccomp filters precompiled at build time (vmm/gen/seccomp_gen.c) against what
 * libseccomp builds at run time from the same rules: the same program, instruction for
 * instruction, for any pid and, for the VMM thread, any set of fds that fills its slots;
 * with fewer fds (unused slots compare against 0xffffffff) the same verdict for every call,
 * checked by running both programs. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test.h"
#include "vmm_seccomp.h"

TEST(seccomp_precompiled_matches_libseccomp)
{
	static const pid_t pids[] = { 1, 2, 4194303, 0 };
	struct sock_filter pre[BPF_MAXINSNS], now[BPF_MAXINSNS];
	struct seccomp_io_fds full = { .nr_blk = SECCOMP_PRE_BLK, .nr_tap = SECCOMP_PRE_TAP };
	int kinds = 0;

	for (int i = 0; i < SECCOMP_PRE_BLK; i++)
		full.blk[i] = 10 + 3 * i;
	for (int i = 0; i < SECCOMP_PRE_TAP; i++)
		full.tap[i] = 1000 + i;
	for (int k = 0; k < SECCOMP_THREAD_KINDS; k++) {
		for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
			pid_t pid = pids[i] ? pids[i] : getpid();
			const struct seccomp_io_fds *io = k == SECCOMP_VMM ? &full : NULL;
			int n = seccomp_precompiled(k, pid, io, pre, BPF_MAXINSNS), m;

			m = seccomp_build_kill(k, pid, io, now, BPF_MAXINSNS);
			if (n <= 0 || n != m || memcmp(pre, now, (size_t)n * sizeof(pre[0])))
				printf("  %s, pid %d: precompiled %d instructions, libseccomp %d\n", seccomp_thread_name(k),
				       (int)pid, n, m);
			CHECK(n > 0 && n == m && !memcmp(pre, now, (size_t)n * sizeof(pre[0])));
		}
		kinds++;
	}
	CHECK(kinds == SECCOMP_THREAD_KINDS);
	CHECK(seccomp_precompiled(SECCOMP_VCPU, 1, NULL, pre, 3) == -E2BIG);
	CHECK(seccomp_build_kill(SECCOMP_VCPU, 1, NULL, now, 3) == -E2BIG);
	CHECK(seccomp_precompiled(SECCOMP_THREAD_KINDS, 1, NULL, pre, BPF_MAXINSNS) == -ENOENT);
	/* More fds than slots, or a bad one: built at run time, as before. */
	full.nr_blk = SECCOMP_PRE_BLK + 1;
	CHECK(seccomp_precompiled(SECCOMP_VMM, 1, &full, pre, BPF_MAXINSNS) == -ENOENT);
	full.nr_blk = 1;
	full.nr_tap = SECCOMP_PRE_TAP + 1;
	CHECK(seccomp_precompiled(SECCOMP_VMM, 1, &full, pre, BPF_MAXINSNS) == -ENOENT);
	full.nr_tap = 1;
	full.tap[0] = -1;
	CHECK(seccomp_precompiled(SECCOMP_VMM, 1, &full, pre, BPF_MAXINSNS) == -ENOENT);
}

/* A classic BPF interpreter for what libseccomp emits; -1 for anything else. */
static int64_t run_bpf(const struct sock_filter *f, int n, const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };

	for (int pc = 0; pc >= 0 && pc < n; pc++) {
		const struct sock_filter *i = &f[pc];
		uint32_t k = i->k;

		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (k > sizeof(*d) - 4 || k % 4)
				return -1;
			memcpy(&a, (const uint8_t *)d + k, 4);
			break;
		case BPF_LD | BPF_IMM: a = k; break;
		case BPF_LDX | BPF_IMM: x = k; break;
		case BPF_LD | BPF_MEM: if (k >= BPF_MEMWORDS) return -1; a = mem[k]; break;
		case BPF_LDX | BPF_MEM: if (k >= BPF_MEMWORDS) return -1; x = mem[k]; break;
		case BPF_ST: if (k >= BPF_MEMWORDS) return -1; mem[k] = a; break;
		case BPF_STX: if (k >= BPF_MEMWORDS) return -1; mem[k] = x; break;
		case BPF_ALU | BPF_AND | BPF_K: a &= k; break;
		case BPF_ALU | BPF_OR | BPF_K: a |= k; break;
		case BPF_MISC | BPF_TAX: x = a; break;
		case BPF_MISC | BPF_TXA: a = x; break;
		case BPF_JMP | BPF_JA: pc += (int)k; break;
		case BPF_JMP | BPF_JEQ | BPF_K: pc += a == k ? i->jt : i->jf; break;
		case BPF_JMP | BPF_JGT | BPF_K: pc += a > k ? i->jt : i->jf; break;
		case BPF_JMP | BPF_JGE | BPF_K: pc += a >= k ? i->jt : i->jf; break;
		case BPF_JMP | BPF_JSET | BPF_K: pc += (a & k) ? i->jt : i->jf; break;
		case BPF_JMP | BPF_JEQ | BPF_X: pc += a == x ? i->jt : i->jf; break;
		case BPF_RET | BPF_K: return k;
		case BPF_RET | BPF_A: return a;
		default: return -1;
		}
	}
	return -1;
}

/* Both programs' verdicts on one call; counts the calls they disagree on. */
static int disagree(const struct sock_filter *p, int np, const struct sock_filter *q, int nq, struct seccomp_data *d,
		    int *allowed)
{
	int64_t a = run_bpf(p, np, d), b = run_bpf(q, nq, d);

	*allowed += a == SECCOMP_RET_ALLOW;
	if (a == b && a >= 0)
		return 0;
	/* The one difference by design: an unused slot allows its fd-pinned calls on fd
	 * 0xffffffff, which the kernel answers with EBADF (no fd is that high); libseccomp,
	 * having no rule for the slot, kills. */
	if (a == SECCOMP_RET_ALLOW && b == SECCOMP_RET_KILL_PROCESS && d->args[0] == 0xffffffffu &&
	    (d->nr == __NR_preadv || d->nr == __NR_pwritev || d->nr == __NR_fdatasync || d->nr == __NR_readv ||
	     d->nr == __NR_writev))
		return 0;
	printf("  nr %d args %#llx %#llx %#llx: precompiled %#llx, libseccomp %#llx\n", d->nr,
	       (unsigned long long)d->args[0], (unsigned long long)d->args[1], (unsigned long long)d->args[2],
	       (long long unsigned)a, (long long unsigned)b);
	return 1;
}

TEST(seccomp_precompiled_vmm_fewer_fds_same_verdicts)
{
	static const struct seccomp_io_fds sets[] = {
		{ .nr_blk = 0, .nr_tap = 0 },
		{ .blk = { 7 }, .nr_blk = 1, .tap = { 8 }, .nr_tap = 1 },
		{ .blk = { 5, 9, 12 }, .nr_blk = 3, .tap = { 6, 40 }, .nr_tap = 2 },
		{ .blk = { 3, 4, 5, 6, 7, 8, 9, 10 }, .nr_blk = 8, .nr_tap = 0 },
		{ .nr_blk = 0, .tap = { 0 }, .nr_tap = 1 },
	};
	static struct sock_filter pre[BPF_MAXINSNS], now[BPF_MAXINSNS];
	pid_t pid = getpid();

	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		const struct seccomp_io_fds *io = &sets[s];
		int np = seccomp_precompiled(SECCOMP_VMM, pid, io, pre, BPF_MAXINSNS);
		int nq = seccomp_build_kill(SECCOMP_VMM, pid, io, now, BPF_MAXINSNS);
		uint64_t a0[64], kv[256];
		int na0 = 0, nk = 0, bad = 0, allowed = 0, io_allowed = 0;

		CHECK(np > 0 && nq > 0);
		if (np <= 0 || nq <= 0)
			continue;
		/* First arguments: the set's fds, others, the unused slots' value and its 64-bit
		 * forms, the generator's placeholders, the pid. */
		for (int i = 0; i < io->nr_blk; i++)
			a0[na0++] = (uint64_t)io->blk[i];
		for (int i = 0; i < io->nr_tap; i++)
			a0[na0++] = (uint64_t)io->tap[i];
		a0[na0++] = 0, a0[na0++] = 1, a0[na0++] = 2, a0[na0++] = 11, a0[na0++] = 99;
		a0[na0++] = 0xffffffffu, a0[na0++] = UINT64_MAX, a0[na0++] = (1ull << 32) | 7u;
		a0[na0++] = 0x5eed0000u, a0[na0++] = 0x5eed0001u, a0[na0++] = 0x5eed0008u, a0[na0++] = 0x7b1d5eedu;
		a0[na0++] = (uint64_t)pid;
		/* Other arguments: every constant either program compares with, and 0. */
		kv[nk++] = 0;
		for (int i = 0; i < np && nk < 250; i++)
			kv[nk++] = pre[i].k;
		for (int i = 0; i < nq && nk < 250; i++)
			kv[nk++] = now[i].k;
		for (int arch = 0; arch < 2; arch++) {
			for (int nr = 0; nr < 460; nr++) {
				struct seccomp_data d = { .nr = nr, .arch = arch ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64 };

				for (int i = 0; i < na0; i++) {
					d.args[0] = a0[i];
					for (int j = 0; j < nk; j++) {
						d.args[1] = kv[j], d.args[2] = 0;
						bad += disagree(pre, np, now, nq, &d, &allowed);
						d.args[1] = 0, d.args[2] = kv[j];
						bad += disagree(pre, np, now, nq, &d, &allowed);
						if (bad > 10)
							goto done;
					}
				}
			}
		}
	done:
		printf("  %d drives, %d taps: %d and %d instructions, %d calls allowed, %d disagree\n", io->nr_blk,
		       io->nr_tap, np, nq, allowed, bad);
		CHECK(bad == 0);
		CHECK(allowed > 0);
		/* And the point of the slots: preadv on each drive's fd and readv on each tap's are
		 * allowed, on any other fd they kill. */
		for (int i = 0; i < io->nr_blk + io->nr_tap; i++) {
			bool blk = i < io->nr_blk;
			struct seccomp_data d = { .nr = blk ? __NR_preadv : __NR_readv, .arch = AUDIT_ARCH_X86_64 };

			d.args[0] = (uint64_t)(blk ? io->blk[i] : io->tap[i - io->nr_blk]);
			io_allowed += run_bpf(pre, np, &d) == SECCOMP_RET_ALLOW;
		}
		CHECK(io_allowed == io->nr_blk + io->nr_tap);
		for (int nr = 0; nr < 2; nr++) {
			struct seccomp_data d = { .nr = nr ? __NR_preadv : __NR_readv, .arch = AUDIT_ARCH_X86_64, .args = { 99 } };

			CHECK(run_bpf(pre, np, &d) == SECCOMP_RET_KILL_PROCESS);
			d.args[0] = (1ull << 32) | 0xffffffffu; /* the unused slots' value in 64 bits only */
			CHECK(run_bpf(pre, np, &d) == SECCOMP_RET_KILL_PROCESS);
		}
	}
}
