/* virtio-net over a SOCK_SEQPACKET socket standing in for the tap: TX and RX framing,
 * size limits, RX that waits (never blocks) when the guest posts no buffers, and the RX and
 * TX rate limiters on a fake clock. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "test.h"
#include "virtio/net.h"
#include "virtio_fake.h"

#define R VIRTQ_DESC_F_NEXT
#define W VIRTQ_DESC_F_WRITE
#define TXBASE 0x8000

struct nt {
	struct fake rx, tx;
	struct virtio_net *n;
	int peer;
};

static int nt_setup_ring(struct nt *t, uint32_t features, uint16_t size)
{
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	struct virtio_device *dev;
	char err[256];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) < 0)
		return -1;
	t->peer = sv[1];
	if (fake_init(&t->rx, size))
		return -1;
	fake_share(&t->tx, &t->rx, size, TXBASE);
	if (virtio_net_create_fd(sv[0], "net_t", mac, false, &t->rx.mem, NULL, &t->n, err, sizeof(err)))
		return -1;
	dev = &t->n->dev;
	pthread_mutex_lock(&dev->lock);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(dev, 1, 1);
	virtio_set_driver_features(dev, 0, features);
	virtio_set_status(dev, 11);
	fake_queue(&t->rx, &dev->queues[VIRTIO_NET_RXQ]);
	fake_queue(&t->tx, &dev->queues[VIRTIO_NET_TXQ]);
	virtio_queue_set_ready(dev, VIRTIO_NET_RXQ, true);
	virtio_queue_set_ready(dev, VIRTIO_NET_TXQ, true);
	virtio_set_status(dev, 15);
	pthread_mutex_unlock(&dev->lock);
	/* Activation kicked the RX queue; the event loop would run this. */
	virtio_process(dev, VIRTIO_NET_RXQ);
	return dev->st.status == 15 ? 0 : -1;
}

static int nt_setup_features(struct nt *t, uint32_t features)
{
	return nt_setup_ring(t, features, 8);
}

static int nt_setup(struct nt *t)
{
	return nt_setup_features(t, 1u << VIRTIO_F_EVENT_IDX);
}

static void nt_done(struct nt *t)
{
	t->n->dev.ops->destroy(&t->n->dev);
	close(t->peer);
	fake_free(&t->rx);
}

TEST(net_config_mac)
{
	struct nt t;
	uint8_t mac[6];

	CHECK(nt_setup(&t) == 0);
	CHECK(t.n->dev.st.device_features & VIRTIO_BIT(VIRTIO_NET_F_MAC));
	t.n->dev.ops->config_read(&t.n->dev, 0, mac, 6);
	CHECK(mac[0] == 2 && mac[5] == 1);
	nt_done(&t);
}

TEST(net_tx_frames_and_limits)
{
	struct nt t;
	uint8_t buf[256];

	CHECK(nt_setup(&t) == 0);
	memset(t.rx.ram + FAKE_DATA, 0, 12);
	memset(t.rx.ram + FAKE_DATA + 0x100, 0xee, 60);
	fake_desc(&t.tx, 0, FAKE_DATA, 12, R, 1);
	fake_desc(&t.tx, 1, FAKE_DATA + 0x100, 60, 0, 0);
	fake_avail(&t.tx, 0);
	virtio_process(&t.n->dev, VIRTIO_NET_TXQ);
	CHECK(fake_used_idx(&t.tx) == 1);
	CHECK(recv(t.peer, buf, sizeof(buf), 0) == 72 && buf[12] == 0xee);
	CHECK(t.n->stats.tx_frames == 1 && t.n->stats.tx_bytes == 60);

	/* Shorter than the header, and longer than 65562 bytes: dropped, counted, returned. */
	fake_desc(&t.tx, 2, FAKE_DATA, 8, 0, 0);
	fake_avail(&t.tx, 2);
	fake_desc(&t.tx, 3, FAKE_DATA, 12, R, 4);
	fake_desc(&t.tx, 4, FAKE_DATA + 0x1000, 65551, 0, 0);
	fake_avail(&t.tx, 3);
	virtio_process(&t.n->dev, VIRTIO_NET_TXQ);
	CHECK(fake_used_idx(&t.tx) == 3);
	CHECK(t.n->stats.tx_dropped == 2);
	CHECK(recv(t.peer, buf, sizeof(buf), 0) == -1 && errno == EAGAIN);
	/* Exactly the limit passes. */
	fake_desc(&t.tx, 4, FAKE_DATA + 0x1000, 65550, 0, 0);
	fake_avail(&t.tx, 3);
	virtio_process(&t.n->dev, VIRTIO_NET_TXQ);
	CHECK(t.n->stats.tx_frames == 2);
	CHECK(t.n->dev.st.status == 15);
	nt_done(&t);
}

