/* `kindling run --snapshot-dir`: the runner's side of warm starts (runner_snap.c). A cold
 * run takes a Full snapshot of the function once kindling-init is ready, through the VMM's
 * API socket, and stores it (runsnap.h); a later run restores it and sends the guest the
 * restore message before the invocation. Private to cli/runner*.c. */
#ifndef KINDLING_RUNNER_SNAP_H
#define KINDLING_RUNNER_SNAP_H

#include <stdbool.h>

#include "httpc.h"
#include "runsnap.h"

/* runner_child.c's: one request to kindling-init, on a connection of its own. */
int runner_guest_post(const char *path, const char *body, size_t len, int timeout_s, struct httpc_response *resp)
	__attribute__((warn_unused_result));

struct runner_snap {
	const char *dir;
	const volatile sig_atomic_t *cancel; /* set: requests in flight give up (a signal came) */
	struct runsnap_key key;
	struct runsnap_entry entry;
	bool usable;               /* an entry to restore */
	bool prefetched;           /* restored with --prefetch of the entry's working set */
	bool verbose;              /* --verbose: the restore message's answer is logged */
	struct runsnap_build build; /* the entry a cold run is storing */
	char api_dir[32];          /* the VMM's API socket's private directory ("": none) */
	char api_sock[48];
	const char *disk_src; /* the cold run's scratch disk, copied into the entry (NULL: none) */
	double probe_ms, pause_ms, create_ms, disk_ms, resume_ms, store_ms;
	char report[PATH_MAX + 256]; /* what the snapshot cost, for the breakdown ("": none) */
};

/* Computes fn's key and looks it up in dir: s->usable when there is an entry to restore. A
 * stale or damaged entry is removed, with a line on stderr. -errno (err) when the key
 * cannot be computed. */
int runner_snap_find(struct runner_snap *s, const char *dir, const struct runsnap_fn *fn,
		     const volatile sig_atomic_t *cancel, char *err, size_t errlen) __attribute__((warn_unused_result));

/* The entry s->usable named did not restore (why: the VMM's last words): says so on
 * stderr and removes it; the run boots cold. */
void runner_snap_failed(struct runner_snap *s, const char *why);

/* Before a cold boot: a temporary entry and a private directory for the VMM's API socket
 * (s->api_sock). On failure (err) the run goes on without a snapshot. */
int runner_snap_begin(struct runner_snap *s, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Once the cold-booted guest is ready: checks its kindling-init takes the restore message,
 * pauses the VMM, takes the snapshot (and, paused still, copies s->disk_src, the scratch
 * disk, into it), resumes, and stores the entry (s->report says how long each step took). -errno (err) when no snapshot was stored; *running is false when
 * the VM could not be resumed. */
int runner_snap_take(struct runner_snap *s, bool *running, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* After a restore: POSTs kindling-init's /restore with fresh entropy, the wall clock and
 * hostname (NULL: the guest keeps its own).
 * -errno (err) when the guest did not take it; the entry is then removed too (a guest that
 * cannot be given fresh identity is not to be restored again). */
int runner_snap_restore_msg(struct runner_snap *s, const char *hostname, int timeout_s, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Discards what is under way and the API socket's directory. */
void runner_snap_end(struct runner_snap *s);

#endif
