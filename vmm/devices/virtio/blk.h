/* virtio-block over a raw image file: reads and writes go straight between the file and
 * guest memory (preadv/pwritev on the checked segments), flush is fdatasync. */
#ifndef KINDLING_VIRTIO_BLK_H
#define KINDLING_VIRTIO_BLK_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "ratelimit.h"
#include "virtio.h"

struct evloop;

#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SECTOR 512
#define VIRTIO_BLK_ID_BYTES 20

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

struct virtio_blk_stats {
	uint64_t reads, writes, flushes, read_bytes, write_bytes;
	uint64_t io_errors;    /* requests answered with IOERR or UNSUPP */
	uint64_t no_status;    /* requests without a writable status byte: returned unanswered */
	/* Firecracker's names: the limiter's timer fired; a request was held back by it. */
	uint64_t rate_limiter_event_count, rate_limiter_throttled_events;
	uint64_t budget_yields; /* batches cut short by the budget with requests left */
};

/* Version 2 appends the rate limiter (struct rate_limiter_state) after the virtio state;
 * version 1 (snapshots 1.0), without it, still restores, with no limiter. */
#define VIRTIO_BLK_STATE_VERSION 2
/* The block device's part of its saved state, after the common virtio state: the disk it
 * was taken with. */
struct virtio_blk_state {
	uint64_t capacity; /* in 512-byte sectors; must match the disk restored onto */
	uint32_t read_only; /* 0 or 1 */
	uint32_t pad;
	char path[PATH_MAX]; /* the backing file, NUL-terminated and zero-padded */
};

struct virtio_blk {
	struct virtio_device dev;
	struct device device; /* on the VMM's device list; its id is the drive's */
	struct virtio_blk_state st; /* fixed once the disk is open */
	int fd;
	char id[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_stats stats;
	struct ratelimit rl;
	/* Firecracker's rate limiter (rate_limiter on PUT/PATCH /drives), under dev.lock. A
	 * request it holds back goes back to the ring and the queue stops until timer_fd
	 * fires; kicks meanwhile only count. */
	struct rate_limiter limiter;
	uint64_t (*clock)(void); /* monotonic ns: now_ns, or a test's */
	int timer_fd;            /* made with the device (no timerfd_create after boot) */
	struct evloop *loop;     /* where timer_fd is watched, once virtio_blk_watch_timer ran */
	bool throttled;          /* the queue waits for timer_fd */
	struct virtq_chain chain;               /* scratch of the queue worker */
	struct iovec data[VIRTQ_MAX_CHAIN];     /* scratch: the data part of a request */
};

/* Opens `path` (read-only if asked) and makes a device whose GET_ID answers `id`. It starts
 * as Firecracker's cache_type "Unsafe": VIRTIO_BLK_F_FLUSH is not offered. */
int virtio_blk_create(const char *path, bool read_only, const char *id, const struct guest_mem *mem,
		      struct virtio_blk **out, char *err, size_t errlen) __attribute__((warn_unused_result));
/* cache_type "Writeback": offer VIRTIO_BLK_F_FLUSH, so the guest flushes (fdatasync here).
 * Before the guest negotiates features. */
void virtio_blk_set_writeback(struct virtio_blk *b, bool writeback);

/* Watches the rate limiter's timer on loop (the event loop thread then resumes a throttled
 * queue when it fires). Without it (tests), virtio_blk_timer_fired does that. */
int virtio_blk_watch_timer(struct virtio_blk *b, struct evloop *loop, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* The rate limiter's timer fired: the queue goes on where the limiter stopped it. */
void virtio_blk_timer_fired(struct virtio_blk *b);

/* Carries out one request chain; returns the number of bytes written into it (status
 * included), i.e. the used length. Exposed for tests and fuzzing. */
uint32_t virtio_blk_request(struct virtio_blk *b, const struct virtq_chain *c);

#endif
