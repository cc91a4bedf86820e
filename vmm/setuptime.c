/* Start-up phase timestamps (setuptime.h). */
#include "setuptime.h"

#include <stdio.h>

#include "log.h"

static const char *const phase_names[SETUP_PHASES] = {
	[SETUP_ARGS] = "args",     [SETUP_FILES] = "files",     [SETUP_KVM] = "kvm",
	[SETUP_MEM] = "mem",       [SETUP_IRQCHIP] = "irqchip", [SETUP_DEVICES] = "devices",
	[SETUP_VCPUS] = "vcpus",
	[SETUP_KERNEL] = "kernel", [SETUP_BOOT] = "boot",       [SETUP_REGS] = "regs",
	[SETUP_START] = "start",   [SETUP_SECCOMP] = "seccomp",
};

void setuptime_begin(struct setup_times *s, uint64_t t0)
{
	s->t0 = t0;
	for (int i = 0; i < SETUP_PHASES; i++) {
		if (s->end[i] < t0)
			s->end[i] = 0;
	}
}

void setuptime_mark(struct setup_times *s, enum setup_phase p)
{
	/* Atomic: with --boot-timer the boot vCPU marks its seccomp phase while another vCPU
	 * may be formatting a restore's phases (vcpu.c first_run). */
	if (s)
		__atomic_store_n(&s->end[p], now_ns(), __ATOMIC_RELAXED);
}

void setuptime_format(const struct setup_times *s, uint64_t t_end, char *buf, size_t len)
{
	uint64_t prev = s->t0;
	size_t n;
	int w;

	w = snprintf(buf, len, "%.3f (", (double)(t_end - s->t0) / 1e6);
	n = w > 0 ? (size_t)w : 0;
	for (int i = 0; i < SETUP_PHASES && n < len; i++) {
		uint64_t end = __atomic_load_n(&s->end[i], __ATOMIC_RELAXED);

		/* Phases run in order; one out of it (marked again later) is not a duration. */
		if (!end || end < prev || end > t_end)
			continue;
		w = snprintf(buf + n, len - n, "%s%s %.3f", prev == s->t0 ? "" : ", ", phase_names[i],
			     (double)(end - prev) / 1e6);
		n += w > 0 ? (size_t)w : 0;
		prev = end;
	}
	/* What no mark covers: ~0 when the last phase is marked just before KVM_RUN. */
	if (n < len && t_end >= prev)
		snprintf(buf + n, len - n, "%srest %.3f)", prev == s->t0 ? "" : ", ", (double)(t_end - prev) / 1e6);
}
