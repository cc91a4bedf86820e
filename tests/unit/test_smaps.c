/* The density reader (cli/smaps.c): a made-up smaps with known sums, and this very process
 * with a memory file mapped MAP_PRIVATE, some pages read and some written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem.h"
#include "smaps.h"
#include "test.h"

#define PG 4096

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Two mappings of the memory file (fd:01 ino 42; one found by its path, on a device maps
 * shows otherwise), a heap and a library, with fields that look alike (Pss_Dirty, SwapPss). */
static const char fake[] = "00400000-00500000 r-xp 00000000 fd:01 7 /usr/bin/kindling\n"
			   "Size:               1024 kB\n"
			   "Rss:                 300 kB\n"
			   "Pss:                 150 kB\n"
			   "Private_Dirty:         8 kB\n"
			   "7f0000000000-7f0008000000 rw-p 00000000 fd:01 42 /snaps/0123/mem\n"
			   "Size:             131072 kB\n"
			   "Rss:                2048 kB\n"
			   "Pss:                 700 kB\n"
			   "Pss_Dirty:           100 kB\n"
			   "Shared_Clean:       1948 kB\n"
			   "Private_Dirty:       100 kB\n"
			   "Anonymous:            60 kB\n"
			   "SwapPss:              77 kB\n"
			   "VmFlags: rd wr mr mw me ac\n"
			   "7f0008000000-7f0008100000 rw-p 08000000 00:2a 42 /snaps/0123/mem\n"
			   "Rss:                  64 kB\n"
			   "Pss:                  64 kB\n"
			   "Private_Dirty:        64 kB\n"
			   "Anonymous:            64 kB\n"
			   "7f0010000000-7f0010100000 rw-p 00000000 00:00 0 \n"
			   "Rss:                 500 kB\n"
			   "Pss:                 500 kB\n"
			   "Private_Dirty:       500 kB\n"
			   "Anonymous:           500 kB\n"
			   "AnonHugePages:         0 kB\n";

TEST(smaps_density_sums_guest_and_vmm_apart)
{
	char dir[] = "/tmp/kindling-smaps-XXXXXX", path[64], err[256];
	struct smaps_file f = { .maj = 0xfd, .min = 1, .ino = 42, .path = "/snaps/0123/mem" };
	struct smaps_density d;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/smaps", dir);
	CHECK(write_file(path, fake) == 0);
	CHECK(smaps_density_read(path, &f, &d, err, sizeof(err)) == 0);
	CHECK(d.guest_mappings == 2);
	CHECK(d.guest_rss_kib == 2048 + 64);
	CHECK(d.guest_pss_kib == 700 + 64);
	CHECK(d.guest_private_dirty_kib == 60 + 64); /* Anonymous: Private_Dirty has page cache too */
	CHECK(d.vmm_rss_kib == 300 + 500);
	/* Without the path, the mapping on the other device is not the file's. */
	f.path[0] = 0;
	CHECK(smaps_density_read(path, &f, &d, err, sizeof(err)) == 0);
	CHECK(d.guest_mappings == 1 && d.guest_rss_kib == 2048 && d.vmm_rss_kib == 300 + 64 + 500);
	/* Another file: not a restored VMM. */
	f.ino = 43;
	CHECK(smaps_density_read(path, &f, &d, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "no mapping of the snapshot's memory file"));
	CHECK(write_file(path, "not smaps\n") == 0);
	CHECK(smaps_density_read(path, &f, &d, err, sizeof(err)) == -ENOENT);
	unlink(path);
	CHECK(smaps_density_read(path, &f, &d, err, sizeof(err)) == -ENOENT);
	rmdir(dir);
}

/* A restore with a hole table: guest RAM (8 MiB at 7f0000000000) is the file's mappings
 * around anonymous ones (a hole at 1..3 MiB, the zero end from 4 MiB); the anonymous mapping
 * right after RAM, and the one before it, are the VMM's. */
static const char holes[] = "7effff000000-7f0000000000 rw-p 00000000 00:00 0 \n"
			    "Rss:                  10 kB\n"
			    "7f0000000000-7f0000100000 rw-p 00000000 fd:01 42 /snaps/0123/mem\n"
			    "Rss:                 100 kB\n"
			    "Pss:                  50 kB\n"
			    "Private_Dirty:         4 kB\n"
			    "Anonymous:             4 kB\n"
			    "7f0000100000-7f0000300000 rw-p 00000000 00:00 0 \n"
			    "Rss:                 200 kB\n"
			    "Pss:                 200 kB\n"
			    "Private_Dirty:       200 kB\n"
			    "Anonymous:           200 kB\n"
			    "7f0000300000-7f0000400000 rw-p 00300000 fd:01 42 /snaps/0123/mem\n"
			    "Rss:                 300 kB\n"
			    "Pss:                 150 kB\n"
			    "Private_Dirty:         8 kB\n"
			    "Anonymous:             8 kB\n"
			    "7f0000400000-7f0000800000 rw-p 00000000 00:00 0 \n"
			    "Rss:                  40 kB\n"
			    "Pss:                  40 kB\n"
			    "Private_Dirty:        40 kB\n"
			    "Anonymous:            40 kB\n"
			    "7f0000800000-7f0000900000 rw-p 00000000 00:00 0 \n"
			    "Rss:                   1 kB\n"
			    "Private_Dirty:         1 kB\n"
			    "Anonymous:             1 kB\n";

