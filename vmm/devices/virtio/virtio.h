/* The transport-independent virtio device: status, feature negotiation, queues, interrupts
 * and save/restore. A device type (block, net) supplies a virtio_dev_ops and never learns
 * which transport carries it; a transport (virtio-mmio) turns register accesses into calls
 * of the virtio_* functions below.
 *
 * Threads: transports call in from vCPU threads, queue work runs on the event loop thread.
 * dev->lock serialises both; only the interrupt status is touched without it. */
#ifndef KINDLING_VIRTIO_H
#define KINDLING_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "mem.h"
#include "virtq.h"

#define VIRTIO_MAX_QUEUES 4

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTIO_INT_VRING 1
#define VIRTIO_INT_CONFIG 2

#define VIRTIO_BIT(b) (1ull << (b))

struct virtio_device;

struct virtio_dev_ops {
	/* Reads/writes the device-specific configuration space; the transport has already
	 * checked that [off, off+len) lies inside config_size. */
	void (*config_read)(struct virtio_device *dev, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(struct virtio_device *dev, uint32_t off, const uint8_t *data, uint32_t len);
	/* The driver set DRIVER_OK with dev->driver_features: start the backend. Non-zero
	 * marks the device as needing a reset. */
	int (*activate)(struct virtio_device *dev);
	/* The driver kicked queue q (event loop thread, lock held, device active). */
	void (*queue_notify)(struct virtio_device *dev, int q);
	/* The driver reset the device (lock held): stop using guest memory. */
	void (*reset)(struct virtio_device *dev);
	/* Device-specific state beyond the common part, into a flat buffer of save_size.
	 * restore checks every field (the buffer is untrusted) and gives a reason in err. */
	void (*save)(const struct virtio_device *dev, void *buf);
	int (*restore)(struct virtio_device *dev, const void *buf, char *err, size_t errlen);
	/* Releases the backend (files, taps) and the device itself. */
	void (*destroy)(struct virtio_device *dev);
};

/* The transport-independent registers of a device as its driver sees them: kept as is in
 * struct virtio_device and saved as is (with each queue's struct virtq_state). */
struct virtio_dev_state {
	uint64_t device_features; /* offered: set at creation, only compared on restore */
	uint64_t driver_features;
	uint32_t status;
	uint32_t config_generation;
	uint32_t interrupt_status; /* as saved; the live one is *isr */
	uint32_t pad;
};
_Static_assert(sizeof(struct virtio_dev_state) == 32, "no hidden padding");

struct virtio_device {
	const struct virtio_dev_ops *ops;
	char name[80];
	uint32_t device_id;
	uint32_t config_size;
	uint32_t save_size;
	struct virtio_dev_state st; /* under lock; its interrupt_status is only for saving */
	/* The interrupt status, atomic: read and acked by vCPUs without the lock. Points at
	 * isr_word, or where the transport shows it to the driver (virtio_set_isr_home). */
	uint32_t *isr;
	uint32_t isr_word;
	/* The transport's: called (lock held) when something its driver reads changed on the
	 * device's side (NEEDS_RESET, configuration, a restore); NULL for none. */
	void (*regs_changed)(void *opaque);
	void *regs_opaque;
	int nr_queues;
	struct virtq queues[VIRTIO_MAX_QUEUES];
	const struct guest_mem *mem;
	pthread_mutex_t lock;

	/* Kicks arrive on notify_fd[q] (KVM ioeventfd when there is a VM); interrupts leave
	 * through irq_fd (KVM irqfd). Both are plain eventfds, so tests can drive them. */
	int notify_fd[VIRTIO_MAX_QUEUES];
	int irq_fd;

