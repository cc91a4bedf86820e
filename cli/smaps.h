/* `kindling run --clones`: what a restored VMM costs in memory, from /proc/PID/smaps (smaps.c).
 * Guest RAM is the VMM's MAP_PRIVATE mapping of the snapshot's memory file: its pages the
 * guest only read are the file's, in the page cache, shared by every clone; those it wrote
 * are the clone's own (Private_Dirty). Everything else is the VMM's own. Runs in the runner. */
#ifndef KINDLING_SMAPS_H
#define KINDLING_SMAPS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The memory file, as /proc/PID/maps and smaps name it: device and inode (the device as maps
 * shows it can differ from stat's on overlay filesystems and btrfs subvolumes: then the
 * canonical path, when known, decides). */
struct smaps_file {
	unsigned maj, min;
	uint64_t ino;
	char path[PATH_MAX]; /* "": match by device and inode alone */
	/* The guest RAM it holds (the file less its trailer; 0: unknown). A restore maps the
	 * snapshot's zero ranges (its hole table, its zero end) anonymous over the file's
	 * mapping: the anonymous mappings inside [file offset 0, ram_size) are guest RAM too. */
	uint64_t ram_size;
};

struct smaps_density {
	uint64_t vmm_rss_kib;             /* Rss of every mapping but guest RAM's */
	uint64_t guest_rss_kib;           /* Rss of guest RAM's mappings */
	uint64_t guest_pss_kib;           /* their Pss: shared pages divided among their users */
	uint64_t guest_private_dirty_kib; /* their Anonymous pages: the copies this clone wrote */
	int guest_mappings;               /* how many mappings of the file there were */
	int guest_anon_mappings;          /* and anonymous ones inside guest RAM (its zero ranges) */
};

/* Fills f from stat(path) and realpath(path) (no path when that fails). 0 or -errno. */
int smaps_file_id(const char *path, struct smaps_file *f) __attribute__((warn_unused_result));

/* A mapping's first line in /proc/PID/maps or smaps, "START-END PERMS OFFSET MAJ:MIN INODE
 * [PATH]": 1 when it maps f, 0 when it maps something else, -1 when line is not one (an
 * smaps field line: "Rss:   4 kB"). start, end and offset (bytes) unless -1. */
int smaps_mapping(const char *line, const struct smaps_file *f, uint64_t *start, uint64_t *end, uint64_t *offset);

/* The file pages mapped with huge pages (ShmemPmdMapped + FilePmdMapped) in an smaps or
 * smaps_rollup file, in KiB; 0 when it cannot be read. */
uint64_t smaps_pmd_mapped_kib(const char *path);

/* Sums smaps_path (a /proc/PID/smaps, or a copy of one) into d: guest RAM is f's mappings
 * and, with f->ram_size, the anonymous ones between where f's offset 0 is mapped and
 * ram_size after it (what the guest wrote there is the clone's own, as in f's). 0, or -errno with the reason
 * in err; a file without any mapping of f is -ENOENT (this is not a restored VMM). */
int smaps_density_read(const char *smaps_path, const struct smaps_file *f, struct smaps_density *d, char *err,
		       size_t errlen) __attribute__((warn_unused_result));

#endif