TEST(smaps_density_counts_anonymous_guest_ram)
{
	char dir[] = "/tmp/kindling-smaps-XXXXXX", path[64], err[256];
	struct smaps_file f = { .maj = 0xfd, .min = 1, .ino = 42, .ram_size = 8 << 20 };
	struct smaps_density d;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/smaps", dir);
	CHECK(write_file(path, holes) == 0);
	CHECK(smaps_density_read(path, &f, &d, err, sizeof(err)) == 0);
	CHECK(d.guest_mappings == 2 && d.guest_anon_mappings == 2);
	CHECK(d.guest_rss_kib == 100 + 200 + 300 + 40 && d.guest_pss_kib == 50 + 200 + 150 + 40);
	CHECK(d.guest_private_dirty_kib == 4 + 200 + 8 + 40);
	CHECK(d.vmm_rss_kib == 10 + 1);
	/* RAM's size unknown: the file's mappings alone, as before hole tables. */
	f.ram_size = 0;
	CHECK(smaps_density_read(path, &f, &d, err, sizeof(err)) == 0);
	CHECK(d.guest_anon_mappings == 0 && d.guest_private_dirty_kib == 4 + 8 && d.vmm_rss_kib == 10 + 200 + 40 + 1);
	unlink(path);
	rmdir(dir);
}

TEST(smaps_density_own_private_mapping)
{
	char dir[] = "/tmp/kindling-smaps-XXXXXX", mem[64], err[256];
	struct smaps_file f;
	struct smaps_density d;
	struct guest_mem g;
	volatile uint8_t *m;
	uint8_t sum = 0;
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(mem, sizeof(mem), "%s/mem", dir);
	fd = open(mem, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && ftruncate(fd, 64 * PG) == 0);
	m = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(m != MAP_FAILED);
	close(fd);
	/* One fault maps one page: no readahead, and nothing of the sparse file cached. */
	CHECK(madvise((void *)m, 64 * PG, MADV_RANDOM) == 0);
	for (int i = 0; i < 8; i++)
		sum += m[i * PG];
	for (int i = 20; i < 23; i++)
		m[i * PG] = (uint8_t)(i + sum);
	CHECK(smaps_file_id(mem, &f) == 0);
	CHECK(smaps_density_read("/proc/self/smaps", &f, &d, err, sizeof(err)) == 0);
	CHECK(d.guest_mappings == 1);
	CHECK(d.guest_private_dirty_kib == 3 * PG / 1024);
	CHECK(d.guest_rss_kib >= 11 * PG / 1024 && d.guest_rss_kib <= 64 * PG / 1024);
	CHECK(d.guest_pss_kib >= d.guest_private_dirty_kib && d.guest_pss_kib <= d.guest_rss_kib);
	CHECK(d.vmm_rss_kib > 0); /* this process's code, stack and heap */
	munmap((void *)m, 64 * PG);
	/* As a restore with a hole maps it (mem_map_fd): pages written in the hole are the
	 * clone's own too. */
	fd = open(mem, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && mem_map_fd(&g, 48 * PG, fd, true, &(struct mem_range){ 16 * PG, 16 * PG }, 1) == 0);
	close(fd);
	g.map[PG] = 1;
	g.map[17 * PG] = 2;
	g.map[18 * PG] = 3;
	f.ram_size = 48 * PG;
	CHECK(smaps_density_read("/proc/self/smaps", &f, &d, err, sizeof(err)) == 0);
	CHECK(d.guest_mappings == 2 && d.guest_anon_mappings == 1);
	CHECK(d.guest_private_dirty_kib == 3 * PG / 1024);
	mem_destroy(&g);
	unlink(mem);
	rmdir(dir);
}

/* A memory file on tmpfs (/dev/shm), its pages written with write() as a snapshot's are:
 * they are dirty page cache, and this process alone maps them, so smaps counts them as
 * Private_Dirty. The clone's own pages are only the copies its writes made. */
TEST(smaps_density_tmpfs_page_cache_is_not_the_clones)
{
	char dir[] = "/dev/shm/kindling-smaps-XXXXXX", mem[64], err[256], page[PG];
	struct smaps_file f;
	struct smaps_density d;
	volatile uint8_t *m;
	uint8_t sum = 0;
	int fd;

	if (!mkdtemp(dir))
		SKIP("no /dev/shm (tmpfs)");
	snprintf(mem, sizeof(mem), "%s/mem", dir);
	fd = open(mem, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
	memset(page, 0x11, sizeof(page));
	CHECK(fd >= 0);
	for (int i = 0; i < 16; i++)
		CHECK(write(fd, page, PG) == PG);
	m = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(m != MAP_FAILED);
	close(fd);
	for (int i = 0; i < 16; i++)
		sum += m[i * PG];
	for (int i = 0; i < 3; i++)
		m[i * PG] = sum;
	CHECK(smaps_file_id(mem, &f) == 0);
	CHECK(smaps_density_read("/proc/self/smaps", &f, &d, err, sizeof(err)) == 0);
	CHECK(d.guest_rss_kib == 16 * PG / 1024);
	CHECK(d.guest_private_dirty_kib == 3 * PG / 1024);
	munmap((void *)m, 16 * PG);
	unlink(mem);
	rmdir(dir);
}
