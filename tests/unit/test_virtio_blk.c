/* virtio-block request parsing and I/O over fake guest memory and a temporary image; its
 * rate limiter on a fake clock. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"

#include "test.h"
#include "util.h"
#include "virtio/blk.h"
#include "virtio_fake.h"

#define R VIRTQ_DESC_F_NEXT
#define W VIRTQ_DESC_F_WRITE
#define SECTORS 64
#define HDR FAKE_DATA
#define BUF (FAKE_DATA + 0x1000)
#define ST (FAKE_DATA + 0x800)

struct bt {
	struct fake f;
	struct virtio_blk *b;
	char path[64];
	uint32_t used;
	uint8_t status;
};

static struct virtq_chain chain;

static int bt_setup(struct bt *t, bool ro)
{
	char err[256];
	uint8_t sector[512];
	int fd;

	snprintf(t->path, sizeof(t->path), "/tmp/kindling-blk-XXXXXX");
	fd = mkstemp(t->path);
	if (fd < 0)
		return -1;
	for (int i = 0; i < SECTORS; i++) {
		memset(sector, 'a' + i % 26, sizeof(sector));
		if (write(fd, sector, sizeof(sector)) != (ssize_t)sizeof(sector))
			return -1;
	}
	close(fd);
	if (fake_init(&t->f, 16))
		return -1;
	if (virtio_blk_create(t->path, ro, "disk_id_0123456789abcdef", &t->f.mem, &t->b, err, sizeof(err)))
		return -1;
	fake_queue(&t->f, &t->b->dev.queues[0]);
	return virtq_enable(&t->b->dev.queues[0], &t->f.mem, false, false);
}

static void bt_done(struct bt *t)
{
	t->b->dev.ops->destroy(&t->b->dev);
	fake_free(&t->f);
	unlink(t->path);
}

static void header(struct bt *t, uint32_t type, uint64_t sector)
{
	uint32_t h[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };

	memcpy(t->f.ram + HDR, h, sizeof(h));
	t->f.ram[ST] = 0xaa;
}

/* Pops the chain at head 0 and runs it. */
static int run(struct bt *t)
{
	struct virtq *q = &t->b->dev.queues[0];

	fake_avail(&t->f, 0);
	if (virtq_pop(q, &chain) != 1)
		return -1;
	t->used = virtio_blk_request(t->b, &chain);
	t->status = t->f.ram[ST];
	return 0;
}

/* hdr (readable) -> data (dir) -> status (writable) */
static void chain3(struct bt *t, uint32_t len, uint16_t data_dir)
{
	fake_desc(&t->f, 0, HDR, 16, R, 1);
	fake_desc(&t->f, 1, BUF, len, data_dir | R, 2);
	fake_desc(&t->f, 2, ST, 1, W, 0);
}

TEST(blk_read_write_flush)
{
	struct bt t;
	char buf[1024];
	int fd;

	CHECK(bt_setup(&t, false) == 0);
	CHECK(t.b->st.capacity == SECTORS);
	header(&t, VIRTIO_BLK_T_IN, 2);
	chain3(&t, 1024, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK && t.used == 1025);
	CHECK(t.f.ram[BUF] == 'c' && t.f.ram[BUF + 511] == 'c' && t.f.ram[BUF + 512] == 'd');

	memset(t.f.ram + BUF, 'Z', 512);
	header(&t, VIRTIO_BLK_T_OUT, 5);
	chain3(&t, 512, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK && t.used == 1);
	fd = open(t.path, O_RDONLY);
	CHECK(pread(fd, buf, 1024, 5 * 512) == 1024);
	close(fd);
	CHECK(buf[0] == 'Z' && buf[511] == 'Z' && buf[512] == 'g');

	header(&t, VIRTIO_BLK_T_FLUSH, 0);
	fake_desc(&t.f, 0, HDR, 16, R, 2);
	fake_desc(&t.f, 2, ST, 1, W, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK && t.b->stats.flushes == 1);
	bt_done(&t);
}

