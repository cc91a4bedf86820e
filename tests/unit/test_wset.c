/* The working-set recorder (cli/wset.c) on this very process: a memory file mapped
 * MAP_PRIVATE, a known set of pages touched (read and written, across split mappings), the
 * recorded ranges read back; and the fault counts of /proc/PID/stat. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "test.h"
#include "wset.h"
#include "wsetfile.h"

#define PG 4096

/* A sparse file of n pages: nothing of it in the page cache, so that a read fault maps the
 * page read and no neighbour (fault-around maps only pages already cached). */
static int sparse_file(const char *path, int n)
{
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, (off_t)n * PG) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Field by field: a struct wset_range has padding, which memcmp would compare. */
static bool same_ranges(const struct wsetfile *w, const struct wset_range *r, size_t nr)
{
	if (w->nr != nr)
		return false;
	for (size_t i = 0; i < nr; i++)
		if (w->ranges[i].start != r[i].start || w->ranges[i].count != r[i].count ||
		    w->ranges[i].written != r[i].written)
			return false;
	return true;
}

TEST(wset_record_own_private_mapping)
{
	/* Read pages are file pages, written ones private copies: separate ranges, even where
	 * they touch (30 read, 31 written). */
	static const struct wset_range want[] = { { 0, 3, false },  { 10, 1, true },  { 30, 1, false }, { 31, 1, true },
						  { 40, 1, false }, { 50, 1, true }, { 63, 1, false } };
	char dir[] = "/tmp/kindling-wset-XXXXXX", mem[64], other[64], link[64], out[64], err[512];
	volatile uint8_t *m, *o;
	struct wset_stats st;
	struct wsetfile w;
	uint8_t sum = 0;
	int fd, ofd;

	CHECK(mkdtemp(dir));
	snprintf(mem, sizeof(mem), "%s/mem", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(out, sizeof(out), "%s/out.wset", dir);
	fd = sparse_file(mem, 64);
	ofd = sparse_file(other, 16);
	CHECK(fd >= 0 && ofd >= 0);
	m = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	o = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ofd, 0);
	CHECK(m != MAP_FAILED && o != MAP_FAILED);
	close(fd);
	close(ofd);
	/* No readahead into the page cache either: each read maps its page alone. */
	CHECK(madvise((void *)m, 64 * PG, MADV_RANDOM) == 0);
	/* Three mappings (VMAs) of the file, each with its own file offset. */
	CHECK(mprotect((void *)(m + 40 * PG), 2 * PG, PROT_READ) == 0);
	sum += m[0] + m[1 * PG + 5] + m[2 * PG + 4095]; /* read faults: file pages mapped */
	m[10 * PG] = 1;                                  /* a write fault: a private copy */
	sum += m[30 * PG];
	m[31 * PG + 7] = 2;
	sum += m[40 * PG];                               /* in the middle mapping */
	m[50 * PG] = 3;
	sum += m[63 * PG + 4095];
	for (int i = 0; i < 16; i++)                      /* another file: not counted */
		o[i * PG] = 4;
	CHECK(sum == 0);

	CHECK(wset_record(getpid(), mem, out, &st, err, sizeof(err)) == 0);
	printf("  recorded %llu of %llu pages (%llu written) in %zu ranges over %d mappings\n",
	       (unsigned long long)st.pages, (unsigned long long)st.mapped_pages, (unsigned long long)st.written,
	       st.ranges, st.mappings);
	CHECK(st.mappings == 3 && st.mapped_pages == 64);
	CHECK(wsetfile_read(out, &w, err, sizeof(err)) == 0);
	for (size_t i = 0; i < w.nr; i++)
		printf("  range %u+%u%s\n", w.ranges[i].start, w.ranges[i].count, w.ranges[i].written ? " w" : "");
	CHECK(same_ranges(&w, want, sizeof(want) / sizeof(want[0])) && st.ranges == w.nr);
	CHECK(w.pages == 9 && st.pages == 9 && w.written == 3 && st.written == 3);
	wsetfile_free(&w);

	/* Through a symbolic link: the same file (same device and inode). */
	CHECK(symlink("mem", link) == 0);
	CHECK(wset_record(getpid(), link, out, &st, err, sizeof(err)) == 0 && st.pages == 9);
	/* A file this process does not map, a process that does not exist, an output that
	 * cannot be written: refused with the reason, the previous output left as it was. */
	CHECK(munmap((void *)o, 16 * PG) == 0);
	CHECK(wset_record(getpid(), other, out, &st, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "maps no part of") != NULL);
	CHECK(wset_record(0x3ffffff0, mem, out, &st, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "/proc/1073741808/maps") != NULL);
	CHECK(wset_record(getpid(), "/nonexistent/mem", out, &st, err, sizeof(err)) == -ENOENT);
	CHECK(wset_record(getpid(), mem, "/nonexistent/dir/out", &st, err, sizeof(err)) == -ENOENT);
	CHECK(wsetfile_read(out, &w, err, sizeof(err)) == 0 && w.nr == 7);
	wsetfile_free(&w);

	/* Nothing touched: an empty working set, still a valid file. */
	CHECK(munmap((void *)m, 64 * PG) == 0);
	fd = open(mem, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	m = mmap(NULL, 64 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	CHECK(m != MAP_FAILED);
	CHECK(wset_record(getpid(), mem, out, &st, err, sizeof(err)) == 0);
	CHECK(st.pages == 0 && st.written == 0 && st.ranges == 0 && st.mappings == 1);
	CHECK(wsetfile_read(out, &w, err, sizeof(err)) == 0 && w.nr == 0);
	wsetfile_free(&w);
	munmap((void *)m, 64 * PG);
	unlink(link);
	unlink(out);
	unlink(other);
	unlink(mem);
	CHECK(rmdir(dir) == 0); /* no temporary file left behind */
}

/* The file mapped twice: a page read through one mapping and written through the other was
 * written; the read ranges around it are cut. */
TEST(wset_record_written_wins_over_read)
{
	static const struct wset_range want[] = { { 4, 1, false }, { 5, 1, true }, { 6, 2, false }, { 8, 1, true } };
	char dir[] = "/tmp/kindling-wset-XXXXXX", mem[64], out[64], err[512];
	volatile uint8_t *a, *b;
	struct wset_stats st;
	struct wsetfile w;
	uint8_t sum = 0;
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(mem, sizeof(mem), "%s/mem", dir);
	snprintf(out, sizeof(out), "%s/out.wset", dir);
	fd = sparse_file(mem, 16);
	CHECK(fd >= 0);
	a = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	b = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	CHECK(a != MAP_FAILED && b != MAP_FAILED);
	CHECK(madvise((void *)a, 16 * PG, MADV_RANDOM) == 0 && madvise((void *)b, 16 * PG, MADV_RANDOM) == 0);
	for (int i = 4; i < 8; i++)
		sum += a[i * PG];
	b[5 * PG] = 1;
	b[8 * PG] = 2;
	sum += b[7 * PG];
	CHECK(sum == 0);
	CHECK(wset_record(getpid(), mem, out, &st, err, sizeof(err)) == 0);
	CHECK(wsetfile_read(out, &w, err, sizeof(err)) == 0);
	for (size_t i = 0; i < w.nr; i++)
		printf("  range %u+%u%s\n", w.ranges[i].start, w.ranges[i].count, w.ranges[i].written ? " w" : "");
	CHECK(same_ranges(&w, want, sizeof(want) / sizeof(want[0])));
	CHECK(w.pages == 5 && w.written == 2 && st.written == 2 && st.mappings == 2);
	wsetfile_free(&w);
	munmap((void *)a, 16 * PG);
	munmap((void *)b, 16 * PG);
	unlink(out);
	unlink(mem);
	rmdir(dir);
}

/* ShmemPmdMapped + FilePmdMapped of this process, in KiB. */
static uint64_t pmd_kib(void)
{
	char line[256];
	unsigned long long v, kib = 0;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "ShmemPmdMapped: %llu", &v) == 1 || sscanf(line, "FilePmdMapped: %llu", &v) == 1)
			kib += v;
	if (f)
		fclose(f);
	return kib;
}

