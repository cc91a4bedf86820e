/* Address-range dispatch for port I/O and MMIO. */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
}

void bus_destroy(struct bus *b)
{
	free(b->ranges);
	b->ranges = NULL;
	b->nr = b->cap = 0;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_handler fn, void *opaque, const char *name)
{
	int i;

	if (len == 0 || base + len < base || !fn)
		return -EINVAL;
	/* Find the insertion point and check both neighbours for overlap. */
	for (i = 0; i < b->nr && b->ranges[i].base < base; i++)
		;
	if (i > 0 && b->ranges[i - 1].base + b->ranges[i - 1].len > base)
		return -EEXIST;
	if (i < b->nr && base + len > b->ranges[i].base)
		return -EEXIST;
	if (b->nr == b->cap) {
		int cap = b->cap ? b->cap * 2 : 8;
		struct bus_range *n = realloc(b->ranges, (size_t)cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		b->ranges = n;
		b->cap = cap;
	}
	memmove(&b->ranges[i + 1], &b->ranges[i], (size_t)(b->nr - i) * sizeof(*b->ranges));
	b->ranges[i] = (struct bus_range){ base, len, fn, opaque, name };
	b->nr++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *b, uint64_t addr, uint32_t len)
{
	int lo = 0, hi = b->nr - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const struct bus_range *r = &b->ranges[mid];

		if (addr < r->base)
			hi = mid - 1;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			/* An access straddling the end of a range is not the device's. */
			return len <= r->len - (addr - r->base) ? r : NULL;
	}
	return NULL;
}

int bus_access(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	const struct bus_range *r = bus_find(b, addr, len);

	if (!r) {
		if (is_write) {
			__atomic_add_fetch(&b->unclaimed_writes, 1, __ATOMIC_RELAXED);
		} else {
			memset(data, 0xff, len);
			__atomic_add_fetch(&b->unclaimed_reads, 1, __ATOMIC_RELAXED);
		}
		return -ENOENT;
	}
	r->fn(r->opaque, addr - r->base, data, len, is_write);
	return 0;
}
