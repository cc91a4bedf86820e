/* Lazy verification of a signed snapshot's memory (`--snapshot-verify lazy`, issue 14): guest
 * RAM is anonymous memory registered with a userfaultfd of the VMM's own, and a handler
 * thread serves each 2 MiB chunk on its first fault: it reads the chunk from the memory file,
 * checks it against the state file's digest and only then copies it in. A chunk that fails
 * is never copied: the VM is stopped with the chunk named, and its RAM fenced, so that
 * whoever waits on it (a vCPU, the VMM thread's device emulation) fails instead of reading
 * anything. Everything touching RAM (vCPUs, KVM, devices, a snapshot being taken, the
 * prefetch thread) faults through it; the handler itself touches RAM only through
 * UFFDIO_COPY and UFFDIO_ZEROPAGE. */
#ifndef KINDLING_SNAPLAZY_H
#define KINDLING_SNAPLAZY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "snapauth.h"

struct snaplazy {
	bool active; /* between snaplazy_attach and snaplazy_release */
	int uffd;
	int mem_fd;  /* the handler's own dup of the memory file */
	int wake_fd; /* ends the handler thread */
	uint8_t *base;
	size_t len; /* 0 once fenced */
	uint64_t ram_size;
	struct mem_range *zero; /* a copy of the zero ranges the state file gives */
	size_t nr_zero;
	uint32_t nr_chunks;
	uint8_t (*digests)[SNAPAUTH_DIGEST]; /* a copy of the state file's */
	uint8_t *served;                     /* per chunk: copied in (only the handler writes it) */
	uint8_t *buf;                        /* one chunk, read from the file */
	pthread_t thread;
	bool thread_started, seccomp, failed;
	void (*fail)(void *opaque, const char *why);
	void *opaque;
	char why[300];
	/* What the handler did (read after the join, or racily for a log line). */
	uint64_t faults, chunks_read, chunks_zero, pages_copied;
};

/* Registers m's RAM (anonymous, private, nothing in it yet) with a new userfaultfd in missing
 * mode, to be served from the memory file fd (its RAM part) with the nr_zero zero ranges the
 * snapshot gives (snapfile_zero_ranges: zeros there, as mem_map_fd would map them) and
 * checked against digests (nr_chunks of them, for m->ram_size). fd is dup'ed; ranges and
 * digests copied. On failure nothing is left registered or open. */
int snaplazy_attach(struct snaplazy *l, struct guest_mem *m, int fd, const struct mem_range *zero, size_t nr_zero,
		    const uint8_t (*digests)[SNAPAUTH_DIGEST], uint32_t nr_chunks, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Starts the handler thread (under its own seccomp filter, SECCOMP_LAZY, if seccomp, before
 * it reads a fault or the file). On a chunk that fails (or cannot be read) it logs the
 * reason, calls fail(opaque, why) once from that thread (vm_stop is safe there), then fences
 * the RAM: the faults waiting are woken and fail. Without a fault, nothing happens. */
int snaplazy_start(struct snaplazy *l, bool seccomp, void (*fail)(void *opaque, const char *why), void *opaque)
	__attribute__((warn_unused_result));
/* Whether the handler refused a chunk (its reason is then in l->why). */
bool snaplazy_failed(const struct snaplazy *l);

/* Ends the handler, makes the RAM inaccessible and wakes any fault still waiting (only with
 * the VM stopping or gone), closes the fds, frees the tables. Idempotent; a no-op on a
 * zeroed struct. */
void snaplazy_release(struct snaplazy *l);

#endif
