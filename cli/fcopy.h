/* Copies of disk images for `kindling run --scratch`: each instance writes its own copy of
 * the scratch disk, and a snapshot keeps a copy of it as it was. The copies are cheap:
 * a reflink (FICLONE) where the filesystem shares extents, else only the data (holes stay
 * holes, found with SEEK_DATA/SEEK_HOLE). */
#ifndef KINDLING_FCOPY_H
#define KINDLING_FCOPY_H

#include <stddef.h>
#include <stdint.h>

enum fcopy_how {
	FCOPY_REFLINK, /* the copy shares the source's extents */
	FCOPY_SPARSE,  /* data copied, holes kept */
};

/* Copies src to dst, a new file (mode 0600, created exclusively: an existing dst is an
 * error). On failure dst is removed. *how and *copied (bytes of data copied, 0 for a
 * reflink) when not NULL. 0, or -errno with the reason in err. */
int fcopy(const char *src, const char *dst, enum fcopy_how *how, uint64_t *copied, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