TEST(blk_status_shares_a_descriptor)
{
	struct bt t;

	/* One writable descriptor holding both data and the status byte. */
	CHECK(bt_setup(&t, false) == 0);
	header(&t, VIRTIO_BLK_T_IN, 0);
	fake_desc(&t.f, 0, HDR, 16, R, 1);
	fake_desc(&t.f, 1, BUF, 513, W, 0);
	t.f.ram[BUF + 512] = 0x55;
	CHECK(run(&t) == 0);
	CHECK(t.used == 513 && t.f.ram[BUF + 512] == VIRTIO_BLK_S_OK && t.f.ram[BUF] == 'a');
	bt_done(&t);
}

TEST(blk_ranges_checked)
{
	struct bt t;
	struct {
		uint64_t sector;
		uint32_t len;
	} bad[] = {
		{ SECTORS, 512 },                 /* past the end */
		{ SECTORS - 1, 1024 },            /* straddles the end */
		{ UINT64_MAX, 512 },              /* sector * 512 overflows */
		{ UINT64_MAX / 512 + 1, 512 },
		{ 1ull << 62, 512 },
		{ 0, 100 },                       /* not a whole sector */
	};

	CHECK(bt_setup(&t, false) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		header(&t, VIRTIO_BLK_T_IN, bad[i].sector);
		chain3(&t, bad[i].len, W);
		CHECK(run(&t) == 0);
		CHECK(t.status == VIRTIO_BLK_S_IOERR && t.used == 1);
		header(&t, VIRTIO_BLK_T_OUT, bad[i].sector);
		chain3(&t, bad[i].len, 0);
		CHECK(run(&t) == 0);
		CHECK(t.status == VIRTIO_BLK_S_IOERR && t.used == 1);
	}
	/* The last sector itself is fine. */
	header(&t, VIRTIO_BLK_T_IN, SECTORS - 1);
	chain3(&t, 512, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK);
	bt_done(&t);
}

TEST(blk_descriptor_directions)
{
	struct bt t;

	CHECK(bt_setup(&t, false) == 0);
	/* A read whose data buffer is device-readable. */
	header(&t, VIRTIO_BLK_T_IN, 0);
	chain3(&t, 512, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_IOERR && t.used == 1);
	/* A write whose data buffer is device-writable. */
	header(&t, VIRTIO_BLK_T_OUT, 0);
	chain3(&t, 512, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_IOERR && t.used == 1);
	/* A read-only status descriptor: no answer possible, buffers returned with length 0. */
	header(&t, VIRTIO_BLK_T_OUT, 0);
	fake_desc(&t.f, 0, HDR, 16, R, 1);
	fake_desc(&t.f, 1, BUF, 512, R, 2);
	fake_desc(&t.f, 2, ST, 1, 0, 0);
	CHECK(run(&t) == 0);
	CHECK(t.used == 0 && t.status == 0xaa && t.b->stats.no_status == 1);
	/* A header shorter than 16 bytes. */
	header(&t, VIRTIO_BLK_T_IN, 0);
	fake_desc(&t.f, 0, HDR, 8, R, 2);
	fake_desc(&t.f, 2, ST, 1, W, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_IOERR && t.used == 1);
	/* A header split over two descriptors is fine. */
	header(&t, VIRTIO_BLK_T_IN, 1);
	fake_desc(&t.f, 0, HDR, 4, R, 3);
	fake_desc(&t.f, 3, HDR + 4, 12, R, 1);
	fake_desc(&t.f, 1, BUF, 512, W | R, 2);
	fake_desc(&t.f, 2, ST, 1, W, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK && t.f.ram[BUF] == 'b');
	bt_done(&t);
}

TEST(blk_get_id_and_unsupported)
{
	struct bt t;

	CHECK(bt_setup(&t, false) == 0);
	header(&t, VIRTIO_BLK_T_GET_ID, 0);
	chain3(&t, 20, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK && t.used == 21);
	CHECK(!memcmp(t.f.ram + BUF, "disk_id_0123456789ab", 20));
	header(&t, 42, 0);
	chain3(&t, 512, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_UNSUPP && t.used == 1);
	bt_done(&t);
}