/* After recording, each 2 MiB region the working set read enough of (WSET_HUGE_MIN_READ
 * pages) and wrote nothing of is a huge page of the file's page cache (tmpfs), which a guest
 * RAM mapping (mem_map_fd: 2 MiB aligned) then maps whole. Regions written, read too little
 * or never touched are left alone. */
TEST(wset_record_makes_read_regions_huge)
{
	const int regions = 4, per = 512;
	char dir[] = "/dev/shm/kindling-wset-XXXXXX", mem[64], out[64], err[512];
	volatile uint8_t *m;
	struct guest_mem g;
	struct wset_stats st;
	uint64_t before;
	uint8_t sum = 0;
	int fd;

	if (!mkdtemp(dir))
		SKIP("no /dev/shm (tmpfs) to hold the memory file");
	snprintf(mem, sizeof(mem), "%s/mem", dir);
	snprintf(out, sizeof(out), "%s/out.wset", dir);
	fd = open(mem, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)regions * per * PG) == 0);
	m = mmap(NULL, (size_t)regions * per * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(m != MAP_FAILED);
	CHECK(madvise((void *)m, (size_t)regions * per * PG, MADV_RANDOM) == 0);
	for (int i = 0; i < WSET_HUGE_MIN_READ; i++)
		sum += m[(size_t)i * 7 * PG];                 /* region 0: read only */
	for (int i = 0; i < 100; i++)
		sum += m[((size_t)per + i) * PG];             /* region 1: read... */
	m[((size_t)per + 200) * PG] = 1;                      /* ...and written */
	for (int i = 0; i < WSET_HUGE_MIN_READ - 1; i++)
		sum += m[((size_t)2 * per + i) * PG];         /* region 2: too few */
	CHECK(sum == 0);                                      /* region 3: untouched */
	CHECK(wset_record(getpid(), mem, out, &st, err, sizeof(err)) == 0);
	printf("  %u of %u regions made huge\n", st.huge_made, st.huge_tried);
	CHECK(st.huge_tried == 1 && st.huge_made <= 1);
	munmap((void *)m, (size_t)regions * per * PG);
	if (st.huge_made) {
		/* Mapped as guest RAM is, read once per region: only region 0 is a huge page. */
		before = pmd_kib();
		CHECK(mem_map_fd(&g, (uint64_t)regions * per * PG, fd, true, NULL, 0) == 0);
		for (int i = 0; i < regions; i++)
			sum += g.map[(size_t)i * per * PG + 4096];
		CHECK(pmd_kib() - before == 2048);
		CHECK(g.map[0] == 0 && sum == 0);
		mem_destroy(&g);
	}
	close(fd);
	unlink(out);
	unlink(mem);
	rmdir(dir);
	if (!st.huge_made)
		SKIP("this kernel made no huge page of a tmpfs file (MADV_COLLAPSE needs Linux 6.1)");
}