TEST(net_rx_waits_for_buffers)
{
	struct nt t;
	uint8_t frame[72];
	uint32_t id, len;
	uint16_t nbuf;

	CHECK(nt_setup(&t) == 0);
	memset(frame, 0, 12);
	memset(frame + 12, 0x5a, 60);
	/* No RX buffers: the frames wait in the tap, counted, and nothing blocks. */
	CHECK(send(t.peer, frame, sizeof(frame), 0) == 72);
	CHECK(send(t.peer, frame, sizeof(frame), 0) == 72);
	virtio_net_tap_ready(t.n);
	CHECK(t.n->stats.rx_stalls >= 1 && t.n->stats.rx_frames == 0);
	CHECK(t.n->rx_waiting && !t.n->tap_polled);
	/* The driver posts one buffer and kicks: one frame flows, the other keeps waiting. */
	fake_desc(&t.rx, 0, FAKE_DATA, 2048, W, 0);
	fake_avail(&t.rx, 0);
	virtio_kick(&t.n->dev, VIRTIO_NET_RXQ);
	virtio_process(&t.n->dev, VIRTIO_NET_RXQ);
	CHECK(fake_used_idx(&t.rx) == 1);
	fake_used(&t.rx, 0, &id, &len);
	CHECK(id == 0 && len == 72);
	memcpy(&nbuf, t.rx.ram + FAKE_DATA + 10, 2);
	CHECK(nbuf == 1 && t.rx.ram[FAKE_DATA + 12] == 0x5a);
	CHECK(t.n->rx_waiting);
	fake_avail(&t.rx, 0);
	virtio_process(&t.n->dev, VIRTIO_NET_RXQ);
	CHECK(fake_used_idx(&t.rx) == 2 && t.n->stats.rx_frames == 2);
	nt_done(&t);
}

TEST(net_rx_readable_buffer_needs_reset)
{
	struct nt t;
	uint8_t frame[72] = { 0 };

	CHECK(nt_setup(&t) == 0);
	CHECK(send(t.peer, frame, sizeof(frame), 0) == 72);
	fake_desc(&t.rx, 0, FAKE_DATA, 2048, 0, 0);
	fake_avail(&t.rx, 0);
	virtio_process(&t.n->dev, VIRTIO_NET_RXQ);
	CHECK(t.n->dev.st.status & VIRTIO_STATUS_NEEDS_RESET);
	CHECK(!t.n->tap_polled);
	nt_done(&t);
}

