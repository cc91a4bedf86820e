/* Reading a small file whole (a snapshot's state file, a working-set file): only a regular
 * file, bounded in size before anything is allocated. */
#ifndef KINDLING_WHOLEFILE_H
#define KINDLING_WHOLEFILE_H

#include <stddef.h>

/* Reads path, a regular file of at most max bytes, into a malloc'd *buf (*len bytes; fewer
 * than its size if it shrank meanwhile). what names it in messages ("the state file").
 * What is plainly not a regular file is refused without being opened (opening some devices
 * acts on them), and what was opened is checked again; a FIFO cannot block the open.
 * 0, or -errno with the reason in err: -EINVAL not a regular file, -EFBIG over max. */
int wholefile_read(const char *path, const char *what, size_t max, void **buf, size_t *len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