TEST(wset_faults_counts_own_faults)
{
	struct wset_faults a, b;
	struct rusage ru;
	volatile uint8_t *p;
	char err[256];

	CHECK(wset_faults(getpid(), &a, err, sizeof(err)) == 0);
	CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
	CHECK((long)a.minflt <= ru.ru_minflt && (long)a.majflt <= ru.ru_majflt);
	p = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	CHECK(madvise((void *)p, 64 * PG, MADV_NOHUGEPAGE) == 0); /* one fault per page */
	for (int i = 0; i < 64; i++)
		p[i * PG] = 1;
	CHECK(wset_faults(getpid(), &b, err, sizeof(err)) == 0);
	printf("  minflt %llu -> %llu, majflt %llu -> %llu\n", (unsigned long long)a.minflt,
	       (unsigned long long)b.minflt, (unsigned long long)a.majflt, (unsigned long long)b.majflt);
	CHECK(b.minflt >= a.minflt + 64 && b.majflt >= a.majflt);
	munmap((void *)p, 64 * PG);
	CHECK(wset_faults(0x3ffffff0, &b, err, sizeof(err)) == -ENOENT);
}

struct toucher {
	volatile uint8_t *p;
	volatile int pages;
};

static void *touch_pages(void *arg)
{
	struct toucher *t = arg;

	pthread_setname_np(pthread_self(), "kindling-vcpu9");
	for (int i = 0; i < t->pages; i++)
		t->p[i * PG] = 1;
	/* Stay alive until the test has counted. */
	while (t->pages)
		usleep(1000);
	return NULL;
}

/* Only the named threads' faults: a thread named as a vCPU touches 64 pages, this one 64
 * others, and only the former's count. */
TEST(wset_thread_faults_named_only)
{
	struct toucher t;
	struct wset_faults f, none;
	pthread_t th;
	char err[256];
	int n, n0;

	t.pages = 64;
	t.p = mmap(NULL, 128 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(t.p != MAP_FAILED);
	CHECK(madvise((void *)t.p, 128 * PG, MADV_NOHUGEPAGE) == 0);
	CHECK(wset_thread_faults(getpid(), "kindling-vcpu", &none, &n0, err, sizeof(err)) == 0 && n0 == 0 &&
	      none.minflt == 0);
	CHECK(pthread_create(&th, NULL, touch_pages, &t) == 0);
	for (int i = 0; i < 64; i++)
		t.p[(64 + i) * PG] = 1;
	/* Until the thread has named itself and touched its pages. */
	for (int i = 0; i < 2000; i++) {
		if (wset_thread_faults(getpid(), "kindling-vcpu", &f, &n, err, sizeof(err)) == 0 && n == 1 &&
		    f.minflt >= 64)
			break;
		usleep(1000);
	}
	t.pages = 0;
	pthread_join(th, NULL);
	printf("  vcpu-named thread: minflt %llu, majflt %llu\n", (unsigned long long)f.minflt,
	       (unsigned long long)f.majflt);
	CHECK(n == 1 && f.minflt >= 64 && f.minflt < 128); /* not this thread's 64 too */
	munmap((void *)t.p, 128 * PG);
	CHECK(wset_thread_faults(0x3ffffff0, "kindling-vcpu", &f, &n, err, sizeof(err)) == -ENOENT);
}
