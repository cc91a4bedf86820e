/* What the hole table costs a restore, on this host, without KVM (benches/snapshot.sh runs it
 * before it looks for /dev/kvm):
 *   holemap MIB REPS DIR
 * makes MIB MiB of RAM fragmented as a Linux guest's after boot (data pages scattered among
 * runs of zero pages of every length, 2047 runs in 128 MiB, and an all-zero end), writes its
 * memory file with snapmem_write (the writer's own table), then times mem_map_fd (the
 * restore's own mapping) REPS times each: the file alone, with its zero end, with the zero
 * end and the table of SNAPFILE_MAX_HOLES holes, and with 64 and 128 for comparison. Prints
 * "<name> <value> <unit>" lines: medians, and the extra over the zero end alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "snapfile.h"
#include "snapmem.h"

#define PG 4096u

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median time of mem_map_fd with these ranges (each mapping unmapped untimed). */
static double map_ms(int fd, uint64_t ram, const struct mem_range *z, size_t n, int reps, double *t)
{
	for (int i = 0; i < reps; i++) {
		struct guest_mem m;
		double t0 = now_ms();

		if (mem_map_fd(&m, ram, fd, true, z, n)) {
			fprintf(stderr, "holemap: mem_map_fd failed\n");
			exit(1);
		}
		t[i] = now_ms() - t0;
		mem_destroy(&m);
	}
	qsort(t, (size_t)reps, sizeof(*t), cmp);
	return t[reps / 2];
}

int main(int argc, char **argv)
{
	static const uint8_t id[16] = { 0x48, 0x4f, 0x4c, 0x45 };
	struct mem_range table[128 + 1];
	char path[4096], err[512];
	uint64_t ram, zero_from = 0, seed = 12345, runs = 0, sum = 0;
	uint32_t nr = 0, sizes[] = { SNAPFILE_MAX_HOLES, 64, 128 };
	unsigned mib;
	size_t pages, p;
	struct guest_mem m;
	double *t, tail, best[2] = { 1e9, 1e9 };
	uint8_t *mem;
	int reps, fd;

	if (argc != 4 || atoi(argv[1]) < 64 || atoi(argv[2]) < 1) {
		fprintf(stderr, "usage: holemap MIB REPS DIR\n");
		return 2;
	}
	mib = (unsigned)atoi(argv[1]);
	ram = (uint64_t)mib << 20;
	reps = atoi(argv[2]);
	snprintf(path, sizeof(path), "%s/holemap.mem", argv[3]);
	pages = ram / PG;
	mem = mmap(NULL, ram, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t = calloc((size_t)reps, sizeof(*t));
	if (mem == MAP_FAILED || !t || mem_layout(&m, ram, mem))
		return 1;
	m.map = mem;
	m.map_size = ram;
	/* The low 3/4 of RAM: runs of 1..4 data pages between runs of zero pages whose lengths
	 * have a long tail (1 / uniform: most a few pages, a few of MiBs), as a booted guest
	 * leaves them; zero above. */
	for (p = 0; p < pages * 3 / 4;) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		size_t data = 1 + (seed >> 60) % 4, zero = 1 + (size_t)(2.0 / ((double)(seed >> 40 & 0xfffff) / 0x100000 + 0.002));

		for (size_t i = 0; i < data && p < pages; i++, p++)
			memset(mem + p * PG, 0x5a, PG);
		p += zero;
	}
	/* The writer, without and with its table (the same scan of RAM): the best of 5 each,
	 * alternated, after one to warm up. */
	for (int i = 0; i < 11; i++) {
		double t0, ms;

		/* Not renamed over the last one: ext4 then starts writing it back, which is no
		 * part of what is measured. */
		unlink(path);
		t0 = now_ms();
		if (snapmem_write(path, &m, NULL, id, NULL, false, table, SNAPFILE_MAX_HOLES, i % 2 ? &nr : NULL, err,
				  sizeof(err))) {
			fprintf(stderr, "holemap: %s\n", err);
			return 1;
		}
		ms = now_ms() - t0;
		if (i && ms < best[i % 2])
			best[i % 2] = ms;
	}
	printf("kindling.holemap_write_no_table_ms_%um %.3f ms\n", mib, best[0]);
	printf("kindling.holemap_write_table_ms_%um %.3f ms\n", mib, best[1]);
	fd = snapmem_open(path, ram, id, &zero_from, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "holemap: %s\n", err);
		return 1;
	}
	for (p = 1; p < pages; p++)
		runs += mem[p * PG] == 0 && mem[(p - 1) * PG] != 0 && p * PG < zero_from;
	for (uint32_t h = 0; h < nr; h++)
		sum += table[h].len;
	fprintf(stderr, "holemap: %llu runs of zero pages below the zero end at %llu MiB; a table of %u holes, %llu MiB\n",
		(unsigned long long)runs, (unsigned long long)(zero_from >> 20), nr, (unsigned long long)(sum >> 20));
	printf("kindling.holemap_map_file_ms_%um %.4f ms\n", mib, map_ms(fd, ram, NULL, 0, reps, t));
	table[0] = (struct mem_range){ zero_from, ram - zero_from };
	tail = map_ms(fd, ram, table, 1, reps, t);
	printf("kindling.holemap_map_zero_end_ms_%um %.4f ms\n", mib, tail);
	close(fd);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		double ms;

		if (snapmem_write(path, &m, NULL, id, NULL, false, table, sizes[i], &nr, err, sizeof(err)) ||
		    (fd = snapmem_open(path, ram, id, &zero_from, err, sizeof(err))) < 0) {
			fprintf(stderr, "holemap: %s\n", err);
			return 1;
		}
		table[nr] = (struct mem_range){ zero_from, ram - zero_from };
		ms = map_ms(fd, ram, table, nr + 1, reps, t);
		close(fd);
		printf("kindling.holemap_map_%u_holes_ms_%um %.4f ms\n", sizes[i], mib, ms);
		printf("kindling.holemap_extra_%u_holes_ms_%um %.4f ms\n", sizes[i], mib, ms - tail);
		if (nr != sizes[i])
			fprintf(stderr, "holemap: only %u holes of %u KiB or more\n", nr, MEM_ZERO_MIN >> 10);
	}
	unlink(path);
	free(t);
	munmap(mem, ram);
	return 0;
}
