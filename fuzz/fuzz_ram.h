/* Guest RAM for the fuzz targets: two regions, adjacent in guest-physical space but in
 * separate heap blocks, so any access past a region or across the two trips AddressSanitizer. */
#ifndef KINDLING_FUZZ_RAM_H
#define KINDLING_FUZZ_RAM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "virtio/virtq.h"

#define FUZZ_REGION 0x8000

struct fuzz_ram {
	struct guest_mem mem;
	uint8_t *lo, *hi;
};

/* Fills RAM from data (the rest stays zero). */
static inline int fuzz_ram_init(struct fuzz_ram *r, const uint8_t *data, size_t size)
{
	memset(r, 0, sizeof(*r));
	r->lo = calloc(1, FUZZ_REGION);
	r->hi = calloc(1, FUZZ_REGION);
	if (!r->lo || !r->hi)
		return -1;
	memcpy(r->lo, data, size < FUZZ_REGION ? size : FUZZ_REGION);
	if (size > FUZZ_REGION)
		memcpy(r->hi, data + FUZZ_REGION, size - FUZZ_REGION < FUZZ_REGION ? size - FUZZ_REGION : FUZZ_REGION);
	r->mem.nr_regions = 2;
	r->mem.ram_size = 2 * FUZZ_REGION;
	r->mem.region[0] = (struct mem_region){ .gpa = 0, .size = FUZZ_REGION, .host = r->lo };
	r->mem.region[1] = (struct mem_region){ .gpa = FUZZ_REGION, .size = FUZZ_REGION, .host = r->hi };
	return 0;
}

static inline void fuzz_ram_free(struct fuzz_ram *r)
{
	free(r->lo);
	free(r->hi);
}

static inline uint16_t fuzz_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Touches both ends of every segment of a chain: a bad pointer becomes an ASan report. */
static inline void fuzz_touch(const struct virtq_chain *c)
{
	for (unsigned i = 0; i < (unsigned)c->nout + c->nin; i++) {
		volatile uint8_t *p = c->iov[i].iov_base;

		p[0] ^= 0;
		p[c->iov[i].iov_len - 1] ^= 0;
	}
}

#endif
