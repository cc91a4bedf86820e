/* Guest memory layout, the checked accessor, and bus dispatch. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "mem.h"
#include "test.h"

TEST(mem_small_one_region)
{
	struct guest_mem m;
	static uint8_t ram[1 << 20];

	CHECK(mem_layout(&m, sizeof(ram), ram) == 0);
	CHECK(m.nr_regions == 1);
	CHECK(mem_ptr(&m, 0, 1) == ram);
	CHECK(mem_ptr(&m, sizeof(ram) - 1, 1) == ram + sizeof(ram) - 1);
	CHECK(mem_ptr(&m, sizeof(ram) - 1, 2) == NULL);
	CHECK(mem_ptr(&m, sizeof(ram), 1) == NULL);
	CHECK(mem_ptr(&m, 16, UINT64_MAX) == NULL);          /* length overflow */
	CHECK(mem_ptr(&m, UINT64_MAX, 2) == NULL);           /* address wraps */
	CHECK(mem_ptr(&m, 0, sizeof(ram)) == ram);
	CHECK(mem_layout(&m, 0, ram) == -EINVAL);
	CHECK(mem_layout(&m, 4097, ram) == -EINVAL);
}

TEST(mem_split_around_gap)
{
	struct guest_mem m;
	uint64_t size = 4ull << 30; /* 4 GiB: 3 GiB low, 1 GiB above 4 GiB */

	CHECK(mem_layout(&m, size, NULL) == 0);
	CHECK(m.nr_regions == 2);
	CHECK(m.region[0].gpa == 0 && m.region[0].size == MEM_GAP_START);
	CHECK(m.region[1].gpa == MEM_GAP_END && m.region[1].size == size - MEM_GAP_START);
	CHECK(mem_low_end(&m) == MEM_GAP_START);
}

TEST(mem_no_span_across_regions)
{
	struct guest_mem m;
	static uint8_t fake[16];

	/* Host pointers are not used for the bounds: a layout with a fake base checks ranges. */
	CHECK(mem_layout(&m, 4ull << 30, fake) == 0);
	CHECK(mem_ptr(&m, MEM_GAP_START - 4, 8) == NULL); /* would run into the gap */
	CHECK(mem_ptr(&m, MEM_GAP_START, 1) == NULL);     /* inside the gap */
	CHECK(mem_ptr(&m, MEM_GAP_END, 8) != NULL);
	CHECK(mem_ptr(&m, MEM_GAP_END + (1ull << 30) - 8, 16) == NULL);
}

/* Shared with test_snapholes.c (test.h). */
void count_maps(uintptr_t lo, uintptr_t hi, int *all, int *anon)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	*all = *anon = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long a, b, ino;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &a, &b, &ino) != 3 || a < lo || b > hi)
			continue;
		(*all)++;
		*anon += ino == 0;
	}
	if (f)
		fclose(f);
}

/* In [lo, hi): mappings exactly [a, b) (*exact), and anonymous PROT_NONE ones (*none), such
 * as a reservation left behind would be. */
static void scan_window(uintptr_t lo, uintptr_t hi, uintptr_t a, uintptr_t b, int *exact, int *none)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8];

	*exact = *none = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e, ino;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &s, &e, perms, &ino) != 4 || s < lo || e > hi)
			continue;
		*exact += s == a && e == b;
		*none += ino == 0 && !strcmp(perms, "---p");
	}
	if (f)
		fclose(f);
}

/* Guest RAM starts on a 2 MiB boundary of the address space (mem.c), anonymous or from a
 * file, in one mapping, and nothing of the reservation that aligned it is left around it. */
