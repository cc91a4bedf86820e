/* Token buckets and the two-bucket limiter, as Firecracker v1.7.0 computes them. */
#include "ratelimit.h"

#include <errno.h>
#include <string.h>

#include "log.h"

enum reduction { RL_OK, RL_FAIL, RL_OVER };

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

bool rate_limiter_bucket_enabled(const struct rl_bucket_config *b)
{
	return b->size && b->refill_time && b->refill_time <= UINT64_MAX / RATE_LIMITER_NS_PER_MS;
}

bool rate_limiter_config_enabled(const struct rl_config *c)
{
	return rate_limiter_bucket_enabled(&c->bandwidth) || rate_limiter_bucket_enabled(&c->ops);
}

void rate_limiter_config_update(struct rl_config *c, const struct rl_update *u)
{
	static const struct rl_bucket_config none;

	if (u->set_bandwidth)
		c->bandwidth = rate_limiter_bucket_enabled(&u->bandwidth) ? u->bandwidth : none;
	if (u->set_ops)
		c->ops = rate_limiter_bucket_enabled(&u->ops) ? u->ops : none;
}

struct rl_update rate_limiter_config_as_update(const struct rl_config *c)
{
	return (struct rl_update){ .set_bandwidth = true, .set_ops = true, .bandwidth = c->bandwidth, .ops = c->ops };
}

/* A new bucket, full, as TokenBucket::new; a disabled config gives a disabled bucket. */
static void bucket_init(struct token_bucket *b, const struct rl_bucket_config *c, uint64_t now)
{
	uint64_t ns, g;

	memset(b, 0, sizeof(*b));
	if (!rate_limiter_bucket_enabled(c))
		return;
	ns = c->refill_time * RATE_LIMITER_NS_PER_MS;
	g = gcd64(c->size, ns);
	b->enabled = true;
	b->size = c->size;
	b->refill_time = c->refill_time;
	b->initial_burst = b->one_time_burst = c->one_time_burst;
	b->budget = c->size;
	b->last_update_ns = now;
	/* refill = elapsed * size / refill_ns; reduced so that the products stay small. */
	b->cap = c->size / g;
	b->period = ns / g;
}

/* TokenBucket::auto_replenish: the tokens earned since last_update; the time of the
 * fraction of a token not earned yet is carried over (last_update advances only by the
 * time the whole tokens took, rounded up). */
static void auto_replenish(struct token_bucket *b, uint64_t now)
{
	uint64_t delta = now > b->last_update_ns ? now - b->last_update_ns : 0;
	unsigned __int128 tokens, adj;

	if (delta >= b->refill_time * RATE_LIMITER_NS_PER_MS) {
		b->budget = b->size;
		b->last_update_ns = now;
		return;
	}
	/* delta < refill_ns < 2^64 and cap < 2^64: the products fit 128 bits. */
	tokens = (unsigned __int128)delta * b->cap / b->period;
	adj = tokens * b->period / b->cap;
	if (tokens * b->period % b->cap)
		adj++;
	b->last_update_ns += (uint64_t)adj;
	/* tokens < size here (delta < refill time) */
	b->budget = b->size - b->budget <= (uint64_t)tokens ? b->size : b->budget + (uint64_t)tokens;
}

/* When the bucket will have earned n more tokens (n <= size) since last_update: n * period
 * / cap ns after it, rounded up (at most refill_ns). */
static uint64_t earned_at(const struct token_bucket *b, uint64_t n)
{
	unsigned __int128 t = (unsigned __int128)n * b->period / b->cap;

	if ((unsigned __int128)n * b->period % b->cap)
		t++;
	return b->last_update_ns + (uint64_t)t;
}

/* ms to ns, saturating. */
static uint64_t ms_to_ns(uint64_t ms)
{
	return ms > UINT64_MAX / RATE_LIMITER_NS_PER_MS ? UINT64_MAX : ms * RATE_LIMITER_NS_PER_MS;
}

/* TokenBucket::reduce. On RL_FAIL, *wait_ns is the time until the budget covers the
 * request; on RL_OVER, how long the over-consumption blocks the limiter. */
