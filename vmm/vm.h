/* The VM context: one per process, passed explicitly everywhere. */
#ifndef KINDLING_VM_H
#define KINDLING_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "boot.h"
#include "bus.h"
#include "mem.h"
#include "setuptime.h"

#define VM_MAX_VCPUS 32

/* Firecracker places the TSS and identity map just below the 4 GiB boundary's BIOS area. */
#define VM_TSS_ADDR 0xfffbd000ull
#define VM_IDENTITY_MAP_ADDR 0xfffbc000ull

struct vm;

enum vcpu_exit_kind {
	EXIT_IO,
	EXIT_MMIO,
	EXIT_INTR,
	EXIT_OTHER,
	EXIT_KINDS,
};

/* What a vCPU reports of itself for a diagnostic dump (vcpu_diag.c). */
struct vcpu_diag {
	bool valid; /* the vCPU answered and its registers could be read */
	int err;    /* -errno of the first register read that failed */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_mp_state mp;
};

#define CPU_MAX_MSRS 64

/* One vCPU's architectural state as KVM gives it: exactly what a snapshot saves. The xsave
 * area holds the FPU, SSE and AVX state. */
struct cpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp_state;
	struct kvm_vcpu_events events;
	uint32_t tsc_khz;
	uint32_t nr_msrs;
	struct kvm_msr_entry msrs[CPU_MAX_MSRS];
};

/* The VM-wide state in KVM: the two PICs, the IOAPIC, the PIT and the kvmclock. */
struct vm_kvm_state {
	struct kvm_irqchip pic_master;
	struct kvm_irqchip pic_slave;
	struct kvm_irqchip ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started; /* created (set by the VMM thread after pthread_create; joined: false) */
	/* Set by the vCPU thread itself, first thing, with self: from then on a kick reaches it.
	 * `started` is set only once pthread_create has returned, which may be after the new
	 * thread is already in KVM_RUN; vcpu_kick goes by this flag instead (see vcpu_kick). */
	pthread_t self;
	bool kickable;
	uint64_t exits[EXIT_KINDS];
	uint32_t last_exit; /* the last KVM exit reason; written by the vCPU thread only */
	/* Diagnostics: the VMM thread sets diag_requested and kicks; the vCPU thread fills diag,
	 * clears the flag and counts itself in vm->diag_answers, all under vm->pause_lock. */
	bool diag_requested;
	struct vcpu_diag diag;
	uint64_t t_first_run_ns; /* when its thread first entered KVM_RUN (restore timing) */
};

struct vm_config {
	int nr_vcpus;
	uint64_t mem_size; /* bytes */
	bool mem_from_fd;  /* guest RAM is mem_fd (a memfd or a file) mapped, not anonymous */
	int mem_fd;
	bool mem_private;  /* with mem_fd: copy-on-write (MAP_PRIVATE) rather than shared */
	/* ... and these ranges of RAM are zero in it (mapped anonymous: mem_map_fd); the
	 * caller's, read during vm_create only */
	const struct mem_range *mem_zero;
	size_t mem_nr_zero;
	bool mem_small_pages; /* ... with 4 KiB pages whatever the host's THP policy (mem.h) */
	bool dirty_log;    /* KVM logs the pages the guest writes, the VMM its own (diff snapshots) */
	bool boot_timer;
	bool seccomp; /* vCPU threads install their seccomp filter */
	uint64_t t_main_ns; /* when the process entered main() (0: unknown), for vmm_setup_ms */
	struct setup_times *setup; /* start-up phases, logged with vmm_setup_ms; NULL: untimed */
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int run_size;
	struct vm_config cfg;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct kvm_cpuid2 *cpuid; /* what KVM supports; filtered per vCPU */
	struct vcpu vcpus[VM_MAX_VCPUS];
	int nr_vcpus;

	/* Resources handed to devices before boot (vm_alloc_device). */
	uint64_t next_mmio;
	int next_irq_index;
	/* The device windows' register pages (VM_MMIO_BASE on, VM_DEVICE_WINDOWS of them): one
	 * read-only memory slot, so that the guest reads registers without an exit and only its
	 * writes reach the VMM (vm_device_regs). NULL where KVM has no read-only slots. */
	uint8_t *regs;
	char cmdline_extra[2048];

