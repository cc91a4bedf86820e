/* The hole table (issue 12), end to end without KVM: the writer's table from RAM (the
 * largest runs of zero pages, the minimum size, the zero end left out, none for a diff), the
 * restore's mapping of it (vmm/mem.c: zeros in the holes whatever the file holds, the file's
 * bytes everywhere else, writes never reaching the file), a merge, and a signed snapshot's
 * check of its memory file taking the same ranges as zeros as the mapping does. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapauth.h"
#include "snapfile.h"
#include "snapmem.h"
#include "test.h"

#define PG 4096u
#define RAM (16u << 20)
#define PAGES (RAM / PG)

static const uint8_t id1[16] = { 7, 1 }, id2[16] = { 7, 2 };

/* RAM whose non-zero pages are those listed (each filled with a byte from its page number,
 * never 0, so that a page read from the wrong place shows). */
static uint8_t *make_ram(struct guest_mem *m, const uint32_t *data, size_t n)
{
	uint8_t *p = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || mem_layout(m, RAM, p))
		return NULL;
	m->map = p;
	m->map_size = RAM;
	for (size_t i = 0; i < n; i++)
		memset(p + (size_t)data[i] * PG, (int)(data[i] % 255 + 1), PG);
	return p;
}

/* Data pages that leave zero runs (in pages) of: 1..15 (15 pages: under 64 KiB), 17..116
 * (100), 118..167 (50), 169..368 (200), 370..385 (16: exactly 64 KiB), 387..886 (500), and
 * the zero end from 2048 on. */
static const uint32_t data_pages[] = { 0, 16, 117, 168, 369, 386, 887, 900, 1500, 2047 };

static int table_is(const struct mem_range *h, uint32_t n, const uint32_t (*want)[2], uint32_t nw)
{
	if (n != nw)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		if (h[i].off != (uint64_t)want[i][0] * PG || h[i].len != (uint64_t)want[i][1] * PG)
			return 0;
	}
	return 1;
}

TEST(holes_table_from_ram)
{
	char dir[] = "/tmp/kindling-holes-XXXXXX", path[64], err[256];
	struct mem_range h[SNAPFILE_MAX_HOLES];
	uint64_t dirty[PAGES / 64] = { 0 };
	struct guest_mem m;
	uint32_t n = 99;
	uint8_t *ram;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mem", dir);
	CHECK((ram = make_ram(&m, data_pages, sizeof(data_pages) / sizeof(data_pages[0]))) != NULL);
	/* Room for all: every run of 64 KiB or more below the zero end, by offset. */
	CHECK(snapmem_write(path, &m, NULL, id1, NULL, false, h, SNAPFILE_MAX_HOLES, &n, err, sizeof(err)) == 0);
	CHECK(table_is(h, n,
		       (const uint32_t[][2]){ { 17, 100 }, { 118, 50 }, { 169, 200 }, { 370, 16 }, { 387, 500 },
					      { 901, 599 }, { 1501, 546 } },
		       7));
	/* Room for three: the three largest, still by offset. */
	CHECK(snapmem_write(path, &m, NULL, id1, NULL, false, h, 3, &n, err, sizeof(err)) == 0);
	CHECK(table_is(h, n, (const uint32_t[][2]){ { 387, 500 }, { 901, 599 }, { 1501, 546 } }, 3));
	/* A diff has none: its holes are pages it did not write. */
	dirty[0] = 1;
	CHECK(snapmem_write(path, &m, dirty, id2, id1, false, h, SNAPFILE_MAX_HOLES, &n, err, sizeof(err)) == 0);
	CHECK(n == 0);
	/* RAM all zero: the one run is all of it (the zero end is unknown then: 0). */
	memset(ram, 0, RAM);
	CHECK(snapmem_write(path, &m, NULL, id1, NULL, false, h, SNAPFILE_MAX_HOLES, &n, err, sizeof(err)) == 0);
	CHECK(table_is(h, n, (const uint32_t[][2]){ { 0, PAGES } }, 1));
	unlink(path);
	rmdir(dir);
	munmap(ram, RAM);
}

static bool in_ranges(uint64_t off, const struct mem_range *z, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (off >= z[i].off && off - z[i].off < z[i].len)
			return true;
	}
	return false;
}

/* What a restore maps, page by page: zeros in every hole, the file's bytes elsewhere. The
 * file gets data inside one hole too (as a memory file inconsistent with its state file
 * would have): the guest must see the zeros the table promised, not that. */
