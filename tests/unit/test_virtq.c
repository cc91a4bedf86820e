/* Split virtqueue over fake guest memory: the happy path, notification suppression, and
 * every malformed-queue case of anchors.md ("Virtqueues"). */
#include <errno.h>
#include <string.h>

#include "test.h"
#include "util.h"
#include "virtio_fake.h"

#define R VIRTQ_DESC_F_NEXT
#define W VIRTQ_DESC_F_WRITE

static struct virtq_chain chain;

/* A queue of `size` entries over fresh fake memory, enabled. */
static int setup(struct fake *f, struct virtq *q, uint16_t size, bool event_idx, bool indirect)
{
	if (fake_init(f, size))
		return -1;
	fake_queue(f, q);
	return virtq_enable(q, &f->mem, event_idx, indirect);
}

TEST(virtq_pop_simple_chain)
{
	struct fake f;
	struct virtq q;

	CHECK(setup(&f, &q, 8, false, false) == 0);
	CHECK(virtq_pop(&q, &chain) == 0); /* empty */
	fake_desc(&f, 3, FAKE_DATA, 16, R, 5);
	fake_desc(&f, 5, FAKE_DATA + 0x100, 512, W | R, 6);
	fake_desc(&f, 6, FAKE_DATA + 0x400, 1, W, 0);
	fake_avail(&f, 3);
	CHECK(virtq_has_avail(&q));
	CHECK(virtq_pop(&q, &chain) == 1);
	CHECK(chain.head == 3 && chain.nout == 1 && chain.nin == 2);
	CHECK(chain.out_len == 16 && chain.in_len == 513);
	CHECK(chain.iov[0].iov_base == f.ram + FAKE_DATA && chain.iov[0].iov_len == 16);
	CHECK(chain.iov[2].iov_base == f.ram + FAKE_DATA + 0x400);
	CHECK(q.st.inflight == 1);
	CHECK(virtq_pop(&q, &chain) == 0);
	virtq_push(&q, 3, 513);
	virtq_publish(&q);
	CHECK(fake_used_idx(&f) == 1 && q.st.inflight == 0);
	{
		uint32_t id, len;

		fake_used(&f, 0, &id, &len);
		CHECK(id == 3 && len == 513);
	}
	fake_free(&f);
}

TEST(virtq_chain_copy_helpers)
{
	struct fake f;
	struct virtq q;
	uint8_t buf[8];

	CHECK(setup(&f, &q, 4, false, false) == 0);
	memcpy(f.ram + FAKE_DATA, "abc", 3);
	memcpy(f.ram + FAKE_DATA + 0x100, "defgh", 5);
	fake_desc(&f, 0, FAKE_DATA, 3, R, 1);
	fake_desc(&f, 1, FAKE_DATA + 0x100, 5, R, 2);
	fake_desc(&f, 2, FAKE_DATA + 0x200, 2, W | R, 3);
	fake_desc(&f, 3, FAKE_DATA + 0x300, 4, W, 0);
	fake_avail(&f, 0);
	CHECK(virtq_pop(&q, &chain) == 1);
	CHECK(virtq_chain_read(&chain, 2, buf, 4) == 4 && !memcmp(buf, "cdef", 4));
	CHECK(virtq_chain_read(&chain, 6, buf, 8) == 2);
	CHECK(virtq_chain_write(&chain, 1, "XYZW", 4) == 4);
	CHECK(f.ram[FAKE_DATA + 0x201] == 'X' && !memcmp(f.ram + FAKE_DATA + 0x300, "YZW", 3));
	CHECK(virtq_chain_write(&chain, 5, "12", 2) == 1);
	fake_free(&f);
}

TEST(virtq_bad_sizes_refused)
{
	struct fake f;
	struct virtq q;

	CHECK(fake_init(&f, 8) == 0);
	fake_queue(&f, &q);
	q.st.size = 0;
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EINVAL && !q.st.ready);
	q.st.size = 12;
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EINVAL && !q.st.ready);
	q.st.size = 512;
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EINVAL && !q.st.ready);
	q.st.size = 256;
	CHECK(virtq_enable(&q, &f.mem, true, false) == 0 && q.st.ready);
	CHECK(virtq_pop(&q, &chain) == 0);
	fake_free(&f);
}

