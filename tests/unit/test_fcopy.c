/* cli/fcopy.c: copies of sparse disk images keep their data and their holes; an existing
 * destination or a missing source is refused and leaves nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cli/fcopy.h"
#include "test.h"

#define MIB (1u << 20)

/* Writes len bytes of byte c at off. */
static int put(int fd, off_t off, int c, size_t len)
{
	char buf[8192];

	memset(buf, c, sizeof(buf));
	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		if (pwrite(fd, buf, n, off) != (ssize_t)n)
			return -1;
		off += (off_t)n;
		len -= n;
	}
	return 0;
}

static int same(const char *a, const char *b)
{
	FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
	int ca, cb, r = -1;

	if (fa && fb) {
		do {
			ca = getc(fa);
			cb = getc(fb);
		} while (ca == cb && ca != EOF);
		r = ca == cb ? 0 : -1;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return r;
}

TEST(fcopy_sparse_image)
{
	char dir[] = "/tmp/kindling-fcopy-XXXXXX", src[64], dst[64], err[256];
	enum fcopy_how how;
	uint64_t copied = 0;
	struct stat st;
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	fd = open(src, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	/* 64 MiB with data at the start, in the middle and just before the end. */
	CHECK(ftruncate(fd, 64 * MIB) == 0);
	CHECK(put(fd, 0, 'a', 8192) == 0 && put(fd, 32 * MIB + 4096, 'b', 100000) == 0 &&
	      put(fd, 64 * MIB - 4096, 'c', 4096) == 0);
	close(fd);
	CHECK(fcopy(src, dst, &how, &copied, err, sizeof(err)) == 0);
	CHECK(same(src, dst) == 0);
	CHECK(stat(dst, &st) == 0 && st.st_size == 64 * MIB && (st.st_mode & 0777) == 0600);
	if (how == FCOPY_SPARSE) {
		/* Only the data (rounded to the filesystem's blocks) was written. */
		CHECK(copied >= 8192 + 100000 + 4096 && copied < 2 * MIB);
		CHECK((uint64_t)st.st_blocks * 512 < 4 * MIB);
	}
	/* An existing destination is refused and kept. */
	CHECK(fcopy(src, dst, NULL, NULL, err, sizeof(err)) == -EEXIST && strstr(err, dst));
	CHECK(same(src, dst) == 0);
	unlink(dst);
	/* A missing source: refused, no destination left. */
	unlink(src);
	CHECK(fcopy(src, dst, NULL, NULL, err, sizeof(err)) == -ENOENT && strstr(err, src));
	CHECK(access(dst, F_OK) < 0);
	/* A directory is not an image. */
	CHECK(fcopy(dir, dst, NULL, NULL, err, sizeof(err)) == -EINVAL && access(dst, F_OK) < 0);
	CHECK(rmdir(dir) == 0);
}

TEST(fcopy_empty_and_all_hole)
{
	char dir[] = "/tmp/kindling-fcopy-XXXXXX", src[64], dst[64], err[256];
	uint64_t copied = 1;
	struct stat st;
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	fd = open(src, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0 && ftruncate(fd, 16 * MIB) == 0);
	close(fd);
	CHECK(fcopy(src, dst, NULL, &copied, err, sizeof(err)) == 0);
	CHECK(stat(dst, &st) == 0 && st.st_size == 16 * MIB && copied == 0);
	CHECK(same(src, dst) == 0);
	unlink(dst);
	CHECK(truncate(src, 0) == 0);
	CHECK(fcopy(src, dst, NULL, NULL, err, sizeof(err)) == 0);
	CHECK(stat(dst, &st) == 0 && st.st_size == 0);
	unlink(dst);
	unlink(src);
	CHECK(rmdir(dir) == 0);
}