TEST(blk_read_only)
{
	struct bt t;
	char buf[512];
	int fd;

	CHECK(bt_setup(&t, true) == 0);
	CHECK(t.b->dev.st.device_features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	memset(t.f.ram + BUF, 'Q', 512);
	header(&t, VIRTIO_BLK_T_OUT, 0);
	chain3(&t, 512, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_IOERR);
	fd = open(t.path, O_RDONLY);
	CHECK(pread(fd, buf, 512, 0) == 512);
	close(fd);
	CHECK(buf[0] == 'a');
	header(&t, VIRTIO_BLK_T_IN, 0);
	chain3(&t, 512, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK);
	bt_done(&t);
}

TEST(blk_create_errors)
{
	struct guest_mem m = { 0 };
	struct virtio_blk *b;
	char err[256];

	CHECK(virtio_blk_create("/nonexistent/disk", false, "x", &m, &b, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "/nonexistent/disk") != NULL);
	CHECK(virtio_blk_create("/tmp", false, "x", &m, &b, err, sizeof(err)) < 0);
	CHECK(virtio_blk_create("/dev/null", false, "x", &m, &b, err, sizeof(err)) < 0);
}

/* Firecracker's cache_type: "Unsafe" (the default) offers no flush, "Writeback" does. */
TEST(blk_cache_type_flush_feature)
{
	struct bt t;

	CHECK(bt_setup(&t, false) == 0);
	CHECK(!(t.b->dev.st.device_features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)));
	virtio_blk_set_writeback(t.b, true);
	CHECK(t.b->dev.st.device_features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	virtio_blk_set_writeback(t.b, false);
	CHECK(!(t.b->dev.st.device_features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)));
	bt_done(&t);
}

/* ---- the rate limiter (rate_limiter on PUT/PATCH /drives) ---- */

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

/* n read requests of len bytes each, request i at descriptors 3i..3i+2 with areas of its
 * own, made available; the device as a driver left it after DRIVER_OK. */
static void queue_reads(struct bt *t, int n, uint32_t len)
{
	for (int i = 0; i < n; i++) {
		uint64_t base = FAKE_DATA + 0x4000 * (uint64_t)i;
		uint32_t h[4] = { VIRTIO_BLK_T_IN, 0, (uint32_t)i, 0 };

		memcpy(t->f.ram + base, h, sizeof(h));
		fake_desc(&t->f, (uint16_t)(3 * i), base, 16, R, (uint16_t)(3 * i + 1));
		fake_desc(&t->f, (uint16_t)(3 * i + 1), base + 0x1000, len, W | R, (uint16_t)(3 * i + 2));
		fake_desc(&t->f, (uint16_t)(3 * i + 2), base + 0x800, 1, W, 0);
		fake_avail(&t->f, (uint16_t)(3 * i));
	}
	t->b->dev.st.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			      VIRTIO_STATUS_DRIVER_OK;
	t->b->dev.queues[0].st.ready = 1;
}

static int set_limiter(struct bt *t, uint64_t bw, uint64_t bw_ms, uint64_t ops, uint64_t ops_ms)
{
	struct rl_update u = { true, true, { bw, 0, bw_ms }, { ops, 0, ops_ms } };
	char err[128];

	return t->b->device.ops->set_rate_limiter(&t->b->device, DEVICE_LIMITER_DRIVE, &u, err, sizeof(err));
}

/* The timer's remaining time in ms (0: disarmed). */
static uint64_t timer_ms(struct bt *t)
{
	struct itimerspec its;

	if (timerfd_gettime(t->b->timer_fd, &its) < 0)
		return UINT64_MAX;
	return (uint64_t)its.it_value.tv_sec * 1000 + (uint64_t)(its.it_value.tv_nsec + 999999) / 1000000;
}

/* An ops limiter of 2 per 100 ms: two reads served, the third goes back to the ring and the
 * timer is armed for the 50 ms one op takes; kicks meanwhile serve nothing; each firing of
 * the timer serves what was earned. */
