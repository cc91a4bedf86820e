/* Signed snapshots (vmm/snapauth.c, the auth section of vmm/snapfile.c): HMAC-SHA256 against
 * RFC 4231; a signed state file refused for one flipped byte anywhere (header, table, a
 * section, the digests, the MAC), for another key, without a key, and an unsigned one with
 * a key, all before it is decoded; a memory file refused for a flipped byte in its first
 * chunk, its last, or a hole, naming the chunk; key files refused when short or readable by
 * others. No KVM. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapauth.h"
#include "snapfile.h"
#include "snapmem.h"
#include "test.h"

#define RAM (8u << 20) /* four chunks */

static void fromhex(uint8_t *out, const char *h)
{
	for (size_t i = 0; h[2 * i]; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
}

TEST(snapauth_hmac_rfc4231)
{
	struct snapauth_key k = { .len = 20 };
	uint8_t mac[32], want[32];

	memset(k.bytes, 0x0b, 20);
	snapauth_hmac(&k, "Hi There", 8, mac);
	fromhex(want, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	CHECK(!memcmp(mac, want, 32));
	k.len = 4;
	memcpy(k.bytes, "Jefe", 4);
	snapauth_hmac(&k, "what do ya want for nothing?", 28, mac);
	fromhex(want, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	CHECK(!memcmp(mac, want, 32));
	/* Test case 6: a key longer than a block is hashed first; ours are at most 64 bytes,
	 * so case 7's 131-byte key does not apply. A 64-byte key is used as it is. */
}

/* A minimal valid state for RAM bytes of RAM, signed with key if not NULL. */
static int make_state(struct snapfile *s, const uint8_t *ram, const struct snapauth_key *key)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->id, "0123456789abcdef", 16);
	memcpy(s->cpu.vendor, "GenuineIntel", 13);
	s->config.vcpu_count = 1;
	s->config.mem_size_mib = RAM >> 20;
	s->kvm = calloc(1, sizeof(*s->kvm));
	if (!s->kvm)
		return -1;
	s->kvm->kvm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->kvm->kvm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->kvm->kvm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	s->kvm->nr_cpus = 1;
	s->kvm->cpus[0].mp_state.mp_state = KVM_MP_STATE_RUNNABLE;
	s->kvm->cpus[0].regs.rip = 0x100000;
	s->mem.ram_size = RAM;
	if (key) {
		s->nr_chunks = snapauth_nr_chunks(RAM);
		s->digests = malloc((size_t)s->nr_chunks * 32);
		if (!s->digests)
			return -1;
		snapauth_digest_ram(ram, RAM, s->digests);
		s->is_signed = true;
		s->sign_key = key;
	}
	return 0;
}

/* RAM with data in chunks 0 and 3, chunks 1 and 2 zero (holes in the memory file). */
static uint8_t *make_ram(struct guest_mem *m)
{
	uint8_t *p = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || mem_layout(m, RAM, p))
		return NULL;
	m->map = p;
	m->map_size = RAM;
	for (int i = 0; i < 4096; i++)
		p[i * 7 % (2u << 20)] = (uint8_t)(i | 1);
	p[RAM - 1] = 0x5a;
	p[RAM - (1u << 20)] = 0xa5;
	return p;
}

static void key_of(struct snapauth_key *k, uint8_t seed)
{
	k->len = 32;
	for (int i = 0; i < 32; i++)
		k->bytes[i] = (uint8_t)(seed + i * 13);
}

static int encode(const struct snapfile *s, uint8_t **buf, size_t *len)
{
	char err[256] = "";
	int e = snapfile_encode(s, buf, len, err, sizeof(err));

	if (e)
		printf("  encode: %s\n", err);
	return e;
}