TEST(holes_mapping_gives_the_right_bytes)
{
	char dir[] = "/tmp/kindling-holes-XXXXXX", path[64], err[256];
	struct mem_range h[SNAPFILE_MAX_HOLES + 1], zero[SNAPFILE_MAX_HOLES + 1];
	struct snapfile s = { .mem.ram_size = RAM };
	struct guest_mem m, g;
	uint64_t zero_from = 0;
	uint8_t *ram, stray[PG], back[PG];
	uint32_t n = 0;
	size_t nz;
	int fd, all, anon, bad = 0;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mem", dir);
	CHECK((ram = make_ram(&m, data_pages, sizeof(data_pages) / sizeof(data_pages[0]))) != NULL);
	CHECK(snapmem_write(path, &m, NULL, id1, NULL, false, h, SNAPFILE_MAX_HOLES, &n, err, sizeof(err)) == 0);
	CHECK(n == 7);
	memcpy(s.holes, h, n * sizeof(h[0]));
	s.nr_holes = n;
	memset(stray, 0xee, sizeof(stray));
	fd = open(path, O_RDWR);
	CHECK(fd >= 0 && pwrite(fd, stray, PG, 200 * PG) == PG); /* inside hole 169..368 */
	close(fd);
	fd = snapmem_open(path, RAM, id1, &zero_from, err, sizeof(err));
	CHECK(fd >= 0 && zero_from == 2048 * PG);
	nz = snapfile_zero_ranges(&s, zero_from, zero);
	CHECK(nz == 8);
	CHECK(mem_map_fd(&g, RAM, fd, true, zero, nz) == 0);
	for (uint32_t p = 0; p < PAGES; p++) {
		const uint8_t *want = in_ranges((uint64_t)p * PG, zero, nz) ? NULL : ram + (size_t)p * PG;

		for (uint32_t b = 0; b < PG; b++)
			bad += g.map[(size_t)p * PG + b] != (want ? want[b] : 0);
	}
	CHECK(bad == 0);
	CHECK(g.map[200 * PG] == 0);
	/* The file, then one anonymous mapping per hole and the zero end, each between two of
	 * the file's (the zero end last). */
	count_maps((uintptr_t)g.map, (uintptr_t)g.map + RAM, &all, &anon);
	CHECK(anon == 8 && all == 16);
	/* Writes stay the VMM's, in a hole and in data alike. */
	g.map[170 * PG] = 1;
	g.map[16 * PG] = 2;
	CHECK(pread(fd, back, PG, 170 * PG) == PG && back[0] == 0);
	CHECK(pread(fd, back, PG, 16 * PG) == PG && back[0] == 17);
	mem_destroy(&g);
	/* A range the rule refuses (under 64 KiB, unaligned, past RAM) stays the file's. */
	zero[0] = (struct mem_range){ 200 * PG, 15 * PG };
	zero[1] = (struct mem_range){ 1, 1 << 20 };
	zero[2] = (struct mem_range){ RAM - PG, 1 << 20 };
	CHECK(mem_map_fd(&g, RAM, fd, true, zero, 3) == 0);
	count_maps((uintptr_t)g.map, (uintptr_t)g.map + RAM, &all, &anon);
	CHECK(all == 1 && anon == 0 && g.map[200 * PG] == 0xee);
	mem_destroy(&g);
	close(fd);
	unlink(path);
	rmdir(dir);
	munmap(ram, RAM);
}

/* A diff merged into its base: the diff's state file has no table (a Diff never has one), so
 * the merged file is mapped with its zero end alone and shows the diff's pages, even those
 * written where the base had a hole; the base's state file, whose table is now wrong, no
 * longer goes with the merged file. */
