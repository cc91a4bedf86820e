/* Signed snapshots' memory checks, full against lazy (issue 14), on this host without KVM:
 *   authbench MIB DIR
 * writes DIR/auth.mem, a synthetic memory file of MIB MiB whose pages are 30% random data
 * spread over RAM and 70% holes (what snapmem_write leaves of zero pages), with its chunk
 * digests, then measures with the VMM's own code:
 *   full_verify_ms       snapauth_verify_mem at load, page cache warm (median of 3)
 *   lazy_setup_ms        what a lazy load does instead: anonymous RAM, snaplazy_attach and
 *                        the handler thread started (its seccomp filter on)
 *   lazy_touch_ws_ms     150 distinct random 4 KiB pages read once each from another thread
 *                        (a vCPU's first touches after a warm start), every chunk they hit
 *                        read, checked and copied by the handler
 *   lazy_touch_all_ms    every page of RAM read, from a fresh lazy setup
 *   lazy_chunk_fault_us  the first touch of a chunk holding data (mean over all of them)
 *   full_touch_ws_ms     the same 150 pages through the File backend's MAP_PRIVATE mapping
 *   lazy_ws_private_kib  anonymous memory the 150 touches cost the VM in lazy mode: copied,
 *                        so not shared with other VMs restored from the file (the File
 *                        backend's read faults map the shared page cache: ~0 private)
 * One "<name> <value> <unit>" line each, names suffixed with the size (_128m). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "snapauth.h"
#include "snaplazy.h"

#define PAGE 4096u
#define WS_PAGES 150

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The file, chunk by chunk (RAM is never held whole): 30% of the pages data. */
static int make_file(const char *path, uint64_t ram_size, uint8_t (*digests)[SNAPAUTH_DIGEST], uint64_t *zero_from)
{
	uint8_t *buf = malloc(SNAPAUTH_CHUNK);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (!buf || fd < 0 || ftruncate(fd, (off_t)ram_size) < 0)
		return -1;
	*zero_from = 0;
	for (uint64_t off = 0; off < ram_size; off += SNAPAUTH_CHUNK) {
		memset(buf, 0, SNAPAUTH_CHUNK);
		for (size_t pg = 0; pg < SNAPAUTH_CHUNK / PAGE; pg++) {
			if (next() % 10 >= 3)
				continue;
			for (size_t b = 0; b < PAGE; b += 8)
				*(uint64_t *)(buf + pg * PAGE + b) = next();
			if (pwrite(fd, buf + pg * PAGE, PAGE, (off_t)(off + pg * PAGE)) != PAGE)
				return -1;
			*zero_from = off + (pg + 1) * PAGE;
		}
		snapauth_sha256(buf, SNAPAUTH_CHUNK, digests[off / SNAPAUTH_CHUNK]);
	}
	free(buf);
	return fd;
}

struct toucher {
	const volatile uint8_t *ram;
	const size_t *pages; /* NULL: every page */
	size_t nr;
	double ms;
	double chunk_us; /* every page: the mean first touch of a chunk */
};

static void *touch(void *arg)
{
	struct toucher *t = arg;
	uint64_t t0 = now_ns(), chunk_ns = 0, chunks = 0;
	uint8_t sum = 0;

	for (size_t i = 0; i < t->nr; i++) {
		size_t pg = t->pages ? t->pages[i] : i;

		if (!t->pages && pg % (SNAPAUTH_CHUNK / PAGE) == 0) {
			uint64_t c0 = now_ns();

			sum += t->ram[pg * PAGE];
			chunk_ns += now_ns() - c0;
			chunks++;
			continue;
		}
		sum += t->ram[pg * PAGE];
	}
	t->ms = (double)(now_ns() - t0) / 1e6;
	t->chunk_us = chunks ? (double)chunk_ns / (double)chunks / 1e3 : 0;
	(void)sum;
	return NULL;
}

static void run_toucher(struct toucher *t)
{
	pthread_t th;

	if (pthread_create(&th, NULL, touch, t) == 0)
		pthread_join(th, NULL);
}

static long rss_anon_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "RssAnon: %ld kB", &v) == 1)
			break;
	}
	if (f)
		fclose(f);
	return v;
}

static void on_fail(void *opaque, const char *why)
{
	(void)opaque;
	fprintf(stderr, "authbench: the handler refused a chunk: %s\n", why);
	exit(1);
}