TEST(virtq_rings_outside_ram_or_misaligned)
{
	struct fake f;
	struct virtq q;

	CHECK(fake_init(&f, 8) == 0);
	fake_queue(&f, &q);
	q.st.desc_gpa = FAKE_RAM;
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EFAULT);
	q.st.desc_gpa = FAKE_RAM - 64; /* starts inside, ends outside */
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EFAULT);
	fake_queue(&f, &q);
	q.st.used_gpa = UINT64_MAX - 8;
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EINVAL || !q.st.ready);
	q.st.used_gpa = 0xfffffffffffff000ull;
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EFAULT);
	fake_queue(&f, &q);
	q.st.avail_gpa = 0xd0000000; /* MMIO hole, not RAM */
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EFAULT);
	/* The event fields make the rings 2 bytes longer: the end of RAM matters. */
	fake_queue(&f, &q);
	q.st.used_gpa = FAKE_RAM - (4 + 8 * 8);
	CHECK(virtq_enable(&q, &f.mem, false, false) == 0);
	CHECK(virtq_enable(&q, &f.mem, true, false) == -EFAULT);
	fake_queue(&f, &q);
	q.st.desc_gpa = FAKE_DESC + 8;
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EINVAL);
	fake_queue(&f, &q);
	q.st.avail_gpa = FAKE_AVAIL + 1;
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EINVAL);
	fake_queue(&f, &q);
	q.st.used_gpa = FAKE_USED + 2;
	CHECK(virtq_enable(&q, &f.mem, false, false) == -EINVAL);
	CHECK(q.error && !q.st.ready);
	fake_free(&f);
}

TEST(virtq_descriptor_loops)
{
	struct fake f;
	struct virtq q;

	CHECK(setup(&f, &q, 8, false, false) == 0);
	fake_desc(&f, 0, FAKE_DATA, 16, R, 1);
	fake_desc(&f, 1, FAKE_DATA, 16, R, 0);
	fake_avail(&f, 0);
	CHECK(virtq_pop(&q, &chain) == -ELOOP);
	fake_free(&f);

	CHECK(setup(&f, &q, 8, false, false) == 0);
	fake_desc(&f, 2, FAKE_DATA, 0, R, 2); /* zero-length self loop: no segments, still bounded */
	fake_avail(&f, 2);
	CHECK(virtq_pop(&q, &chain) == -ELOOP);
	fake_free(&f);
}

TEST(virtq_index_out_of_range)
{
	struct fake f;
	struct virtq q;

	CHECK(setup(&f, &q, 8, false, false) == 0);
	fake_desc(&f, 0, FAKE_DATA, 16, R, 8);
	fake_avail(&f, 0);
	CHECK(virtq_pop(&q, &chain) == -ERANGE);
	fake_free(&f);

	CHECK(setup(&f, &q, 8, false, false) == 0);
	fake_avail(&f, 200); /* head out of range */
	CHECK(virtq_pop(&q, &chain) == -ERANGE);
	fake_free(&f);
}

TEST(virtq_avail_index_jump)
{
	struct fake f;
	struct virtq q;

	CHECK(setup(&f, &q, 8, false, false) == 0);
	fake_desc(&f, 0, FAKE_DATA, 16, 0, 0);
	fake_set_avail_idx(&f, 9);
	CHECK(virtq_pop(&q, &chain) == -EINVAL);
	fake_set_avail_idx(&f, 0x8000);
	CHECK(virtq_pop(&q, &chain) == -EINVAL);
	fake_set_avail_idx(&f, 8); /* exactly a full ring is fine */
	CHECK(virtq_pop(&q, &chain) == 1);
	fake_free(&f);
}

TEST(virtq_buffers_outside_ram)
{
	struct fake f;
	struct virtq q;
	uint64_t bad[] = { FAKE_RAM, FAKE_RAM - 8, UINT64_MAX - 4, 0xd0000000ull, 1ull << 40 };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK(setup(&f, &q, 8, false, false) == 0);
		fake_desc(&f, 0, bad[i], 16, 0, 0);
		fake_avail(&f, 0);
		CHECK(virtq_pop(&q, &chain) == -EFAULT);
		fake_free(&f);
	}
	/* addr+len wraps around 2^64 */
	CHECK(setup(&f, &q, 8, false, false) == 0);
	fake_desc(&f, 0, 0xfffffffffffff000ull, 0x2000, W, 0);
	fake_avail(&f, 0);
	CHECK(virtq_pop(&q, &chain) == -EFAULT);
	fake_free(&f);
}

TEST(virtq_buffer_spanning_two_regions)
{
	static uint8_t lo[0x20000], hi[0x10000];
	struct guest_mem m = { .nr_regions = 2 };
	struct virtq q;

	/* Two RAM regions adjacent in guest-physical space but not in host memory. */
	m.region[0] = (struct mem_region){ .gpa = 0, .size = sizeof(lo), .host = lo };
	m.region[1] = (struct mem_region){ .gpa = sizeof(lo), .size = sizeof(hi), .host = hi };
	virtq_reset(&q);
	q.max_size = 8;
	q.st.size = 8;
	q.st.desc_gpa = 0x1000, q.st.avail_gpa = 0x2000, q.st.used_gpa = 0x3000;
	CHECK(virtq_enable(&q, &m, false, false) == 0);
	{
		struct virtq_desc d = { sizeof(lo) - 8, 16, 0, 0 };
		uint16_t head = 0, idx = 1;

		memcpy(lo + 0x1000, &d, sizeof(d));
		memcpy(lo + 0x2004, &head, 2);
		memcpy(lo + 0x2002, &idx, 2);
	}
	CHECK(virtq_pop(&q, &chain) == -EFAULT);
}

