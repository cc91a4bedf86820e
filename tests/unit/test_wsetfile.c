/* Working-set files (vmm/wsetfile.c): what the strict parser accepts, every refusal with the
 * line it names, and the writer's output read back. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "wsetfile.h"

static int parse(const char *s, uint64_t max_pages, struct wsetfile *w, char *err, size_t errlen)
{
	return wsetfile_parse(s, strlen(s), max_pages, w, err, errlen);
}

TEST(wsetfile_parses_good_files)
{
	struct wsetfile w;
	char err[256];

	CHECK(parse("KINDLING-WSET 2 0\n", 100, &w, err, sizeof(err)) == 0);
	CHECK(w.nr == 0 && w.pages == 0);
	wsetfile_free(&w);
	CHECK(parse("KINDLING-WSET 2 3\n0 1\n1 4\n10 90\n", 100, &w, err, sizeof(err)) == 0);
	CHECK(w.nr == 3 && w.pages == 95);
	CHECK(w.ranges[0].start == 0 && w.ranges[0].count == 1);
	CHECK(w.ranges[1].start == 1 && w.ranges[1].count == 4); /* adjacent to the previous: fine */
	CHECK(w.ranges[2].start == 10 && w.ranges[2].count == 90); /* ends exactly at the RAM's end */
	wsetfile_free(&w);
	CHECK(w.ranges == NULL && w.nr == 0);
	wsetfile_free(&w); /* twice: a no-op */
	/* The largest RAM's last page. */
	CHECK(parse("KINDLING-WSET 2 1\n268435455 1\n", WSETFILE_MAX_PAGES, &w, err, sizeof(err)) == 0);
	wsetfile_free(&w);
	/* Written ranges, between, next to and touching read ones. */
	CHECK(parse("KINDLING-WSET 2 5\n0 2 w\n2 3\n5 1 w\n7 1 w\n8 92\n", 100, &w, err, sizeof(err)) == 0);
	CHECK(w.nr == 5 && w.pages == 99 && w.written == 4);
	CHECK(w.ranges[0].start == 0 && w.ranges[0].count == 2 && w.ranges[0].written);
	CHECK(w.ranges[1].start == 2 && w.ranges[1].count == 3 && !w.ranges[1].written);
	CHECK(w.ranges[2].start == 5 && w.ranges[2].written && w.ranges[3].start == 7 && w.ranges[3].written);
	CHECK(w.ranges[4].start == 8 && w.ranges[4].count == 92 && !w.ranges[4].written);
	wsetfile_free(&w);
	CHECK(parse("KINDLING-WSET 2 1\n268435455 1 w\n", WSETFILE_MAX_PAGES, &w, err, sizeof(err)) == 0);
	CHECK(w.written == 1);
	wsetfile_free(&w);
}

/* Version 1 files, from recorders before the written field: still read, every range read. */
TEST(wsetfile_reads_version_1)
{
	struct wsetfile w;
	char err[256];

	CHECK(parse("KINDLING-WSET 1 0\n", 100, &w, err, sizeof(err)) == 0);
	CHECK(w.nr == 0 && w.pages == 0 && w.written == 0);
	wsetfile_free(&w);
	CHECK(parse("KINDLING-WSET 1 3\n0 1\n1 4\n10 90\n", 100, &w, err, sizeof(err)) == 0);
	CHECK(w.nr == 3 && w.pages == 95 && w.written == 0);
	CHECK(!w.ranges[0].written && !w.ranges[1].written && !w.ranges[2].written);
	CHECK(w.ranges[2].start == 10 && w.ranges[2].count == 90);
	wsetfile_free(&w);
}

