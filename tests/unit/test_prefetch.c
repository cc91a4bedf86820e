/* The prefetch thread (vmm/prefetch.c) without its seccomp filter (tests/seccomp/harness.c and
 * build/tests/vmm-threads run it under the filter): the pages of a working set end up mapped
 * in a MAP_PRIVATE file mapping of "guest RAM", and no other page does, as the recorder
 * (cli/wset.c) sees it: read ranges as file pages, written ones as private copies; a set past RAM is refused; stop is safe at any time. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prefetch.h"
#include "test.h"
#include "wset.h"
#include "wsetfile.h"

#define PG 4096
#define RAM_PAGES 2048

/* "Guest RAM": RAM_PAGES of a fresh sparse file mapped MAP_PRIVATE (as mem_map_fd does), with
 * nothing of it in the page cache and no readahead, so that only populated pages get mapped. */
static int map_ram(const char *path, struct guest_mem *m)
{
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
	uint8_t *p;

	if (fd < 0 || ftruncate(fd, (off_t)RAM_PAGES * PG) < 0)
		return -1;
	p = mmap(NULL, (size_t)RAM_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED || madvise(p, (size_t)RAM_PAGES * PG, MADV_RANDOM))
		return -1;
	memset(m, 0, sizeof(*m));
	if (mem_layout(m, (uint64_t)RAM_PAGES * PG, p))
		return -1;
	m->map = p;
	m->map_size = (size_t)RAM_PAGES * PG;
	return 0;
}

TEST(prefetch_populates_the_working_set)
{
	/* Ranges longer than a chunk (PREFETCH_CHUNK_PAGES) of both kinds, single pages, a written
	 * range touching a read one on each side, the last page written. */
	static const struct wset_range want[] = { { 3, 1, false },    { 5, 2, true },	   { 100, 700, false },
						  { 800, 600, true }, { 1400, 1, false }, { 1500, 2, true },
						  { 1600, 3, false }, { 2047, 1, true } };
	char dir[] = "/tmp/kindling-prefetch-XXXXXX", mem[64], out[64], err[512];
	struct wsetfile w = { .ranges = (struct wset_range *)want, .nr = 8, .pages = 1310, .written = 605 }, got;
	struct wset_stats st;
	struct prefetch pf;
	struct guest_mem m;

	CHECK(mkdtemp(dir));
	snprintf(mem, sizeof(mem), "%s/mem", dir);
	snprintf(out, sizeof(out), "%s/out.wset", dir);
	CHECK(map_ram(mem, &m) == 0);
	CHECK(prefetch_start(&pf, &m, &w, false) == 0);
	for (int i = 0; i < 10000 && !prefetch_finished(&pf); i++)
		usleep(1000);
	CHECK(prefetch_finished(&pf));
	prefetch_stop(&pf);
	printf("  %llu pages in %zu ranges (%llu written)%s%s, error %d\n", (unsigned long long)pf.pages_done,
	       pf.ranges_done, (unsigned long long)pf.written_done, pf.willneed ? " (MADV_WILLNEED)" : "",
	       pf.no_write ? " (no MADV_POPULATE_WRITE)" : "", pf.error);
	CHECK(pf.error == 0 && !pf.willneed && !pf.no_write);
	CHECK(pf.pages_done == 1310 && pf.written_done == 605 && pf.ranges_done == 8);
	/* Mapped in this process (present in its page table), and nothing else. */
	CHECK(wset_record(getpid(), mem, out, &st, err, sizeof(err)) == 0);
	CHECK(wsetfile_read(out, &got, err, sizeof(err)) == 0);
	for (size_t i = 0; i < got.nr; i++)
		printf("  mapped: %u+%u%s\n", got.ranges[i].start, got.ranges[i].count, got.ranges[i].written ? " w" : "");
	CHECK(got.nr == 8 && got.pages == 1310 && got.written == 605 && st.written == 605);
	for (size_t i = 0; i < got.nr && i < 8; i++)
		CHECK(got.ranges[i].start == want[i].start && got.ranges[i].count == want[i].count &&
		      got.ranges[i].written == want[i].written);
	wsetfile_free(&got);
	prefetch_stop(&pf); /* again: a no-op */
	munmap(m.map, m.map_size);
	unlink(out);
	unlink(mem);
	rmdir(dir);
}

TEST(prefetch_refuses_ranges_past_ram)
{
	static const struct wset_range past[] = { { 0, 1, false }, { 2047, 2, true } };
	struct wsetfile w = { .ranges = (struct wset_range *)past, .nr = 2, .pages = 3 }, empty = { 0 };
	char dir[] = "/tmp/kindling-prefetch-XXXXXX", mem[64];
	struct prefetch pf, zero = { 0 };
	struct guest_mem m;

	prefetch_stop(&zero); /* never started: a no-op */
	CHECK(mkdtemp(dir));
	snprintf(mem, sizeof(mem), "%s/mem", dir);
	CHECK(map_ram(mem, &m) == 0);
	CHECK(prefetch_start(&pf, &m, &w, false) == -EINVAL);
	CHECK(!pf.started);
	prefetch_stop(&pf);
	/* An empty set: the thread starts, does nothing, ends. */
	CHECK(prefetch_start(&pf, &m, &empty, false) == 0);
	prefetch_stop(&pf);
	CHECK(pf.pages_done == 0 && pf.ranges_done == 0 && pf.error == 0);
	munmap(m.map, m.map_size);
	unlink(mem);
	rmdir(dir);
}
