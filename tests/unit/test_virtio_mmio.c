/* The virtio-mmio register interface and the device core behind it, driven like a guest
 * driver would (and like a broken one would), with a block device over fake memory. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "test.h"
#include "util.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio_fake.h"

#define R VIRTQ_DESC_F_NEXT
#define W VIRTQ_DESC_F_WRITE

struct mt {
	struct fake f;
	struct virtio_blk *b;
	struct virtio_mmio t;
	char path[64];
};

static uint32_t rd(struct mt *m, uint64_t off)
{
	uint32_t v;

	virtio_mmio_access(&m->t, off, (uint8_t *)&v, 4, false);
	return v;
}

static void wr(struct mt *m, uint64_t off, uint32_t v)
{
	virtio_mmio_access(&m->t, off, (uint8_t *)&v, 4, true);
}

static uint64_t irqs(struct mt *m)
{
	uint64_t n = 0;

	if (read(m->b->dev.irq_fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static int mt_setup(struct mt *m)
{
	char err[256];
	int fd;

	snprintf(m->path, sizeof(m->path), "/tmp/kindling-mmio-XXXXXX");
	fd = mkstemp(m->path);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0 || pwrite(fd, "HELLO", 5, 512) != 5)
		return -1;
	close(fd);
	if (fake_init(&m->f, 8))
		return -1;
	if (virtio_blk_create(m->path, false, "mmio", &m->f.mem, &m->b, err, sizeof(err)))
		return -1;
	virtio_blk_set_writeback(m->b, true); /* so that FLUSH can be negotiated */
	virtio_mmio_init(&m->t, &m->b->dev);
	return 0;
}

static void mt_done(struct mt *m)
{
	m->b->dev.ops->destroy(&m->b->dev);
	fake_free(&m->f);
	unlink(m->path);
}