	/* Pausing: vCPUs park on pause_cond between KVM_RUNs while pause_requested. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	bool pause_requested;
	int nr_paused;
	int diag_answers; /* vCPUs that answered the current diagnostic request */

	/* Restore timing: set by vmm_restore for a VM that resumes at once; the vCPU whose
	 * first KVM_RUN makes first_runs reach nr_vcpus logs restore_ms. */
	bool time_restore;
	int first_runs;

	/* Stopping: the first vm_stop() wins and sets the exit status. */
	int stop_efd;
	int stopping;
	int exit_status;
	char exit_reason[448];

};

/* Starts creating a KVM VM in a short-lived thread of its own, for the next vm_create() to
 * take, and asks for KVM's supported CPUID. Linux attaches each new VM's worker thread to
 * its creator's cgroups, which waits for an RCU grace period: KVM_CREATE_VM sleeps ~20-30 ms
 * in the lab (~2 ms of CPU), a wait that a process can spend reading its arguments and files
 * instead; KVM_GET_SUPPORTED_CPUID takes ~0.2-0.3 ms on this project's host, which a load
 * request arriving later need not wait for. Nothing is said if it fails: vm_create() then
 * makes its own VM, with the usual errors. From main() before any other thread runs
 * (benches/snapbench.c: before each load, with no VM running). */
void vm_prepare(void);

/* Opens /dev/kvm, checks the API and capabilities, creates the VM (or takes vm_prepare's),
 * its RAM, then its irqchip and PIT (in that order: see vm.c).
 * On failure returns -errno with the reason in err; vm_destroy() accepts the half-built VM. */
int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void vm_destroy(struct vm *vm);

/* Creates the vCPUs (fd, run area, CPUID), with no registers set: next comes either
 * vm_boot_vcpus or a restore (cpu_restore per vCPU). */