TEST(net_rx_mergeable_buffers)
{
	struct nt t;
	uint8_t frame[450];
	uint32_t id, len;
	uint16_t nbuf;

	CHECK(nt_setup_features(&t, (1u << VIRTIO_F_EVENT_IDX) | (1u << VIRTIO_NET_F_MRG_RXBUF)) == 0);
	/* 8 x 300 bytes: room for a full-size (non-TSO) frame, so reading may start. */
	for (int i = 0; i < 8; i++) {
		fake_desc(&t.rx, (uint16_t)i, FAKE_DATA + 0x200 * (uint64_t)i, 300, W, 0);
		fake_avail(&t.rx, (uint16_t)i);
	}
	memset(frame, 0, 12);
	for (int i = 12; i < 450; i++)
		frame[i] = (uint8_t)i;
	CHECK(send(t.peer, frame, sizeof(frame), 0) == 450);
	CHECK(send(t.peer, frame, 300, 0) == 300);
	virtio_net_tap_ready(t.n);
	/* 450 bytes over two 300-byte buffers, then 300 in one. */
	CHECK(fake_used_idx(&t.rx) == 3 && t.n->stats.rx_frames == 2);
	memcpy(&nbuf, t.rx.ram + FAKE_DATA + 10, 2);
	CHECK(nbuf == 2);
	fake_used(&t.rx, 1, &id, &len);
	CHECK(id == 1 && len == 150);
	CHECK(t.rx.ram[FAKE_DATA + 0x200 + 149] == (uint8_t)449);
	memcpy(&nbuf, t.rx.ram + FAKE_DATA + 0x400 + 10, 2);
	CHECK(nbuf == 1);
	/* The buffers popped ahead went back to the ring, not lost. */
	CHECK(t.n->dev.queues[VIRTIO_NET_RXQ].st.last_avail == 3 && t.n->dev.queues[VIRTIO_NET_RXQ].st.inflight == 0);
	/* Too little room left (5 x 300) for a full frame: wait for more buffers. */
	CHECK(send(t.peer, frame, 100, 0) == 100);
	virtio_net_tap_ready(t.n);
	CHECK(fake_used_idx(&t.rx) == 3 && t.n->rx_waiting);
	nt_done(&t);
}

/* ---- the rate limiters (rx_rate_limiter / tx_rate_limiter) ---- */

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static int net_limiter(struct nt *t, enum device_limiter which, bool set_bw, uint64_t bw, uint64_t bw_ms,
		       bool set_ops, uint64_t ops, uint64_t ops_ms)
{
	struct rl_update u = { set_bw, set_ops, { bw, 0, bw_ms }, { ops, 0, ops_ms } };
	char err[128];

	return t->n->device.ops->set_rate_limiter(&t->n->device, which, &u, err, sizeof(err));
}

/* A limiter's timer's remaining time in ms (0: disarmed). */
static uint64_t net_timer_ms(struct nt *t, enum device_limiter which)
{
	struct itimerspec its;

	if (timerfd_gettime(t->n->lim[which].timer_fd, &its) < 0)
		return UINT64_MAX;
	return (uint64_t)its.it_value.tv_sec * 1000 + (uint64_t)its.it_value.tv_nsec / 1000000;
}

/* TX frame i (12-byte header + 60 bytes) at descriptors 2i, 2i+1, made available. */
static void queue_tx(struct nt *t, int i)
{
	uint64_t base = FAKE_DATA + 0x200 * (uint64_t)i;

	memset(t->rx.ram + base, 0, 12);
	memset(t->rx.ram + base + 0x100, 0x10 + i, 60);
	fake_desc(&t->tx, (uint16_t)(2 * i), base, 12, R, (uint16_t)(2 * i + 1));
	fake_desc(&t->tx, (uint16_t)(2 * i + 1), base + 0x100, 60, 0, 0);
	fake_avail(&t->tx, (uint16_t)(2 * i));
}

/* TX at 1 op per 100 ms: the first frame goes, the second goes back to the ring with the
 * timer armed; a kick meanwhile only counts; the timer's firing sends it. */
