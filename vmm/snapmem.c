/* Snapshot memory files (snapmem.h). */
#include "snapmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define PAGE 4096u

struct trailer {
	char magic[16];
	uint8_t id[16];
	uint64_t ram_size; /* little-endian, as the host */
};
_Static_assert(sizeof(struct trailer) <= SNAPMEM_TRAILER_SIZE, "the trailer fits its page");

static bool page_zero(const uint8_t *p)
{
	static const uint8_t zero[PAGE];

	return memcmp(p, zero, PAGE) == 0;
}

/* Writes [off, off+len) of RAM to fd at off, retrying short writes. */
static int write_at(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* RAM in runs of non-zero pages, each written with one pwrite: zero pages stay holes. */
static int write_ram(int fd, const struct guest_mem *m)
{
	const uint8_t *ram = m->map;
	size_t pages = m->ram_size / PAGE, run = 0;

	for (size_t i = 0; i <= pages; i++) {
		if (i < pages && !page_zero(ram + i * PAGE)) {
			run++;
			continue;
		}
		if (run) {
			size_t first = i - run;
			int r = write_at(fd, ram + first * PAGE, run * PAGE, (off_t)(first * PAGE));

			if (r)
				return r;
			run = 0;
		}
	}
	return 0;
}

int snapmem_write(const char *path, const struct guest_mem *m, const uint8_t id[16], bool sync, char *err,
		  size_t errlen)
{
	struct trailer t = { .ram_size = m->ram_size };
	char tmp[4200];
	int fd, r, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
		return errorf(err, errlen, -ENAMETOOLONG, "memory file %s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return errorf_errno(err, errlen, errno, "memory file %s", path);
	memcpy(t.magic, SNAPMEM_MAGIC, sizeof(t.magic));
	memcpy(t.id, id, sizeof(t.id));
	/* The length first, so that every page not written is a hole. */
	if (ftruncate(fd, (off_t)(m->ram_size + SNAPMEM_TRAILER_SIZE)) < 0) {
		r = -errno;
		goto fail;
	}
	r = write_ram(fd, m);
	if (!r)
		r = write_at(fd, (const uint8_t *)&t, sizeof(t), (off_t)m->ram_size);
	if (!r && sync && fsync(fd) < 0)
		r = -errno;
	if (r)
		goto fail;
	if (close(fd) < 0) {
		e = errno;
		unlink(tmp);
		return errorf_errno(err, errlen, e, "memory file %s", path);
	}
	if (rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		return errorf_errno(err, errlen, e, "memory file %s", path);
	}
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return errorf(err, errlen, r, "memory file %s: %s", path, strerror(-r));
}

int snapmem_write_pages(int fd, const struct guest_mem *m, const uint64_t *bitmap, char *err, size_t errlen)
{
	size_t pages = m->ram_size / PAGE;

	for (size_t i = 0; i < pages; i++) {
		size_t run = 0;
		int r;

		while (i + run < pages && bitmap[(i + run) / 64] & (1ull << ((i + run) % 64)))
			run++;
		if (!run)
			continue;
		r = write_at(fd, m->map + i * PAGE, run * PAGE, (off_t)(i * PAGE));
		if (r)
			return errorf(err, errlen, r, "memory file: %s", strerror(-r));
		i += run;
	}
	return 0;
}

int snapmem_open(const char *path, uint64_t ram_size, const uint8_t id[16], char *err, size_t errlen)
{
	struct trailer t;
	struct stat st;
	ssize_t n;
	int fd, e;

	/* O_NONBLOCK: a FIFO must not block the open; it is refused below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errorf_errno(err, errlen, errno, "memory file %s", path);
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		return errorf_errno(err, errlen, e, "memory file %s", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return errorf(err, errlen, -EINVAL, "memory file %s: not a regular file", path);
	}
	if ((uint64_t)st.st_size != ram_size + SNAPMEM_TRAILER_SIZE) {
		close(fd);
		return errorf(err, errlen, -EINVAL, "memory file %s: %lld bytes, the snapshot's RAM needs %llu", path,
			      (long long)st.st_size, (unsigned long long)(ram_size + SNAPMEM_TRAILER_SIZE));
	}
	n = pread(fd, &t, sizeof(t), (off_t)ram_size);
	if (n != (ssize_t)sizeof(t)) {
		e = n < 0 ? errno : EIO;
		close(fd);
		return errorf_errno(err, errlen, e, "memory file %s: reading its trailer", path);
	}
	if (memcmp(t.magic, SNAPMEM_MAGIC, sizeof(t.magic)) || t.ram_size != ram_size) {
		close(fd);
		return errorf(err, errlen, -EINVAL, "memory file %s: not a kindling memory file", path);
	}
	if (memcmp(t.id, id, sizeof(t.id))) {
		close(fd);
		return errorf(err, errlen, -EINVAL, "memory file %s belongs to another snapshot", path);
	}
	return fd;
}
