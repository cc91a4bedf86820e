/* `kindling run --clones`: what a restored VMM costs in memory, from /proc/PID/smaps (smaps.c).
 * Guest RAM is the VMM's MAP_PRIVATE mapping of the snapshot's memory file: its pages the
 * guest only read are the file's, in the page cache, shared by every clone; those it wrote
 * are the clone's own (Private_Dirty). Everything else is the VMM's own. Runs in the runner. */
#ifndef KINDLING_SMAPS_H
#define KINDLING_SMAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The memory file, as /proc/PID/smaps names it: device and inode (the device as maps shows
 * it can differ from stat's on overlay filesystems: then the path, when given, decides). */
struct smaps_file {
	unsigned maj, min;
	uint64_t ino;
	const char *path; /* NULL: match by device and inode alone */
};

struct smaps_density {
	uint64_t vmm_rss_kib;             /* Rss of every mapping but guest RAM's */
	uint64_t guest_rss_kib;           /* Rss of guest RAM's mappings */
	uint64_t guest_pss_kib;           /* their Pss: shared pages divided among their users */
	uint64_t guest_private_dirty_kib; /* their Private_Dirty: the pages this clone wrote */
	int guest_mappings;               /* how many mappings of the file there were */
};

/* Fills f from stat(path). 0 or -errno. */
int smaps_file_id(const char *path, struct smaps_file *f) __attribute__((warn_unused_result));

/* Sums smaps_path (a /proc/PID/smaps, or a copy of one) into d. 0, or -errno with the reason
 * in err; a file without any mapping of f is -ENOENT (this is not a restored VMM). */
int smaps_density_read(const char *smaps_path, const struct smaps_file *f, struct smaps_density *d, char *err,
		       size_t errlen) __attribute__((warn_unused_result));

#endif