static enum reduction bucket_reduce(struct token_bucket *b, uint64_t tokens, uint64_t now, uint64_t *wait_ns)
{
	*wait_ns = 0;
	/* The one-time burst goes first. Spent in part on a request that then fails, it is
	 * gone all the same (as in Firecracker). */
	if (b->one_time_burst) {
		if (b->one_time_burst >= tokens) {
			b->one_time_burst -= tokens;
			b->last_update_ns = now;
			return RL_OK;
		}
		tokens -= b->one_time_burst;
		b->one_time_burst = 0;
	}
	if (tokens > b->budget) {
		auto_replenish(b, now);
		if (tokens > b->size) {
			/* Let it through, and block for the time the bucket takes to earn what was
			 * taken beyond its budget: (excess / size) refill times, in whole ms as
			 * Firecracker arms its timer (a float product, saturating like Rust's cast). */
			double ms = (double)(tokens - b->budget) / (double)b->size * (double)b->refill_time;

			b->budget = 0;
			*wait_ns = ms >= 18446744073709.0 ? UINT64_MAX : ms_to_ns((uint64_t)ms);
			return RL_OVER;
		}
		if (tokens > b->budget) {
			uint64_t at = earned_at(b, tokens - b->budget), full = earned_at(b, b->size - b->budget);
			uint64_t floor = ms_to_ns(b->refill_time) / RATE_LIMITER_WAIT_FRACTION;

			/* The wait until the budget covers the request, but at least the floor,
			 * unless the bucket would be full before: waiting past full wastes rate. */
			at = at > now ? at - now : 1;
			full = full > now ? full - now : 1;
			floor = floor > RATE_LIMITER_MIN_WAIT_NS ? floor : RATE_LIMITER_MIN_WAIT_NS;
			floor = floor < full ? floor : full;
			*wait_ns = at > floor ? at : floor;
			return RL_FAIL;
		}
	}
	b->budget -= tokens;
	return RL_OK;
}

/* TokenBucket::force_replenish. */
static void bucket_replenish(struct token_bucket *b, uint64_t tokens)
{
	if (!b->enabled || !tokens)
		return;
	if (b->one_time_burst) {
		b->one_time_burst = b->initial_burst - b->one_time_burst <= tokens ? b->initial_burst
										    : b->one_time_burst + tokens;
		return;
	}
	b->budget = b->size - b->budget <= tokens ? b->size : b->budget + tokens;
}

static void block(struct rate_limiter *rl, uint64_t now, uint64_t wait)
{
	if (wait)
		rl->blocked_until_ns = wait > UINT64_MAX - now ? UINT64_MAX : now + wait;
}

void rate_limiter_init(struct rate_limiter *rl, const struct rl_config *c, uint64_t now_ns)
{
	static const struct rl_config none;

	if (!c)
		c = &none;
	memset(rl, 0, sizeof(*rl));
	bucket_init(&rl->bandwidth, &c->bandwidth, now_ns);
	bucket_init(&rl->ops, &c->ops, now_ns);
}

bool rate_limiter_active(const struct rate_limiter *rl, uint64_t now_ns)
{
	return rl->bandwidth.enabled || rl->ops.enabled || rl->blocked_until_ns > now_ns;
}

uint64_t rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t ops, uint64_t now_ns)
{
	uint64_t wait;

	if (rl->blocked_until_ns > now_ns)
		return rl->blocked_until_ns - now_ns;
	rl->blocked_until_ns = 0;
	if (ops && rl->ops.enabled) {
		switch (bucket_reduce(&rl->ops, ops, now_ns, &wait)) {
		case RL_FAIL:
			block(rl, now_ns, wait);
			return wait;
		case RL_OVER:
			block(rl, now_ns, wait);
			break;
		case RL_OK:
			break;
		}
	}
	if (bytes && rl->bandwidth.enabled) {
		/* Firecracker asks its buckets one after the other: an ops over-consumption just
		 * now has blocked the limiter, so the bytes are refused and the ops given back. */
		if (rl->blocked_until_ns > now_ns) {
			bucket_replenish(&rl->ops, ops);
			return rl->blocked_until_ns - now_ns;
		}
		switch (bucket_reduce(&rl->bandwidth, bytes, now_ns, &wait)) {
		case RL_FAIL:
			bucket_replenish(&rl->ops, ops);
			block(rl, now_ns, wait);
			return wait;
		case RL_OVER:
			block(rl, now_ns, wait);
			break;
		case RL_OK:
			break;
		}
	}
	return 0;
}

