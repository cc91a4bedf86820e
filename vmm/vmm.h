/* The VMM runtime: the event loop, the console, and the VM built from a vmm_config.
 * main() (flags), the config file and the API all drive a microVM through this. */
#ifndef KINDLING_VMM_H
#define KINDLING_VMM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "devices.h"
#include "evloop.h"
#include "outbuf.h"
#include "vm.h"
#include "vmm_seccomp.h"

#define VMM_MAX_VIRTIO (CONFIG_MAX_DRIVES + CONFIG_MAX_NETS)
/* The legacy devices, and a transport plus a device per virtio device. */
_Static_assert(3 + 2 * VMM_MAX_VIRTIO <= DEVICE_LIST_MAX, "every device fits the device list");
_Static_assert(CONFIG_MAX_DRIVES <= SECCOMP_MAX_IO_FDS && CONFIG_MAX_NETS <= SECCOMP_MAX_IO_FDS,
	       "every drive and tap fd fits the VMM thread's filter");

struct snapuffd;
struct prefetch;
struct snaplazy;

/* How a signed snapshot's memory is checked at load (--snapshot-verify; README
 * "Authenticated snapshots" has the figures the default comes from). */
enum snapshot_verify {
	SNAPSHOT_VERIFY_FULL, /* every chunk read and checked before the VM is built */
	SNAPSHOT_VERIFY_LAZY, /* each chunk checked at its first touch (vmm/snaplazy.c) */
};
#define SNAPSHOT_VERIFY_DEFAULT SNAPSHOT_VERIFY_FULL

/* What the API reports as the instance's state; the VMM alone changes it. */
enum vmm_state { VMM_NOT_STARTED, VMM_RUNNING, VMM_PAUSED };

struct vmm {
	struct vm vm;
	enum vmm_state state;
	struct evloop loop;
	/* Every device (UART, i8042, boot timer, virtio transports and devices), in the order
	 * they were made; each released by its destroy op. */
	struct device_list devices;
	struct outbuf out;
	int sig_fd;
	int rx_efd; /* a vCPU signals it when the guest drained the UART's receive FIFO */
	bool stdin_watched;
	bool created; /* the VM exists (vmm_create) */
	bool built;   /* ... and its vCPUs were started (vmm_start) */
	bool restored; /* ... from a snapshot (vmm_restore), not booted */
	bool exiting; /* the event loop should end */
	bool seccomp; /* per-thread seccomp filters (off with --no-seccomp) */
	uint64_t t_main_ns; /* when the process entered main() (0: unknown): setup timings */
	struct setup_times setup; /* where the time to the first KVM_RUN goes (vmm_build) */
	const struct vmm_config *cfg; /* what vmm_create built the VM from (kept by the caller) */
	bool has_snapshot;       /* a snapshot was taken or loaded: a diff goes on top of it */
	uint8_t snapshot_id[16]; /* ... this one */
	struct snapuffd *uffd; /* a snapshot loaded with the Uffd backend: its handler (snapuffd.c) */
	struct prefetch *prefetch; /* a snapshot loaded with --prefetch: its thread (prefetch.c), joined
				    * before guest RAM goes */
	/* --snapshot-key: snapshots are signed at create and must be signed with it at load
	 * (snapauth.h); NULL: unsigned, and a signed one is refused. Not owned. */
	const struct snapauth_key *snapshot_key;
	enum snapshot_verify snapshot_verify; /* ... how its memory is checked at load */
	struct snaplazy *lazy; /* a signed snapshot loaded with lazy verification: its handler */
	struct seccomp_io_fds io_fds; /* the drives' and taps' fds: all the VMM thread's filter
				       * lets it do block and tap I/O on */
};

/* Sets up the event loop, signals and console. Call first, before any thread exists, on
 * zeroed storage (the console buffer is deliberately not cleared again). */
int vmm_init(struct vmm *v, char *err, size_t errlen) __attribute__((warn_unused_result));

/* A VM's life: vmm_create(), then vmm_boot() (a fresh kernel) or vmm_restore() (saved
 * state), then vmm_start(). A step that fails tears down what vmm_create built (the VMM
 * itself stays usable); vmm_destroy() frees a VM at any stage. */

/* Guest RAM from a file or memfd instead of anonymous memory (a snapshot's memory). */
struct vmm_ram {
	int fd;
	bool private; /* copy-on-write over fd, which is never written */
	/* private: ranges of RAM all zero in fd, mapped anonymous (mem_map_fd); read by
	 * vmm_create only */
	const struct mem_range *zero;
	size_t nr_zero;
	bool small_pages; /* the zero ranges with 4 KiB pages (mem_small_pages) */
};

/* Creates the VM of cfg with nothing in it running: the KVM VM, RAM (anonymous when ram is
 * NULL), every device, the vCPUs without their registers. */
