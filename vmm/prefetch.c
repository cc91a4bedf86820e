/* The prefetch thread (prefetch.h). Under its seccomp filter (SECCOMP_PREFETCH) from its first
 * instruction of its own: madvise (any advice), write (the log line), clock_gettime and what a thread's
 * exit takes. It allocates nothing. */
#include "prefetch.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "vmm_seccomp.h"

#define PAGE WSETFILE_PAGE_SIZE
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static bool stopping(const struct prefetch *pf)
{
	return __atomic_load_n(&pf->stop, __ATOMIC_RELAXED);
}

static const char *advice_name(const struct prefetch *pf, bool written)
{
	if (written && !pf->no_write)
		return "MADV_POPULATE_WRITE";
	return pf->willneed ? "MADV_WILLNEED" : "MADV_POPULATE_READ";
}

/* One chunk: 0, or -errno (with the fallbacks from MADV_POPULATE_WRITE and
 * MADV_POPULATE_READ made once each). */
static int populate(struct prefetch *pf, uint8_t *p, size_t len, bool written)
{
	/* Writable: the private copy made now, not at the guest's first write (KVM's write
	 * fault copies even a page already mapped read-only). The copy holds what the file
	 * has: nothing changes for the guest, it would have made that copy itself. */
	if (written && !pf->no_write) {
		if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
			return 0;
		if (errno != EINVAL)
			return -errno;
		pf->no_write = true;
		log_info("prefetch: MADV_POPULATE_WRITE is not supported here (Linux 5.14+): written pages "
			 "populated for reading");
	}
	for (;;) {
		if (madvise(p, len, pf->willneed ? MADV_WILLNEED : MADV_POPULATE_READ) == 0)
			return 0;
		if (errno != EINVAL || pf->willneed)
			return -errno;
		/* Linux before 5.14: no populate. WILLNEED only reads the pages into the page
		 * cache (the faults stay, but minor ones), which is most of the gain. */
		pf->willneed = true;
		log_info("prefetch: MADV_POPULATE_READ is not supported here (Linux 5.14+): using MADV_WILLNEED");
	}
}

static void *run(void *arg)
{
	struct prefetch *pf = arg;
	uint64_t t0;

	if (pf->seccomp && seccomp_install(SECCOMP_PREFETCH)) {
		pf->error = -EPERM;
		log_warn("prefetch: no seccomp filter for its thread: not prefetching");
		__atomic_store_n(&pf->finished, true, __ATOMIC_RELEASE);
		return NULL;
	}
	t0 = now_ns();
	for (size_t i = 0; i < pf->nr && !pf->error && !stopping(pf); i++) {
		const struct wset_range *r = &pf->ranges[i];
		uint64_t done = 0;

		while (done < r->count && !stopping(pf)) {
			uint64_t n = r->count - done < PREFETCH_CHUNK_PAGES ? r->count - done : PREFETCH_CHUNK_PAGES;
			int e = populate(pf, pf->base + ((uint64_t)r->start + done) * PAGE, (size_t)(n * PAGE),
					 r->written);

			if (e) {
				pf->error = e;
				log_warn("prefetch: madvise(%s) of pages %llu-%llu: %s; stopped", advice_name(pf, r->written),
					 (unsigned long long)(r->start + done), (unsigned long long)(r->start + done + n - 1),
					 strerror(-e));
				break;
			}
			done += n;
			pf->pages_done += n;
			if (r->written)
				pf->written_done += n;
		}
		if (done == r->count)
			pf->ranges_done++;
	}
	log_info("prefetch: %llu pages in %zu ranges (%llu written) in %.1f ms%s%s", (unsigned long long)pf->pages_done,
		 pf->ranges_done, (unsigned long long)pf->written_done, (double)(now_ns() - t0) / 1e6,
		 pf->willneed ? " (MADV_WILLNEED)" : "",
		 stopping(pf) && pf->ranges_done < pf->nr ? " (stopped early)" : "");
	__atomic_store_n(&pf->finished, true, __ATOMIC_RELEASE);
	return NULL;
}

int prefetch_start(struct prefetch *pf, const struct guest_mem *m, const struct wsetfile *w, bool seccomp)
{
	sigset_t all, old;
	int r;

	memset(pf, 0, sizeof(*pf));
	if (w->nr && ((uint64_t)w->ranges[w->nr - 1].start + w->ranges[w->nr - 1].count) * PAGE > m->ram_size)
		return -EINVAL;
	if (m->map_size < m->ram_size)
		return -EINVAL;
	pf->base = m->map;
	pf->len = m->ram_size;
	pf->ranges = w->ranges;
	pf->nr = w->nr;
	pf->seccomp = seccomp;
	/* Created with every signal blocked, so that it inherits that mask: a process-directed
	 * signal must not land in a thread whose filter has no handler's calls. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&pf->thread, NULL, run, pf);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return r;
	pthread_setname_np(pf->thread, "kindling-prefch");
	pf->started = true;
	return 0;
}

bool prefetch_finished(const struct prefetch *pf)
{
	return __atomic_load_n(&pf->finished, __ATOMIC_ACQUIRE);
}

void prefetch_stop(struct prefetch *pf)
{
	if (!pf->started)
		return;
	__atomic_store_n(&pf->stop, true, __ATOMIC_RELAXED);
	pthread_join(pf->thread, NULL);
	pf->started = false;
}