TEST(virtq_more_in_flight_than_size)
{
	struct fake f;
	struct virtq q;

	CHECK(setup(&f, &q, 4, false, false) == 0);
	for (int i = 0; i < 4; i++)
		fake_desc(&f, (uint16_t)i, FAKE_DATA, 16, 0, 0);
	for (int i = 0; i < 4; i++)
		fake_avail(&f, (uint16_t)i);
	for (int i = 0; i < 4; i++)
		CHECK(virtq_pop(&q, &chain) == 1);
	/* The driver re-posts heads the device still holds. */
	for (int i = 0; i < 4; i++)
		fake_avail(&f, (uint16_t)i);
	CHECK(virtq_pop(&q, &chain) == -EBUSY);
	virtq_push(&q, 0, 0);
	CHECK(virtq_pop(&q, &chain) == 1);
	fake_free(&f);
}

TEST(virtq_direction_order)
{
	struct fake f;
	struct virtq q;

	CHECK(setup(&f, &q, 8, false, false) == 0);
	fake_desc(&f, 0, FAKE_DATA, 1, W | R, 1);
	fake_desc(&f, 1, FAKE_DATA, 16, 0, 0);
	fake_avail(&f, 0);
	CHECK(virtq_pop(&q, &chain) == -EINVAL);
	fake_free(&f);
}