TEST(blk_rate_limiter_ops_throttle_and_resume)
{
	struct bt t;

	CHECK(bt_setup(&t, false) == 0);
	t.b->clock = fake_clock;
	fake_now = 1000000000;
	CHECK(set_limiter(&t, 0, 0, 2, 100) == 0);
	queue_reads(&t, 4, 512);
	t.b->dev.ops->queue_notify(&t.b->dev, 0);
	CHECK(fake_used_idx(&t.f) == 2 && t.b->throttled && t.b->stats.rate_limiter_throttled_events == 1);
	CHECK(t.b->stats.reads == 2 && t.b->dev.queues[0].st.inflight == 0);
	CHECK(timer_ms(&t) > 40 && timer_ms(&t) <= 50);
	t.b->dev.ops->queue_notify(&t.b->dev, 0); /* a kick while held back */
	CHECK(fake_used_idx(&t.f) == 2 && t.b->stats.rate_limiter_throttled_events == 2);
	fake_now += 50000000;
	virtio_blk_timer_fired(t.b);
	CHECK(fake_used_idx(&t.f) == 3 && t.b->throttled && t.b->stats.rate_limiter_event_count == 1);
	fake_now += 50000000;
	virtio_blk_timer_fired(t.b);
	CHECK(fake_used_idx(&t.f) == 4 && !t.b->throttled && t.b->stats.rate_limiter_event_count == 2);
	CHECK(t.b->stats.reads == 4 && t.f.ram[FAKE_DATA + 0x4000 * 3 + 0x1000] == 'd');
	bt_done(&t);
}

/* A read larger than the bandwidth bucket passes as an over-consumption and holds the next
 * one back for (excess / size) refill times; a PATCH removing the limit lets it through at
 * the next timer. A drive has one limiter. */
TEST(blk_rate_limiter_overconsumption_and_patch)
{
	struct bt t;
	struct rl_update off = { .set_bandwidth = true };
	char err[128];

	CHECK(bt_setup(&t, false) == 0);
	t.b->clock = fake_clock;
	fake_now = 1000000000;
	CHECK(set_limiter(&t, 512, 100, 0, 0) == 0);
	queue_reads(&t, 3, 1536);
	t.b->dev.ops->queue_notify(&t.b->dev, 0);
	CHECK(fake_used_idx(&t.f) == 1 && t.b->throttled && timer_ms(&t) > 190 && timer_ms(&t) <= 200);
	CHECK(t.b->device.ops->set_rate_limiter(&t.b->device, DEVICE_LIMITER_TX, &off, err, sizeof(err)) == -EINVAL);
	CHECK(t.b->device.ops->set_rate_limiter(&t.b->device, DEVICE_LIMITER_DRIVE, &off, err, sizeof(err)) == 0);
	/* The block in force stays until it ends (as in Firecracker), then nothing limits. */
	fake_now += 100000000;
	virtio_blk_timer_fired(t.b);
	CHECK(fake_used_idx(&t.f) == 1 && t.b->throttled);
	fake_now += 100000000;
	virtio_blk_timer_fired(t.b);
	CHECK(fake_used_idx(&t.f) == 3 && !t.b->throttled);
	bt_done(&t);
}

/* Flushes and ID requests cost an op and no bytes; a chain without a status byte is
 * answered at once, uncharged. A reset forgets a held-back request's timer. */
TEST(blk_rate_limiter_costs_and_reset)
{
	struct bt t;

	CHECK(bt_setup(&t, false) == 0);
	t.b->clock = fake_clock;
	fake_now = 1000000000;
	CHECK(set_limiter(&t, 1, 1000, 1, 1000) == 0);
	header(&t, VIRTIO_BLK_T_GET_ID, 0);
	chain3(&t, 20, W);
	queue_reads(&t, 0, 0);
	fake_avail(&t.f, 0);
	t.b->dev.ops->queue_notify(&t.b->dev, 0);
	CHECK(fake_used_idx(&t.f) == 1 && !t.b->throttled && t.b->limiter.ops.budget == 0 &&
	      t.b->limiter.bandwidth.budget == 1);
	fake_desc(&t.f, 1, BUF, 20, R, 2); /* nothing device-writable: no status byte */
	fake_desc(&t.f, 2, ST, 1, 0, 0);
	fake_avail(&t.f, 0);
	t.b->dev.ops->queue_notify(&t.b->dev, 0);
	CHECK(fake_used_idx(&t.f) == 2 && !t.b->throttled && t.b->stats.no_status == 1);
	chain3(&t, 20, W);
	fake_avail(&t.f, 0);
	t.b->dev.ops->queue_notify(&t.b->dev, 0);
	CHECK(fake_used_idx(&t.f) == 2 && t.b->throttled && timer_ms(&t) > 900);
	t.b->dev.ops->reset(&t.b->dev);
	CHECK(!t.b->throttled && timer_ms(&t) == 0);
	bt_done(&t);
}