TEST(mem_ram_on_2mib_boundary)
{
	const uint64_t size = (6 << 20) + 4096, two = 2 << 20;
	char path[] = "/tmp/kindling-memalign-XXXXXX";
	struct guest_mem m;
	int fd = mkstemp(path), exact, none;

	CHECK(fd >= 0);
	unlink(path);
	CHECK(ftruncate(fd, (off_t)size) == 0);
	for (int i = 0; i < 8; i++) {
		CHECK(mem_create(&m, size) == 0);
		CHECK((uintptr_t)m.map % two == 0 && m.map_size == size);
		scan_window((uintptr_t)m.map - two, (uintptr_t)m.map + size + two, (uintptr_t)m.map,
			    (uintptr_t)m.map + size, &exact, &none);
		CHECK(exact == 1 && none == 0);
		m.map[size - 1] = 1;
		mem_destroy(&m);
		CHECK(mem_map_fd(&m, size, fd, i & 1, NULL, 0) == 0);
		CHECK((uintptr_t)m.map % two == 0 && m.map_size == size);
		scan_window((uintptr_t)m.map - two, (uintptr_t)m.map + size + two, (uintptr_t)m.map,
			    (uintptr_t)m.map + size, &exact, &none);
		CHECK(exact == 1 && none == 0);
		mem_destroy(&m);
	}
	close(fd);
}

/* A private file mapping (a snapshot's memory file): data from the file, the all-zero end
 * given as zero_from as anonymous memory, writes never reaching the file. */
TEST(mem_map_fd_private_zero_tail_anonymous)
{
	char path[] = "/tmp/kindling-memfd-XXXXXX";
	struct guest_mem m;
	uint8_t page[4096], back[4096];
	int fd = mkstemp(path), all, anon;

	CHECK(fd >= 0);
	unlink(path);
	/* 4 MiB: data at 0, 16 KiB and 3 MiB; zero from 3 MiB + 4 KiB. */
	memset(page, 0xab, sizeof(page));
	CHECK(ftruncate(fd, 4 << 20) == 0);
	CHECK(pwrite(fd, page, 4096, 0) == 4096);
	CHECK(pwrite(fd, page, 4096, 16 << 10) == 4096);
	CHECK(pwrite(fd, page, 4096, 3 << 20) == 4096);
	CHECK(mem_map_fd(&m, 4 << 20, fd, true, &(struct mem_range){ (3 << 20) + 4096, (1 << 20) - 4096 }, 1) == 0);
	CHECK(m.map[0] == 0xab && m.map[4096] == 0 && m.map[(16 << 10) + 4095] == 0xab);
	CHECK(m.map[(3 << 20) + 17] == 0xab && m.map[(2 << 20) + 5] == 0 && m.map[(4 << 20) - 1] == 0);
	count_maps((uintptr_t)m.map, (uintptr_t)m.map + (4 << 20), &all, &anon);
	CHECK(all == 2 && anon == 1); /* the file, then the anonymous end */
	m.map[(1 << 20) + 9] = 7;
	m.map[(3 << 20) + 8192] = 8;
	CHECK(pread(fd, back, 4096, 1 << 20) == 4096 && back[9] == 0);
	CHECK(pread(fd, back, 4096, (3 << 20) + 8192) == 4096 && back[0] == 0);
	mem_destroy(&m);
	/* Empty, unaligned, past the end, or too short: all from the file. */
	const struct mem_range odd[] = { { 0, 0 },	  { 4097, 1 << 20 }, { 4 << 20, 1 << 20 }, { 3 << 20, 2 << 20 },
					 { 5 << 20, 4096 }, { (4 << 20) - 4096, 4096 }, { 1 << 20, 60 << 10 } };

	CHECK(mem_map_fd(&m, 4 << 20, fd, true, NULL, 0) == 0);
	count_maps((uintptr_t)m.map, (uintptr_t)m.map + (4 << 20), &all, &anon);
	CHECK(all == 1 && anon == 0);
	mem_destroy(&m);
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		CHECK(mem_map_fd(&m, 4 << 20, fd, true, &odd[i], 1) == 0);
		count_maps((uintptr_t)m.map, (uintptr_t)m.map + (4 << 20), &all, &anon);
		CHECK(all == 1 && anon == 0 && m.map[(3 << 20) + 17] == 0xab);
		mem_destroy(&m);
	}
	close(fd);
}