TEST(virtq_indirect)
{
	struct fake f;
	struct virtq q;
	const uint64_t table = 0x8000;

	CHECK(setup(&f, &q, 4, false, true) == 0);
	fake_desc_at(&f, table, 0, FAKE_DATA, 16, R, 1);
	fake_desc_at(&f, table, 1, FAKE_DATA + 0x100, 4096, W | R, 2);
	fake_desc_at(&f, table, 2, FAKE_DATA + 0x2000, 1, W, 0);
	fake_desc(&f, 1, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	fake_avail(&f, 1);
	CHECK(virtq_pop(&q, &chain) == 1);
	CHECK(chain.head == 1 && chain.nout == 1 && chain.nin == 2 && chain.in_len == 4097);
	/* A loop inside the table. */
	fake_desc_at(&f, table, 2, FAKE_DATA + 0x2000, 1, W | R, 1);
	fake_avail(&f, 1);
	CHECK(virtq_pop(&q, &chain) == -ELOOP);
	fake_free(&f);

	/* Indirect and NEXT together; nested; bad length; outside RAM; feature not negotiated. */
	struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
		bool nested, feature;
		int want;
	} bad[] = {
		{ table, 48, VIRTQ_DESC_F_INDIRECT | R, false, true, -EINVAL },
		{ table, 48, VIRTQ_DESC_F_INDIRECT, true, true, -EINVAL },
		{ table, 40, VIRTQ_DESC_F_INDIRECT, false, true, -EINVAL },
		{ table, 0, VIRTQ_DESC_F_INDIRECT, false, true, -EINVAL },
		{ table, 16 * 4096, VIRTQ_DESC_F_INDIRECT, false, true, -E2BIG },
		{ FAKE_RAM - 16, 48, VIRTQ_DESC_F_INDIRECT, false, true, -EFAULT },
		{ table, 48, VIRTQ_DESC_F_INDIRECT, false, false, -EINVAL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK(setup(&f, &q, 4, false, bad[i].feature) == 0);
		fake_desc_at(&f, table, 0, FAKE_DATA, 16, 0, 0);
		if (bad[i].nested)
			fake_desc_at(&f, table, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
		fake_desc(&f, 0, bad[i].addr, bad[i].len, bad[i].flags, 1);
		fake_desc(&f, 1, FAKE_DATA, 16, 0, 0);
		fake_avail(&f, 0);
		CHECK(virtq_pop(&q, &chain) == bad[i].want);
		fake_free(&f);
	}
}

TEST(virtq_chain_longer_than_queue)
{
	struct fake f;
	struct virtq q;

	/* 256 descriptors in a 256 queue is allowed; the same chain in 255 + indirect is not. */
	CHECK(setup(&f, &q, 256, false, false) == 0);
	for (int i = 0; i < 256; i++)
		fake_desc(&f, (uint16_t)i, FAKE_DATA, 8, i < 255 ? R : 0, (uint16_t)(i + 1));
	fake_avail(&f, 0);
	CHECK(virtq_pop(&q, &chain) == 1 && chain.nout == 256);
	fake_free(&f);
}

TEST(virtq_interrupt_suppression)
{
	struct fake f;
	struct virtq q;
	uint16_t flags = VIRTQ_AVAIL_F_NO_INTERRUPT;

	/* Without EVENT_IDX: the avail ring's NO_INTERRUPT flag. */
	CHECK(setup(&f, &q, 8, false, false) == 0);
	virtq_push(&q, 0, 0);
	virtq_publish(&q);
	CHECK(virtq_should_signal(&q));
	CHECK(!virtq_should_signal(&q)); /* nothing new */
	memcpy(f.ram + FAKE_AVAIL, &flags, 2);
	virtq_push(&q, 0, 0);
	virtq_publish(&q);
	CHECK(!virtq_should_signal(&q));
	fake_free(&f);

	/* With EVENT_IDX: interrupt only when used_event is crossed. */
	CHECK(setup(&f, &q, 8, true, false) == 0);
	virtq_push(&q, 0, 0);
	virtq_publish(&q);
	CHECK(virtq_should_signal(&q)); /* first one always */
	fake_set_used_event(&f, 3);     /* driver: tell me when entry 3 is used */
	virtq_push(&q, 0, 0);
	virtq_publish(&q); /* used idx 2 */
	CHECK(!virtq_should_signal(&q));
	virtq_push(&q, 0, 0);
	virtq_push(&q, 0, 0);
	virtq_publish(&q); /* used idx 4: entry 3 done */
	CHECK(virtq_should_signal(&q));
	fake_free(&f);
}

TEST(virtq_notify_suppression)
{
	struct fake f;
	struct virtq q;
	uint16_t flags;

	CHECK(setup(&f, &q, 8, false, false) == 0);
	virtq_disable_notify(&q);
	memcpy(&flags, f.ram + FAKE_USED, 2);
	CHECK(flags == VIRTQ_USED_F_NO_NOTIFY);
	CHECK(!virtq_enable_notify(&q));
	memcpy(&flags, f.ram + FAKE_USED, 2);
	CHECK(flags == 0);
	fake_desc(&f, 0, FAKE_DATA, 16, 0, 0);
	fake_avail(&f, 0);
	CHECK(virtq_enable_notify(&q)); /* a buffer is already there: keep going */
	fake_free(&f);

	CHECK(setup(&f, &q, 8, true, false) == 0);
	fake_desc(&f, 0, FAKE_DATA, 16, 0, 0);
	fake_avail(&f, 0);
	fake_avail(&f, 0);
	CHECK(virtq_pop(&q, &chain) == 1);
	CHECK(virtq_enable_notify(&q));
	CHECK(fake_avail_event(&f) == 1);
	CHECK(virtq_pop(&q, &chain) == 1);
	CHECK(!virtq_enable_notify(&q));
	CHECK(fake_avail_event(&f) == 2);
	fake_free(&f);
}

TEST(virtq_unpop_gives_chain_back)
{
	struct fake f;
	struct virtq q;

	CHECK(setup(&f, &q, 8, false, false) == 0);
	fake_desc(&f, 4, FAKE_DATA, 16, W, 0);
	fake_avail(&f, 4);
	CHECK(virtq_pop(&q, &chain) == 1);
	virtq_unpop(&q);
	CHECK(q.st.inflight == 0 && q.st.last_avail == 0);
	CHECK(virtq_pop(&q, &chain) == 1 && chain.head == 4);
	fake_free(&f);
}

TEST(virtq_save_restore)
{
	struct fake f;
	struct virtq q, r;
	struct virtq_state s;

	CHECK(setup(&f, &q, 8, true, true) == 0);
	fake_desc(&f, 0, FAKE_DATA, 16, 0, 0);
	fake_avail(&f, 0);
	fake_avail(&f, 0);
	CHECK(virtq_pop(&q, &chain) == 1);
	CHECK(virtq_pop(&q, &chain) == 1);
	virtq_push(&q, 0, 0);
	virtq_save(&q, &s);
	r.max_size = 8;
	CHECK(virtq_restore(&r, &s, &f.mem, true, true) == 0);
	CHECK(r.st.ready && r.st.last_avail == 2 && r.st.used_idx == 1 && r.st.inflight == 1 && r.st.size == 8);
	CHECK(r.desc == q.desc && r.used == q.used);

	/* Hostile states: inconsistent indices, rings outside RAM, bad size. */
	struct virtq_state h = s;

	h.inflight = 9;
	CHECK(virtq_restore(&r, &h, &f.mem, true, true) == -EINVAL && !r.st.ready);
	h = s;
	h.used_gpa = FAKE_RAM;
	CHECK(virtq_restore(&r, &h, &f.mem, true, true) == -EFAULT && !r.st.ready);
	h = s;
	h.size = 6;
	CHECK(virtq_restore(&r, &h, &f.mem, true, true) == -EINVAL && !r.st.ready);
	fake_free(&f);
}
