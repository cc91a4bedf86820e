/* Authenticated snapshots' crypto and checks (snapauth.h). */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co: the small, fast path (snapauth.h) */
#include "snapauth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define HMAC_BLOCK 64

int snapauth_key_read(const char *path, struct snapauth_key *key, char *err, size_t errlen)
{
	uint8_t buf[SNAPAUTH_KEY_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd, e;

	memset(key, 0, sizeof(*key));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errorf_errno(err, errlen, errno, "cannot open the snapshot key %s", path);
	if (fstat(fd, &st) < 0) {
		e = errorf_errno(err, errlen, errno, "cannot stat the snapshot key %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		e = errorf(err, errlen, -EINVAL, "the snapshot key %s is not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		e = errorf(err, errlen, -EINVAL,
			   "the snapshot key %s is accessible to its group or others (mode %04o): chmod 600 it",
			   path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		e = errorf_errno(err, errlen, errno, "cannot read the snapshot key %s", path);
		goto out;
	}
	if (n < SNAPAUTH_KEY_MIN || n > SNAPAUTH_KEY_MAX) {
		e = errorf(err, errlen, -EINVAL, "the snapshot key %s is %s%zd bytes long: it must be %d to %d bytes",
			   path, n > SNAPAUTH_KEY_MAX ? "over " : "", n > SNAPAUTH_KEY_MAX ? (ssize_t)SNAPAUTH_KEY_MAX : n,
			   SNAPAUTH_KEY_MIN, SNAPAUTH_KEY_MAX);
		goto out;
	}
	memcpy(key->bytes, buf, (size_t)n);
	key->len = (size_t)n;
	e = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return e;
}

void snapauth_sha256(const void *p, size_t n, uint8_t out[SNAPAUTH_DIGEST])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, p, n);
	SHA256_Final(out, &c);
}

/* RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)); keys here are at most one block long. */
void snapauth_hmac(const struct snapauth_key *key, const void *p, size_t n, uint8_t out[SNAPAUTH_DIGEST])
{
	uint8_t pad[HMAC_BLOCK], inner[SNAPAUTH_DIGEST];
	SHA256_CTX c;

	memset(pad, 0, sizeof(pad));
	memcpy(pad, key->bytes, key->len);
	for (int i = 0; i < HMAC_BLOCK; i++)
		pad[i] ^= 0x36;
	SHA256_Init(&c);
	SHA256_Update(&c, pad, sizeof(pad));
	SHA256_Update(&c, p, n);
	SHA256_Final(inner, &c);
	for (int i = 0; i < HMAC_BLOCK; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	SHA256_Init(&c);
	SHA256_Update(&c, pad, sizeof(pad));
	SHA256_Update(&c, inner, sizeof(inner));
	SHA256_Final(out, &c);
	explicit_bzero(pad, sizeof(pad));
	explicit_bzero(&c, sizeof(c));
}

int snapauth_digest_cmp(const uint8_t a[SNAPAUTH_DIGEST], const uint8_t b[SNAPAUTH_DIGEST])
{
	uint8_t d = 0;

	for (int i = 0; i < SNAPAUTH_DIGEST; i++)
		d |= a[i] ^ b[i];
	return d != 0;
}

uint32_t snapauth_nr_chunks(uint64_t ram_size)
{
	return (uint32_t)((ram_size + SNAPAUTH_CHUNK - 1) / SNAPAUTH_CHUNK);
}

static size_t chunk_len(uint64_t ram_size, uint32_t i)
{
	uint64_t off = (uint64_t)i * SNAPAUTH_CHUNK;

	return ram_size - off < SNAPAUTH_CHUNK ? (size_t)(ram_size - off) : SNAPAUTH_CHUNK;
}

void snapauth_digest_ram(const uint8_t *ram, uint64_t ram_size, uint8_t (*out)[SNAPAUTH_DIGEST])
{
	uint32_t n = snapauth_nr_chunks(ram_size);

	for (uint32_t i = 0; i < n; i++)
		snapauth_sha256(ram + (uint64_t)i * SNAPAUTH_CHUNK, chunk_len(ram_size, i), out[i]);
}

static int read_at(int fd, uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) /* shorter than snapmem_open saw: changed under us */
			return -EIO;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Whether [off, off+len) of fd is one hole (reads as zeros without being read). */
static bool is_hole(int fd, uint64_t off, size_t len)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA);

	return d < 0 ? errno == ENXIO : (uint64_t)d >= off + len;
}