/* Each refused text with a piece of the message it must give. */
static const struct {
	const char *text, *why;
	size_t len; /* 0: strlen(text) */
} bad[] = {
	{ "", "line 1: not a working-set file", 0 },
	{ "KINDLING-WSET", "line 1: not a working-set file", 0 },
	{ "kindling-wset 1 0\n", "line 1: not a working-set file", 0 },
	{ "KINDLING-WSET 3 0\n", "line 1: format version 3 is not supported (only 1 and 2)", 0 },
	{ "KINDLING-WSET 0 0\n", "line 1: format version 0 is not supported", 0 },
	{ "KINDLING-WSET 02 0\n", "line 1: the format version: a number has a leading zero", 0 },
	{ "KINDLING-WSET 2\n", "line 1: the format version: fields must be separated", 0 },
	{ "KINDLING-WSET 2 0", "line 1: the range count: the line does not end with a newline", 0 },
	{ "KINDLING-WSET 2 0 \n", "line 1: the range count: unexpected characters", 0 },
	{ "KINDLING-WSET 2 0\r\n", "line 1: the range count: unexpected characters", 0 },
	{ "KINDLING-WSET 2 -1\n", "line 1: the range count: a decimal number was expected", 0 },
	{ "KINDLING-WSET 2 1048577\n", "line 1: 1048577 ranges, more than the 1048576 allowed", 0 },
	{ "KINDLING-WSET 2 99999999999\n", "line 1: the range count: a number is too large", 0 },
	{ "KINDLING-WSET 2 2\n0 1\n", "the file is too short for them", 0 },
	{ "KINDLING-WSET 2 3\n10 10\n20 10\n", "line 4: the file ends after 2 of the 3 ranges", 0 },
	{ "KINDLING-WSET 2 1\n0 1\n5 1\n", "line 3: more lines than the 1 ranges announced", 0 },
	{ "KINDLING-WSET 2 1\n0 1\n\n", "line 3: more lines than the 1 ranges announced", 0 },
	{ "KINDLING-WSET 2 1\n10 1", "line 2: the line does not end with a newline", 0 },
	{ "KINDLING-WSET 2 1\n0  1\n", "line 2: a decimal number was expected", 0 },
	{ "KINDLING-WSET 2 1\n0\t1\n", "line 2: fields must be separated by one space", 0 },
	{ "KINDLING-WSET 2 1\n 0 1\n", "line 2: a decimal number was expected", 0 },
	/* The written field: exactly " w" before the newline. */
	{ "KINDLING-WSET 2 1\n0 1 \n", "line 2: the field after COUNT can only be \"w\" (written)", 0 },
	{ "KINDLING-WSET 2 1\n0 1 x\n", "line 2: the field after COUNT can only be \"w\"", 0 },
	{ "KINDLING-WSET 2 1\n0 1 W\n", "line 2: the field after COUNT can only be \"w\"", 0 },
	{ "KINDLING-WSET 2 1\n0 1  w\n", "line 2: the field after COUNT can only be \"w\"", 0 },
	{ "KINDLING-WSET 2 1\n0 1 w extra\n", "line 2: unexpected characters at the end of the line", 0 },
	{ "KINDLING-WSET 2 1\n0 1 w \n", "line 2: unexpected characters at the end of the line", 0 },
	{ "KINDLING-WSET 2 1\n0 1 ww\n", "line 2: unexpected characters at the end of the line", 0 },
	{ "KINDLING-WSET 2 1\n0 1 w\r\n", "line 2: unexpected characters at the end of the line", 0 },
	{ "KINDLING-WSET 2 1\n0 1 w", "line 2: the line does not end with a newline", 0 },
	{ "KINDLING-WSET 2 1\n0 1 ", "line 2: the field after COUNT can only be \"w\"", 0 },
	{ "KINDLING-WSET 2 1\n0 w\n", "line 2: a decimal number was expected", 0 },
	{ "KINDLING-WSET 2 1\n0 0 w\n", "line 2: a range of 0 pages", 0 },
	{ "KINDLING-WSET 2 1\n99 2 w\n", "line 2: pages 99-100 are past the end of RAM", 0 },
	/* One order for both kinds: a written range may not overlap a read one. */
	{ "KINDLING-WSET 2 2\n5 5\n9 1 w\n", "line 3: page 9 is before the end of the previous range (page 10)", 0 },
	{ "KINDLING-WSET 2 2\n5 5 w\n9 1\n", "line 3: page 9 is before the end of the previous range", 0 },
	{ "KINDLING-WSET 2 2\n5 1 w\n5 1\n", "line 3: page 5 is before the end of the previous range", 0 },
	/* Version 1 has no written field. */
	{ "KINDLING-WSET 1 1\n0 1 w\n", "line 2: unexpected characters at the end of the line", 0 },
	{ "KINDLING-WSET 1 2\n5 5\n9 1\n", "line 3: page 9 is before the end of the previous range", 0 },
	{ "KINDLING-WSET 2 1\n0 1\r\n", "line 2: unexpected characters at the end of the line", 0 },
	{ "KINDLING-WSET 2 1\n+1 1\n", "line 2: a decimal number was expected", 0 },
	{ "KINDLING-WSET 2 1\n0x10 1\n", "line 2: fields must be separated by one space", 0 },
	{ "KINDLING-WSET 2 1\n07 1\n", "line 2: a number has a leading zero", 0 },
	{ "KINDLING-WSET 2 1\n0 01\n", "line 2: a number has a leading zero", 0 },
	{ "KINDLING-WSET 2 1\n0 0\n", "line 2: a range of 0 pages", 0 },
	{ "KINDLING-WSET 2 1\n4294967296 1\n", "line 2: a number is too large", 0 },
	{ "KINDLING-WSET 2 1\n12345678901234567890 1\n", "line 2: a number is too large", 0 },
	{ "KINDLING-WSET 2 1\n99 2\n", "line 2: pages 99-100 are past the end of RAM (100 pages)", 0 },
	{ "KINDLING-WSET 2 1\n100 1\n", "line 2: pages 100-100 are past the end of RAM", 0 },
	{ "KINDLING-WSET 2 1\n0 4294967295\n", "line 2: pages 0-4294967294 are past the end of RAM", 0 },
	{ "KINDLING-WSET 2 2\n5 5\n9 1\n", "line 3: page 9 is before the end of the previous range (page 10)", 0 },
	{ "KINDLING-WSET 2 3\n5 1\n8 1\n6 1\n", "line 4: page 6 is before the end of the previous range", 0 },
	{ "KINDLING-WSET 2 2\n5 1\n5 1\n", "line 3: page 5 is before the end of the previous range", 0 },
	{ "KINDLING-WSET 2 1\n0 1\0\n", "line 2: unexpected characters", 23 },
	{ "KINDLING-WSET 2 1\n0\0 1\n", "line 2: fields must be separated by one space", 23 },
};