int vmm_create(struct vmm *v, const struct vmm_config *cfg, const struct vmm_ram *ram, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The kernel and initrd of cfg, mapped and checked before any VM exists, so that a bad
 * file is reported as such (even without KVM). */
struct vmm_boot_files {
	const uint8_t *kernel, *initrd; /* mapped, for the headers */
	size_t kernel_size, initrd_size;
	int kernel_fd, initrd_fd;       /* open (-1: none), for the bulk (loader_pread) */
};
int vmm_open_boot_files(const struct vmm_config *cfg, struct vmm_boot_files *f, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void vmm_close_boot_files(struct vmm_boot_files *f);

/* Loads the kernel, initrd and boot structures of cfg into guest RAM m, with cmdline_extra
 * (the devices' part) after the command line, and says where the boot vCPU starts. Marks
 * the kernel and boot phases in st (may be NULL). The part of vmm_boot that needs no KVM,
 * so that benches/setupbench.c times the very same path. */
int vmm_load_guest(struct guest_mem *m, const struct vmm_config *cfg, const struct vmm_boot_files *f,
		   const char *cmdline_extra, struct setup_times *st, struct boot_entry *entry, char *err,
		   size_t errlen) __attribute__((warn_unused_result));
/* Loads the kernel, initrd and boot structures into a created VM and sets the boot
 * registers. */
int vmm_boot(struct vmm *v, const struct vmm_config *cfg, const struct vmm_boot_files *f, char *err,
	     size_t errlen) __attribute__((warn_unused_result));

/* The VM's state in KVM: what vmm_save reads from a paused (or not started) VM and
 * vmm_restore writes into a created one, with the devices' state (device_list_save). A
 * failed restore leaves a VM that must not be started: vmm_destroy it. */
struct vmm_kvm_state {
	struct vm_kvm_state kvm;
	int nr_cpus;
	struct cpu_state cpus[VM_MAX_VCPUS];
};
int vmm_save(struct vmm *v, struct vmm_kvm_state *st, char *err, size_t errlen) __attribute__((warn_unused_result));
int vmm_restore(struct vmm *v, const struct vmm_kvm_state *st, const void *devices, size_t devices_len, char *err,
		size_t errlen)
	__attribute__((warn_unused_result));

/* Starts the vCPUs of a booted or restored VM and puts the running VMM's seccomp filters
 * on. */
int vmm_start(struct vmm *v, char *err, size_t errlen) __attribute__((warn_unused_result));
/* The same, with the vCPUs parked before their first instruction if paused (VMM_PAUSED,
 * until vmm_pause(v, false)): a snapshot loaded without resume_vm. */
int vmm_start_paused(struct vmm *v, bool paused, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Tears down a created VM that was not started (a boot or restore that failed). */
void vmm_uncreate(struct vmm *v);

/* config_validate, then vmm_create + vmm_boot + vmm_start for cfg: the state becomes
 * VMM_RUNNING. On failure nothing is left running and the reason is in err. */
int vmm_build(struct vmm *v, const struct vmm_config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Puts the VM's stop eventfd and the console input (stdin) on the event loop, once the
 * console devices exist. Part of vmm_build; exported for the KVM-less thread harness
 * (tests/seccomp/threads.c), which drives the same paths without a VM. */
int vmm_watch(struct vmm *v) __attribute__((warn_unused_result));

/* Attaches the virtio devices of cfg (vmm_attach.c). */
int vmm_attach_devices(struct vmm *v, const struct vmm_config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Adds the devices' counters (boot timer, block, net) to a metrics object. */
struct cJSON;
void vmm_device_metrics(struct vmm *v, struct cJSON *out);

/* Changes a rate limiter of the drive (kind DEVICE_VIRTIO_BLK) or network interface
 * (DEVICE_VIRTIO_NET) with config id `id`, through its device's set_rate_limiter op: at
 * build, and for PATCH after boot. -ENODEV without such a device. A device whose limiters
 * are not wired yet keeps going unlimited: a warning, and 0. */
int vmm_set_rate_limiter(struct vmm *v, unsigned kind, const char *id, enum device_limiter which,
			 const struct rl_update *u, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Pauses or resumes the vCPUs of a started VM (VMM_RUNNING <-> VMM_PAUSED). */
int vmm_pause(struct vmm *v, bool pause, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Queues Ctrl+Alt+Del on the i8042: -ENODEV without a VM, -EBUSY if its queue is full. */
int vmm_ctrl_alt_del(struct vmm *v) __attribute__((warn_unused_result));

/* Runs the event loop until the VM stops (or vmm_quit). Returns the VM's exit status. */
int vmm_run(struct vmm *v);
void vmm_quit(struct vmm *v);
void vmm_destroy(struct vmm *v);

#endif
