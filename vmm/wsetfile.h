/* Working-set files (issue 13, after REAP, ASPLOS'21): the guest-RAM pages a restored VM
 * touched, recorded once (cli/wset.c) and prefetched on later restores of the same snapshot
 * (`kindling --restore ... --prefetch FILE`, vmm/prefetch.c). The format, strictly parsed:
 *
 *   KINDLING-WSET 2 N\n          magic, format version 2, N: the number of range lines
 *   START COUNT\n                N times: COUNT pages of 4 KiB from page START, read
 *   START COUNT w\n              ... or written (populated writable: the guest wrote them)
 *
 * Pages are numbered in the memory file's order (guest RAM in mapping order: page P is at
 * byte P * 4096 of the snapshot's memory file). Numbers are decimal without sign or leading
 * zeros; fields are separated by exactly one space; every line ends with '\n' (no '\r', no
 * empty line, nothing after the last range). COUNT >= 1; ranges are sorted and do not
 * overlap (a range may start where the previous one ends); the last ends within the RAM.
 * N bounds the line count (truncation is detected) and is at most WSETFILE_MAX_RANGES.
 * Both kinds share one order: a read range and a written one do not overlap either. Version 1
 * files (written by earlier recorders) are still read: the same without the " w" field, all
 * of their ranges read. The writer writes version 2. */
#ifndef KINDLING_WSETFILE_H
#define KINDLING_WSETFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSETFILE_MAGIC "KINDLING-WSET"
#define WSETFILE_VERSION 2
#define WSETFILE_PAGE_SIZE 4096u
#define WSETFILE_MAX_RANGES (1u << 20)
/* Pages of the largest RAM a VM can have (CONFIG_MEM_MIB_MAX MiB): numbers fit in 9 digits. */
#define WSETFILE_MAX_PAGES (1u << 28)
/* The header with N at its largest, then each line at its longest (9 + 1 + 9 + 2 + 1). */
#define WSETFILE_MAX_SIZE (32u + 22u * WSETFILE_MAX_RANGES)

struct wset_range {
	uint32_t start; /* first page */
	uint32_t count; /* pages, >= 1 */
	bool written;   /* the guest wrote them: prefetched writable (MADV_POPULATE_WRITE) */
};

struct wsetfile {
	struct wset_range *ranges; /* malloc'd, nr entries */
	size_t nr;
	uint64_t pages; /* the sum of the counts */
	uint64_t written; /* ... of the written ranges */
};

/* Every function returning int gives 0 or -errno with a one-line reason in err: -EINVAL for
 * a refused file (naming its line), -EFBIG over WSETFILE_MAX_SIZE, -ENOMEM, or the errno of a
 * failed system call. */

/* Parses len bytes; every range must end at or below max_pages (<= WSETFILE_MAX_PAGES).
 * On success w holds the ranges (wsetfile_free); on failure w holds nothing to free. */
int wsetfile_parse(const char *buf, size_t len, uint64_t max_pages, struct wsetfile *w, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Reads a regular file (a FIFO neither blocks nor is read) of at most WSETFILE_MAX_SIZE
 * bytes and parses it with max_pages WSETFILE_MAX_PAGES: the RAM size is checked later,
 * against the snapshot's (wsetfile_check_pages). */
int wsetfile_read(const char *path, struct wsetfile *w, char *err, size_t errlen) __attribute__((warn_unused_result));
/* -EINVAL, naming the range and its line, if a range ends past ram_pages. */
int wsetfile_check_pages(const struct wsetfile *w, uint64_t ram_pages, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Formats nr ranges (sorted, not overlapping, counts >= 1, within WSETFILE_MAX_PAGES, nr <=
 * WSETFILE_MAX_RANGES: -EINVAL otherwise) into a new malloc'd buffer (*buf, *len). */
int wsetfile_format(const struct wset_range *r, size_t nr, char **buf, size_t *len, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Formats the ranges into a temporary file next to path (O_EXCL, mode 0600) and renames it
 * to path: a reader sees the old file or the whole new one. No fsync: a file torn by a crash
 * is refused by the parser (the header's N), and a working set is only an optimisation. */
int wsetfile_write(const char *path, const struct wset_range *r, size_t nr, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Releases the ranges; w is zeroed. A no-op on a zeroed w. */
void wsetfile_free(struct wsetfile *w);

#endif
