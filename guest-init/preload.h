/* The handler's file in the page cache before readiness: a snapshot taken at readiness then
 * holds it, and every instance restored from that snapshot execs the handler without reading
 * the root disk. Without it, each clone's first invocation read the handler back from its
 * disk through virtio-blk, page fault by page fault (the demo's: 11 reads, ~270 KiB; in the
 * lab about a third of the invocation's time). */
#ifndef KINDLING_INIT_PRELOAD_H
#define KINDLING_INIT_PRELOAD_H

#include <stdbool.h>
#include <stddef.h>

/* The most preload reads in all, so that a huge handler cannot hold readiness back long. */
#define PRELOAD_MAX_BYTES (64u << 20)

/* Reads path into the page cache (its first PRELOAD_MAX_BYTES at most), then what it needs
 * before any of its own code runs: a script's interpreter (#!), an ELF's program interpreter
 * (PT_INTERP), and theirs in turn, two levels deep (named in a file's first 4 KiB, where
 * both are). Shared libraries are not followed. Best effort: a file that cannot be read is
 * skipped, and the invocation reports it as before. Returns the bytes read in all. */
size_t preload_handler(const char *path);

/* What a file whose first len bytes are p runs first: a #! line's interpreter (an absolute
 * path), or an ELF64 file's PT_INTERP, into out (outlen bytes); false when none, or not a
 * well-formed one. */
bool preload_next(const unsigned char *p, size_t len, char *out, size_t outlen);

#endif
