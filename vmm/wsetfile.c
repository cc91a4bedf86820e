/* Working-set files (wsetfile.h): the strict parser, the bound on RAM, the writer. Shared by
 * the VMM (--prefetch) and the recorder (cli/wset.c), so both agree on one format. */
#include "wsetfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "wholefile.h"

/* Numbers are at most 9 digits (WSETFILE_MAX_PAGES); one more is already too large, so
 * reading stops there and nothing can overflow. */
#define MAX_DIGITS 10

/* A decimal number at *p ended by term, or by ' ' too where alt_space (COUNT, which a " w"
 * may follow); the terminator is consumed, (*p)[-1] tells which. NULL on success, else what
 * is wrong with it. */
static const char *parse_num(const char **p, const char *end, char term, bool alt_space, uint64_t max,
			     uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0;

	while (s < end && *s >= '0' && *s <= '9' && n < MAX_DIGITS) {
		v = v * 10 + (uint64_t)(*s - '0');
		s++;
		n++;
	}
	if (n == 0)
		return "a decimal number was expected";
	if (n > 1 && **p == '0')
		return "a number has a leading zero";
	if (v > max || (s < end && *s >= '0' && *s <= '9'))
		return "a number is too large";
	if (s == end)
		return term == '\n' ? "the line does not end with a newline" : "the line ends early";
	if (*s != term && !(alt_space && *s == ' '))
		return term == '\n' ? "unexpected characters at the end of the line" : "fields must be separated by one space";
	*p = s + 1;
	*out = v;
	return NULL;
}

static int parse_header(const char **p, const char *end, uint64_t *version, uint64_t *nr, char *err, size_t errlen)
{
	static const char magic[] = WSETFILE_MAGIC " ";
	const char *why;

	if ((size_t)(end - *p) < sizeof(magic) - 1 || memcmp(*p, magic, sizeof(magic) - 1))
		return errorf(err, errlen, -EINVAL, "line 1: not a working-set file (no \"%s\" header)", WSETFILE_MAGIC);
	*p += sizeof(magic) - 1;
	if ((why = parse_num(p, end, ' ', false, UINT32_MAX, version)))
		return errorf(err, errlen, -EINVAL, "line 1: the format version: %s (expected \"%s %d N\")", why,
			      WSETFILE_MAGIC, WSETFILE_VERSION);
	if (*version != 1 && *version != WSETFILE_VERSION)
		return errorf(err, errlen, -EINVAL, "line 1: format version %llu is not supported (only 1 and %d)",
			      (unsigned long long)*version, WSETFILE_VERSION);
	if ((why = parse_num(p, end, '\n', false, UINT32_MAX, nr)))
		return errorf(err, errlen, -EINVAL, "line 1: the range count: %s (expected \"%s %d N\")", why,
			      WSETFILE_MAGIC, WSETFILE_VERSION);
	if (*nr > WSETFILE_MAX_RANGES)
		return errorf(err, errlen, -EINVAL, "line 1: %llu ranges, more than the %u allowed",
			      (unsigned long long)*nr, WSETFILE_MAX_RANGES);
	return 0;
}

int wsetfile_parse(const char *buf, size_t len, uint64_t max_pages, struct wsetfile *w, char *err, size_t errlen)
{
	const char *p = buf, *end = buf + len, *why;
	uint64_t version, nr, prev_end = 0, pages = 0, written = 0;
	struct wset_range *r;
	int e;

	memset(w, 0, sizeof(*w));
	if (max_pages > WSETFILE_MAX_PAGES)
		max_pages = WSETFILE_MAX_PAGES;
	if (len > WSETFILE_MAX_SIZE)
		return errorf(err, errlen, -EFBIG, "%zu bytes, more than the %u a working-set file may have", len,
			      WSETFILE_MAX_SIZE);
	e = parse_header(&p, end, &version, &nr, err, errlen);
	if (e)
		return e;
	/* Each range line takes at least 4 bytes ("0 1\n"): a count the file cannot hold is a
	 * truncated file, refused before allocating for it. */
	if ((uint64_t)(end - p) < nr * 4)
		return errorf(err, errlen, -EINVAL, "the header announces %llu ranges, the file is too short for them "
			      "(truncated?)", (unsigned long long)nr);
	r = malloc((nr ? nr : 1) * sizeof(*r));
	if (!r)
		return errorf(err, errlen, -ENOMEM, "out of memory");
	for (uint64_t i = 0; i < nr; i++) {
		unsigned long long line = i + 2;
		uint64_t start, count;
		bool w_field = false;

		if (p == end) {
			e = errorf(err, errlen, -EINVAL, "line %llu: the file ends after %llu of the %llu ranges announced "
				   "(truncated?)", line, (unsigned long long)i, (unsigned long long)nr);
			goto fail;
		}
		if ((why = parse_num(&p, end, ' ', false, UINT32_MAX, &start)) ||
		    (why = parse_num(&p, end, '\n', version > 1, UINT32_MAX, &count))) {
			e = errorf(err, errlen, -EINVAL, "line %llu: %s (expected \"START COUNT\"%s)", line, why,
				   version > 1 ? " or \"START COUNT w\"" : "");
			goto fail;
		}
		if (p[-1] == ' ') {
			/* Exactly "w\n": the only third field there is. */
			if (p == end || *p != 'w') {
				e = errorf(err, errlen, -EINVAL, "line %llu: the field after COUNT can only be \"w\" "
					   "(written)", line);
				goto fail;
			}
			p++;
			if (p == end || *p != '\n') {
				e = errorf(err, errlen, -EINVAL, "line %llu: %s", line,
					   p == end ? "the line does not end with a newline"
						    : "unexpected characters at the end of the line");
				goto fail;
			}
			p++;
			w_field = true;
		}
		if (count == 0) {
			e = errorf(err, errlen, -EINVAL, "line %llu: a range of 0 pages", line);
			goto fail;
		}
		if (i > 0 && start < prev_end) {
			e = errorf(err, errlen, -EINVAL, "line %llu: page %llu is before the end of the previous range "
				   "(page %llu): ranges must be sorted and must not overlap", line,
				   (unsigned long long)start, (unsigned long long)prev_end);
			goto fail;
		}
		if (start + count > max_pages) {
			e = errorf(err, errlen, -EINVAL, "line %llu: pages %llu-%llu are past the end of RAM (%llu pages)",
				   line, (unsigned long long)start, (unsigned long long)(start + count - 1),
				   (unsigned long long)max_pages);
			goto fail;
		}
		r[i] = (struct wset_range){ .start = (uint32_t)start, .count = (uint32_t)count, .written = w_field };
		prev_end = start + count;
		pages += count;
		written += w_field ? count : 0;
	}
	if (p != end) {
		e = errorf(err, errlen, -EINVAL, "line %llu: more lines than the %llu ranges announced",
			   (unsigned long long)nr + 2, (unsigned long long)nr);
		goto fail;
	}
	w->ranges = r;
	w->nr = nr;
	w->pages = pages;
	w->written = written;
	return 0;
fail:
	free(r);
	return e;
}

