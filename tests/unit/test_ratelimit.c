/* vmm/ratelimit.c on a fake clock: Firecracker v1.7.0's rate_limiter tests (mod.rs,
 * persist.rs) re-created, the waits kindling returns instead of Firecracker's fixed 100 ms
 * timer, and long runs that check the rate a device gets. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ratelimit.h"
#include "test.h"

#define MS RATE_LIMITER_NS_PER_MS
#define T0 (1000 * 1000 * MS) /* a clock that is not near 0 */

static struct rl_config cfg(uint64_t bw_size, uint64_t bw_burst, uint64_t bw_ms, uint64_t ops_size, uint64_t ops_burst,
			    uint64_t ops_ms)
{
	return (struct rl_config){ { bw_size, bw_burst, bw_ms }, { ops_size, ops_burst, ops_ms } };
}

TEST(ratelimit_bucket_create_and_preprocess)
{
	struct rate_limiter rl;
	struct rl_config c = cfg(1000, 0, 1000, 3 * 7 * 11 * 19 * 1000, 0, 7 * 11 * 13 * 17);

	rate_limiter_init(&rl, &c, T0);
	CHECK(rl.bandwidth.enabled && rl.bandwidth.budget == 1000 && rl.bandwidth.last_update_ns == T0);
	CHECK(rl.bandwidth.cap == 1 && rl.bandwidth.period == MS);
	CHECK(rl.ops.cap == 3 * 19 && rl.ops.period == 13 * 17 * (MS / 1000));
	/* size 0, refill_time 0, or a refill_time past u64 nanoseconds: no bucket. */
	c = cfg(0, 1234, 1000, 100, 1234, 0);
	rate_limiter_init(&rl, &c, T0);
	CHECK(!rl.bandwidth.enabled && !rl.ops.enabled && !rate_limiter_active(&rl, T0));
	c = cfg(1, 0, UINT64_MAX / MS + 1, 0, 0, 0);
	CHECK(!rate_limiter_config_enabled(&c));
	c.bandwidth.refill_time = UINT64_MAX / MS;
	CHECK(rate_limiter_config_enabled(&c));
}

TEST(ratelimit_disabled_lets_everything_through)
{
	struct rate_limiter rl;

	rate_limiter_init(&rl, NULL, T0);
	CHECK(rate_limiter_consume(&rl, UINT64_MAX, UINT64_MAX, T0) == 0);
	CHECK(rate_limiter_consume(&rl, UINT64_MAX, UINT64_MAX, T0) == 0);
	CHECK(!rate_limiter_active(&rl, T0));
}

/* test_token_bucket_auto_replenish_one: 10 tokens a second, one per 100 ms. */
TEST(ratelimit_refills_continuously)
{
	struct rl_config c = cfg(10, 0, 1000, 0, 0, 0);
	struct rate_limiter rl;

	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 10, 1, T0) == 0);
	CHECK(rl.bandwidth.budget == 0);
	/* Nothing earned after 10 ms: 90 ms are left to earn one token, and the wait is a
	 * tenth of the refill time, 100 ms (RATE_LIMITER_WAIT_FRACTION). */
	CHECK(rate_limiter_consume(&rl, 1, 1, T0 + 10 * MS) == 100 * MS);
	/* Blocked until then: even a later ask is told the same deadline. */
	CHECK(rate_limiter_consume(&rl, 1, 1, T0 + 20 * MS) == 90 * MS);
	CHECK(rate_limiter_consume(&rl, 1, 1, T0 + 100 * MS) == 10 * MS);
	CHECK(rate_limiter_consume(&rl, 1, 1, T0 + 110 * MS) == 0);
	CHECK(rl.bandwidth.budget == 0);
	/* 5 after 490 ms more (the 0.1 earned past the last token carried); never more than size. */
	CHECK(rate_limiter_consume(&rl, 5, 1, T0 + 600 * MS) == 0);
	CHECK(rl.bandwidth.budget == 0);
	CHECK(rate_limiter_consume(&rl, 11, 1, T0 + 5000 * MS) == 0); /* 11 > 10: an over-consumption */
	CHECK(rl.bandwidth.budget == 0);
}

