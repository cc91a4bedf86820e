/* A snapshot's memory file: the guest's RAM, byte for byte from offset 0 (RAM below the
 * MMIO gap, then above 4 GiB, as mem.c lays it out), all-zero pages left as holes, and
 * one trailer page after it that names the snapshot (its 128-bit id) and the RAM size, so
 * that a memory file from another snapshot is refused. The RAM part is mapped as is by
 * mem_map_fd() on restore (MAP_PRIVATE: lazy, copy-on-write, page cache shared by every VM
 * restored from the file). */
#ifndef KINDLING_SNAPMEM_H
#define KINDLING_SNAPMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

#define SNAPMEM_TRAILER_SIZE 4096u
#define SNAPMEM_MAGIC "KINDLING-MEMORY1"

/* Writes RAM to path through a temporary file renamed into place when complete (fsynced
 * first if sync). Full (dirty NULL): every non-zero page. Diff: only the pages set in dirty
 * (one bit per page in mapping order), the rest holes, and the trailer marks it a diff on
 * top of snapshot parent: it loads only once merged into that one (snapmem_merge).
 * Full, with nr_holes: the hole table, from the same scan of RAM: the max_holes longest runs
 * of zero pages of at least MEM_ZERO_MIN bytes, sorted by offset, into holes, their number
 * into *nr_holes (the run at the end of RAM is left out: the trailer's data end gives it).
 * A diff has none (*nr_holes 0): its merged file is only known once merged.
 * Returns 0 or -errno with the reason in err; nothing is left behind on failure. */
int snapmem_write(const char *path, const struct guest_mem *m, const uint64_t *dirty, const uint8_t id[16],
		  const uint8_t parent[16], bool sync, struct mem_range *holes, uint32_t max_holes, uint32_t *nr_holes,
		  char *err, size_t errlen) __attribute__((warn_unused_result));

/* Folds the diff memory file into base, in place: the diff's pages (its data extents)
 * overwrite base's, and base takes the diff's trailer, so it then goes with the diff's
 * state file. base must be the diff's parent (the snapshot it was taken on top of). */
int snapmem_merge(const char *base, const char *diff, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Opens a memory file for a restore of ram_size bytes of snapshot id: a regular file with
 * the trailer of that snapshot. Returns the fd (read-only) or -errno with the reason;
 * *zero_from (if not NULL): where the all-zero end of RAM starts (0: unknown). */
int snapmem_open(const char *path, uint64_t ram_size, const uint8_t id[16], uint64_t *zero_from, char *err,
		 size_t errlen) __attribute__((warn_unused_result));

#endif
