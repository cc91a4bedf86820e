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

struct vmm {
	struct vm vm;
	struct evloop loop;
	/* Every device (UART, i8042, boot timer, virtio transports and devices), in the order
	 * they were made; each released by its destroy op. */
	struct device_list devices;
	struct outbuf out;
	int sig_fd;
	int rx_efd; /* a vCPU signals it when the guest drained the UART's receive FIFO */
	bool stdin_watched;
	bool built;   /* the VM exists and its vCPUs were started */
	bool exiting; /* the event loop should end */
	bool seccomp; /* per-thread seccomp filters (off with --no-seccomp) */
	struct seccomp_io_fds io_fds; /* the drives' and taps' fds: all the VMM thread's filter
				       * lets it do block and tap I/O on */
	/* Called on the event loop when the VM has stopped (before the loop ends). */
	void (*on_vm_stopped)(struct vmm *v);
};

/* Sets up the event loop, signals and console. Call first, before any thread exists, on
 * zeroed storage (the console buffer is deliberately not cleared again). */
int vmm_init(struct vmm *v, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Builds the VM described by cfg and starts its vCPUs. On failure nothing is left running
 * and the reason is in err. */
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

/* Queues Ctrl+Alt+Del on the i8042: -ENODEV without a VM, -EBUSY if its queue is full. */
int vmm_ctrl_alt_del(struct vmm *v) __attribute__((warn_unused_result));

/* Runs the event loop until the VM stops (or vmm_quit). Returns the VM's exit status. */
int vmm_run(struct vmm *v);
void vmm_quit(struct vmm *v);
void vmm_destroy(struct vmm *v);

#endif