int wsetfile_read(const char *path, struct wsetfile *w, char *err, size_t errlen)
{
	void *buf;
	size_t len;
	int e;

	memset(w, 0, sizeof(*w));
	e = wholefile_read(path, "the working-set file", WSETFILE_MAX_SIZE, &buf, &len, err, errlen);
	if (e)
		return e;
	e = wsetfile_parse(buf, len, WSETFILE_MAX_PAGES, w, err, errlen);
	free(buf);
	if (e)
		errwrap(err, errlen, e, "%s", path);
	return e;
}

int wsetfile_check_pages(const struct wsetfile *w, uint64_t ram_pages, char *err, size_t errlen)
{
	const struct wset_range *last;

	/* Sorted: only the last range can reach furthest. */
	if (!w->nr)
		return 0;
	last = &w->ranges[w->nr - 1];
	if ((uint64_t)last->start + last->count <= ram_pages)
		return 0;
	return errorf(err, errlen, -EINVAL, "line %zu: pages %u-%llu are past the end of the snapshot's RAM (%llu pages)",
		      w->nr + 1, last->start, (unsigned long long)last->start + last->count - 1,
		      (unsigned long long)ram_pages);
}

int wsetfile_format(const struct wset_range *r, size_t nr, char **buf, size_t *len, char *err, size_t errlen)
{
	uint64_t prev_end = 0;
	size_t cap, n;
	char *b;

	*buf = NULL;
	*len = 0;
	if (nr > WSETFILE_MAX_RANGES)
		return errorf(err, errlen, -E2BIG, "%zu ranges, more than the %u a working-set file may have", nr,
			      WSETFILE_MAX_RANGES);
	for (size_t i = 0; i < nr; i++) {
		if (!r[i].count || (i && r[i].start < prev_end) ||
		    (uint64_t)r[i].start + r[i].count > WSETFILE_MAX_PAGES)
			return errorf(err, errlen, -EINVAL, "range %zu (pages %u+%u) is empty, out of order or too far",
				      i, r[i].start, r[i].count);
		prev_end = (uint64_t)r[i].start + r[i].count;
	}
	cap = 32 + 22 * nr + 1; /* + 1: snprintf's NUL */
	b = malloc(cap);
	if (!b)
		return errorf(err, errlen, -ENOMEM, "out of memory");
	n = (size_t)snprintf(b, cap, "%s %d %zu\n", WSETFILE_MAGIC, WSETFILE_VERSION, nr);
	for (size_t i = 0; i < nr; i++)
		n += (size_t)snprintf(b + n, cap - n, "%u %u%s\n", r[i].start, r[i].count, r[i].written ? " w" : "");
	*buf = b;
	*len = n;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int wsetfile_write(const char *path, const struct wset_range *r, size_t nr, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char tmp[PATH_MAX], *buf;
	size_t len;
	int fd, e;

	if (!path[0] || (slash && !slash[1]))
		return errorf(err, errlen, -EINVAL, "'%s' is not a file path", path);
	/* .NAME.tmp-XXXXXX next to path: same file system, so the rename is atomic. */
	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp-XXXXXX", slash ? (int)(slash - path + 1) : 0, path,
		     slash ? slash + 1 : path) >= (int)sizeof(tmp))
		return errorf(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
	e = wsetfile_format(r, nr, &buf, &len, err, errlen);
	if (e)
		return e;
	fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT | O_EXCL, mode 0600 */
	if (fd < 0) {
		e = errno;
		free(buf);
		return errorf_errno(err, errlen, e, "cannot create a temporary file next to %s", path);
	}
	e = write_all(fd, buf, len);
	free(buf);
	if (e) {
		close(fd);
		errorf_errno(err, errlen, -e, "cannot write %s", tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		e = -errno;
		errorf_errno(err, errlen, -e, "cannot write %s", tmp);
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		e = -errno;
		errorf_errno(err, errlen, -e, "cannot rename %s to %s", tmp, path);
		goto fail;
	}
	return 0;
fail:
	unlink(tmp);
	return e;
}

void wsetfile_free(struct wsetfile *w)
{
	free(w->ranges);
	memset(w, 0, sizeof(*w));
}
