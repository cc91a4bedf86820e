/* Working-set prefetch at a restore (issue 13, after REAP, ASPLOS'21): a short-lived thread
 * of its own populates the pages a working-set file names (wsetfile.h) in the VMM's private
 * mapping of the snapshot's memory file, while the vCPUs already run, so that the guest's
 * first touches find them mapped instead of each faulting its page in from the file. */
#ifndef KINDLING_PREFETCH_H
#define KINDLING_PREFETCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "wsetfile.h"

/* How much one madvise call populates: the stop request is looked at between two. */
#define PREFETCH_CHUNK_PAGES 512u

struct prefetch {
	uint8_t *base; /* guest RAM in mapping order (guest_mem.map): page P is base + P * 4096 */
	size_t len;
	const struct wset_range *ranges; /* the caller's, valid until prefetch_stop returns */
	size_t nr;
	bool seccomp; /* the thread installs SECCOMP_PREFETCH first thing */
	bool started;
	bool stop; /* atomic: prefetch_stop asks the thread to end early */
	bool finished; /* atomic: the thread is past its work (prefetch_finished) */
	pthread_t thread;
	/* What the thread did, for prefetch_stop's caller (read after the join). */
	uint64_t pages_done;
	uint64_t written_done; /* ... of which in written ranges */
	size_t ranges_done;
	bool willneed; /* MADV_POPULATE_READ was refused (Linux < 5.14): MADV_WILLNEED instead */
	bool no_write; /* MADV_POPULATE_WRITE was refused: written ranges populated as read ones */
	int error;     /* 0, or the -errno that stopped it */
};

/* Starts the thread over w's ranges of m's RAM mapping (every range must lie within
 * m->ram_size: wsetfile_check_pages). It madvise()s each range: MADV_POPULATE_WRITE for a
 * written one (breaking copy-on-write ahead of the vCPUs: the pages the guest writes anyway;
 * as a read one where that is refused), MADV_POPULATE_READ for a read one (MADV_WILLNEED where
 * that is refused); logs "prefetch: N pages in R ranges (W written) in X ms" at Info and exits; nobody waits for it. It takes no signal. w's ranges must outlive the thread
 * (prefetch_stop). Returns 0 or -errno (-EINVAL for a range outside RAM; the thread could not
 * be started otherwise); pf is then not started, and prefetch_stop on it is a no-op. */
int prefetch_start(struct prefetch *pf, const struct guest_mem *m, const struct wsetfile *w, bool seccomp)
	__attribute__((warn_unused_result));

/* Whether the thread has done its work (or given up): the figures below are final. */
bool prefetch_finished(const struct prefetch *pf);

/* Asks the thread to stop after its current chunk and joins it; before guest RAM is unmapped.
 * Idempotent; a no-op on a zeroed or never-started pf. */
void prefetch_stop(struct prefetch *pf);

#endif
