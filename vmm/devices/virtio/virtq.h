/* Split virtqueues (virtio 1.x): the device side of the descriptor table, the available
 * ring and the used ring, over guest memory reached only through mem_ptr(). Every rule a
 * driver can break is checked here; a broken rule is reported to the caller as -errno with
 * a reason in q->error, and the caller marks its device as needing a reset. */
#ifndef KINDLING_VIRTQ_H
#define KINDLING_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mem.h"

/* The largest queue a device may offer; also the longest chain accepted (the spec forbids
 * chains longer than the queue size, indirect tables included). */
#define VIRTQ_MAX_SIZE 256
#define VIRTQ_MAX_CHAIN VIRTQ_MAX_SIZE

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Flat, fixed-size state of one queue: what the driver set up and how far the device got.
 * It is kept as is in struct virtq and saved as is. */
struct virtq_state {
	/* Written by the driver (through the transport) while the queue is not ready. */
	uint16_t size;
	uint8_t ready;
	/* Device progress. */
	uint8_t signalled_valid;
	uint16_t last_avail;     /* next available-ring slot to consume */
	uint16_t used_idx;       /* used index as published (or about to be) */
	uint16_t signalled_used; /* used index when the driver was last interrupted */
	uint16_t inflight;       /* chains popped but not yet pushed */
	uint32_t pad;
	uint64_t desc_gpa, avail_gpa, used_gpa;
};
_Static_assert(sizeof(struct virtq_state) == 40, "no hidden padding");

struct virtq {
	uint16_t max_size; /* the device's offer: configuration, not state */
	struct virtq_state st;
	/* Wiring, derived from the state when the queue is made ready: the negotiated features
	 * that change the ring layout, and host views of the rings, checked once. */
	bool event_idx;
	bool indirect;
	const struct guest_mem *mem;
	uint8_t *desc;
	uint8_t *avail;
	uint8_t *used;
	const char *error; /* why the last call failed */
};

/* One popped descriptor chain: device-readable segments first, then device-writable ones. */
struct virtq_chain {
	uint16_t head;
	uint16_t nout, nin;
	uint32_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* Forgets everything the driver set; max_size stays. */
void virtq_reset(struct virtq *q);

/* Checks the queue the driver configured (size, alignment, rings inside RAM) and maps its
 * rings. Returns 0 or -errno with q->error set; the queue stays not ready on failure. */
int virtq_enable(struct virtq *q, const struct guest_mem *mem, bool event_idx, bool indirect)
	__attribute__((warn_unused_result));

/* Takes the next available chain. Returns 1 with *c filled, 0 if the ring is empty, or
 * -errno with q->error set when the driver broke a rule. */
int virtq_pop(struct virtq *q, struct virtq_chain *c) __attribute__((warn_unused_result));

/* Gives the last popped chain back, unconsumed (e.g. a backend had nothing to put in it). */
void virtq_unpop(struct virtq *q);

/* Returns a chain to the driver with `len` bytes written; visible after virtq_publish(). */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);
/* Makes every pushed entry visible to the driver. */
void virtq_publish(struct virtq *q);

/* Whether the driver wants an interrupt for what was published since the last one. */
bool virtq_should_signal(struct virtq *q);

/* Asks the driver to notify (again) when it adds buffers; returns true if buffers arrived
 * meanwhile, so the caller must keep processing instead of sleeping. */
bool virtq_enable_notify(struct virtq *q);
/* Tells the driver notifications are not needed while the device is busy with the queue. */
void virtq_disable_notify(struct virtq *q);

/* True if the driver has made chains available that were not popped yet. */
bool virtq_has_avail(const struct virtq *q);

/* Copies up to len bytes out of / into a chain's readable / writable segments, starting at
 * byte `off` of that part. Return the number of bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *src, size_t len);

void virtq_save(const struct virtq *q, struct virtq_state *s);
/* Restores and re-checks a saved queue; hostile state gives -errno with q->error set. */
int virtq_restore(struct virtq *q, const struct virtq_state *s, const struct guest_mem *mem, bool event_idx,
		  bool indirect) __attribute__((warn_unused_result));

#endif
