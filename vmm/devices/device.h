/* The device model: every device of a microVM (UART, i8042, boot timer, each virtio-mmio
 * transport and each virtio device) is a struct device on one list, behind one ops table.
 *
 * A device's guest-visible state is one plain struct of fixed size (no pointers, explicitly
 * sized fields), `st` in the device: exactly what save writes and restore reads. A virtio
 * device's is made of three such parts, saved one after the other (struct virtio_state:
 * its common registers and its queues; then its type's own part). Its wiring (fds, locks,
 * callbacks, output buffers) stays outside that struct and is never saved. A saved device is
 * a byte blob: a versioned header naming the device (struct device_state_hdr), then its
 * state, so that a snapshot is the concatenation of its devices' blobs. A blob comes from a
 * file: restore checks every field and refuses with -EINVAL (-EFAULT for virtio rings
 * outside guest RAM) and a reason. */
#ifndef KINDLING_DEVICE_H
#define KINDLING_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct cJSON;
struct device;
struct rl_update;

/* Which rate limiter of a device set_rate_limiter changes: a drive has one, a network
 * interface one per direction. */
enum device_limiter {
	DEVICE_LIMITER_DRIVE = 0,
	DEVICE_LIMITER_RX = 0,
	DEVICE_LIMITER_TX = 1,
};

enum device_kind {
	DEVICE_UART = 1,
	DEVICE_I8042 = 2,
	DEVICE_BOOT_TIMER = 3,
	DEVICE_VIRTIO_MMIO = 4,
	DEVICE_VIRTIO_BLK = 5,
	DEVICE_VIRTIO_NET = 6,
	DEVICE_RTC = 7,
};

#define DEVICE_ID_MAX 80 /* bytes, NUL included: a config id (64 characters) fits */
#define DEVICE_NO_IRQ (-1)

/* What starts every saved device: which device this is and how long its blob is. */
#define DEVICE_STATE_MAGIC 0x5645444bu /* "KDEV" */
struct device_state_hdr {
	uint32_t magic;
	uint16_t kind;    /* enum device_kind */
	uint16_t version; /* of the state struct of that kind */
	uint32_t len;     /* of the whole blob: this header and the state after it */
	int32_t irq;      /* interrupt line, or DEVICE_NO_IRQ */
	uint64_t addr;    /* port or MMIO base; 0 when not on a bus */
	char id[DEVICE_ID_MAX]; /* NUL-terminated, zero-padded */
};
_Static_assert(sizeof(struct device_state_hdr) == 104, "the saved header has no padding");

struct device_ops {
	uint16_t kind;
	uint16_t version;
	/* A device added after snapshots without it were made (the RTC): where a list's blob has
	 * none of it (the next blob is another kind's, or there is none), the list restores
	 * with this device left as created. */
	bool optional_in_snapshot;
	/* Size of the state that follows the header (fixed for a given device). */
	size_t (*save_size)(const struct device *d);
	/* Writes the state (save_size bytes) into buf. */
	void (*save)(struct device *d, void *buf);
	/* Checks and loads a state of save_size bytes; -errno with a reason in err when any
	 * field is out of range, leaving the device usable (a virtio device reset). */
	int (*restore)(struct device *d, const void *buf, char *err, size_t errlen)
		__attribute__((warn_unused_result));
	/* Older state versions the device still reads (optional: restore_old NULL reads only
	 * `version`). A blob of version v, min_version <= v < version, holds old_save_size(v)
	 * bytes of state, which restore_old checks and loads as restore does. */
	uint16_t min_version;
	size_t (*old_save_size)(const struct device *d, uint16_t v);
	int (*restore_old)(struct device *d, uint16_t v, const void *buf, char *err, size_t errlen)
		__attribute__((warn_unused_result));
	/* Adds the device's counters to a metrics object (optional). */
	void (*metrics)(struct device *d, struct cJSON *out);
	/* Changes one of the device's rate limiters (vmm/ratelimit.h) as u says: with both
	 * buckets set when the VM is built (the configured limiter), with the buckets a PATCH
	 * gives after boot. On the VMM thread; the device takes its own lock. Optional: NULL
	 * for a device without limiters (or whose limiters are not wired yet). */
	int (*set_rate_limiter)(struct device *d, enum device_limiter which, const struct rl_update *u, char *err,
				size_t errlen) __attribute__((warn_unused_result));
	/* Writes diagnostic lines to fd, for SIGUSR1 (optional). */
	void (*diag)(struct device *d, int fd);
	/* Releases the wiring and the device itself. */
	void (*destroy)(struct device *d);
};

struct device {
	const struct device_ops *ops;
	char id[DEVICE_ID_MAX];
	uint64_t addr;
	int32_t irq;
};

/* The devices of one microVM, in the order they were added (which is also the order of
 * their blobs in a snapshot and of their objects in the metrics). */
#define DEVICE_LIST_MAX 96
struct device_list {
	struct device *items[DEVICE_LIST_MAX];
	int n;
};

void device_init(struct device *d, const struct device_ops *ops, const char *id, uint64_t addr, int32_t irq);
const char *device_kind_name(unsigned kind);

int device_add(struct device_list *l, struct device *d) __attribute__((warn_unused_result));
/* The first device of `kind` with `id` (any id if NULL), or NULL. */
struct device *device_find(const struct device_list *l, unsigned kind, const char *id);
/* Destroys every device, the last added first; the list is empty afterwards. */
void device_list_destroy(struct device_list *l);
void device_list_metrics(const struct device_list *l, struct cJSON *out);
void device_list_diag(const struct device_list *l, int fd);

/* The whole blob: header and state. */
size_t device_save_size(const struct device *d);
/* Writes the blob; -ENOSPC if len is smaller than device_save_size(). */
int device_save(struct device *d, void *buf, size_t len) __attribute__((warn_unused_result));
/* Checks the header against this device (magic, kind, version, length, id, address, IRQ),
 * then has the device check and load its state (an older version's through restore_old). */
int device_restore(struct device *d, const void *buf, size_t len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The whole list as one blob: its devices' blobs one after the other, in list order (what
 * a snapshot holds). Restore walks the blobs with their headers' lengths and hands each to
 * the device at the same position, which checks that it is its own (a device whose ops say
 * optional_in_snapshot is passed over when the blob there is another kind's or the blobs
 * have ended: snapshots made before it existed); a blob that ends early or has bytes left
 * over is refused. A refusal part way leaves the devices before it
 * restored: the VM being restored is not to be started then. */
size_t device_list_save_size(const struct device_list *l);
int device_list_save(const struct device_list *l, void *buf, size_t len) __attribute__((warn_unused_result));
int device_list_restore(const struct device_list *l, const void *buf, size_t len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* For metrics ops: the object named `name` inside the group object `group` of out (both
 * made as needed), and one counter in it. */
struct cJSON *device_metrics_object(struct cJSON *out, const char *group, const char *name);
void device_metric(struct cJSON *o, const char *name, uint64_t v);

/* For restore functions: true if the n bytes at p are all zero (padding, reserved). */
int device_zeroed(const void *p, size_t n);
/* True if the string field of n bytes at s is NUL-terminated and zero after the NUL. */
int device_str_ok(const char *s, size_t n);

#endif