/* On the real clock: the timer the device arms fires when the tokens are there. */
TEST(blk_rate_limiter_timer_fires)
{
	struct bt t;
	struct pollfd p;
	uint64_t t0 = now_ns(), n;

	CHECK(bt_setup(&t, false) == 0);
	CHECK(set_limiter(&t, 0, 0, 1, 20) == 0);
	queue_reads(&t, 2, 512);
	t.b->dev.ops->queue_notify(&t.b->dev, 0);
	CHECK(fake_used_idx(&t.f) == 1 && t.b->throttled);
	p = (struct pollfd){ .fd = t.b->timer_fd, .events = POLLIN };
	CHECK(poll(&p, 1, 1000) == 1 && read(t.b->timer_fd, &n, sizeof(n)) == sizeof(n));
	CHECK(now_ns() - t0 >= 19000000);
	virtio_blk_timer_fired(t.b);
	CHECK(fake_used_idx(&t.f) == 2 && !t.b->throttled);
	bt_done(&t);
}

/* ---- fairness: a queue callback handles at most VIRTIO_QUEUE_BUDGET chains ---- */

#include <sys/epoll.h>

#include "evloop.h"

/* A 256-entry ring whose every available entry names the read at head 0 (a driver may
 * post the same chain again once it is used); the device as a driver left it. */
static int bt_big_ring(struct bt *t)
{
	struct virtq *q = &t->b->dev.queues[0];

	t->f.size = 256;
	fake_queue(&t->f, q);
	if (virtq_enable(q, &t->f.mem, false, false))
		return -1;
	header(t, VIRTIO_BLK_T_IN, 1);
	chain3(t, 512, W);
	t->b->dev.st.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			      VIRTIO_STATUS_DRIVER_OK;
	q->st.ready = 1;
	return 0;
}

/* Keeps the ring full, as a guest refilling it as fast as it is drained, up to `total`
 * chains posted in all, and kicks as a driver does unless the device said not to (used
 * ring flags; no EVENT_IDX here); returns how many were posted. */
