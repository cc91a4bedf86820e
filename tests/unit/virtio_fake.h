/* A fake virtio driver for unit tests: guest RAM in a heap buffer and helpers that lay out
 * descriptors and rings in it the way a driver would (or the way a hostile one would). */
#ifndef KINDLING_TEST_VIRTIO_FAKE_H
#define KINDLING_TEST_VIRTIO_FAKE_H

#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "virtio/virtq.h"

#define FAKE_RAM (1u << 20)
#define FAKE_DESC 0x1000
#define FAKE_AVAIL 0x3000
#define FAKE_USED 0x4000
#define FAKE_DATA 0x10000

struct fake {
	struct guest_mem mem;
	uint8_t *ram;
	uint16_t size;
	uint16_t avail_idx;
	uint64_t base; /* added to the ring addresses: a second queue in the same RAM */
};

static inline int fake_init(struct fake *f, uint16_t size)
{
	memset(f, 0, sizeof(*f));
	f->ram = calloc(1, FAKE_RAM);
	f->size = size;
	return f->ram ? mem_layout(&f->mem, FAKE_RAM, f->ram) : -1;
}

/* A second queue's rings at `base` in f's RAM (not to be freed). */
static inline void fake_share(struct fake *g, const struct fake *f, uint16_t size, uint64_t base)
{
	*g = *f;
	g->size = size;
	g->avail_idx = 0;
	g->base = base;
}

static inline void fake_free(struct fake *f)
{
	free(f->ram);
	f->ram = NULL;
}

/* Points q at the fake rings with the given size. */
static inline void fake_queue(struct fake *f, struct virtq *q)
{
	virtq_reset(q);
	q->max_size = VIRTQ_MAX_SIZE;
	q->st.size = f->size;
	q->st.desc_gpa = f->base + FAKE_DESC;
	q->st.avail_gpa = f->base + FAKE_AVAIL;
	q->st.used_gpa = f->base + FAKE_USED;
}

static inline void fake_desc_at(struct fake *f, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
				uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(f->ram + table + 16 * (size_t)i, &d, sizeof(d));
}

static inline void fake_desc(struct fake *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	fake_desc_at(f, f->base + FAKE_DESC, i, addr, len, flags, next);
}

static inline void fake_set_avail_idx(struct fake *f, uint16_t idx)
{
	f->avail_idx = idx;
	memcpy(f->ram + f->base + FAKE_AVAIL + 2, &idx, 2);
}

/* Makes the chain starting at head available. */
static inline void fake_avail(struct fake *f, uint16_t head)
{
	memcpy(f->ram + f->base + FAKE_AVAIL + 4 + 2 * (size_t)(f->avail_idx % f->size), &head, 2);
	fake_set_avail_idx(f, (uint16_t)(f->avail_idx + 1));
}

static inline uint16_t fake_used_idx(const struct fake *f)
{
	uint16_t v;

	memcpy(&v, f->ram + f->base + FAKE_USED + 2, 2);
	return v;
}

static inline void fake_used(const struct fake *f, uint16_t i, uint32_t *id, uint32_t *len)
{
	memcpy(id, f->ram + f->base + FAKE_USED + 4 + 8 * (size_t)(i % f->size), 4);
	memcpy(len, f->ram + f->base + FAKE_USED + 8 + 8 * (size_t)(i % f->size), 4);
}

static inline void fake_set_used_event(struct fake *f, uint16_t v)
{
	memcpy(f->ram + f->base + FAKE_AVAIL + 4 + 2 * (size_t)f->size, &v, 2);
}

static inline uint16_t fake_avail_event(const struct fake *f)
{
	uint16_t v;

	memcpy(&v, f->ram + f->base + FAKE_USED + 4 + 8 * (size_t)f->size, 2);
	return v;
}

#endif
