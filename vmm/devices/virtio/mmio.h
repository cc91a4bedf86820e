/* The virtio-mmio transport (version 2, virtio 1.x): a 4 KiB register window per device on
 * the VM's MMIO bus, QueueNotify wired to the device's eventfds through KVM ioeventfds and
 * its interrupt eventfd to an IOAPIC line through a KVM irqfd. */
#ifndef KINDLING_VIRTIO_MMIO_H
#define KINDLING_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "virtio.h"

struct vm;
struct evloop;

#define VIRTIO_MMIO_SIZE 0x1000
#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x4c444e4b /* "KNDL" */

/* Register offsets. */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

struct virtio_mmio;

/* What an event loop callback needs to know about one queue's notify eventfd. */
struct virtio_mmio_queue_ref {
	struct virtio_mmio *t;
	int q;
};

#define VIRTIO_MMIO_STATE_VERSION 1
/* The transport's own registers, saved as they are (the device's state is the device's). */
struct virtio_mmio_state {
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t pad;
};

struct virtio_mmio {
	/* On the VMM's device list, named after the device it carries, at its window and IRQ.
	 * Its destroy op detaches and frees the transport (so one allocated on the heap), not
	 * the device. */
	struct device device;
	struct virtio_device *dev;
	struct virtio_mmio_state st; /* under dev->lock */
	/* Where it lives once attached to a VM. */
	uint64_t base;
	int irq;
	struct vm *vm;
	struct evloop *loop;
	int nr_ioeventfds;
	int nr_loop_fds;
	bool irqfd;
	struct virtio_mmio_queue_ref refs[VIRTIO_MAX_QUEUES];
	struct ratelimit rl;
	/* The window's page as the guest reads it (vm_device_regs; NULL: reads exit too):
	 * rewritten under dev->lock after every change the driver can read, the interrupt status
	 * kept there live. */
	uint8_t *regs;
};

/* The transport's device id is dev->name until the attacher names it (t->device.id). */
void virtio_mmio_init(struct virtio_mmio *t, struct virtio_device *dev);

/* The bus handler (vCPU threads): offset within the window, 1..8 bytes. */
void virtio_mmio_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Gives the device an MMIO window and interrupt line of `vm`, wires its eventfds into KVM
 * and `loop`, and announces it on the kernel command line. */
int virtio_mmio_attach(struct virtio_mmio *t, struct vm *vm, struct evloop *loop, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Undoes the event loop and KVM wiring (the bus range stays until the VM goes). Also what
 * the transport's destroy op does, before freeing it. */
void virtio_mmio_detach(struct virtio_mmio *t);

void virtio_mmio_save(const struct virtio_mmio *t, struct virtio_mmio_state *s);
void virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *s);

#endif
