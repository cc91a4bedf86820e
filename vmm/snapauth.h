/* Authenticated snapshots: the key a VMM signs and checks snapshots with (--snapshot-key),
 * HMAC-SHA256 over a state file, and the SHA-256 digests of RAM in fixed chunks that the
 * state file carries for its memory file. The hashing is OpenSSL libcrypto's SHA-256 (its
 * SHA-NI code: ~4x libsodium's here, and +24 KiB in the static VMM, where libcrypto's EVP
 * layer would add 3.8 MiB: README "Authenticated snapshots"); HMAC is RFC 2104 over it,
 * checked against RFC 4231's vectors. No KVM here. */
#ifndef KINDLING_SNAPAUTH_H
#define KINDLING_SNAPAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

#define SNAPAUTH_KEY_MIN 32
#define SNAPAUTH_KEY_MAX 64
#define SNAPAUTH_DIGEST 32
#define SNAPAUTH_CHUNK (2u << 20) /* the memory file's chunk: one digest each */

struct snapauth_key {
	uint8_t bytes[SNAPAUTH_KEY_MAX];
	size_t len;
};

/* Reads a key file: a regular file of SNAPAUTH_KEY_MIN..SNAPAUTH_KEY_MAX bytes (taken as they
 * are, a trailing newline included), readable by nobody but its owner (no group or other
 * permission bits). -EINVAL (or the errno of a failed call) with the reason in err. */
int snapauth_key_read(const char *path, struct snapauth_key *key, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void snapauth_sha256(const void *p, size_t n, uint8_t out[SNAPAUTH_DIGEST]);
void snapauth_hmac(const struct snapauth_key *key, const void *p, size_t n, uint8_t out[SNAPAUTH_DIGEST]);
/* Constant-time comparison of two digests: 0 if equal. */
int snapauth_digest_cmp(const uint8_t a[SNAPAUTH_DIGEST], const uint8_t b[SNAPAUTH_DIGEST]);

/* The number of chunks of ram_size bytes (the last one may be short). */
uint32_t snapauth_nr_chunks(uint64_t ram_size);
/* The digests of ram_size bytes of RAM at ram, one per chunk, into out (nr_chunks). */
void snapauth_digest_ram(const uint8_t *ram, uint64_t ram_size, uint8_t (*out)[SNAPAUTH_DIGEST]);
/* Checks the RAM a memory file gives the guest, as mem_map_fd maps it with the same nr_zero
 * ranges of zero: zeros in each of them mem_zero_range_ok takes (whatever fd holds there:
 * the guest sees zeros), fd's bytes elsewhere (its holes read as zeros, and are not read).
 * -EBADMSG naming the first chunk whose digest is not digests[i], or the errno of a failed
 * read. */
int snapauth_verify_mem(int fd, uint64_t ram_size, const struct mem_range *zero, size_t nr_zero,
			const uint8_t (*digests)[SNAPAUTH_DIGEST], char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* One chunk of that RAM, as snapauth_verify_mem checks it (and the lazy handler,
 * snaplazy.c): chunk i read from fd into buf (SNAPAUTH_CHUNK bytes; zeros in the zero ranges
 * mem_zero_range_ok takes), its digest into d. *is_zero: the chunk is a whole hole or inside
 * those ranges, known to be zero without a read (buf is then left alone). Returns the chunk's
 * length, or -errno of a failed read (-EIO: the file is shorter than it was). */
int snapauth_read_chunk(int fd, uint64_t ram_size, const struct mem_range *zero, size_t nr_zero, uint32_t i,
			uint8_t *buf, uint8_t d[SNAPAUTH_DIGEST], bool *is_zero) __attribute__((warn_unused_result));
extern const uint8_t snapauth_zero_chunk_digest[SNAPAUTH_DIGEST];
/* The message (and -EBADMSG) for chunk i of ram_size bytes whose digest does not match. */
int snapauth_chunk_mismatch(char *err, size_t errlen, uint64_t ram_size, uint32_t i);

#endif