TEST(snapauth_state_signed_and_refusals)
{
	struct snapauth_key k, other;
	struct guest_mem m;
	struct snapfile s, d;
	uint8_t *ram, *buf = NULL, *ubuf = NULL;
	size_t len = 0, ulen = 0;
	bool sig = false;
	char err[300];

	key_of(&k, 1);
	key_of(&other, 2);
	CHECK((ram = make_ram(&m)) != NULL);
	CHECK(make_state(&s, ram, &k) == 0);
	CHECK(encode(&s, &buf, &len) == 0);
	snapfile_free(&s);
	CHECK(make_state(&s, ram, NULL) == 0);
	CHECK(encode(&s, &ubuf, &ulen) == 0);
	snapfile_free(&s);
	/* The version and the flag. */
	CHECK(buf[10] == SNAPFILE_MINOR && buf[96] == SNAPFILE_F_SIGNED && ubuf[96] == 0);
	CHECK(snapfile_check_auth(buf, len, &k, &sig, err, sizeof(err)) == 0 && sig);
	CHECK(snapfile_decode(buf, len, &d, err, sizeof(err)) == 0);
	CHECK(d.is_signed && d.nr_chunks == 4);
	CHECK(!memcmp(d.digests[3], d.digests[3], 32));
	snapfile_free(&d);
	CHECK(snapfile_check_auth(ubuf, ulen, NULL, &sig, err, sizeof(err)) == 0 && !sig);
	/* Another key, no key, a key for an unsigned file. */
	CHECK(snapfile_check_auth(buf, len, &other, NULL, err, sizeof(err)) == -EACCES);
	CHECK(strstr(err, "MAC does not match"));
	CHECK(snapfile_check_auth(buf, len, NULL, NULL, err, sizeof(err)) == -EACCES);
	CHECK(strstr(err, "needs its --snapshot-key"));
	CHECK(snapfile_check_auth(ubuf, ulen, &k, NULL, err, sizeof(err)) == -EACCES);
	CHECK(strstr(err, "not signed"));
	/* One flipped byte, the CRC recomputed (an attacker can): the header (id, flags), the
	 * section table, the config section, the digests, the MAC. Without recomputing, the CRC
	 * refuses it first. */
	size_t auth_len = 8 + 4 * 32 + 32, body = len - 8;
	size_t pos[] = { 16, 96, 97, SNAPFILE_HDR_SIZE + 8, SNAPFILE_HDR_SIZE + 6 * 24 + 1, body - auth_len + 8,
			 body - auth_len + 8 + 3 * 32 + 31, body - 32, body - 1 };
	for (size_t i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		uint8_t *b = malloc(len);
		uint64_t crc;
		int e;

		CHECK(b);
		memcpy(b, buf, len);
		b[pos[i]] ^= 0x01;
		e = snapfile_check_auth(b, len, &k, NULL, err, sizeof(err));
		if (e != -EINVAL) {
			printf("  byte %zu flipped, CRC kept: %d (%s)\n", pos[i], e, err);
			free(b);
			CHECK(0);
		}
		crc = snap_crc64(0, b, body);
		for (int j = 0; j < 8; j++)
			b[body + j] = (uint8_t)(crc >> (8 * j));
		e = snapfile_check_auth(b, len, &k, NULL, err, sizeof(err));
		free(b);
		if (e == 0) {
			printf("  byte %zu flipped, CRC fixed: accepted\n", pos[i]);
			CHECK(0);
		}
	}
	free(buf);
	free(ubuf);
	munmap(ram, RAM);
}

/* Writes the state file and the memory file of a signed snapshot of make_ram()'s RAM. */
TEST(snapauth_load_path_refuses_before_decoding)
{
	char dir[] = "/tmp/kindling-snapauth-XXXXXX", st[80], err[300];
	struct snapauth_key k, other;
	struct snapfile s, d;
	struct guest_mem m;
	uint8_t *ram;

	key_of(&k, 1);
	key_of(&other, 9);
	CHECK(mkdtemp(dir));
	snprintf(st, sizeof(st), "%s/state", dir);
	CHECK((ram = make_ram(&m)) != NULL);
	CHECK(make_state(&s, ram, &k) == 0);
	CHECK(snapfile_write(st, &s, false, err, sizeof(err)) == 0);
	snapfile_free(&s);
	CHECK(snapfile_read(st, &k, &d, err, sizeof(err)) == 0 && d.is_signed);
	snapfile_free(&d);
	CHECK(snapfile_read(st, &other, &d, err, sizeof(err)) == -EACCES && !d.kvm && !d.digests);
	CHECK(snapfile_read(st, NULL, &d, err, sizeof(err)) == -EACCES && !d.kvm);
	unlink(st);
	rmdir(dir);
	munmap(ram, RAM);
}

