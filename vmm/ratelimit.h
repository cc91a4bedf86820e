/* Firecracker's I/O rate limiter: two token buckets (bandwidth in bytes, ops in requests),
 * each {size, one_time_burst, refill_time}, refilled continuously with time. Pure
 * arithmetic on plain structs: the caller passes the monotonic time (now_ns), so tests are
 * deterministic, and arms its own timer with the wait consume returns (no busy polling).
 *
 * The semantics are Firecracker v1.7.0's (src/vmm/src/rate_limiter/mod.rs):
 *   - a bucket with size 0 or refill_time 0 (or a refill_time whose nanoseconds overflow
 *     64 bits) does not exist: no limit of that kind;
 *   - a bucket starts full; it refills linearly (size tokens per refill_time ms), capped at
 *     size, the fractions of a token carried over;
 *   - the one-time burst is spent before the budget and never refilled;
 *   - a request larger than the bucket's size passes as an over-consumption: the budget is
 *     emptied and the limiter blocked for (excess / size) * refill_time ms (truncated to
 *     whole ms, as Firecracker's timer is armed);
 *   - a blocked limiter refuses every request, of either kind, until the block ends.
 * One deliberate difference: a request refused for want of tokens blocks the limiter until
 * the bucket holds enough for it (at least a tenth of its refill time and 1 ms, unless the
 * bucket is full sooner), where Firecracker always waits 100 ms (which, with a refill_time under
 * 100 ms, throttles below the configured rate). And an over-consumption of less than 1 ms
 * blocks nothing (Firecracker arms a 0 ms timer, which never fires). */
#ifndef KINDLING_RATELIMIT_H
#define KINDLING_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATE_LIMITER_NS_PER_MS 1000000ull
/* The shortest wait a refusal asks for: a tenth of the bucket's refill time, and at least
 * RATE_LIMITER_MIN_WAIT_NS (unless the bucket is full sooner, so that waiting never costs
 * rate: tokens keep accruing while it waits). It bounds the timer wake-ups of a device that
 * runs out of tokens a frame at a time: an RX flood at 64 KiB per 100 ms woke the event loop
 * 1637 times a second with a 1 ms floor (lab), for one 1400-byte frame each. */
#define RATE_LIMITER_MIN_WAIT_NS RATE_LIMITER_NS_PER_MS
#define RATE_LIMITER_WAIT_FRACTION 10

/* Firecracker's TokenBucketConfig: size or refill_time 0 means no bucket. */
struct rl_bucket_config {
	uint64_t size;           /* bytes or operations */
	uint64_t one_time_burst; /* extra tokens, spent first, never refilled (0: none) */
	uint64_t refill_time;    /* ms from empty to full */
};

/* Firecracker's RateLimiterConfig. All zero: no limiter. */
struct rl_config {
	struct rl_bucket_config bandwidth;
	struct rl_bucket_config ops;
};

/* A change to a running limiter (PATCH): a bucket whose set_* is false stays as it is
 * (budget and all); a set one is replaced by a new, full bucket, or removed if its config
 * has size or refill_time 0. Firecracker's BucketUpdate None / Update / Disabled. */
struct rl_update {
	bool set_bandwidth, set_ops;
	struct rl_bucket_config bandwidth, ops;
};

struct token_bucket {
	bool enabled;
	uint64_t size;
	uint64_t refill_time;         /* ms */
	uint64_t initial_burst;       /* as configured: what the config reports */
	uint64_t one_time_burst;      /* what is left of it */
	uint64_t budget;              /* tokens now, at most size */
	uint64_t last_update_ns;      /* the time budget was computed for */
	uint64_t cap, period;         /* size : refill_time in ns, reduced by their gcd */
};

struct rate_limiter {
	struct token_bucket bandwidth; /* bytes */
	struct token_bucket ops;       /* operations */
	uint64_t blocked_until_ns;     /* refuses everything before this time (0: never) */
};

/* What a snapshot keeps of a bucket: Firecracker's TokenBucketState, plus the burst as it
 * was configured (so the restored config reports it). Fixed size, no padding: a device's
 * saved state embeds struct rate_limiter_state as is. size 0: no bucket. */
struct token_bucket_state {
	uint64_t size;
	uint64_t one_time_burst; /* left */
	uint64_t initial_burst;
	uint64_t refill_time;    /* ms */
	uint64_t budget;
	uint64_t elapsed_ns;     /* since the budget was computed, at the save */
};

struct rate_limiter_state {
	struct token_bucket_state bandwidth;
	struct token_bucket_state ops;
};
_Static_assert(sizeof(struct rate_limiter_state) == 96, "the saved limiter has no padding");

/* A bucket that exists for this config (size and refill_time non-zero, refill_time in ns
 * within 64 bits). */
bool rate_limiter_bucket_enabled(const struct rl_bucket_config *b);
/* Whether either bucket of c exists. */
bool rate_limiter_config_enabled(const struct rl_config *c);

/* Applies u to a limiter config (PATCH merges bucket by bucket): a set bucket replaces c's,
 * as given if it is enabled, else by zeros; the others stay. */
void rate_limiter_config_update(struct rl_config *c, const struct rl_update *u);
/* The update that sets both buckets to c's (the limiter a device starts with). */
struct rl_update rate_limiter_config_as_update(const struct rl_config *c);

/* A limiter of c, both buckets full, at time now_ns. c NULL or all zero: no limit. */
void rate_limiter_init(struct rate_limiter *rl, const struct rl_config *c, uint64_t now_ns);
/* Whether it limits anything (a bucket exists, or a block set before a PATCH removed the
 * buckets has not ended). */
bool rate_limiter_active(const struct rate_limiter *rl, uint64_t now_ns);

/* One request of `bytes` bytes and `ops` operations at now_ns (Firecracker's devices ask
 * for 1 op and the request's data length; flushes and ID requests 0 bytes). Returns 0 if it
 * may go ahead (tokens taken; an over-consumption blocks the requests after it), or the
 * nanoseconds to wait before asking again (nothing taken: the ops bucket's tokens are given
 * back when the bandwidth bucket refuses, as Firecracker's devices do). */
uint64_t rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t ops, uint64_t now_ns);

/* Firecracker's manual_replenish: gives back tokens of a request that was not carried out
 * after all (to the burst while one is left, capped at its initial value; else the budget,
 * capped at size). */
void rate_limiter_replenish(struct rate_limiter *rl, uint64_t bytes, uint64_t ops);

/* Applies a PATCH (see struct rl_update). A block in force stays until it ends. */
void rate_limiter_update(struct rate_limiter *rl, const struct rl_update *u, uint64_t now_ns);

/* The config a limiter reports (GET /vm/config): its buckets' size, initial burst and
 * refill time; zeros for a missing bucket. */
void rate_limiter_config(const struct rate_limiter *rl, struct rl_config *out);

/* Snapshots: the state at now_ns, and a limiter from a saved state re-based on the
 * restoring host's clock (the time elapsed before the save counts, the time in the file
 * does not). As in Firecracker, a block in force is not saved: the restored limiter is
 * unblocked. restore checks the (untrusted) state: -EINVAL with a reason in err when a
 * field is out of range, leaving rl untouched. */
void rate_limiter_save(const struct rate_limiter *rl, uint64_t now_ns, struct rate_limiter_state *out);
int rate_limiter_restore(struct rate_limiter *rl, const struct rate_limiter_state *s, uint64_t now_ns, char *err,
			 size_t errlen) __attribute__((warn_unused_result));

#endif