TEST(net_tx_rate_limiter_throttle_and_resume)
{
	struct nt t;
	uint8_t buf[128];

	CHECK(nt_setup(&t) == 0);
	t.n->clock = fake_clock;
	fake_now = 1000000000;
	CHECK(net_limiter(&t, DEVICE_LIMITER_TX, true, 0, 0, true, 1, 100) == 0);
	queue_tx(&t, 0);
	queue_tx(&t, 1);
	virtio_process(&t.n->dev, VIRTIO_NET_TXQ);
	CHECK(fake_used_idx(&t.tx) == 1 && t.n->stats.tx_frames == 1);
	CHECK(t.n->lim[DEVICE_LIMITER_TX].throttled && t.n->stats.tx_rate_limiter_throttled == 1);
	CHECK(net_timer_ms(&t, DEVICE_LIMITER_TX) > 90 && net_timer_ms(&t, DEVICE_LIMITER_TX) <= 100);
	CHECK(recv(t.peer, buf, sizeof(buf), 0) == 72 && buf[12] == 0x10);
	CHECK(recv(t.peer, buf, sizeof(buf), 0) == -1 && errno == EAGAIN);
	virtio_kick(&t.n->dev, VIRTIO_NET_TXQ);
	virtio_process(&t.n->dev, VIRTIO_NET_TXQ);
	CHECK(fake_used_idx(&t.tx) == 1 && t.n->stats.tx_rate_limiter_throttled == 2);
	fake_now += 100 * RATE_LIMITER_NS_PER_MS;
	virtio_net_timer_fired(t.n, DEVICE_LIMITER_TX);
	CHECK(fake_used_idx(&t.tx) == 2 && !t.n->lim[DEVICE_LIMITER_TX].throttled);
	CHECK(t.n->stats.tx_rate_limiter_event_count == 1 && t.n->stats.tx_frames == 2);
	CHECK(recv(t.peer, buf, sizeof(buf), 0) == 72 && buf[12] == 0x11);
	/* TX is charged the whole chain, header included: 72 bytes of a 100-byte bucket. */
	CHECK(net_limiter(&t, DEVICE_LIMITER_TX, true, 100, 1000, true, 0, 0) == 0);
	queue_tx(&t, 2);
	queue_tx(&t, 3);
	virtio_process(&t.n->dev, VIRTIO_NET_TXQ);
	CHECK(fake_used_idx(&t.tx) == 3 && t.n->lim[DEVICE_LIMITER_TX].rl.bandwidth.budget == 28);
	CHECK(t.n->lim[DEVICE_LIMITER_TX].throttled && t.n->stats.tx_rate_limiter_throttled == 3);
	/* RX is not limited by TX's limiter. */
	CHECK(!t.n->lim[DEVICE_LIMITER_RX].throttled && net_timer_ms(&t, DEVICE_LIMITER_RX) == 0);
	nt_done(&t);
}

/* RX at 100 bytes per 100 ms: a 72-byte frame passes, the next is read, refused and kept
 * (the tap no longer polled, kicks and spurious readiness only count), then delivered by
 * the timer. */