TEST(holes_merge_drops_the_table)
{
	char dir[] = "/tmp/kindling-holes-XXXXXX", base[64], diff[64], err[256];
	struct mem_range h[SNAPFILE_MAX_HOLES], zero[SNAPFILE_MAX_HOLES + 1];
	struct snapfile s = { .mem.ram_size = RAM, .mem.diff = SNAP_MEM_DIFF };
	uint64_t dirty[PAGES / 64] = { 0 }, zero_from = 0;
	struct guest_mem m, g;
	uint32_t n = 0, nd = 99;
	uint8_t *ram;
	size_t nz;
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(base, sizeof(base), "%s/base", dir);
	snprintf(diff, sizeof(diff), "%s/diff", dir);
	CHECK((ram = make_ram(&m, data_pages, sizeof(data_pages) / sizeof(data_pages[0]))) != NULL);
	CHECK(snapmem_write(base, &m, NULL, id1, NULL, false, h, SNAPFILE_MAX_HOLES, &n, err, sizeof(err)) == 0);
	CHECK(n == 7 && h[4].off == 387 * PG);
	memset(ram + 400 * PG, 0x77, PG); /* inside the base's hole 387..886 */
	dirty[400 / 64] = 1ull << (400 % 64);
	CHECK(snapmem_write(diff, &m, dirty, id2, id1, false, h, SNAPFILE_MAX_HOLES, &nd, err, sizeof(err)) == 0);
	CHECK(nd == 0);
	CHECK(snapmem_merge(base, diff, err, sizeof(err)) == 0);
	CHECK(snapmem_open(base, RAM, id1, NULL, err, sizeof(err)) == -EINVAL);
	fd = snapmem_open(base, RAM, id2, &zero_from, err, sizeof(err));
	CHECK(fd >= 0);
	nz = snapfile_zero_ranges(&s, zero_from, zero);
	CHECK(nz == 1 && zero[0].off == 2048 * PG);
	CHECK(mem_map_fd(&g, RAM, fd, true, zero, nz) == 0);
	CHECK(g.map[400 * PG] == 0x77 && g.map[900 * PG] == 900 % 255 + 1 && g.map[401 * PG] == 0);
	mem_destroy(&g);
	close(fd);
	unlink(base);
	unlink(diff);
	rmdir(dir);
	munmap(ram, RAM);
}

/* A signed snapshot: the check of the memory file takes the holes as zeros, as the mapping
 * does. Data in the file inside a hole passes (the guest sees the zeros that were signed);
 * a table claiming a hole where RAM had data fails (those zeros are not what was signed);
 * a range too short to be mapped is checked against the file, where it stays. */
TEST(holes_signed_check_agrees_with_the_mapping)
{
	char dir[] = "/tmp/kindling-holes-XXXXXX", path[64], err[256];
	struct mem_range h[SNAPFILE_MAX_HOLES], zero[SNAPFILE_MAX_HOLES + 1];
	struct snapfile s = { .mem.ram_size = RAM };
	uint8_t(*digests)[SNAPAUTH_DIGEST];
	struct guest_mem m;
	uint64_t zero_from = 0;
	uint8_t *ram, stray[PG];
	uint32_t n = 0;
	size_t nz;
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mem", dir);
	CHECK((ram = make_ram(&m, data_pages, sizeof(data_pages) / sizeof(data_pages[0]))) != NULL);
	CHECK((digests = malloc(snapauth_nr_chunks(RAM) * sizeof(*digests))) != NULL);
	snapauth_digest_ram(ram, RAM, digests);
	CHECK(snapmem_write(path, &m, NULL, id1, NULL, false, h, SNAPFILE_MAX_HOLES, &n, err, sizeof(err)) == 0);
	memcpy(s.holes, h, n * sizeof(h[0]));
	s.nr_holes = n;
	fd = snapmem_open(path, RAM, id1, &zero_from, err, sizeof(err));
	CHECK(fd >= 0);
	nz = snapfile_zero_ranges(&s, zero_from, zero);
	CHECK(snapauth_verify_mem(fd, RAM, zero, nz, (const uint8_t(*)[32])digests, err, sizeof(err)) == 0);
	close(fd);
	/* Data in the file where the table says hole: the guest sees zeros, which were signed. */
	memset(stray, 0xee, sizeof(stray));
	fd = open(path, O_RDWR);
	CHECK(fd >= 0 && pwrite(fd, stray, PG, 600 * PG) == PG);
	CHECK(snapauth_verify_mem(fd, RAM, zero, nz, (const uint8_t(*)[32])digests, err, sizeof(err)) == 0);
	/* Without the table, that page is the file's, and not what was signed. */
	CHECK(snapauth_verify_mem(fd, RAM, zero + n, nz - n, (const uint8_t(*)[32])digests, err, sizeof(err)) ==
	      -EBADMSG);
	CHECK(strstr(err, "chunk 1 ") != NULL);
	/* A hole over a data page (page 386): zeros where RAM had data. */
	CHECK(pwrite(fd, (uint8_t[PG]){ 0 }, PG, 600 * PG) == PG);
	zero[4].off = 386 * PG;
	zero[4].len += PG;
	CHECK(snapauth_verify_mem(fd, RAM, zero, nz, (const uint8_t(*)[32])digests, err, sizeof(err)) == -EBADMSG);
	/* Under 64 KiB: not mapped, so not taken as zeros either: page 386 is checked as data. */
	zero[4] = (struct mem_range){ 386 * PG, 15 * PG };
	CHECK(snapauth_verify_mem(fd, RAM, zero, nz, (const uint8_t(*)[32])digests, err, sizeof(err)) == 0);
	close(fd);
	free(digests);
	unlink(path);
	rmdir(dir);
	munmap(ram, RAM);
}
