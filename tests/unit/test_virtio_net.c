/* virtio-net over a SOCK_SEQPACKET socket standing in for the tap: TX and RX framing,
 * size limits, and RX that waits (never blocks) when the guest posts no buffers. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
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

static int nt_setup_features(struct nt *t, uint32_t features)
{
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	struct virtio_device *dev;
	char err[256];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) < 0)
		return -1;
	t->peer = sv[1];
	if (fake_init(&t->rx, 8))
		return -1;
	fake_share(&t->tx, &t->rx, 8, TXBASE);
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