static int flip_file(const char *path, off_t off, uint8_t x)
{
	int fd = open(path, O_RDWR);
	uint8_t b = 0;
	int ok = fd >= 0 && pread(fd, &b, 1, off) == 1;

	b ^= x;
	ok = ok && pwrite(fd, &b, 1, off) == 1;
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* As a load checks a memory file: with the state file's holes and the trailer's zero end. */
static int verify(int fd, const struct snapfile *s, uint64_t zero_from, char *err, size_t errlen)
{
	struct mem_range zero[SNAPFILE_MAX_HOLES + 1];

	return snapauth_verify_mem(fd, RAM, zero, snapfile_zero_ranges(s, zero_from, zero),
				   (const uint8_t(*)[32])s->digests, err, errlen);
}

TEST(snapauth_memory_chunks)
{
	char dir[] = "/tmp/kindling-snapauth-XXXXXX", mp[80], err[400];
	struct snapauth_key k;
	struct snapfile s;
	struct guest_mem m;
	uint64_t zero_from = 0;
	uint8_t *ram;
	struct {
		off_t off;
		const char *chunk;
	} flips[] = {
		{ 0, "chunk 0 " },                 /* the first chunk */
		{ RAM - 1, "chunk 3 " },           /* the last one */
		{ (3u << 20) + 4096, "chunk 1 " }, /* a hole (made data by the write) */
		{ (5u << 20), "chunk 2 " },        /* another hole */
	};
	int fd;

	key_of(&k, 1);
	CHECK(mkdtemp(dir));
	snprintf(mp, sizeof(mp), "%s/mem", dir);
	CHECK((ram = make_ram(&m)) != NULL);
	CHECK(make_state(&s, ram, &k) == 0);
	CHECK(snapmem_write(mp, &m, NULL, s.id, NULL, false, NULL, 0, NULL, err, sizeof(err)) == 0);
	fd = snapmem_open(mp, RAM, s.id, &zero_from, err, sizeof(err));
	CHECK(fd >= 0);
	CHECK(verify(fd, &s, zero_from, err, sizeof(err)) == 0);
	close(fd);
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		int e;

		CHECK(flip_file(mp, flips[i].off, 0x40) == 0);
		fd = snapmem_open(mp, RAM, s.id, &zero_from, err, sizeof(err));
		CHECK(fd >= 0);
		e = verify(fd, &s, zero_from, err, sizeof(err));
		close(fd);
		if (e != -EBADMSG || !strstr(err, flips[i].chunk)) {
			printf("  flip at %lld: %d (%s)\n", (long long)flips[i].off, e, err);
			CHECK(0);
		}
		CHECK(flip_file(mp, flips[i].off, 0x40) == 0); /* back */
	}
	/* A zero_from moved down (the trailer edited) zeroes data the digests cover. */
	fd = snapmem_open(mp, RAM, s.id, &zero_from, err, sizeof(err));
	CHECK(fd >= 0);
	CHECK(verify(fd, &s, 4u << 20, err, sizeof(err)) == -EBADMSG);
	CHECK(verify(fd, &s, zero_from, err, sizeof(err)) == 0);
	close(fd);
	snapfile_free(&s);
	unlink(mp);
	rmdir(dir);
	munmap(ram, RAM);
}

/* The zero chunk's digest that holes are compared against without being hashed. */
TEST(snapauth_zero_chunk_digest)
{
	uint8_t *zero = calloc(1, SNAPAUTH_CHUNK), d[SNAPAUTH_DIGEST];

	CHECK(zero != NULL);
	snapauth_sha256(zero, SNAPAUTH_CHUNK, d);
	free(zero);
	CHECK(memcmp(d, snapauth_zero_chunk_digest, SNAPAUTH_DIGEST) == 0);
}

TEST(snapauth_key_file)
{
	char dir[] = "/tmp/kindling-snapkey-XXXXXX", p[80], err[300];
	struct snapauth_key k;
	uint8_t bytes[70];
	int fd;

	memset(bytes, 0x42, sizeof(bytes));
	CHECK(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/key", dir);
	CHECK(snapauth_key_read(p, &k, err, sizeof(err)) == -ENOENT);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && write(fd, bytes, 31) == 31);
	CHECK(snapauth_key_read(p, &k, err, sizeof(err)) == -EINVAL && strstr(err, "32 to 64"));
	CHECK(write(fd, bytes, 1) == 1);
	CHECK(snapauth_key_read(p, &k, err, sizeof(err)) == 0 && k.len == 32);
	CHECK(write(fd, bytes, 32) == 32);
	CHECK(snapauth_key_read(p, &k, err, sizeof(err)) == 0 && k.len == 64);
	CHECK(write(fd, bytes, 1) == 1);
	CHECK(snapauth_key_read(p, &k, err, sizeof(err)) == -EINVAL);
	close(fd);
	CHECK(truncate(p, 40) == 0 && chmod(p, 0640) == 0);
	CHECK(snapauth_key_read(p, &k, err, sizeof(err)) == -EINVAL && strstr(err, "chmod 600"));
	CHECK(chmod(p, 0604) == 0 && snapauth_key_read(p, &k, err, sizeof(err)) == -EINVAL);
	CHECK(chmod(p, 0400) == 0 && snapauth_key_read(p, &k, err, sizeof(err)) == 0 && k.len == 40);
	CHECK(snapauth_key_read(dir, &k, err, sizeof(err)) == -EINVAL);
	unlink(p);
	rmdir(dir);
}