/* The fraction of a token not earned yet is carried to the next refill. */
TEST(ratelimit_carries_fractions_of_a_token)
{
	struct rl_config c = cfg(3, 0, 1, 0, 0, 0); /* a token every 333,333.3 ns */
	struct rate_limiter rl;
	uint64_t t = T0, got = 0;

	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 3, 0, t) == 0);
	/* Ask for one token every 0.2 ms, or when told, for 300 ms: 900 tokens earned. */
	while (t < T0 + 300 * MS) {
		uint64_t w = rate_limiter_consume(&rl, 1, 0, t);

		got += !w;
		t += w ? w : 200000;
	}
	CHECK(got >= 899 && got <= 901);
}

/* test_token_bucket_reduce, with the waits kindling computes. */
TEST(ratelimit_reduce_burst_and_overconsumption)
{
	struct rl_config c = cfg(1000, 0, 1000, 0, 0, 0);
	struct rate_limiter rl;

	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 123, 1, T0) == 0);
	CHECK(rl.bandwidth.budget == 877);
	CHECK(rate_limiter_consume(&rl, 1000, 1, T0) == 123 * MS); /* 1 token/ms */

	c = cfg(1000, 1100, 1000, 0, 0, 0);
	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 1000, 1, T0) == 0);
	CHECK(rl.bandwidth.one_time_burst == 100 && rl.bandwidth.budget == 1000);
	CHECK(rate_limiter_consume(&rl, 500, 1, T0) == 0);
	CHECK(rl.bandwidth.one_time_burst == 0 && rl.bandwidth.budget == 600);
	CHECK(rate_limiter_consume(&rl, 500, 1, T0) == 0);
	CHECK(rate_limiter_consume(&rl, 500, 1, T0) == 400 * MS);
	CHECK(rate_limiter_consume(&rl, 500, 1, T0 + 500 * MS) == 0);
	/* 2.5 times the size from a full bucket: through, and blocked for 1.5 refill times. */
	CHECK(rate_limiter_consume(&rl, 2500, 1, T0 + 1500 * MS) == 0);
	CHECK(rl.bandwidth.budget == 0 && rl.blocked_until_ns == T0 + 3000 * MS);
	CHECK(rate_limiter_consume(&rl, 1, 1, T0 + 2500 * MS) == 500 * MS);
	CHECK(rate_limiter_consume(&rl, 1, 1, T0 + 3000 * MS) == 0);
}

/* test_rate_limiter_overconsumption's second half: the block of a 1.5x request is 0.5
 * refill times, and the refusals meanwhile do not shorten or extend it. */
TEST(ratelimit_overconsumption_blocks_proportionally)
{
	struct rl_config c = cfg(1000, 0, 1000, 1000, 0, 1000);
	struct rate_limiter rl;

	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 1500, 1, T0) == 0);
	CHECK(rate_limiter_active(&rl, T0) && rl.blocked_until_ns == T0 + 500 * MS);
	CHECK(rate_limiter_consume(&rl, 100, 1, T0 + 200 * MS) == 300 * MS);
	CHECK(rate_limiter_consume(&rl, 100, 1, T0 + 300 * MS) == 200 * MS);
	CHECK(rate_limiter_consume(&rl, 100, 1, T0 + 500 * MS) == 0);
	/* The block is whole ms, truncated: 1 token past a 1,000,000-token, 1 ms bucket is
	 * 0 ms, no block at all (Firecracker would arm a 0 ms timer, which never fires). */
	c = cfg(1000000, 0, 1, 0, 0, 0);
	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 1000001, 1, T0) == 0);
	CHECK(!rl.blocked_until_ns);
	/* A huge request saturates instead of overflowing. */
	c = cfg(1, 0, 1000, 0, 0, 0);
	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, UINT64_MAX, 1, T0) == 0);
	CHECK(rl.blocked_until_ns == UINT64_MAX);
}