/* The Linux driver's sequence, up to DRIVER_OK. */
static void negotiate(struct mt *m, uint32_t feat_hi, uint32_t feat_lo)
{
	wr(m, VIRTIO_MMIO_STATUS, 0);
	wr(m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES, feat_hi);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES, feat_lo);
	wr(m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(struct mt *m, uint32_t size)
{
	wr(m, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(m, VIRTIO_MMIO_QUEUE_NUM, size);
	wr(m, VIRTIO_MMIO_QUEUE_DESC_LOW, FAKE_DESC);
	wr(m, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(m, VIRTIO_MMIO_QUEUE_DRIVER_LOW, FAKE_AVAIL);
	wr(m, VIRTIO_MMIO_QUEUE_DEVICE_LOW, FAKE_USED);
	wr(m, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void driver_ok(struct mt *m)
{
	wr(m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
					  VIRTIO_STATUS_DRIVER_OK);
}

/* A read of sector 1 at head 0. */
static void submit_read(struct mt *m)
{
	uint32_t h[4] = { VIRTIO_BLK_T_IN, 0, 1, 0 };

	memcpy(m->f.ram + FAKE_DATA, h, sizeof(h));
	fake_desc(&m->f, 0, FAKE_DATA, 16, R, 1);
	fake_desc(&m->f, 1, FAKE_DATA + 0x1000, 512, W | R, 2);
	fake_desc(&m->f, 2, FAKE_DATA + 0x800, 1, W, 0);
	fake_avail(&m->f, 0);
	wr(m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	virtio_process(&m->b->dev, 0);
}

TEST(mmio_identity_and_config)
{
	struct mt m;
	uint64_t cap = 0;
	uint8_t b;

	CHECK(mt_setup(&m) == 0);
	CHECK(rd(&m, VIRTIO_MMIO_MAGIC_VALUE) == VIRTIO_MMIO_MAGIC);
	CHECK(rd(&m, VIRTIO_MMIO_VERSION) == 2);
	CHECK(rd(&m, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_BLOCK);
	wr(&m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	CHECK(rd(&m, VIRTIO_MMIO_DEVICE_FEATURES) == 1); /* VERSION_1 */
	wr(&m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	CHECK(rd(&m, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_F_EVENT_IDX));
	CHECK(rd(&m, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_F_INDIRECT_DESC));
	wr(&m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
	CHECK(rd(&m, VIRTIO_MMIO_DEVICE_FEATURES) == 0);
	virtio_mmio_access(&m.t, VIRTIO_MMIO_CONFIG, (uint8_t *)&cap, 8, false);
	CHECK(cap == 2048);
	/* Past the config space: zeros, never a crash. */
	b = 0xff;
	virtio_mmio_access(&m.t, VIRTIO_MMIO_CONFIG + 23, &b, 1, false);
	CHECK(b == 0);
	b = 0xff;
	virtio_mmio_access(&m.t, VIRTIO_MMIO_CONFIG + 24, &b, 1, false);
	CHECK(b == 0);
	cap = 0xffff;
	virtio_mmio_access(&m.t, VIRTIO_MMIO_CONFIG + 20, (uint8_t *)&cap, 8, false);
	CHECK(cap == 0);
	virtio_mmio_access(&m.t, 0xfff, &b, 1, true);
	/* Registers are 32-bit: a 1-byte read of the magic gives nothing. */
	b = 0xff;
	virtio_mmio_access(&m.t, VIRTIO_MMIO_MAGIC_VALUE, &b, 1, false);
	CHECK(b == 0);
	mt_done(&m);
}

TEST(mmio_full_request_and_interrupt)
{
	struct mt m;

	CHECK(mt_setup(&m) == 0);
	negotiate(&m, 1, (1u << VIRTIO_F_EVENT_IDX) | (1u << VIRTIO_BLK_F_FLUSH));
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	CHECK(rd(&m, VIRTIO_MMIO_QUEUE_NUM_MAX) == VIRTIO_BLK_QUEUE_SIZE);
	setup_queue(&m, 8);
	CHECK(rd(&m, VIRTIO_MMIO_QUEUE_READY) == 1);
	driver_ok(&m);
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) == 15);
	submit_read(&m);
	CHECK(fake_used_idx(&m.f) == 1);
	CHECK(m.f.ram[FAKE_DATA + 0x800] == VIRTIO_BLK_S_OK);
	CHECK(!memcmp(m.f.ram + FAKE_DATA + 0x1000, "HELLO", 5));
	CHECK(irqs(&m) == 1);
	CHECK(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS) == VIRTIO_INT_VRING);
	wr(&m, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING);
	CHECK(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS) == 0);
	/* Reset forgets the queue and the features. */
	wr(&m, VIRTIO_MMIO_STATUS, 0);
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) == 0 && rd(&m, VIRTIO_MMIO_QUEUE_READY) == 0);
	CHECK(m.b->dev.st.driver_features == 0);
	mt_done(&m);
}

TEST(mmio_feature_negotiation_refusals)
{
	struct mt m;

	CHECK(mt_setup(&m) == 0);
	negotiate(&m, 0, 0); /* no VERSION_1: legacy drivers are not served */
	CHECK(!(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK));
	negotiate(&m, 1 | 2, 0); /* a feature never offered */
	CHECK(!(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK));
	/* DRIVER_OK without FEATURES_OK is ignored. */
	wr(&m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	CHECK(!(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK));
	/* Features cannot change after FEATURES_OK. */
	negotiate(&m, 1, 0);
	wr(&m, VIRTIO_MMIO_DRIVER_FEATURES, 1u << VIRTIO_F_EVENT_IDX);
	CHECK(m.b->dev.st.driver_features == VIRTIO_BIT(VIRTIO_F_VERSION_1));
	mt_done(&m);
}

TEST(mmio_bad_queue_setup_needs_reset)
{
	struct mt m;
	uint32_t bad_size[] = { 0, 3, 512, 70000 };

	CHECK(mt_setup(&m) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad_size); i++) {
		negotiate(&m, 1, 0);
		setup_queue(&m, bad_size[i]);
		CHECK(rd(&m, VIRTIO_MMIO_QUEUE_READY) == 0);
		CHECK(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	}
	/* Rings outside RAM. */
	negotiate(&m, 1, 0);
	wr(&m, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0x10);
	setup_queue(&m, 8);
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	/* And a clean reset brings it back. */
	negotiate(&m, 1, 0);
	CHECK(!(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
	setup_queue(&m, 8);
	CHECK(rd(&m, VIRTIO_MMIO_QUEUE_READY) == 1);
	mt_done(&m);
}

TEST(mmio_queue_select_out_of_range)
{
	struct mt m;

	CHECK(mt_setup(&m) == 0);
	negotiate(&m, 1, 0);
	wr(&m, VIRTIO_MMIO_QUEUE_SEL, 1);
	CHECK(rd(&m, VIRTIO_MMIO_QUEUE_NUM_MAX) == 0);
	wr(&m, VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(&m, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK(rd(&m, VIRTIO_MMIO_QUEUE_READY) == 0);
	wr(&m, VIRTIO_MMIO_QUEUE_SEL, 0xffffffff);
	wr(&m, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);
	wr(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	CHECK(m.b->dev.queues[0].st.desc_gpa == 0 && m.b->dev.queues[0].st.size == 0);
	mt_done(&m);
}

TEST(mmio_queue_registers_after_driver_ok)
{
	struct mt m;

	CHECK(mt_setup(&m) == 0);
	negotiate(&m, 1, 0);
	setup_queue(&m, 8);
	driver_ok(&m);
	CHECK(irqs(&m) == 0);
	wr(&m, VIRTIO_MMIO_QUEUE_NUM, 256);
	CHECK(m.b->dev.queues[0].st.size == 8);
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
	CHECK(irqs(&m) == 1);
	/* A device needing reset processes nothing. */
	submit_read(&m);
	CHECK(fake_used_idx(&m.f) == 0);
	mt_done(&m);
}

TEST(mmio_size_change_while_ready_refused)
{
	struct mt m;

	CHECK(mt_setup(&m) == 0);
	negotiate(&m, 1, 0);
	setup_queue(&m, 8);
	/* Growing a ready queue would reach past the rings checked for 8 entries. */
	wr(&m, VIRTIO_MMIO_QUEUE_NUM, 256);
	CHECK(m.b->dev.queues[0].st.size == 8);
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	mt_done(&m);
}

TEST(mmio_malformed_chain_needs_reset)
{
	struct mt m;

	CHECK(mt_setup(&m) == 0);
	negotiate(&m, 1, 0);
	setup_queue(&m, 8);
	driver_ok(&m);
	fake_desc(&m.f, 0, FAKE_DATA, 16, R, 1);
	fake_desc(&m.f, 1, FAKE_DATA, 16, R, 0);
	fake_avail(&m.f, 0);
	virtio_process(&m.b->dev, 0);
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
	CHECK(m.b->dev.errors == 1);
	/* After a reset and a clean setup the device works again. */
	memset(m.f.ram + FAKE_AVAIL, 0, 0x2000);
	m.f.avail_idx = 0;
	negotiate(&m, 1, 0);
	setup_queue(&m, 8);
	driver_ok(&m);
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) == 15);
	submit_read(&m);
	CHECK(fake_used_idx(&m.f) == 1 && m.f.ram[FAKE_DATA + 0x800] == VIRTIO_BLK_S_OK);
	mt_done(&m);
}

TEST(mmio_status_cannot_go_backwards)
{
	struct mt m;

	CHECK(mt_setup(&m) == 0);
	negotiate(&m, 1, 0);
	wr(&m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	wr(&m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER); /* skips ACKNOWLEDGE after a reset */
	wr(&m, VIRTIO_MMIO_STATUS, 0);
	wr(&m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER);
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) == 0);
	mt_done(&m);
}

TEST(mmio_save_restore_roundtrip)
{
	struct mt m;
	static uint8_t buf[8192];
	struct virtio_mmio_state ts;
	char err[256];
	size_t n;

	CHECK(mt_setup(&m) == 0);
	n = virtio_save_size(&m.b->dev);
	CHECK(n <= sizeof(buf));
	negotiate(&m, 1, 1u << VIRTIO_F_EVENT_IDX);
	setup_queue(&m, 8);
	driver_ok(&m);
	submit_read(&m);
	virtio_save(&m.b->dev, buf);
	virtio_mmio_save(&m.t, &ts);
	wr(&m, VIRTIO_MMIO_STATUS, 0);
	CHECK(virtio_restore(&m.b->dev, buf, n, err, sizeof(err)) == 0);
	virtio_mmio_restore(&m.t, &ts);
	CHECK(rd(&m, VIRTIO_MMIO_STATUS) == 15);
	CHECK(m.b->dev.queues[0].st.last_avail == 1 && m.b->dev.queues[0].st.used_idx == 1);
	/* The restored device keeps working. */
	fake_avail(&m.f, 0);
	virtio_process(&m.b->dev, 0);
	CHECK(fake_used_idx(&m.f) == 2);
	/* Hostile or mismatched states are refused and leave the device reset. */
	buf[0] ^= 1;
	CHECK(virtio_restore(&m.b->dev, buf, n, err, sizeof(err)) == -EINVAL);
	buf[0] ^= 1;
	CHECK(virtio_restore(&m.b->dev, buf, n - 1, err, sizeof(err)) == -EINVAL);
	{
		struct virtio_state s;

		memcpy(&s, buf, sizeof(s));
		s.queues[0].used_gpa = 1ull << 40;
		memcpy(buf, &s, sizeof(s));
		CHECK(virtio_restore(&m.b->dev, buf, n, err, sizeof(err)) < 0);
		CHECK(rd(&m, VIRTIO_MMIO_STATUS) == 0);
	}
	mt_done(&m);
}

/* A request the guest made available whose kick the saved VMM never served (the kick lives
 * in an eventfd, not in the state; with notifications suppressed no other comes): the
 * restored device looks at every ready queue once by itself and takes it. And an interrupt
 * the driver had not acknowledged is raised again. */
TEST(mmio_restore_takes_unkicked_requests)
{
	struct mt m;
	static uint8_t buf[8192];
	struct virtio_mmio_state ts;
	char err[256];
	uint64_t k = 0;
	uint32_t h[4] = { VIRTIO_BLK_T_IN, 0, 1, 0 };
	size_t n;

	CHECK(mt_setup(&m) == 0);
	n = virtio_save_size(&m.b->dev);
	negotiate(&m, 1, 1u << VIRTIO_F_EVENT_IDX);
	setup_queue(&m, 8);
	driver_ok(&m);
	submit_read(&m);
	CHECK(fake_used_idx(&m.f) == 1);
	memcpy(m.f.ram + FAKE_DATA, h, sizeof(h));
	m.f.ram[FAKE_DATA + 0x800] = 0xff;
	fake_avail(&m.f, 0); /* made available; the notification is not served */
	CHECK(irqs(&m) == 1); /* the first request's; not acknowledged */
	virtio_save(&m.b->dev, buf);
	virtio_mmio_save(&m.t, &ts);
	wr(&m, VIRTIO_MMIO_STATUS, 0);
	CHECK(read(m.b->dev.notify_fd[0], &k, sizeof(k)) < 0); /* nothing pending before */
	CHECK(irqs(&m) == 0);
	CHECK(virtio_restore(&m.b->dev, buf, n, err, sizeof(err)) == 0);
	virtio_mmio_restore(&m.t, &ts);
	CHECK(read(m.b->dev.notify_fd[0], &k, sizeof(k)) == sizeof(k) && k >= 1);
	/* The interrupt the driver had not acknowledged is raised again. */
	CHECK(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS) == VIRTIO_INT_VRING && irqs(&m) == 1);
	wr(&m, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING);
	k = 1;
	CHECK(write(m.b->dev.notify_fd[0], &k, sizeof(k)) == sizeof(k)); /* as the event loop finds it */
	virtio_process(&m.b->dev, 0);
	CHECK(fake_used_idx(&m.f) == 2);
	CHECK(m.f.ram[FAKE_DATA + 0x800] == VIRTIO_BLK_S_OK);
	/* Acknowledged before the save: none raised at the restore. */
	(void)irqs(&m);
	wr(&m, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING);
	CHECK(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS) == 0);
	virtio_save(&m.b->dev, buf);
	CHECK(virtio_restore(&m.b->dev, buf, n, err, sizeof(err)) == 0);
	CHECK(irqs(&m) == 0);
	CHECK(read(m.b->dev.notify_fd[0], &k, sizeof(k)) == sizeof(k)); /* its queue looked at */
	/* A device restored reset (never started) has nothing to look at. */
	wr(&m, VIRTIO_MMIO_STATUS, 0);
	virtio_save(&m.b->dev, buf);
	CHECK(virtio_restore(&m.b->dev, buf, n, err, sizeof(err)) == 0);
	CHECK(read(m.b->dev.notify_fd[0], &k, sizeof(k)) < 0);
	mt_done(&m);
}
