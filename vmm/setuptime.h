/* Where the time from process start to the first KVM_RUN goes: a timestamp at the end of
 * each start-up phase, which the boot vCPU logs with vmm_setup_ms (--boot-timer). */
#ifndef KINDLING_SETUPTIME_H
#define KINDLING_SETUPTIME_H

#include <stddef.h>
#include <stdint.h>

/* In the order the phases run when a VM boots from the command line. */
enum setup_phase {
	SETUP_ARGS,    /* main(): flags, config, event loop, API socket */
	SETUP_FILES,   /* kernel and initrd opened, mapped and checked */
	SETUP_KVM,     /* /dev/kvm, capabilities, CPUID, the VM */
	SETUP_MEM,     /* guest RAM mapped and given to KVM */
	SETUP_IRQCHIP, /* TSS and identity map addresses, the in-kernel irqchip and PIT */
	SETUP_DEVICES, /* legacy and virtio devices */
	SETUP_VCPUS,   /* vCPU fds, run areas, CPUID */
	SETUP_KERNEL,  /* the kernel's segments in guest RAM */
	SETUP_BOOT,    /* command line, initrd, page tables, MP table, zero page or PVH info */
	SETUP_REGS,    /* the vCPUs' MSRs, LAPIC, FPU and registers */
	SETUP_START,   /* event loop watches, the console thread's seccomp filter */
	SETUP_SECCOMP, /* the boot vCPU's thread created and its seccomp filter installed */
	SETUP_PHASES,
};

struct setup_times {
	uint64_t t0; /* now_ns() at process start, or at InstanceStart through the API */
	uint64_t end[SETUP_PHASES]; /* 0: the phase did not run since t0 */
};

/* Starts timing at t0: marks older than t0 (a previous attempt, or main() before an API
 * InstanceStart) are forgotten. */
void setuptime_begin(struct setup_times *s, uint64_t t0);
/* Notes that phase p ended now. s may be NULL (nothing is timed). */
void setuptime_mark(struct setup_times *s, enum setup_phase p);
/* "<total ms> (args 0.120, files 0.310, ..., rest 0.002)": the time from t0 to t_end and
 * each phase's share, a phase that did not run left out. Each phase counts from the
 * previous mark; rest is from the last mark to t_end. */
void setuptime_format(const struct setup_times *s, uint64_t t_end, char *buf, size_t len);

#endif
