/* Cheap copies of disk images: see fcopy.h. */
#include "fcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Copies [off, end) of in to the same offsets of out. */
static int copy_range(int in, int out, off_t off, off_t end)
{
	while (off < end) {
		off_t from = off, to = off;
		ssize_t n = copy_file_range(in, &from, out, &to, (size_t)(end - off), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the source shrank under us */
		off += n;
	}
	return 0;
}

/* The data extents of in, copied; the holes between them left as holes. */
static int copy_data(int in, int out, off_t size, uint64_t *copied)
{
	off_t off = 0;
	int r;

	while (off < size) {
		off_t data = lseek(in, off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break; /* only a hole from here on */
		if (data < 0)
			return -errno;
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if (hole > size)
			hole = size;
		r = copy_range(in, out, data, hole);
		if (r)
			return r;
		*copied += (uint64_t)(hole - data);
		off = hole;
	}
	return 0;
}

int fcopy(const char *src, const char *dst, enum fcopy_how *how, uint64_t *copied, char *err, size_t errlen)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
	uint64_t n = 0;
	struct stat st;
	bool reflinked = false;

	if (in < 0)
		return errorf_errno(err, errlen, errno, "cannot open %s", src);
	if (fstat(in, &st) < 0) {
		r = errorf_errno(err, errlen, errno, "cannot stat %s", src);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = errorf(err, errlen, -EINVAL, "%s is not a regular file", src);
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0) {
		r = errorf_errno(err, errlen, errno, "cannot create %s", dst);
		goto out;
	}
	reflinked = ioctl(out, FICLONE, in) == 0;
	if (!reflinked) {
		r = copy_data(in, out, st.st_size, &n);
		if (!r && ftruncate(out, st.st_size) < 0)
			r = -errno;
		if (r) {
			errorf(err, errlen, r, "cannot copy %s to %s: %s", src, dst, strerror(-r));
			unlink(dst);
			goto out;
		}
	}
	if (how)
		*how = reflinked ? FCOPY_REFLINK : FCOPY_SPARSE;
	if (copied)
		*copied = n;
out:
	if (out >= 0)
		close(out);
	close(in);
	return r;
}