TEST(wsetfile_refuses_bad_files)
{
	struct wsetfile w;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
		int r;

		memset(err, 0, sizeof(err));
		r = wsetfile_parse(bad[i].text, len, 100, &w, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, bad[i].why)) {
			printf("  case %zu: r=%d err=\"%s\", want \"%s\"\n", i, r, err, bad[i].why);
			CHECK(0);
		}
		CHECK(w.ranges == NULL && w.nr == 0);
	}
}

TEST(wsetfile_size_and_ram_bounds)
{
	struct wsetfile w;
	char err[256];

	CHECK(wsetfile_parse("x", WSETFILE_MAX_SIZE + 1ul, 100, &w, err, sizeof(err)) == -EFBIG);
	CHECK(strstr(err, "more than the") != NULL);
	/* The RAM bound checked after the snapshot's size is known. */
	CHECK(parse("KINDLING-WSET 2 2\n0 1\n50 10\n", WSETFILE_MAX_PAGES, &w, err, sizeof(err)) == 0);
	CHECK(wsetfile_check_pages(&w, 60, err, sizeof(err)) == 0);
	CHECK(wsetfile_check_pages(&w, 59, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "line 3: pages 50-59 are past the end of the snapshot's RAM (59 pages)") != NULL);
	wsetfile_free(&w);
	CHECK(parse("KINDLING-WSET 2 0\n", WSETFILE_MAX_PAGES, &w, err, sizeof(err)) == 0);
	CHECK(wsetfile_check_pages(&w, 0, err, sizeof(err)) == 0);
	wsetfile_free(&w);
}