TEST(net_rx_rate_limiter_stops_polling)
{
	struct nt t;
	uint8_t frame[72];

	CHECK(nt_setup(&t) == 0);
	t.n->clock = fake_clock;
	fake_now = 1000000000;
	CHECK(net_limiter(&t, DEVICE_LIMITER_RX, true, 100, 100, true, 0, 0) == 0);
	for (int i = 0; i < 4; i++) {
		fake_desc(&t.rx, (uint16_t)i, FAKE_DATA + 0x800 * (uint64_t)i, 2048, W, 0);
		fake_avail(&t.rx, (uint16_t)i);
	}
	memset(frame, 0, 12);
	for (int i = 0; i < 3; i++) {
		memset(frame + 12, 0x20 + i, 60);
		CHECK(send(t.peer, frame, sizeof(frame), 0) == 72);
	}
	virtio_kick(&t.n->dev, VIRTIO_NET_RXQ);
	virtio_process(&t.n->dev, VIRTIO_NET_RXQ);
	CHECK(fake_used_idx(&t.rx) == 1 && t.n->stats.rx_frames == 1 && t.rx.ram[FAKE_DATA + 12] == 0x20);
	CHECK(t.n->lim[DEVICE_LIMITER_RX].throttled && t.n->stats.rx_rate_limiter_throttled == 1);
	CHECK(!t.n->tap_polled && t.n->rx_deferred == 72);
	CHECK(net_timer_ms(&t, DEVICE_LIMITER_RX) > 0 && net_timer_ms(&t, DEVICE_LIMITER_RX) <= 100);
	/* The buffers gathered for the refused frame went back to the ring. */
	CHECK(t.n->dev.queues[VIRTIO_NET_RXQ].st.inflight == 0);
	virtio_net_tap_ready(t.n);
	virtio_kick(&t.n->dev, VIRTIO_NET_RXQ);
	virtio_process(&t.n->dev, VIRTIO_NET_RXQ);
	CHECK(fake_used_idx(&t.rx) == 1 && !t.n->tap_polled && t.n->stats.rx_rate_limiter_throttled == 2);
	/* 72 of 100 bytes earned back in 72 ms: the deferred frame goes, the third waits. */
	fake_now += 72 * RATE_LIMITER_NS_PER_MS;
	virtio_net_timer_fired(t.n, DEVICE_LIMITER_RX);
	CHECK(fake_used_idx(&t.rx) == 2 && t.n->stats.rx_event_rate_limiter_count == 1);
	CHECK(t.rx.ram[FAKE_DATA + 0x800 + 12] == 0x21 && t.rx.ram[FAKE_DATA + 0x800 + 71] == 0x21);
	CHECK(t.n->lim[DEVICE_LIMITER_RX].throttled && !t.n->tap_polled && t.n->rx_deferred == 72);
	/* A PATCH removing the bandwidth bucket lets the rest through at the next firing (the
	 * wait already set stays: it ends first). */
	CHECK(net_limiter(&t, DEVICE_LIMITER_RX, true, 0, 0, false, 0, 0) == 0);
	fake_now += net_timer_ms(&t, DEVICE_LIMITER_RX) * RATE_LIMITER_NS_PER_MS + RATE_LIMITER_NS_PER_MS;
	virtio_net_timer_fired(t.n, DEVICE_LIMITER_RX);
	CHECK(fake_used_idx(&t.rx) == 3 && t.n->stats.rx_frames == 3 && t.n->rx_deferred == 0);
	CHECK(t.rx.ram[FAKE_DATA + 0x1000 + 12] == 0x22 && t.n->tap_polled);
	/* A reset forgets the timers. */
	CHECK(send(t.peer, frame, sizeof(frame), 0) == 72 && send(t.peer, frame, sizeof(frame), 0) == 72);
	fake_avail(&t.rx, 0);
	CHECK(net_limiter(&t, DEVICE_LIMITER_RX, false, 0, 0, true, 1, 1000) == 0);
	virtio_net_tap_ready(t.n);
	CHECK(t.n->lim[DEVICE_LIMITER_RX].throttled);
	virtio_set_status(&t.n->dev, 0);
	CHECK(!t.n->lim[DEVICE_LIMITER_RX].throttled && net_timer_ms(&t, DEVICE_LIMITER_RX) == 0 && !t.n->rx_deferred);
	nt_done(&t);
}

/* PATCH changes a running limiter in place: a set bucket is replaced (full), the other
 * keeps its budget; a 0-size bucket removes the limit. A net device has RX and TX only. */
TEST(net_rate_limiter_patch_in_place)
{
	struct nt t;
	struct rl_update u = { 0 };
	char err[128];

	CHECK(nt_setup(&t) == 0);
	t.n->clock = fake_clock;
	fake_now = 1000000000;
	CHECK(net_limiter(&t, DEVICE_LIMITER_TX, true, 1000, 100, true, 2, 1000) == 0);
	queue_tx(&t, 0);
	virtio_process(&t.n->dev, VIRTIO_NET_TXQ);
	CHECK(t.n->lim[DEVICE_LIMITER_TX].rl.ops.budget == 1 && t.n->lim[DEVICE_LIMITER_TX].rl.bandwidth.budget == 928);
	CHECK(net_limiter(&t, DEVICE_LIMITER_TX, true, 5000, 100, false, 0, 0) == 0);
	CHECK(t.n->lim[DEVICE_LIMITER_TX].rl.ops.budget == 1 && t.n->lim[DEVICE_LIMITER_TX].rl.bandwidth.budget == 5000);
	CHECK(net_limiter(&t, DEVICE_LIMITER_TX, false, 0, 0, true, 0, 0) == 0);
	CHECK(!t.n->lim[DEVICE_LIMITER_TX].rl.ops.enabled && t.n->lim[DEVICE_LIMITER_TX].rl.bandwidth.enabled);
	CHECK(!t.n->lim[DEVICE_LIMITER_RX].rl.bandwidth.enabled && !t.n->lim[DEVICE_LIMITER_RX].rl.ops.enabled);
	CHECK(t.n->device.ops->set_rate_limiter(&t.n->device, (enum device_limiter)2, &u, err, sizeof(err)) == -EINVAL);
	nt_done(&t);
}

