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
	uint8_t diff;      /* only the pages written since parent: not loadable alone */
	uint8_t pad[7];
	uint8_t parent[16];
	/* RAM from here on is all zero (page aligned; 0: unknown, as in files from before this
	 * field): a restore maps that part as anonymous memory (mem_map_fd). A diff: the end
	 * of its last page. */
	uint64_t data_end;
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

static bool page_set(const uint64_t *bitmap, size_t i)
{
	return bitmap[i / 64] & (1ull << (i % 64));
}

/* The largest runs of zero pages seen so far, in no order. */
struct hole_table {
	struct mem_range *r;
	uint32_t max, nr;
};

/* Pages [first, end) are zero: kept if the run is worth a mapping of its own on restore and
 * among the max largest. The table is small (SNAPFILE_MAX_HOLES): a linear search for the
 * smallest is cheaper than the scan of RAM that finds the runs. */
static void hole_note(struct hole_table *t, size_t first, size_t end)
{
	struct mem_range h = { (uint64_t)first * PAGE, (uint64_t)(end - first) * PAGE };
	uint32_t min = 0;

	if (!t->max || h.len < MEM_ZERO_MIN)
		return;
	if (t->nr < t->max) {
		t->r[t->nr++] = h;
		return;
	}
	for (uint32_t i = 1; i < t->nr; i++) {
		if (t->r[i].len < t->r[min].len)
			min = i;
	}
	if (h.len > t->r[min].len)
		t->r[min] = h;
}

