/* The Uffd memory backend of a snapshot load (Firecracker v1.7.0's protocol): guest RAM is
 * anonymous memory registered with a userfaultfd, and an external page-fault handler,
 * reached over a Unix socket, serves its pages. This file also watches that handler, so
 * that one that dies or stops answering stops the VM with a reason instead of hanging it. */
#ifndef KINDLING_SNAPUFFD_H
#define KINDLING_SNAPUFFD_H

#include <stdbool.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

/* How long a page fault may stay unread by the handler (and how long the handler has to
 * take the userfaultfd at load) before the VM is stopped (the load refused). */
#define SNAPUFFD_DEADLINE_MS 10000
/* How often the monitor thread looks at the userfaultfd. */
#define SNAPUFFD_POLL_MS 250

struct snapuffd {
	bool active; /* between snapuffd_attach and snapuffd_release */
	int uffd;    /* kept open: were it closed, a dead handler would turn faults into zero pages */
	int sock;    /* the connection to the handler: its hang-up is the handler going away */
	int wake_fd; /* ends the monitor thread */
	uint8_t *base;
	size_t len; /* 0 once fenced (snapuffd_release, or a failed handler) */
	unsigned deadline_ms;
	uint64_t pending_since_ns; /* first look that found a fault unread in this streak; 0 none */
	pthread_t thread;
	bool thread_started, seccomp, failed;
	void (*fail)(void *opaque, const char *why);
	void *opaque;
	char why[160];
};

/* Firecracker's handshake body for m: a JSON array of GuestRegionUffdMapping
 * {base_host_virt_addr, size, offset, page_size_kib}, one per RAM region, offset being where
 * the region's bytes start in the memory file. Returns its length, or -ENOSPC. */
int snapuffd_mappings_json(const struct guest_mem *m, char *buf, size_t len);

/* Registers m's RAM (anonymous, private) with a new userfaultfd in missing mode, connects to
 * the handler's socket at path, sends the mappings with the userfaultfd (SCM_RIGHTS), and
 * waits until the handler has read them, at most deadline_ms. u is ready for snapuffd_watch;
 * on failure nothing is left registered or open. */
int snapuffd_attach(struct snapuffd *u, struct guest_mem *m, const char *path, unsigned deadline_ms, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/* One look at the handler, as the monitor makes it every SNAPUFFD_POLL_MS: 0 if fine, -EPIPE
 * if it hung up, -ETIMEDOUT if a fault has stayed unread for deadline_ms (now_ns from the
 * monotonic clock); the reason is then in u->why. */
int snapuffd_check(struct snapuffd *u, uint64_t now_ns) __attribute__((warn_unused_result));

/* Starts the monitor thread (under its own seccomp filter, SECCOMP_UFFD, if seccomp). On a
 * hang-up or a missed deadline it calls fail(opaque, why) once, from that thread (vm_stop is
 * safe there), then makes the RAM inaccessible and wakes the faults still waiting, which
 * then fail rather than read zero pages: the VM must be stopping. */
int snapuffd_watch(struct snapuffd *u, bool seccomp, void (*fail)(void *opaque, const char *why), void *opaque)
	__attribute__((warn_unused_result));
/* Whether the monitor gave up on the handler. */
bool snapuffd_failed(const struct snapuffd *u);

/* Ends the monitor, makes the RAM inaccessible and wakes any fault still waiting (call it
 * only with the VM stopping or gone: the vCPUs can then be joined), closes the fds.
 * Idempotent; a no-op on a zeroed struct. */
void snapuffd_release(struct snapuffd *u);

#endif