/* SHA-256 of SNAPAUTH_CHUNK zero bytes (tests/unit/test_snapauth.c recomputes it): a whole
 * chunk that is a hole or a zero range is compared against it without being hashed. */
const uint8_t snapauth_zero_chunk_digest[SNAPAUTH_DIGEST] = {
	0x56, 0x47, 0xf0, 0x5e, 0xc1, 0x89, 0x58, 0x94, 0x7d, 0x32, 0x87, 0x4e, 0xeb, 0x78, 0x8f, 0xa3,
	0x96, 0xa0, 0x5d, 0x0b, 0xab, 0x7c, 0x1b, 0x71, 0xf1, 0x12, 0xce, 0xb7, 0xe9, 0xb3, 0x1e, 0xee,
};

/* Zeroes the parts of the chunk [off, off+len) at buf (NULL: none) that the zero ranges
 * mem_zero_range_ok takes cover (the others mem_map_fd leaves to the file, and so does
 * this); true when they cover all of it. The ranges may overlap (the memory file's zero end
 * is not checked against the state file's holes), so coverage is walked, not summed. */
static bool zero_ranges(uint8_t *buf, uint64_t off, size_t len, const struct mem_range *zero, size_t nr,
			uint64_t ram_size)
{
	uint64_t pos = off, end = off + len;
	bool moved = true;

	for (size_t i = 0; buf && i < nr; i++) {
		uint64_t a = zero[i].off > off ? zero[i].off : off;
		uint64_t b = zero[i].off + zero[i].len < end ? zero[i].off + zero[i].len : end;

		if (a < b && mem_zero_range_ok(&zero[i], ram_size))
			memset(buf + (a - off), 0, (size_t)(b - a));
	}
	while (moved && pos < end) {
		moved = false;
		for (size_t i = 0; i < nr; i++) {
			if (zero[i].off <= pos && zero[i].off + zero[i].len > pos && mem_zero_range_ok(&zero[i], ram_size)) {
				pos = zero[i].off + zero[i].len;
				moved = true;
			}
		}
	}
	return pos >= end;
}

int snapauth_read_chunk(int fd, uint64_t ram_size, const struct mem_range *zero, size_t nr_zero, uint32_t i,
			uint8_t *buf, uint8_t d[SNAPAUTH_DIGEST], bool *is_zero)
{
	uint64_t off = (uint64_t)i * SNAPAUTH_CHUNK;
	size_t len = chunk_len(ram_size, i);
	int e;

	*is_zero = len == SNAPAUTH_CHUNK &&
		   (zero_ranges(NULL, off, len, zero, nr_zero, ram_size) || is_hole(fd, off, len));
	if (*is_zero) {
		memcpy(d, snapauth_zero_chunk_digest, SNAPAUTH_DIGEST);
		return (int)len;
	}
	e = read_at(fd, buf, len, (off_t)off);
	if (e)
		return e;
	zero_ranges(buf, off, len, zero, nr_zero, ram_size);
	snapauth_sha256(buf, len, d);
	return (int)len;
}

int snapauth_chunk_mismatch(char *err, size_t errlen, uint64_t ram_size, uint32_t i)
{
	uint64_t off = (uint64_t)i * SNAPAUTH_CHUNK;

	return errorf(err, errlen, -EBADMSG,
		      "memory file chunk %u (bytes %llu..%llu) does not match the signed state file's "
		      "digest: the memory file was modified, or belongs to another snapshot",
		      i, (unsigned long long)off, (unsigned long long)(off + chunk_len(ram_size, i) - 1));
}

int snapauth_verify_mem(int fd, uint64_t ram_size, const struct mem_range *zero, size_t nr_zero,
			const uint8_t (*digests)[SNAPAUTH_DIGEST], char *err, size_t errlen)
{
	uint32_t n = snapauth_nr_chunks(ram_size);
	uint8_t *buf = malloc(SNAPAUTH_CHUNK), d[SNAPAUTH_DIGEST];
	bool is_zero;
	int e = 0;

	if (!buf)
		return errorf(err, errlen, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		e = snapauth_read_chunk(fd, ram_size, zero, nr_zero, i, buf, d, &is_zero);
		if (e < 0) {
			errorf_errno(err, errlen, -e, "cannot read chunk %u of the memory file", i);
			break;
		}
		e = 0;
		if (snapauth_digest_cmp(d, digests[i])) {
			e = snapauth_chunk_mismatch(err, errlen, ram_size, i);
			break;
		}
	}
	free(buf);
	return e;
}
