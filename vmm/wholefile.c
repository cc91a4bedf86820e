/* Reading a small file whole: see wholefile.h. */
#include "wholefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int wholefile_read(const char *path, const char *what, size_t max, void **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	size_t size, got = 0;
	char *buf;
	int fd, r = 0;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return errorf(err, errlen, -EINVAL, "%s %s is not a regular file", what, path);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errorf_errno(err, errlen, errno, "cannot open %s %s", what, path);
	if (fstat(fd, &st) < 0)
		r = errorf_errno(err, errlen, errno, "cannot stat %s %s", what, path);
	else if (!S_ISREG(st.st_mode))
		r = errorf(err, errlen, -EINVAL, "%s %s is not a regular file", what, path);
	else if ((uint64_t)st.st_size > max)
		r = errorf(err, errlen, -EFBIG, "%s %s is %llu bytes, over the limit of %zu", what, path,
			   (unsigned long long)st.st_size, max);
	if (r) {
		close(fd);
		return r;
	}
	size = (size_t)st.st_size;
	buf = malloc(size ? size : 1);
	if (!buf) {
		close(fd);
		return errorf(err, errlen, -ENOMEM, "out of memory");
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errorf_errno(err, errlen, errno, "cannot read %s %s", what, path);
			close(fd);
			free(buf);
			return r;
		}
		if (n == 0)
			break; /* shrank while being read: its own checks say so */
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}