	struct ratelimit rl;
	uint64_t errors; /* rule breaks that put the device into NEEDS_RESET */
	void *transport; /* owned by whoever attached the device; opaque here */
};

/* Flat, fixed-size common state for save/restore (device state follows it): which device,
 * then its registers and queues exactly as the device keeps them. */
#define VIRTIO_STATE_MAGIC 0x4b56494fu /* "KVIO" */
struct virtio_state {
	uint32_t magic;
	uint32_t device_id;
	uint32_t nr_queues;
	uint32_t pad;
	struct virtio_dev_state dev;
	struct virtq_state queues[VIRTIO_MAX_QUEUES]; /* unused ones zero */
};

/* Sets up the common part; the device then fills st.device_features, config_size, and the
 * queues' max_size. Creates the eventfds. */
int virtio_init(struct virtio_device *dev, const struct virtio_dev_ops *ops, uint32_t device_id, const char *name,
		const struct guest_mem *mem, int nr_queues) __attribute__((warn_unused_result));
/* Closes what virtio_init made; safe on a half-initialised device. */
void virtio_cleanup(struct virtio_device *dev);

/* Driver-facing operations, called by the transport with dev->lock held. */
void virtio_set_status(struct virtio_device *dev, uint32_t status);
void virtio_set_driver_features(struct virtio_device *dev, uint32_t word, uint32_t value);
/* Queue registers may change only before DRIVER_OK; size and addresses also only while
 * the queue is not ready (its rings were checked for the size and addresses it had). */
bool virtio_queue_writable(struct virtio_device *dev, int q, bool ready_reg);
/* The driver wrote QueueReady. */
void virtio_queue_set_ready(struct virtio_device *dev, int q, bool ready);
/* The driver kicked q through a register instead of an ioeventfd (no lock needed). */
void virtio_kick(struct virtio_device *dev, int q);
/* Chains or frames one queue callback handles before it yields, so that a guest refilling
 * a ring as fast as it is drained cannot keep the event loop thread on one queue: the
 * API, signals and other devices get their turn between two batches. Half a ring (256
 * descriptors at most): a driver that fills its ring is served in two turns of the loop,
 * and a turn costs an eventfd write, an epoll_wait and a read (a few microseconds) against
 * a hundred-odd writev/preadv calls; as vhost-net's 256-packet weight, it bounds the time
 * others wait to about one batch per busy queue. */
#define VIRTIO_QUEUE_BUDGET 128
/* A queue's callback spent its budget with work left (lock held): come back to q after
 * the event loop has served the other ready fds. */
void virtio_yield(struct virtio_device *dev, int q);
/* The driver read / acknowledged the interrupt status (no lock needed). */
uint32_t virtio_interrupt_status(struct virtio_device *dev);
/* Moves the live interrupt status to *home (NULL: back to the device), value kept. Lock held,
 * no vCPU running. */
void virtio_set_isr_home(struct virtio_device *dev, uint32_t *home);
void virtio_interrupt_ack(struct virtio_device *dev, uint32_t bits);

/* Event loop side: a notify eventfd fired for q. Takes the lock. */
void virtio_process(struct virtio_device *dev, int q);

/* Device-facing operations (lock held). */
static inline bool virtio_has_feature(const struct virtio_device *dev, int bit)
{
	return dev->st.driver_features & VIRTIO_BIT(bit);
}
/* True while the device may use its queues: DRIVER_OK set, NEEDS_RESET not. */
bool virtio_active(const struct virtio_device *dev);
/* Interrupts the driver if queue q's suppression settings ask for it. */
void virtio_signal_queue(struct virtio_device *dev, int q);
/* The configuration changed: bump the generation and interrupt. */
void virtio_config_changed(struct virtio_device *dev);
/* The driver broke a rule: mark NEEDS_RESET, interrupt, log (rate limited). */
void virtio_fail(struct virtio_device *dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes one diagnostic line per queue (indices as the device and the driver see them) to
 * fd. Reads without the device lock: a snapshot for people, not for the device model. */
void virtio_diag_print(const struct virtio_device *dev, int fd);

/* Save/restore of the whole device (common + device state): buf must hold virtio_save_size().
 * The virtio blk and net devices' struct device ops wrap these. A state that does not fit
 * this device, or whose fields are out of range, gives -errno (-EINVAL, or what the queue
 * checks say) with the reason in err, not naming the device, and leaves the device reset. */
size_t virtio_save_size(const struct virtio_device *dev);
void virtio_save(struct virtio_device *dev, void *buf);
int virtio_restore(struct virtio_device *dev, const void *buf, size_t len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