/* Lazy RAM over fd, ready; its setup time into *ms. */
static int lazy_setup(struct guest_mem *m, struct snaplazy *l, uint64_t ram_size, int fd, uint64_t zero_from,
		      uint8_t (*digests)[SNAPAUTH_DIGEST], double *ms)
{
	char err[300];
	uint64_t t0 = now_ns();

	if (mem_create(m, ram_size) ||
	    snaplazy_attach(l, m, fd, &(struct mem_range){ zero_from, ram_size - zero_from }, zero_from && zero_from < ram_size,
			    (const uint8_t(*)[SNAPAUTH_DIGEST])digests,
			    snapauth_nr_chunks(ram_size), err, sizeof(err)) ||
	    snaplazy_start(l, true, on_fail, NULL)) {
		fprintf(stderr, "authbench: lazy setup: %s\n", err);
		return -1;
	}
	*ms = (double)(now_ns() - t0) / 1e6;
	return 0;
}

int main(int argc, char **argv)
{
	char path[512], err[300];
	size_t ws[WS_PAGES];
	struct guest_mem m;
	struct snaplazy l;
	struct toucher t;
	uint64_t ram_size, zero_from, t0;
	uint8_t (*digests)[SNAPAUTH_DIGEST];
	double full[3], setup_ms, ws_ms, full_ws_ms;
	long anon0, lazy_kib, full_kib;
	int mib, fd;

	if (argc != 3 || (mib = atoi(argv[1])) < 2)
		return fprintf(stderr, "usage: authbench MIB DIR\n"), 2;
	log_set_level(LOG_WARN);
	ram_size = (uint64_t)mib << 20;
	snprintf(path, sizeof(path), "%s/auth.mem", argv[2]);
	digests = malloc((size_t)snapauth_nr_chunks(ram_size) * SNAPAUTH_DIGEST);
	fd = digests ? make_file(path, ram_size, digests, &zero_from) : -1;
	if (fd < 0)
		return fprintf(stderr, "authbench: cannot write %s: %s\n", path, strerror(errno)), 1;
	for (int i = 0; i < WS_PAGES; i++) {
		bool dup;

		do {
			ws[i] = next() % (ram_size / PAGE);
			dup = false;
			for (int j = 0; j < i; j++)
				dup |= ws[j] == ws[i];
		} while (dup);
	}

	for (int i = 0; i < 3; i++) {
		t0 = now_ns();
		if (snapauth_verify_mem(fd, ram_size, &(struct mem_range){ zero_from, ram_size - zero_from },
					zero_from && zero_from < ram_size, (const uint8_t(*)[SNAPAUTH_DIGEST])digests, err,
					sizeof(err)))
			return fprintf(stderr, "authbench: full verification: %s\n", err), 1;
		full[i] = (double)(now_ns() - t0) / 1e6;
	}
	qsort(full, 3, sizeof(full[0]), cmp);

	/* The File backend: the working set through the private file mapping. */
	anon0 = rss_anon_kib();
	if (mem_map_fd(&m, ram_size, fd, true, &(struct mem_range){ zero_from, ram_size - zero_from },
		       zero_from && zero_from < ram_size))
		return fprintf(stderr, "authbench: mem_map_fd failed\n"), 1;
	t = (struct toucher){ .ram = m.map, .pages = ws, .nr = WS_PAGES };
	run_toucher(&t);
	full_ws_ms = t.ms;
	full_kib = rss_anon_kib() - anon0;
	mem_destroy(&m);

	/* Lazy: setup, then the working set. */
	anon0 = rss_anon_kib();
	if (lazy_setup(&m, &l, ram_size, fd, zero_from, digests, &setup_ms))
		return 1;
	t = (struct toucher){ .ram = m.map, .pages = ws, .nr = WS_PAGES };
	run_toucher(&t);
	ws_ms = t.ms;
	lazy_kib = rss_anon_kib() - anon0;
	snaplazy_release(&l);
	mem_destroy(&m);

	/* Lazy, every page. */
	if (lazy_setup(&m, &l, ram_size, fd, zero_from, digests, &(double){ 0 }))
		return 1;
	t = (struct toucher){ .ram = m.map, .nr = ram_size / PAGE };
	run_toucher(&t);
	snaplazy_release(&l);
	mem_destroy(&m);

	printf("kindling.snapauth_full_verify_ms_%dm %.3f ms\n", mib, full[1]);
	printf("kindling.snapauth_lazy_setup_ms_%dm %.3f ms\n", mib, setup_ms);
	printf("kindling.snapauth_lazy_touch_ws_ms_%dm %.3f ms\n", mib, ws_ms);
	printf("kindling.snapauth_lazy_touch_all_ms_%dm %.3f ms\n", mib, t.ms);
	printf("kindling.snapauth_lazy_chunk_fault_us_%dm %.1f us\n", mib, t.chunk_us);
	printf("kindling.snapauth_full_touch_ws_ms_%dm %.3f ms\n", mib, full_ws_ms);
	printf("kindling.snapauth_lazy_ws_private_kib_%dm %ld KiB\n", mib, lazy_kib);
	printf("kindling.snapauth_full_ws_private_kib_%dm %ld KiB\n", mib, full_kib);
	close(fd);
	unlink(path);
	free(digests);
	return 0;
}