/* ---- fairness: at most VIRTIO_QUEUE_BUDGET frames a callback, each way ---- */

#include <poll.h>

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* A TX ring kept full (256 entries, each the frame at head 0): a callback sends the budget
 * and re-kicks the queue; once the guest stops every frame has gone out. */
TEST(net_tx_budget_yields_and_loses_nothing)
{
	const unsigned total = 8 * 256;
	struct nt t;
	unsigned posted = 0, got = 0, calls = 0;
	uint8_t buf[128];
	uint16_t before;

	CHECK(nt_setup_ring(&t, 0, 256) == 0);
	memset(t.rx.ram + FAKE_DATA, 0, 12);
	memset(t.rx.ram + FAKE_DATA + 0x100, 0xee, 60);
	fake_desc(&t.tx, 0, FAKE_DATA, 12, R, 1);
	fake_desc(&t.tx, 1, FAKE_DATA + 0x100, 60, 0, 0);
	virtio_kick(&t.n->dev, VIRTIO_NET_TXQ);
	while (readable(t.n->dev.notify_fd[VIRTIO_NET_TXQ]) && calls++ < 1000) {
		while (posted < total && (uint16_t)(t.tx.avail_idx - fake_used_idx(&t.tx)) < 256) {
			fake_avail(&t.tx, 0);
			posted++;
		}
		before = fake_used_idx(&t.tx);
		virtio_process(&t.n->dev, VIRTIO_NET_TXQ);
		CHECK((uint16_t)(fake_used_idx(&t.tx) - before) <= VIRTIO_QUEUE_BUDGET);
		while (recv(t.peer, buf, sizeof(buf), 0) == 72)
			got++;
		/* The device left notifications on only with the ring empty: kick as a driver. */
		if (posted < total && !readable(t.n->dev.notify_fd[VIRTIO_NET_TXQ]))
			virtio_kick(&t.n->dev, VIRTIO_NET_TXQ);
	}
	CHECK(posted == total && fake_used_idx(&t.tx) == (uint16_t)total);
	CHECK(got == total && t.n->stats.tx_frames == total && t.n->stats.tx_dropped == 0);
	CHECK(t.n->stats.tx_budget_yields >= total / VIRTIO_QUEUE_BUDGET - 2);
	nt_done(&t);
}

/* More frames waiting in the tap than the budget: one callback delivers the budget and
 * leaves the tap polled (it is level-triggered: the loop comes back); the next one the rest. */
TEST(net_rx_budget_leaves_the_rest_in_the_tap)
{
	struct nt t;
	uint8_t frame[72] = { 0 };
	int sent = 0;

	CHECK(nt_setup_ring(&t, 0, 256) == 0);
	for (uint16_t i = 0; i < 256; i++) {
		fake_desc(&t.rx, i, FAKE_DATA + 0x800 * (uint64_t)i, 2048, W, 0);
		fake_avail(&t.rx, i);
	}
	while (sent < 200 && send(t.peer, frame, sizeof(frame), 0) == 72)
		sent++;
	CHECK(sent > VIRTIO_QUEUE_BUDGET);
	/* The driver kicks for its new buffers: the device polls the tap and reads. */
	virtio_kick(&t.n->dev, VIRTIO_NET_RXQ);
	virtio_process(&t.n->dev, VIRTIO_NET_RXQ);
	CHECK(fake_used_idx(&t.rx) == VIRTIO_QUEUE_BUDGET && t.n->stats.rx_budget_yields == 1);
	CHECK(t.n->tap_polled && !t.n->rx_waiting);
	virtio_net_tap_ready(t.n);
	CHECK(fake_used_idx(&t.rx) == sent && t.n->stats.rx_frames == (uint64_t)sent);
	CHECK(t.n->tap_polled);
	nt_done(&t);
}