/* Whether the mapping holding addr has MADV_NOHUGEPAGE (VmFlags "nh" in smaps); -1: none. */
static int no_huge(uintptr_t addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, r = -1;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx ", &a, &b) == 2) /* a mapping's first line */
			in = addr >= a && addr < b;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			r = strstr(line, " nh") != NULL;
			break;
		}
	}
	if (f)
		fclose(f);
	return r;
}

/* The zero ranges keep the host's THP policy, as a booted VM's RAM does, unless
 * mem_small_pages (--restore-small-pages: clones) asks for 4 KiB pages there. */
TEST(mem_small_pages_only_when_asked)
{
	char path[] = "/tmp/kindling-memfd-XXXXXX";
	const struct mem_range zero[] = { { 4 << 20, 4 << 20 }, { 4097, 1 << 20 } };
	struct guest_mem m;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	unlink(path);
	CHECK(ftruncate(fd, 8 << 20) == 0);
	CHECK(mem_map_fd(&m, 8 << 20, fd, true, zero, 2) == 0);
	CHECK(no_huge((uintptr_t)m.map + (5 << 20)) == 0 && no_huge((uintptr_t)m.map) == 0);
	mem_small_pages(&m, zero, 2);
	CHECK(no_huge((uintptr_t)m.map + (5 << 20)) == 1);
	CHECK(no_huge((uintptr_t)m.map) == 0); /* the file's part, and the range refused (unaligned) */
	mem_destroy(&m);
	close(fd);
}

struct rec {
	uint64_t off;
	uint32_t len;
	int writes, reads;
};

static void rec_handler(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct rec *r = opaque;

	r->off = offset;
	r->len = len;
	if (is_write)
		r->writes++;
	else {
		r->reads++;
		memset(data, 0x5a, len);
	}
}

TEST(bus_register_refuses_overlap)
{
	struct bus b;
	struct rec r = { 0 };

	bus_init(&b, "t");
	CHECK(bus_register(&b, 0x100, 0x10, rec_handler, &r, "a") == 0);
	CHECK(bus_register(&b, 0x10f, 1, rec_handler, &r, "b") == -EEXIST);
	CHECK(bus_register(&b, 0xf8, 9, rec_handler, &r, "c") == -EEXIST);
	CHECK(bus_register(&b, 0x0, 0x1000, rec_handler, &r, "d") == -EEXIST);
	CHECK(bus_register(&b, 0x110, 0x10, rec_handler, &r, "e") == 0);
	CHECK(bus_register(&b, 0xf0, 0x10, rec_handler, &r, "f") == 0);
	CHECK(bus_register(&b, 0x200, 0, rec_handler, &r, "g") == -EINVAL);
	CHECK(bus_register(&b, UINT64_MAX - 1, 4, rec_handler, &r, "h") == -EINVAL);
	CHECK(b.nr == 3);
	CHECK(b.ranges[0].base == 0xf0 && b.ranges[1].base == 0x100 && b.ranges[2].base == 0x110);
	bus_destroy(&b);
}

TEST(bus_dispatch_and_unclaimed)
{
	struct bus b;
	struct rec r = { 0 };
	uint8_t data[4] = { 0 };

	bus_init(&b, "t");
	CHECK(bus_register(&b, 0x3f8, 8, rec_handler, &r, "serial") == 0);
	CHECK(bus_access(&b, 0x3fd, data, 1, false) == 0);
	CHECK(r.off == 5 && r.reads == 1 && data[0] == 0x5a);
	CHECK(bus_access(&b, 0x3f8, data, 1, true) == 0 && r.writes == 1);
	/* Unclaimed: all-ones, counted. */
	CHECK(bus_access(&b, 0x80, data, 4, false) == -ENOENT);
	CHECK(data[0] == 0xff && data[3] == 0xff);
	CHECK(bus_access(&b, 0x80, data, 1, true) == -ENOENT);
	CHECK(b.unclaimed_reads == 1 && b.unclaimed_writes == 1);
	/* An access straddling the end of a range is not the device's. */
	CHECK(bus_access(&b, 0x3ff, data, 2, false) == -ENOENT);
	CHECK(r.reads == 1);
	bus_destroy(&b);
}