static unsigned refill(struct bt *t, unsigned posted, unsigned total)
{
	unsigned before = posted;
	uint16_t flags;

	while (posted < total && (uint16_t)(t->f.avail_idx - fake_used_idx(&t->f)) < t->f.size) {
		fake_avail(&t->f, 0);
		posted++;
	}
	memcpy(&flags, t->f.ram + FAKE_USED, 2);
	if (posted != before && !(flags & VIRTQ_USED_F_NO_NOTIFY))
		virtio_kick(&t->b->dev, 0);
	return posted;
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* A ring kept full: each callback serves the budget and no more, re-kicks its own notify
 * eventfd (notifications stay off), and once the guest stops every chain is served. */
TEST(blk_budget_yields_and_loses_nothing)
{
	const unsigned total = 20 * 256;
	struct bt t;
	unsigned posted = 0, calls = 0;
	uint16_t before;

	CHECK(bt_setup(&t, false) == 0);
	CHECK(bt_big_ring(&t) == 0);
	posted = refill(&t, posted, total);
	CHECK(posted == 256);
	virtio_process(&t.b->dev, 0);
	CHECK(fake_used_idx(&t.f) == VIRTIO_QUEUE_BUDGET && t.b->stats.budget_yields == 1);
	CHECK(readable(t.b->dev.notify_fd[0]));
	while (readable(t.b->dev.notify_fd[0]) && calls++ < 1000) {
		posted = refill(&t, posted, total);
		before = fake_used_idx(&t.f);
		virtio_process(&t.b->dev, 0);
		CHECK((uint16_t)(fake_used_idx(&t.f) - before) <= VIRTIO_QUEUE_BUDGET);
	}
	CHECK(posted == total && t.b->stats.reads == total);
	CHECK(fake_used_idx(&t.f) == (uint16_t)total && t.b->dev.queues[0].st.inflight == 0);
	CHECK(t.b->stats.budget_yields >= total / VIRTIO_QUEUE_BUDGET - 1);
	CHECK(t.f.ram[BUF] == 'b' && t.b->stats.io_errors == 0);
	bt_done(&t);
}

/* Throttled by the limiter first: no yield, the timer brings the queue back. */
TEST(blk_budget_throttled_queue_not_yielded)
{
	struct bt t;

	CHECK(bt_setup(&t, false) == 0);
	CHECK(bt_big_ring(&t) == 0);
	t.b->clock = fake_clock;
	fake_now = 1000000000;
	CHECK(set_limiter(&t, 0, 0, 100, 100) == 0);
	CHECK(refill(&t, 0, 256) == 256);
	virtio_process(&t.b->dev, 0);
	CHECK(fake_used_idx(&t.f) == 100 && t.b->throttled && t.b->stats.budget_yields == 0);
	CHECK(!readable(t.b->dev.notify_fd[0]));
	bt_done(&t);
}

struct fair {
	struct evloop loop;
	struct bt *t;
	int api_fd;
	unsigned posted, total, batches, api_served, api_since, starved, max_batch;
};

/* The guest keeps the ring full before every batch; a batch with no API turn since the
 * previous one is starvation. */
static void fair_on_blk(void *opaque, uint32_t events)
{
	struct fair *s = opaque;
	uint16_t before = fake_used_idx(&s->t->f);
	unsigned n;

	(void)events;
	s->posted = refill(s->t, s->posted, s->total);
	if (s->batches++ && !s->api_since)
		s->starved++;
	s->api_since = 0;
	virtio_process(&s->t->b->dev, 0);
	n = (uint16_t)(fake_used_idx(&s->t->f) - before);
	if (n > s->max_batch)
		s->max_batch = n;
	s->posted = refill(s->t, s->posted, s->total);
	if (s->posted == s->total && fake_used_idx(&s->t->f) == (uint16_t)s->total)
		evloop_quit(&s->loop);
}

/* An API client that always has the next request ready. */
static void fair_on_api(void *opaque, uint32_t events)
{
	struct fair *s = opaque;
	uint64_t v = 1;

	(void)events;
	if (read(s->api_fd, &v, sizeof(v)) == sizeof(v) && write(s->api_fd, &v, sizeof(v)) == sizeof(v)) {
		s->api_served++;
		s->api_since++;
	}
}

static void fair_on_watchdog(void *opaque, uint32_t events)
{
	(void)events;
	evloop_quit(&((struct fair *)opaque)->loop);
}

/* On the real event loop: a guest refilling its block ring as fast as it is drained, an
 * always-busy API fd. The API is served between every two batches, no batch passes the
 * budget, and every chain posted is served. */
TEST(blk_budget_evloop_serves_others_between_batches)
{
	struct itimerspec five = { .it_value = { 5, 0 } };
	struct fair s = { .total = 40 * 256 };
	struct bt t;
	uint64_t one = 1;
	int wd;

	CHECK(bt_setup(&t, false) == 0);
	CHECK(bt_big_ring(&t) == 0);
	s.t = &t;
	CHECK(evloop_init(&s.loop) == 0);
	s.api_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	wd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	CHECK(s.api_fd >= 0 && wd >= 0 && timerfd_settime(wd, 0, &five, NULL) == 0);
	CHECK(evloop_add(&s.loop, t.b->dev.notify_fd[0], EPOLLIN, fair_on_blk, &s) == 0);
	CHECK(evloop_add(&s.loop, s.api_fd, EPOLLIN, fair_on_api, &s) == 0);
	CHECK(evloop_add(&s.loop, wd, EPOLLIN, fair_on_watchdog, &s) == 0);
	CHECK(write(s.api_fd, &one, sizeof(one)) == sizeof(one));
	virtio_kick(&t.b->dev, 0);
	CHECK(evloop_run(&s.loop) == 0);
	CHECK(s.posted == s.total && fake_used_idx(&t.f) == (uint16_t)s.total && t.b->stats.reads == s.total);
	CHECK(s.max_batch <= VIRTIO_QUEUE_BUDGET && s.batches >= s.total / VIRTIO_QUEUE_BUDGET);
	CHECK(s.starved == 0 && s.api_served >= s.batches - 1);
	evloop_destroy(&s.loop);
	close(s.api_fd);
	close(wd);
	bt_done(&t);
}