static int hole_cmp(const void *a, const void *b)
{
	const struct mem_range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* RAM in runs of pages to write, each with one pwrite: the non-zero pages (full), or the
 * dirty ones (diff); the others stay holes. *end: the end of the last page written. A full
 * one also notes its runs of zero pages in holes, but for the run at the end of RAM, which
 * the trailer's data end already gives (unless it is all of RAM). */
static int write_ram(int fd, const struct guest_mem *m, const uint64_t *dirty, uint64_t *end,
		     struct hole_table *holes)
{
	const uint8_t *ram = m->map;
	size_t pages = m->ram_size / PAGE, run = 0, zrun = 0;

	for (size_t i = 0; i <= pages; i++) {
		if (i < pages && (dirty ? page_set(dirty, i) : !page_zero(ram + i * PAGE))) {
			if (zrun)
				hole_note(holes, i - zrun, i);
			zrun = 0;
			run++;
			continue;
		}
		if (i < pages && !dirty)
			zrun++;
		else if (zrun == pages)
			hole_note(holes, 0, pages);
		if (run) {
			size_t first = i - run;
			int r = write_at(fd, ram + first * PAGE, run * PAGE, (off_t)(first * PAGE));

			if (r)
				return r;
			*end = (uint64_t)i * PAGE;
			run = 0;
		}
	}
	return 0;
}

int snapmem_write(const char *path, const struct guest_mem *m, const uint64_t *dirty, const uint8_t id[16],
		  const uint8_t parent[16], bool sync, struct mem_range *holes, uint32_t max_holes, uint32_t *nr_holes,
		  char *err, size_t errlen)
{
	struct trailer t = { .ram_size = m->ram_size, .diff = dirty != NULL };
	/* A diff's own holes are pages it did not write, not zeros. */
	struct hole_table ht = { holes, dirty || !nr_holes ? 0 : max_holes, 0 };
	char tmp[4200];
	int fd, r, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
		return errorf(err, errlen, -ENAMETOOLONG, "memory file %s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return errorf_errno(err, errlen, errno, "memory file %s", path);
	memcpy(t.magic, SNAPMEM_MAGIC, sizeof(t.magic));
	memcpy(t.id, id, sizeof(t.id));
	if (parent)
		memcpy(t.parent, parent, sizeof(t.parent));
	/* The length first, so that every page not written is a hole. */
	if (ftruncate(fd, (off_t)(m->ram_size + SNAPMEM_TRAILER_SIZE)) < 0) {
		r = -errno;
		goto fail;
	}
	r = write_ram(fd, m, dirty, &t.data_end, &ht);
	if (ht.nr)
		qsort(ht.r, ht.nr, sizeof(*ht.r), hole_cmp);
	if (nr_holes)
		*nr_holes = ht.nr;
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

int snapmem_open(const char *path, uint64_t ram_size, const uint8_t id[16], uint64_t *zero_from, char *err,
		 size_t errlen)
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
	if (t.diff) {
		close(fd);
		return errorf(err, errlen, -EINVAL,
			      "memory file %s is a diff: merge it into its base first (kindling snapshot merge BASE DIFF)", path);
	}
	if (t.data_end % PAGE || t.data_end > ram_size) {
		close(fd);
		return errorf(err, errlen, -EINVAL, "memory file %s: its trailer is damaged (data end %llu)", path,
			      (unsigned long long)t.data_end);
	}
	if (zero_from)
		*zero_from = t.data_end;
	return fd;
}

/* Opens a memory file and reads its trailer (any RAM size). */
static int open_with_trailer(const char *path, int flags, struct trailer *t, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return errorf_errno(err, errlen, errno, "%s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)SNAPMEM_TRAILER_SIZE ||
	    pread(fd, t, sizeof(*t), st.st_size - SNAPMEM_TRAILER_SIZE) != (ssize_t)sizeof(*t) ||
	    memcmp(t->magic, SNAPMEM_MAGIC, sizeof(t->magic)) ||
	    t->ram_size != (uint64_t)st.st_size - SNAPMEM_TRAILER_SIZE) {
		close(fd);
		return errorf(err, errlen, -EINVAL, "%s: not a kindling memory file", path);
	}
	return fd;
}

int snapmem_merge(const char *base, const char *diff, char *err, size_t errlen)
{
	struct trailer tb, td;
	uint8_t *buf = NULL;
	int fb, fd, r = 0;
	off_t pos = 0, end;

	fb = open_with_trailer(base, O_RDWR, &tb, err, errlen);
	if (fb < 0)
		return fb;
	fd = open_with_trailer(diff, O_RDONLY, &td, err, errlen);
	if (fd < 0) {
		close(fb);
		return fd;
	}
	if (!td.diff)
		r = errorf(err, errlen, -EINVAL, "%s is not a diff snapshot's memory file", diff);
	else if (td.ram_size != tb.ram_size)
		r = errorf(err, errlen, -EINVAL, "%s and %s are memory files of different sizes", base, diff);
	else if (memcmp(td.parent, tb.id, sizeof(tb.id)))
		r = errorf(err, errlen, -EINVAL, "%s was not taken on top of %s", diff, base);
	buf = r ? NULL : malloc(1 << 20);
	if (!r && !buf)
		r = errorf(err, errlen, -ENOMEM, "out of memory");
	end = (off_t)td.ram_size;
	/* The diff's data extents are its pages; its holes are pages it did not write. */
	while (!r && pos < end) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0 || data >= end)
			break; /* ENXIO: no more data */
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		for (pos = data; !r && pos < hole;) {
			size_t n = hole - pos < (1 << 20) ? (size_t)(hole - pos) : (size_t)1 << 20;
			ssize_t k = pread(fd, buf, n, pos);

			if (k <= 0)
				r = errorf_errno(err, errlen, k < 0 ? errno : EIO, "%s", diff);
			else if ((r = write_at(fb, buf, (size_t)k, pos)))
				errorf(err, errlen, r, "%s: %s", base, strerror(-r));
			else
				pos += k;
		}
	}
	if (!r) {
		/* Base is now the diff's snapshot, whole: zero from where neither wrote (unknown if
		 * base did not say). */
		if (!tb.data_end)
			td.data_end = 0;
		else if (tb.data_end > td.data_end)
			td.data_end = tb.data_end;
		td.diff = 0;
		memset(td.parent, 0, sizeof(td.parent));
		r = write_at(fb, (const uint8_t *)&td, sizeof(td), (off_t)td.ram_size);
		if (r)
			errorf(err, errlen, r, "%s: %s", base, strerror(-r));
	}
	if (!r && fsync(fb) < 0)
		r = errorf_errno(err, errlen, errno, "%s", base);
	free(buf);
	close(fd);
	close(fb);
	return r;
}