int vm_create_vcpus(struct vm *vm, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Sets the vCPUs' MSRs, LAPIC, FPU and (for the BSP) registers for the boot entry. */
int vm_boot_vcpus(struct vm *vm, const struct boot_entry *entry, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* ORs into bitmap (mem_bitmap_words() words, one bit per page in mapping order) the pages
 * written since the last call, by the guest (KVM's dirty log) and by the VMM, and starts
 * over. Only with vm_config.dirty_log. */
int vm_take_dirty(struct vm *vm, uint64_t *bitmap, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Reads or writes the VM-wide KVM state (interrupt controllers, PIT, kvmclock); the vCPUs
 * must not be running. */
int vm_save_kvm(struct vm *vm, struct vm_kvm_state *st, char *err, size_t errlen) __attribute__((warn_unused_result));
int vm_restore_kvm(struct vm *vm, const struct vm_kvm_state *st, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Starts one thread per vCPU. */
int vm_start(struct vm *vm) __attribute__((warn_unused_result));

/* Asks every vCPU to stop; the first call's status and reason are kept. Safe from any thread. */
void vm_stop(struct vm *vm, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Pauses (true) or resumes (false) every vCPU; returns once they all have. From the VMM
 * thread only. */
int vm_pause(struct vm *vm, bool pause) __attribute__((warn_unused_result));

/* Collects every vCPU's registers, mp_state and exit counts without stopping the VM: each
 * running vCPU is kicked out of KVM_RUN, answers and goes on; a parked one answers from its
 * wait. Waits at most timeout_ms; vCPUs that did not answer have diag.valid false. From the
 * VMM thread only. */
void vm_diag_collect(struct vm *vm, int timeout_ms);
/* Where a vCPU stopped, for the VM's exit reason after a failure exit (internal error,
 * failed entry): the registers of a diagnostic line (rip, rflags, cr0, cr3, cr4, efer), then
 * cs.base. From the vCPU's own thread (KVM gives registers to that thread only). */
void vcpu_describe_stop(struct vcpu *v, char *buf, size_t len);
/* Writes one line per vCPU (what vm_diag_collect gathered) to fd. */
void vm_diag_print(const struct vm *vm, int fd);
/* The vCPU side: answers a pending request (the vCPU thread, with pause_lock held). */
void vcpu_diag_answer(struct vcpu *v);

/* Joins the vCPU threads after a stop. */
void vm_join(struct vm *vm);
/* Sends the kick signal to a vCPU thread that is running. Whoever kicks stores what the
 * vCPU must see (immediate_exit, stopping, pause_requested) first: a thread not kickable
 * yet will see it, as it looks only after making itself kickable. */
void vcpu_kick(struct vcpu *v);

/* MMIO window for virtio-mmio devices: inside the 32-bit gap, below the IOAPIC. */
#define VM_MMIO_BASE 0xd0000000ull
#define VM_MMIO_END 0xfec00000ull
/* One 4 KiB window per device line (vm_alloc_device hands out 19). */
#define VM_DEVICE_WINDOWS 19
#define VM_DEVICE_WINDOW 0x1000ull
#define VM_DEVICE_REGS_SIZE (VM_DEVICE_WINDOWS * VM_DEVICE_WINDOW)
/* Their memory slot's number: above the RAM's (0 and 1, below and above the 32-bit gap). */
#define VM_REGS_SLOT 16

/* Hands a device `size` bytes of MMIO space and an IOAPIC interrupt line of its own. */
int vm_alloc_device(struct vm *vm, uint64_t size, uint64_t *addr, int *irq) __attribute__((warn_unused_result));
/* The host page behind the device window at gpa, which the guest reads directly (what the
 * VMM stores there is what the guest's loads return; its stores still exit as MMIO); NULL
 * without one (no read-only slot: every access exits). */
uint8_t *vm_device_regs(struct vm *vm, uint64_t gpa);

/* Appends " <text>" to what the kernel command line gets from devices. */
int vm_cmdline_append(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3), warn_unused_result));

/* Sets the level of an interrupt line of the in-kernel PIC/IOAPIC. */
void vm_irq_line(struct vm *vm, int irq, int level);

/* The signal used to kick vCPU threads out of KVM_RUN (a real-time one, as Firecracker's:
 * SIGUSR1 asks the VMM for diagnostics). */
#define VCPU_KICK_SIGNAL (SIGRTMIN + 0)

/* x86 CPU state (cpu.c); exposed for tests. */
int cpu_filter_cpuid(struct kvm_cpuid2 *c, int vcpu_id, int nr_vcpus);
void cpu_long_mode_sregs(struct kvm_sregs *s);
void cpu_pvh_sregs(struct kvm_sregs *s);
/* At vCPU creation: the CPUID KVM supports, filtered for this vCPU. */
int cpu_set_cpuid(struct vcpu *v, const struct kvm_cpuid2 *supported) __attribute__((warn_unused_result));
/* At boot: the MSRs, LAPIC pins and FPU as firmware leaves them, and the boot vCPU's
 * registers for the entry point. */
int cpu_boot(struct vcpu *v, const struct boot_entry *entry) __attribute__((warn_unused_result));
/* The indices of the MSRs a snapshot carries: cpu.c's table, in its order, less those this
 * host's KVM does not offer. out has room for CPU_MAX_MSRS. */
int cpu_msrs_to_save(int kvm_fd, uint32_t *out, uint32_t *nr) __attribute__((warn_unused_result));
/* Reads or writes all of one vCPU's state, in the order KVM needs. The vCPU must not be
 * running (paused or not started). cpu_restore sets the guest's TSC to tsc->value (one
 * TSC offset for all vCPUs, so they run in step) and refuses an MSR list not drawn from
 * cpu.c's table, as a state read from a file is untrusted. */
int cpu_save(struct vcpu *v, const uint32_t *msrs, uint32_t nr_msrs, struct cpu_state *st, char *err,
	     size_t errlen) __attribute__((warn_unused_result));
struct cpu_tsc {
	uint64_t value; /* the guest TSC every vCPU restarts from */
	bool have_offset; /* offset found by the first vCPU restored; the others take it */
	uint64_t offset;
};
int cpu_restore(struct vcpu *v, const struct cpu_state *st, struct cpu_tsc *tsc, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Whether index is one of the MSRs cpu.c's table lets a snapshot carry. */
bool cpu_msr_known(uint32_t index);
/* The TSC a saved vCPU had (0 if it carries none); vmm_restore gives every vCPU the
 * largest of them. */
uint64_t cpu_saved_tsc(const struct cpu_state *st);

#endif