TEST(wsetfile_format_and_write_roundtrip)
{
	static const struct wset_range r[] = { { 0, 3, false }, { 3, 1, true }, { 100, 268435356, false } };
	static const struct wset_range rw[] = { { 0, 1, true }, { 1, 1, false }, { 268435454, 2, true } };
	/* Overlapping across the kinds is refused as within one. */
	static const struct wset_range unsorted[] = { { 5, 3, false }, { 6, 1, true } }, empty[] = { { 5, 0, true } };
	char dir[] = "/tmp/kindling-wset-XXXXXX", path[64], err[256], *buf;
	struct wsetfile w;
	struct stat st;
	size_t len;

	CHECK(wsetfile_format(r, 3, &buf, &len, err, sizeof(err)) == 0);
	CHECK(len == strlen("KINDLING-WSET 2 3\n0 3\n3 1 w\n100 268435356\n"));
	CHECK(memcmp(buf, "KINDLING-WSET 2 3\n0 3\n3 1 w\n100 268435356\n", len) == 0);
	free(buf);
	CHECK(wsetfile_format(rw, 3, &buf, &len, err, sizeof(err)) == 0);
	CHECK(len == strlen("KINDLING-WSET 2 3\n0 1 w\n1 1\n268435454 2 w\n"));
	CHECK(memcmp(buf, "KINDLING-WSET 2 3\n0 1 w\n1 1\n268435454 2 w\n", len) == 0);
	free(buf);
	CHECK(wsetfile_format(unsorted, 2, &buf, &len, err, sizeof(err)) == -EINVAL);
	CHECK(wsetfile_format(empty, 1, &buf, &len, err, sizeof(err)) == -EINVAL);
	CHECK(wsetfile_format(r, WSETFILE_MAX_RANGES + 1ul, &buf, &len, err, sizeof(err)) == -E2BIG);

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f.wset", dir);
	CHECK(wsetfile_write(path, r, 3, err, sizeof(err)) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(wsetfile_read(path, &w, err, sizeof(err)) == 0);
	CHECK(w.nr == 3 && w.pages == 268435360 && w.written == 1 && w.ranges[2].start == 100);
	CHECK(!w.ranges[0].written && w.ranges[1].written && !w.ranges[2].written);
	wsetfile_free(&w);
	/* Over an existing file; a refused set leaves it (and no temporary file) behind. */
	CHECK(wsetfile_write(path, r, 1, err, sizeof(err)) == 0);
	CHECK(wsetfile_write(path, unsorted, 2, err, sizeof(err)) == -EINVAL);
	CHECK(wsetfile_read(path, &w, err, sizeof(err)) == 0);
	CHECK(w.nr == 1 && w.pages == 3);
	wsetfile_free(&w);
	CHECK(rmdir(dir) == -1 && errno == ENOTEMPTY);
	unlink(path);
	CHECK(rmdir(dir) == 0); /* nothing else was left in it */
}

TEST(wsetfile_read_refuses_non_files)
{
	char dir[] = "/tmp/kindling-wset-XXXXXX", path[64], err[512];
	struct wsetfile w;
	int fd;

	CHECK(mkdtemp(dir));
	CHECK(wsetfile_read("/nonexistent/f.wset", &w, err, sizeof(err)) == -ENOENT);
	CHECK(wsetfile_read(dir, &w, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "not a regular file") != NULL);
	CHECK(wsetfile_read("/dev/zero", &w, err, sizeof(err)) == -EINVAL);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	CHECK(mkfifo(path, 0600) == 0);
	CHECK(wsetfile_read(path, &w, err, sizeof(err)) == -EINVAL); /* and did not block */
	unlink(path);
	/* Too large to be a working-set file: refused before reading. */
	snprintf(path, sizeof(path), "%s/big", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && ftruncate(fd, WSETFILE_MAX_SIZE + 1l) == 0);
	close(fd);
	CHECK(wsetfile_read(path, &w, err, sizeof(err)) == -EFBIG);
	/* A parse error names the file and the line. */
	fd = open(path, O_TRUNC | O_WRONLY);
	CHECK(fd >= 0 && write(fd, "KINDLING-WSET 2 1\n3 x\n", 22) == 22);
	close(fd);
	CHECK(wsetfile_read(path, &w, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, path) == err && strstr(err, ": line 2: a decimal number was expected") != NULL);
	unlink(path);
	rmdir(dir);
}