/* test_rate_limiter_full: a refusal by one bucket blocks the other's requests too. */
TEST(ratelimit_one_bucket_blocks_both)
{
	struct rl_config c = cfg(1000, 0, 1000, 1000, 0, 1000);
	struct rate_limiter rl;

	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 0, 1000, T0) == 0);
	CHECK(rate_limiter_consume(&rl, 1000, 0, T0) == 0);
	CHECK(rate_limiter_consume(&rl, 0, 100, T0) == 100 * MS);
	CHECK(rate_limiter_consume(&rl, 100, 0, T0 + 50 * MS) == 50 * MS);
	CHECK(rate_limiter_consume(&rl, 0, 100, T0 + 100 * MS) == 0);
	CHECK(rate_limiter_consume(&rl, 100, 0, T0 + 100 * MS) == 0);
}

/* A request the bandwidth bucket refuses takes nothing from the ops bucket (Firecracker's
 * devices give the op back: manual_replenish). */
TEST(ratelimit_refusal_takes_nothing)
{
	struct rl_config c = cfg(1000, 0, 1000, 10, 0, 1000);
	struct rate_limiter rl;

	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 900, 1, T0) == 0);
	CHECK(rl.ops.budget == 9 && rl.bandwidth.budget == 100);
	CHECK(rate_limiter_consume(&rl, 200, 1, T0) == 100 * MS);
	CHECK(rl.ops.budget == 9 && rl.bandwidth.budget == 100);
}

/* test_rate_limiter_manual_replenish; and the burst gets them back first, up to its size. */
TEST(ratelimit_manual_replenish)
{
	struct rl_config c = cfg(1000, 0, 1000, 1000, 0, 1000);
	struct rate_limiter rl;

	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 123, 123, T0) == 0);
	rate_limiter_replenish(&rl, 23, 23);
	CHECK(rl.bandwidth.budget == 900 && rl.ops.budget == 900);
	rate_limiter_replenish(&rl, 5000, 0);
	CHECK(rl.bandwidth.budget == 1000);
	c = cfg(1000, 100, 1000, 0, 0, 0);
	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 50, 1, T0) == 0);
	rate_limiter_replenish(&rl, 80, 0);
	CHECK(rl.bandwidth.one_time_burst == 100 && rl.bandwidth.budget == 1000);
}

/* Running out a few tokens at a time asks for at least a tenth of the refill time, and at
 * least RATE_LIMITER_MIN_WAIT_NS; never past the time the bucket is full again. */
TEST(ratelimit_wait_has_a_floor)
{
	struct rl_config c = cfg(1000000000, 0, 1000, 0, 0, 0); /* a token a nanosecond */
	struct rl_config fast = cfg(1000000, 0, 5, 0, 0, 0);    /* 5 ms refill: the 1 ms floor */
	struct rl_config tiny = cfg(1000, 0, 100, 0, 0, 0);     /* 10 tokens a ms */
	struct rate_limiter rl;

	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 1000000000, 1, T0) == 0);
	CHECK(rate_limiter_consume(&rl, 1500, 1, T0) == 100 * MS);
	/* The wait is enough: the retry passes, with what it earned meanwhile left over. */
	CHECK(rate_limiter_consume(&rl, 1500, 1, T0 + 100 * MS) == 0);
	CHECK(rate_limiter_consume(&rl, 100000000 - 1500, 1, T0 + 100 * MS) == 0);
	rate_limiter_init(&rl, &fast, T0);
	CHECK(rate_limiter_consume(&rl, 1000000, 1, T0) == 0);
	CHECK(rate_limiter_consume(&rl, 10, 1, T0) == RATE_LIMITER_MIN_WAIT_NS);
	/* 960 when 950 are there: earned in 1 ms, but the floor is 10 ms; the bucket is full
	 * again in 5, and waiting longer would waste rate, so the wait stops there. */
	rate_limiter_init(&rl, &tiny, T0);
	CHECK(rate_limiter_consume(&rl, 1000, 1, T0) == 0);
	CHECK(rate_limiter_consume(&rl, 960, 1, T0 + 95 * MS) == 5 * MS);
}

/* test_update_buckets: unset buckets keep their state; a set one is new and full; a zero
 * one is removed. The reported config follows. */
