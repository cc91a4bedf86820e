/* Guest physical memory: the RAM regions and the one checked gpa -> host pointer
 * accessor through which every guest-memory access goes. */
#ifndef KINDLING_MEM_H
#define KINDLING_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The 32-bit MMIO gap: RAM that would fall here is placed above 4 GiB instead. */
#define MEM_GAP_START 0xc0000000ull
#define MEM_GAP_END 0x100000000ull
#define MEM_MAX_REGIONS 2

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	struct mem_region region[MEM_MAX_REGIONS];
	int nr_regions;
	uint64_t ram_size; /* total bytes of RAM */
	uint8_t *map;      /* one host mapping backing every region */
	size_t map_size;
};

/* Lays out `ram_size` bytes of RAM around the MMIO gap. `host` may be NULL (tests of the
 * layout alone); otherwise it must point at ram_size bytes. */
int mem_layout(struct guest_mem *m, uint64_t ram_size, uint8_t *host) __attribute__((warn_unused_result));

/* Maps anonymous memory for the guest and lays it out. */
int mem_create(struct guest_mem *m, uint64_t ram_size) __attribute__((warn_unused_result));
/* Maps ram_size bytes of fd (a memfd or a regular file at least that long) as guest RAM:
 * shared, so that the guest's writes reach fd, or private, copy-on-write over it (a
 * snapshot's memory file restored without changing it). fd may be closed afterwards. */
int mem_map_fd(struct guest_mem *m, uint64_t ram_size, int fd, bool private) __attribute__((warn_unused_result));
/* A fresh memfd of ram_size bytes, sealed against shrinking: RAM that can be handed to
 * mem_map_fd and later written to a snapshot or shared. Returns the fd or -errno. */
int mem_memfd(uint64_t ram_size);
void mem_destroy(struct guest_mem *m);

/* Host pointer for [gpa, gpa+len) if the whole range lies inside one RAM region, else NULL.
 * len 0 is treated as 1 byte so a pointer to an empty range is still in bounds. */
void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* End of RAM below the MMIO gap (exclusive). */
uint64_t mem_low_end(const struct guest_mem *m);

#endif
