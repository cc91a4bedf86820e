/* Port-I/O and MMIO buses: devices register address ranges with a handler; accesses are
 * dispatched by address. Overlapping ranges are refused; unclaimed reads return all-ones. */
#ifndef KINDLING_BUS_H
#define KINDLING_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* `offset` is relative to the registered base. Reads fill data[0..len). */
typedef void (*bus_handler)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_handler fn;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;
	struct bus_range *ranges; /* sorted by base, never overlapping */
	int nr;
	int cap;
	uint64_t unclaimed_reads; /* updated atomically: vCPU threads share the bus */
	uint64_t unclaimed_writes;
};

void bus_init(struct bus *b, const char *name);
void bus_destroy(struct bus *b);

/* Ranges are registered while no vCPU runs; the bus takes no lock for dispatch. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_handler fn, void *opaque,
		 const char *name) __attribute__((warn_unused_result));

/* Returns the range holding addr..addr+len-1, or NULL. */
const struct bus_range *bus_find(const struct bus *b, uint64_t addr, uint32_t len);

/* Dispatches one access. Returns 0 if a device claimed it, -ENOENT if not (reads then
 * return all-ones and are counted). */
int bus_access(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