TEST(ratelimit_update_replaces_or_removes_buckets)
{
	struct rl_config c = cfg(1000, 2000, 1000, 10, 20, 1000), out;
	struct rl_update u = { 0 };
	struct rate_limiter rl, before;

	rate_limiter_init(&rl, &c, T0);
	CHECK(rate_limiter_consume(&rl, 2500, 25, T0) == 0);
	before = rl;
	rate_limiter_update(&rl, &u, T0 + MS);
	CHECK(!memcmp(&before, &rl, sizeof(rl)));
	u.set_ops = true;
	u.ops = (struct rl_bucket_config){ 321, 12346, 89 };
	rate_limiter_update(&rl, &u, T0 + MS);
	CHECK(!memcmp(&before.bandwidth, &rl.bandwidth, sizeof(rl.bandwidth)));
	CHECK(rl.ops.size == 321 && rl.ops.budget == 321 && rl.ops.one_time_burst == 12346 && rl.ops.refill_time == 89);
	rate_limiter_config(&rl, &out);
	CHECK(out.bandwidth.size == 1000 && out.bandwidth.one_time_burst == 2000 && out.bandwidth.refill_time == 1000);
	CHECK(out.ops.size == 321 && out.ops.one_time_burst == 12346 && out.ops.refill_time == 89);
	u = (struct rl_update){ .set_bandwidth = true, .set_ops = true, .ops = { 0, 5, 100 } };
	rate_limiter_update(&rl, &u, T0 + MS);
	CHECK(!rl.bandwidth.enabled && !rl.ops.enabled);
	rate_limiter_config(&rl, &out);
	CHECK(!rate_limiter_config_enabled(&out));
	CHECK(rate_limiter_consume(&rl, UINT64_MAX, 1, T0 + MS) == 0);
}

/* persist.rs: saved and restored, untouched, after a reduce and after a replenish; the
 * time elapsed at the save counts on the restoring host's clock, whatever it reads. */
TEST(ratelimit_save_restore_rebases_time)
{
	struct rl_config c = cfg(1000, 2000, 3000, 10, 0, 100);
	struct rate_limiter rl, back;
	struct rate_limiter_state s;
	const uint64_t T1 = 77 * MS; /* another host's clock, behind this one */
	char err[160];

	rate_limiter_init(&rl, &c, T0);
	rate_limiter_save(&rl, T0, &s);
	CHECK(rate_limiter_restore(&back, &s, T1, err, sizeof(err)) == 0);
	CHECK(back.bandwidth.size == 1000 && back.bandwidth.one_time_burst == 2000 && back.bandwidth.budget == 1000 &&
	      back.bandwidth.refill_time == 3000 && back.ops.budget == 10);
	CHECK(rate_limiter_consume(&rl, 2100, 10, T0) == 0);
	rate_limiter_replenish(&rl, 0, 0);
	CHECK(rl.bandwidth.budget == 900 && rl.ops.budget == 0);
	/* Saved 60 ms after the last refill: 6 of the ops bucket's tokens earned (100 ms for
	 * 10); 40 ms after the restore, all 10. */
	rate_limiter_save(&rl, T0 + 60 * MS, &s);
	CHECK(s.ops.elapsed_ns == 60 * MS && s.bandwidth.initial_burst == 2000 && s.bandwidth.one_time_burst == 0);
	CHECK(rate_limiter_restore(&back, &s, T1, err, sizeof(err)) == 0);
	CHECK(back.ops.last_update_ns == T1 - 60 * MS && back.bandwidth.budget == 900 && !back.blocked_until_ns);
	CHECK(rate_limiter_consume(&back, 0, 7, T1) == 10 * MS);
	CHECK(rate_limiter_consume(&back, 0, 10, T1 + 40 * MS) == 0);
	/* A clock that reads less than the elapsed time: the refill starts now. */
	CHECK(rate_limiter_restore(&back, &s, MS, err, sizeof(err)) == 0 && back.ops.last_update_ns == MS);
}