void rate_limiter_replenish(struct rate_limiter *rl, uint64_t bytes, uint64_t ops)
{
	bucket_replenish(&rl->bandwidth, bytes);
	bucket_replenish(&rl->ops, ops);
}

void rate_limiter_update(struct rate_limiter *rl, const struct rl_update *u, uint64_t now_ns)
{
	if (u->set_bandwidth)
		bucket_init(&rl->bandwidth, &u->bandwidth, now_ns);
	if (u->set_ops)
		bucket_init(&rl->ops, &u->ops, now_ns);
}

static void bucket_config(const struct token_bucket *b, struct rl_bucket_config *out)
{
	memset(out, 0, sizeof(*out));
	if (!b->enabled)
		return;
	out->size = b->size;
	out->one_time_burst = b->initial_burst;
	out->refill_time = b->refill_time;
}

void rate_limiter_config(const struct rate_limiter *rl, struct rl_config *out)
{
	bucket_config(&rl->bandwidth, &out->bandwidth);
	bucket_config(&rl->ops, &out->ops);
}

/* ---- snapshots ---- */

static void bucket_save(const struct token_bucket *b, uint64_t now, struct token_bucket_state *s)
{
	memset(s, 0, sizeof(*s));
	if (!b->enabled)
		return;
	s->size = b->size;
	s->one_time_burst = b->one_time_burst;
	s->initial_burst = b->initial_burst;
	s->refill_time = b->refill_time;
	s->budget = b->budget;
	s->elapsed_ns = now > b->last_update_ns ? now - b->last_update_ns : 0;
}

void rate_limiter_save(const struct rate_limiter *rl, uint64_t now_ns, struct rate_limiter_state *out)
{
	bucket_save(&rl->bandwidth, now_ns, &out->bandwidth);
	bucket_save(&rl->ops, now_ns, &out->ops);
}

static int bucket_check(const struct token_bucket_state *s, const char *what, char *err, size_t errlen)
{
	struct rl_bucket_config c = { s->size, s->initial_burst, s->refill_time };

	if (!s->size) {
		static const struct token_bucket_state zero;

		if (memcmp(s, &zero, sizeof(zero)))
			return errorf(err, errlen, -EINVAL, "rate limiter: the %s bucket has size 0 but other fields set",
				      what);
		return 0;
	}
	if (!rate_limiter_bucket_enabled(&c))
		return errorf(err, errlen, -EINVAL, "rate limiter: the %s bucket's refill time %llu ms is out of range",
			      what, (unsigned long long)s->refill_time);
	if (s->budget > s->size || s->one_time_burst > s->initial_burst)
		return errorf(err, errlen, -EINVAL,
			      "rate limiter: the %s bucket's budget %llu (size %llu) or burst %llu (of %llu) is out of range",
			      what, (unsigned long long)s->budget, (unsigned long long)s->size,
			      (unsigned long long)s->one_time_burst, (unsigned long long)s->initial_burst);
	return 0;
}

static void bucket_load(struct token_bucket *b, const struct token_bucket_state *s, uint64_t now)
{
	struct rl_bucket_config c = { s->size, s->initial_burst, s->refill_time };

	bucket_init(b, &c, now);
	if (!b->enabled)
		return;
	b->one_time_burst = s->one_time_burst;
	b->budget = s->budget;
	/* Re-based on this host's clock: the time that had passed at the save still counts. */
	b->last_update_ns = now >= s->elapsed_ns ? now - s->elapsed_ns : now;
}

int rate_limiter_restore(struct rate_limiter *rl, const struct rate_limiter_state *s, uint64_t now_ns, char *err,
			 size_t errlen)
{
	int r;

	if ((r = bucket_check(&s->bandwidth, "bandwidth", err, errlen)) || (r = bucket_check(&s->ops, "ops", err, errlen)))
		return r;
	memset(rl, 0, sizeof(*rl));
	bucket_load(&rl->bandwidth, &s->bandwidth, now_ns);
	bucket_load(&rl->ops, &s->ops, now_ns);
	return 0;
}