TEST(ratelimit_restore_refuses_bad_states)
{
	struct rl_config c = cfg(1000, 20, 1000, 0, 0, 0);
	struct rate_limiter rl, back;
	struct rate_limiter_state s, bad;
	char err[160];

	rate_limiter_init(&rl, &c, T0);
	rate_limiter_save(&rl, T0, &s);
	rate_limiter_init(&back, NULL, T0);
	bad = s, bad.bandwidth.budget = 1001;
	CHECK(rate_limiter_restore(&back, &bad, T0, err, sizeof(err)) == -EINVAL && strstr(err, "bandwidth"));
	bad = s, bad.bandwidth.one_time_burst = 21;
	CHECK(rate_limiter_restore(&back, &bad, T0, err, sizeof(err)) == -EINVAL);
	bad = s, bad.bandwidth.refill_time = 0;
	CHECK(rate_limiter_restore(&back, &bad, T0, err, sizeof(err)) == -EINVAL && strstr(err, "refill time"));
	bad = s, bad.ops.budget = 1;
	CHECK(rate_limiter_restore(&back, &bad, T0, err, sizeof(err)) == -EINVAL && strstr(err, "ops"));
	CHECK(!back.bandwidth.enabled); /* untouched */
}

/* What a device gets over 10 s of a guest sending as fast as it is let: 1500-byte frames
 * against the 10 MiB per 100 ms, with and without a 50x one-time burst, and again
 * after a PATCH halves it. The device retries when the wait it was given has passed. */
static uint64_t run_frames(struct rate_limiter *rl, uint64_t start, uint64_t dur, uint64_t frame)
{
	uint64_t t = start, sent = 0;

	while (t < start + dur) {
		uint64_t w = rate_limiter_consume(rl, frame, 1, t);

		if (w)
			t += w;
		else
			sent += frame, t += 10; /* 10 ns a frame: faster than any limit here */
	}
	return sent;
}

TEST(ratelimit_net_rate_within_one_percent)
{
	const uint64_t size = 10u << 20, dur = 10000 * MS, rate = size * 100; /* bytes per 10 s */
	struct rl_config c = cfg(size, 0, 100, 0, 0, 0);
	struct rl_update half = { .set_bandwidth = true, .bandwidth = { size / 2, 0, 100 } };
	struct rate_limiter rl;
	uint64_t got;

	rate_limiter_init(&rl, &c, T0);
	got = run_frames(&rl, T0, dur, 1500) - size; /* the bucket starts full */
	CHECK(got > rate / 100 * 99 && got < rate / 100 * 101);
	c.bandwidth.one_time_burst = 50 * size;
	rate_limiter_init(&rl, &c, T0);
	got = run_frames(&rl, T0, dur, 1500) - size - 50 * size;
	CHECK(got > rate / 100 * 99 && got < rate / 100 * 101);
	rate_limiter_update(&rl, &half, T0 + dur);
	got = run_frames(&rl, T0 + dur, dur, 1500) - size / 2;
	CHECK(got > rate / 200 * 99 && got < rate / 200 * 101);
	/* 64 KiB frames (TSO) with a bucket of 1000 bytes: every frame over-consumes, and the
	 * blocks keep the rate all the same (within a frame per block's ms truncation). */
	c = cfg(1000, 0, 1, 0, 0, 0);
	rate_limiter_init(&rl, &c, T0);
	got = run_frames(&rl, T0, dur, 65536);
	CHECK(got > 1000 * 10000 / 100 * 99 && got < 1000 * 10000 / 100 * 110);
}

/* Block ops: 100, 200 and 1000 operations per 100 ms for 4 KiB random reads. */
TEST(ratelimit_blk_ops_rate)
{
	const uint64_t dur = 5000 * MS;
	static const uint64_t per100[] = { 100, 200, 1000 };

	for (unsigned i = 0; i < 3; i++) {
		struct rl_config c = cfg(0, 0, 0, per100[i], 0, 100);
		struct rate_limiter rl;
		uint64_t ops;

		rate_limiter_init(&rl, &c, T0);
		ops = run_frames(&rl, T0, dur, 4096) / 4096 - per100[i];
		/* Within what the last wait (10 ms: a tenth of the refill time) earns. */
		CHECK(ops + per100[i] / 10 + 1 >= per100[i] * 50 && ops <= per100[i] * 50 + 1);
	}
}
