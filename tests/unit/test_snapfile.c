/* The snapshot state file (vmm/snapfile.c): encode -> decode -> encode gives the same bytes;
 * the CRC is CRC-64/XZ; every corrupt, truncated, hostile (behind a valid CRC) or wrongly
 * typed input is refused with a reason; writing is atomic and leaves nothing behind on
 * failure; the CPU identity check refuses another vendor or a missing feature. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapfile.h"
#include "test.h"

#define HDR SNAPFILE_HDR_SIZE
#define ENT SNAPFILE_SECTION_ENTRY

static uint64_t le(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void put(uint8_t *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* After a change to the body: a correct CRC again, so that the checks behind it are reached. */
static void recrc(uint8_t *buf, size_t len)
{
	put(buf + len - 8, snap_crc64(0, buf, len - 8), 8);
}

/* A valid snapfile: 2 vCPUs, 2 drives, 1 net, a small devices blob. */
static int make(struct snapfile *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 16; i++)
		s->id[i] = (uint8_t)(0xa0 + i);
	memcpy(s->cpu.vendor, "AuthenticAMD", 13);
	s->cpu.family = 0x19;
	s->cpu.model = 0x21;
	s->cpu.stepping = 2;
	for (int i = 0; i < SNAP_CPU_WORDS; i++)
		s->cpu.words[i] = 0x01010101u * (uint32_t)(i + 1);
	s->config.vcpu_count = 2;
	s->config.mem_size_mib = 128;
	s->config.boot_timer = true;
	s->config.nr_drives = 2;
	strcpy(s->config.drives[0].id, "drive_a");
	s->config.drives[0].path = strdup("/images/rootfs.ext4");
	s->config.drives[0].is_root = true;
	strcpy(s->config.drives[1].id, "drive_b");
	s->config.drives[1].path = strdup("/images/data.img");
	s->config.drives[1].read_only = true;
	s->config.drives[1].cache_writeback = true;
	s->config.nr_nets = 1;
	strcpy(s->config.nets[0].id, "net_a");
	strcpy(s->config.nets[0].host_dev_name, "tap_a");
	s->config.nets[0].has_mac = true;
	memcpy(s->config.nets[0].mac, "\x06\x00\xac\x10\x00\x02", 6);
	s->config.drives[1].rate_limiter = (struct rl_config){ { 1u << 20, 50u << 20, 100 }, { 200, 0, 1000 } };
	s->config.nets[0].rx_rate_limiter.bandwidth = (struct rl_bucket_config){ 10u << 20, 0, 100 };
	s->config.nets[0].tx_rate_limiter.ops = (struct rl_bucket_config){ UINT64_MAX, 1, UINT64_MAX };
	s->kvm = calloc(1, sizeof(*s->kvm));
	s->devices_len = 300;
	s->devices = malloc(s->devices_len);
	if (!s->kvm || !s->devices || !s->config.drives[0].path || !s->config.drives[1].path)
		return -1;
	for (size_t i = 0; i < s->devices_len; i++)
		s->devices[i] = (uint8_t)(i * 7);
	s->kvm->kvm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->kvm->kvm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->kvm->kvm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	s->kvm->kvm.pit.channels[0].count = 0x1234;
	s->kvm->kvm.clock.clock = 123456789;
	s->kvm->nr_cpus = 2;
	for (int c = 0; c < 2; c++) {
		struct cpu_state *st = &s->kvm->cpus[c];

		st->regs.rip = 0x1000000u + (unsigned)c;
		st->sregs.cr0 = 0x80050033;
		st->xsave.region[0] = 0x37f;
		st->xcrs.nr_xcrs = 1;
		st->xcrs.xcrs[0].value = 7;
		st->lapic.regs[0x20] = (char)c;
		st->mp_state.mp_state = c ? KVM_MP_STATE_HALTED : KVM_MP_STATE_RUNNABLE;
		st->tsc_khz = 2000000;
		st->nr_msrs = 3;
		st->msrs[0] = (struct kvm_msr_entry){ .index = 0x10, .data = 0x123456789ull };
		st->msrs[1] = (struct kvm_msr_entry){ .index = 0xc0000082, .data = 0xffffffff81000000ull };
		st->msrs[2] = (struct kvm_msr_entry){ .index = 0x4b564d01, .data = 0x5001 };
	}
	s->mem.ram_size = 128ull << 20;
	s->mem.diff = SNAP_MEM_FULL;
	return 0;
}

/* make() encoded; the caller frees *buf. */
static int encoded(uint8_t **buf, size_t *len)
{
	struct snapfile s;
	char err[256] = "";
	int e = make(&s) ? -1 : snapfile_encode(&s, buf, len, err, sizeof(err));

	if (e)
		printf("  encode: %s\n", err);
	snapfile_free(&s);
	return e;
}

/* The offset of section `type`'s bytes in an encoded file. */
static size_t sec(const uint8_t *buf, uint32_t type)
{
	uint32_t n = (uint32_t)le(buf + 92, 4);

	for (uint32_t i = 0; i < n; i++) {
		if (le(buf + HDR + i * ENT, 4) == type)
			return (size_t)le(buf + HDR + i * ENT + 8, 8);
	}
	return 0;
}

/* Where vCPU 0's record of a raw struct starts (its u32 size). */
static size_t cpu0(const uint8_t *buf, int field)
{
	static const size_t sizes[] = { sizeof(struct kvm_regs), sizeof(struct kvm_sregs), sizeof(struct kvm_xsave),
					sizeof(struct kvm_xcrs), sizeof(struct kvm_debugregs),
					sizeof(struct kvm_lapic_state), sizeof(struct kvm_mp_state),
					sizeof(struct kvm_vcpu_events) };
	size_t at = sec(buf, SNAP_SEC_VCPUS) + 4;

	for (int i = 0; i < field; i++)
		at += 4 + sizes[i];
	return at;
}

/* Decodes buf: 0 if accepted; else the refusal is in err. */
static int dec(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct snapfile s;
	int e;

	err[0] = 0;
	e = snapfile_decode(buf, len, &s, err, errlen);
	if (!e)
		snapfile_free(&s);
	return e;
}

/* Decodes a patched copy (CRC recomputed): refused, with `want` in the reason. */
static int refused_with(const uint8_t *buf, size_t len, const char *want)
{
	char err[256];
	int e = dec(buf, len, err, sizeof(err));

	if (!e || !strstr(err, want)) {
		printf("  wanted a refusal with \"%s\"; got %d \"%s\"\n", want, e, err);
		return 0;
	}
	return 1;
}

TEST(snapfile_crc64_check_value)
{
	CHECK(snap_crc64(0, "123456789", 9) == 0x995dc9bbdf1939faull);
	CHECK(snap_crc64(0, "", 0) == 0);
	/* In pieces, the same. */
	CHECK(snap_crc64(snap_crc64(0, "1234", 4), "56789", 5) == 0x995dc9bbdf1939faull);
}

TEST(snapfile_roundtrip)
{
	struct snapfile s, d;
	uint8_t *a = NULL, *b = NULL;
	size_t na, nb;
	char err[256] = "";
	int ok;

	CHECK(make(&s) == 0);
	CHECK(snapfile_encode(&s, &a, &na, err, sizeof(err)) == 0);
	CHECK(memcmp(a, SNAPFILE_MAGIC, 8) == 0);
	CHECK(snapfile_decode(a, na, &d, err, sizeof(err)) == 0);
	ok = d.major == SNAPFILE_MAJOR && d.minor == SNAPFILE_MINOR && !memcmp(d.id, s.id, 16) &&
	     !memcmp(&d.cpu, &s.cpu, sizeof(d.cpu)) && d.config.vcpu_count == 2 && d.config.nr_drives == 2 &&
	     !strcmp(d.config.drives[1].path, "/images/data.img") && d.config.drives[1].read_only &&
	     d.config.drives[1].cache_writeback && d.config.drives[0].is_root && d.config.nr_nets == 1 &&
	     !strcmp(d.config.nets[0].host_dev_name, "tap_a") && !memcmp(d.config.nets[0].mac, s.config.nets[0].mac, 6) &&
	     d.config.boot_timer && !d.config.smt && d.devices_len == 300 && !memcmp(d.devices, s.devices, 300) &&
	     d.mem.ram_size == 128ull << 20 && d.kvm->nr_cpus == 2 &&
	     !memcmp(&d.kvm->cpus[1].xsave, &s.kvm->cpus[1].xsave, sizeof(struct kvm_xsave)) &&
	     d.kvm->cpus[1].msrs[2].data == 0x5001 && d.kvm->kvm.clock.clock == 123456789 &&
	     !memcmp(&d.config.drives[1].rate_limiter, &s.config.drives[1].rate_limiter, sizeof(struct rl_config)) &&
	     !rate_limiter_config_enabled(&d.config.drives[0].rate_limiter) &&
	     !memcmp(&d.config.nets[0].rx_rate_limiter, &s.config.nets[0].rx_rate_limiter, sizeof(struct rl_config)) &&
	     !memcmp(&d.config.nets[0].tx_rate_limiter, &s.config.nets[0].tx_rate_limiter, sizeof(struct rl_config));
	if (ok)
		ok = snapfile_encode(&d, &b, &nb, err, sizeof(err)) == 0 && nb == na && !memcmp(a, b, na);
	snapfile_free(&s);
	snapfile_free(&d);
	free(a);
	free(b);
	CHECK(ok);
}

TEST(snapfile_encode_refuses_invalid)
{
	struct snapfile s;
	uint8_t *buf = (uint8_t *)"x";
	size_t len = 1;
	char err[256] = "";
	int e;

	CHECK(make(&s) == 0);
	s.kvm->nr_cpus = 3;
	e = snapfile_encode(&s, &buf, &len, err, sizeof(err));
	snapfile_free(&s);
	CHECK(e == -EINVAL && !buf && !len && strstr(err, "3 vCPUs saved, but vcpu_count is 2"));
	CHECK(make(&s) == 0);
	s.devices_len = SNAPFILE_MAX_DEVICES + 1;
	e = snapfile_encode(&s, &buf, &len, err, sizeof(err));
	snapfile_free(&s);
	CHECK(e == -EINVAL && strstr(err, "device state"));
}

/* A 1.0 file (no rate limiters in its config) still reads, with no limiters; the same
 * bytes labelled 1.1 are refused (the config section ends early). */
TEST(snapfile_reads_1_0_without_limiters)
{
	const size_t cut = 4 * 6 * 8; /* 2 drives' limiters, a net's two */
	uint8_t *buf;
	size_t len, cfg, cfg_len = 0, end;
	struct snapfile d;
	char err[256] = "";
	int ok = 1;

	CHECK(encoded(&buf, &len) == 0);
	cfg = sec(buf, SNAP_SEC_CONFIG);
	for (uint32_t i = 0; i < (uint32_t)le(buf + 92, 4); i++) {
		uint8_t *e = buf + HDR + i * ENT;

		if (le(e, 4) == SNAP_SEC_CONFIG) {
			cfg_len = (size_t)le(e + 16, 8);
			put(e + 16, cfg_len - cut, 8);
		} else if (le(e + 8, 8) > cfg) {
			put(e + 8, le(e + 8, 8) - cut, 8);
		}
	}
	end = cfg + cfg_len;
	memmove(buf + end - cut, buf + end, len - end);
	len -= cut;
	recrc(buf, len);
	ok &= refused_with(buf, len, "config");
	put(buf + 10, 0, 2);
	recrc(buf, len);
	if (snapfile_decode(buf, len, &d, err, sizeof(err)) == 0) {
		ok &= d.minor == 0 && d.config.nr_drives == 2 && d.config.nr_nets == 1 &&
		      !rate_limiter_config_enabled(&d.config.drives[1].rate_limiter) &&
		      !rate_limiter_config_enabled(&d.config.nets[0].rx_rate_limiter) &&
		      !rate_limiter_config_enabled(&d.config.nets[0].tx_rate_limiter) &&
		      !strcmp(d.config.nets[0].host_dev_name, "tap_a");
		snapfile_free(&d);
	} else {
		printf("  1.0 refused: %s\n", err);
		ok = 0;
	}
	free(buf);
	CHECK(ok);
}

/* make() with a hole table of n holes of 1 MiB every 4 MiB, encoded. */
static int encoded_holes(uint8_t **buf, size_t *len, uint32_t n)
{
	struct snapfile s;
	char err[256] = "";
	int e = make(&s);

	s.nr_holes = n;
	for (uint32_t i = 0; i < n; i++)
		s.holes[i] = (struct mem_range){ (uint64_t)i * (4 << 20) + 4096, 1 << 20 };
	if (!e)
		e = snapfile_encode(&s, buf, len, err, sizeof(err));
	if (e)
		printf("  encode: %s\n", err);
	snapfile_free(&s);
	return e;
}

/* 1.3's hole table: written as its own section when there is one, read back the same, and a
 * file without one (1.2, or 1.3 without holes) still loads. */
TEST(snapfile_holes_roundtrip)
{
	struct snapfile d;
	uint8_t *buf;
	size_t len, at;
	char err[256] = "";
	int ok = 1;

	CHECK(encoded_holes(&buf, &len, SNAPFILE_MAX_HOLES) == 0);
	CHECK(le(buf + 10, 2) == 3 && le(buf + 92, 4) == SNAP_SEC_COUNT + 1);
	at = sec(buf, SNAP_SEC_HOLES);
	CHECK(at && le(buf + at, 4) == SNAPFILE_MAX_HOLES && le(buf + at + 8, 8) == 4096);
	CHECK(snapfile_decode(buf, len, &d, err, sizeof(err)) == 0);
	ok &= d.nr_holes == SNAPFILE_MAX_HOLES;
	for (uint32_t i = 0; ok && i < d.nr_holes; i++)
		ok &= d.holes[i].off == (uint64_t)i * (4 << 20) + 4096 && d.holes[i].len == 1 << 20;
	snapfile_free(&d);
	free(buf);
	CHECK(ok);
	/* None: no section, and 1.2 (what a 1.2 writer made) reads the same. */
	CHECK(encoded_holes(&buf, &len, 0) == 0);
	CHECK(le(buf + 92, 4) == SNAP_SEC_COUNT && !sec(buf, SNAP_SEC_HOLES));
	put(buf + 10, 2, 2);
	recrc(buf, len);
	CHECK(snapfile_decode(buf, len, &d, err, sizeof(err)) == 0);
	CHECK(d.minor == 2 && d.nr_holes == 0);
	snapfile_free(&d);
	free(buf);
}

/* Every hole is checked on both sides: encode refuses what decode would. */
TEST(snapfile_holes_encode_refusals)
{
	static const struct {
		struct mem_range h[2];
		uint32_t n;
		const char *want;
	} bad[] = {
		{ { { 4097, 1 << 20 } }, 1, "not whole pages" },
		{ { { 4096, (1 << 20) + 1 } }, 1, "not whole pages" },
		{ { { 4096, 0 } }, 1, "not whole pages" },
		{ { { 128u << 20, 4096 } }, 1, "outside" },
		{ { { (128u << 20) - 4096, 8192 } }, 1, "outside" },
		{ { { 4096, UINT64_MAX - 4095 } }, 1, "outside" },
		{ { { 8192, 8192 }, { 12288, 4096 } }, 2, "overlaps" },
		{ { { 1 << 20, 4096 }, { 0, 4096 } }, 2, "out of order" },
	};
	struct snapfile s;
	uint8_t *buf = NULL;
	size_t len;
	char err[256];
	int ok = 1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(make(&s) == 0);
		memcpy(s.holes, bad[i].h, sizeof(bad[i].h));
		s.nr_holes = bad[i].n;
		if (snapfile_encode(&s, &buf, &len, err, sizeof(err)) != -EINVAL || !strstr(err, bad[i].want)) {
			printf("  hole case %zu: wanted \"%s\", got \"%s\"\n", i, bad[i].want, err);
			ok = 0;
		}
		snapfile_free(&s);
	}
	/* Adjacent is not overlapping; too many, or any in a Diff, is refused. */
	CHECK(make(&s) == 0);
	s.holes[0] = (struct mem_range){ 0, 8192 };
	s.holes[1] = (struct mem_range){ 8192, 4096 };
	s.nr_holes = 2;
	ok &= snapfile_encode(&s, &buf, &len, err, sizeof(err)) == 0;
	free(buf);
	s.mem.diff = SNAP_MEM_DIFF;
	ok &= snapfile_encode(&s, &buf, &len, err, sizeof(err)) == -EINVAL && strstr(err, "Diff");
	s.mem.diff = SNAP_MEM_FULL;
	s.nr_holes = SNAPFILE_MAX_HOLES + 1;
	ok &= snapfile_encode(&s, &buf, &len, err, sizeof(err)) == -EINVAL && strstr(err, "limit");
	snapfile_free(&s);
	CHECK(ok);
}

/* The same refusals from the file (behind a valid CRC), and the section's own: its count
 * bounded before anything is read, its reserved word, its length, and no holes section in
 * a file older than 1.3. */
TEST(snapfile_holes_decode_refusals)
{
	uint8_t *buf, *orig;
	size_t len, at;
	int ok = 1;

	CHECK(encoded_holes(&orig, &len, 2) == 0);
	buf = malloc(len);
	CHECK(buf != NULL);
	at = sec(orig, SNAP_SEC_HOLES);
#define RESET() memcpy(buf, orig, len)
	RESET();
	put(buf + at + 8, 4097, 8);
	recrc(buf, len);
	ok &= refused_with(buf, len, "not whole pages");
	RESET();
	put(buf + at + 8 + 16, 0, 8); /* hole 1 before hole 0 */
	recrc(buf, len);
	ok &= refused_with(buf, len, "out of order");
	RESET();
	put(buf + at + 16, (1 << 20) + 4096 * 1024 * 4, 8); /* hole 0 runs into hole 1 */
	recrc(buf, len);
	ok &= refused_with(buf, len, "overlaps");
	RESET();
	put(buf + at + 8 + 16, (127u << 20) + 4096, 8); /* hole 1 past the end of RAM */
	recrc(buf, len);
	ok &= refused_with(buf, len, "outside");
	RESET();
	put(buf + at, 0, 4);
	recrc(buf, len);
	ok &= refused_with(buf, len, "0 holes, outside 1..");
	RESET();
	put(buf + at, 0xffffffff, 4);
	recrc(buf, len);
	ok &= refused_with(buf, len, "holes, outside 1..");
	RESET();
	put(buf + at, 3, 4); /* more than the section holds */
	recrc(buf, len);
	ok &= refused_with(buf, len, "ends early");
	RESET();
	put(buf + at, 1, 4); /* fewer */
	recrc(buf, len);
	ok &= refused_with(buf, len, "left over");
	RESET();
	put(buf + at + 4, 1, 4);
	recrc(buf, len);
	ok &= refused_with(buf, len, "reserved");
	RESET();
	put(buf + 10, 2, 2);
	recrc(buf, len);
	ok &= refused_with(buf, len, "holes section in a format 1.2 file");
	RESET();
	buf[sec(buf, SNAP_SEC_MEMORY) + 8] = SNAP_MEM_DIFF;
	recrc(buf, len);
	ok &= refused_with(buf, len, "hole table in a Diff");
#undef RESET
	free(buf);
	free(orig);
	CHECK(ok);
}

TEST(snapfile_empty_short_and_truncated)
{
	uint8_t *buf, *cut;
	size_t len;
	char err[256];

	CHECK(encoded(&buf, &len) == 0);
	CHECK(dec(buf, 0, err, sizeof(err)) == -EINVAL && strstr(err, "empty"));
	CHECK(dec(buf, 100, err, sizeof(err)) == -EINVAL && strstr(err, "too short"));
	cut = malloc(len);
	CHECK(cut);
	/* Cut at every offset of the header and table, then a stride: refused, never a crash. */
	for (size_t n = 1; n < len; n += n < 512 ? 1 : 13) {
		int e = dec(buf, n, err, sizeof(err));

		if (!e || !err[0]) {
			printf("  truncated at %zu: accepted\n", n);
			free(cut);
			free(buf);
			CHECK(0);
		}
		/* The same cut with a correct CRC after it: the parser behind the CRC refuses. */
		if (n >= HDR + 8) {
			memcpy(cut, buf, n - 8);
			recrc(cut, n);
			e = dec(cut, n, err, sizeof(err));
			if (!e || strstr(err, "CRC")) {
				printf("  truncated at %zu with a CRC: %d %s\n", n, e, err);
				free(cut);
				free(buf);
				CHECK(0);
			}
		}
	}
	free(cut);
	free(buf);
}

TEST(snapfile_bit_flips)
{
	uint8_t *buf;
	size_t len;
	char err[256];

	CHECK(encoded(&buf, &len) == 0);
	for (size_t i = 0; i < len; i += i < 256 ? 1 : 61) {
		uint8_t bit = (uint8_t)(1u << (i % 8));
		int e;

		buf[i] ^= bit;
		e = dec(buf, len, err, sizeof(err));
		buf[i] ^= bit;
		if (e != -EINVAL || !strstr(err, "CRC mismatch")) {
			printf("  bit flip at %zu: %d %s\n", i, e, err);
			free(buf);
			CHECK(0);
		}
	}
	CHECK(dec(buf, len, err, sizeof(err)) == 0);
	free(buf);
}

/* Each of these patches one field of a valid file (then its CRC) and expects a refusal. */
TEST(snapfile_header_refusals)
{
	uint8_t *buf;
	size_t len;
	int ok = 1;

	CHECK(encoded(&buf, &len) == 0);
	buf[0] = 'X';
	recrc(buf, len);
	ok &= refused_with(buf, len, "wrong magic");
	buf[0] = 'K';
	put(buf + 8, 2, 2);
	recrc(buf, len);
	ok &= refused_with(buf, len, "format 2.3 is newer than this build's 1.3");
	put(buf + 8, 1, 2);
	put(buf + 10, 4, 2);
	recrc(buf, len);
	ok &= refused_with(buf, len, "format 1.4 is newer than this build's 1.3");
	/* 1.2's header flags: unknown bits refused, and none at all in a 1.0 or 1.1 file. */
	put(buf + 10, 2, 2);
	put(buf + 96, 2, 4);
	recrc(buf, len);
	ok &= refused_with(buf, len, "unknown header flags 0x2");
	put(buf + 10, 1, 2);
	put(buf + 96, 1, 4);
	recrc(buf, len);
	ok &= refused_with(buf, len, "unknown header flags 0x1 in format 1.1");
	put(buf + 10, 2, 2);
	recrc(buf, len);
	ok &= refused_with(buf, len, "signed, but no auth section");
	put(buf + 96, 0, 4);
	put(buf + 8, 0, 2);
	put(buf + 10, 9, 2);
	recrc(buf, len);
	ok &= refused_with(buf, len, "format 0.9 is older");
	put(buf + 8, 1, 2);
	put(buf + 10, SNAPFILE_MINOR, 2);
	put(buf + 12, 183, 4); /* EM_AARCH64 */
	recrc(buf, len);
	ok &= refused_with(buf, len, "architecture 183");
	put(buf + 12, SNAPFILE_ARCH_X86_64, 4);
	buf[120] = 1;
	recrc(buf, len);
	ok &= refused_with(buf, len, "reserved header bytes");
	buf[120] = 0;
	put(buf + 92, 0xffffffff, 4);
	recrc(buf, len);
	ok &= refused_with(buf, len, "sections, outside");
	put(buf + 92, 5, 4);
	recrc(buf, len);
	ok &= dec(buf, len, (char[256]){ 0 }, 256) == 0;
	free(buf);
	CHECK(ok);
}

TEST(snapfile_section_table_refusals)
{
	uint8_t *buf, *orig;
	size_t len;
	int ok = 1;

	CHECK(encoded(&orig, &len) == 0);
	buf = malloc(len);
	CHECK(buf);
#define RESET() memcpy(buf, orig, len)
#define ENTRY(i) (buf + HDR + (i) * ENT)
	RESET(); /* a section out of the file */
	put(ENTRY(3) + 16, 1ull << 40, 8);
	recrc(buf, len);
	ok &= refused_with(buf, len, "lies outside the file");
	RESET(); /* offset + length wrapping around */
	put(ENTRY(3) + 8, ~0ull - 4, 8);
	put(ENTRY(3) + 16, 100, 8);
	recrc(buf, len);
	ok &= refused_with(buf, len, "lies outside the file");
	RESET(); /* overlapping: the VM section starts inside the config section */
	put(ENTRY(1) + 8, le(ENTRY(1) + 8, 8) - 4, 8);
	recrc(buf, len);
	ok &= refused_with(buf, len, "overlaps");
	RESET(); /* overlapping the table */
	put(ENTRY(0) + 8, HDR, 8);
	recrc(buf, len);
	ok &= refused_with(buf, len, "overlaps the section table");
	RESET(); /* a gap */
	put(ENTRY(4) + 16, le(ENTRY(4) + 16, 8) - 1, 8);
	recrc(buf, len);
	ok &= refused_with(buf, len, "belong to no section");
	RESET(); /* duplicated */
	put(ENTRY(4), SNAP_SEC_DEVICES, 4);
	recrc(buf, len);
	ok &= refused_with(buf, len, "devices section appears twice");
	RESET(); /* missing: 4 entries */
	put(buf + 92, 4, 4);
	recrc(buf, len);
	ok &= refused_with(buf, len, "memory section missing");
	RESET(); /* unknown type, unknown flags */
	put(ENTRY(2), 77, 4);
	recrc(buf, len);
	ok &= refused_with(buf, len, "unknown section type 77");
	RESET();
	put(ENTRY(2) + 4, 1, 4);
	recrc(buf, len);
	ok &= refused_with(buf, len, "unknown flags");
	RESET(); /* the table runs past the file */
	put(buf + 92, SNAPFILE_MAX_SECTIONS, 4);
	recrc(buf, 400);
	ok &= refused_with(buf, 400, "section table");
	RESET(); /* the sections in another order are fine */
	{
		uint8_t tmp[ENT];

		memcpy(tmp, ENTRY(0), ENT);
		memcpy(ENTRY(0), ENTRY(4), ENT);
		memcpy(ENTRY(4), tmp, ENT);
		recrc(buf, len);
		ok &= dec(buf, len, (char[256]){ 0 }, 256) == 0;
	}
#undef ENTRY
#undef RESET
	free(buf);
	free(orig);
	CHECK(ok);
}

/* Replaces the first occurrence of `from` by `to` (same length) in buf. */
static int swap_str(uint8_t *buf, size_t len, const char *from, const char *to)
{
	size_t n = strlen(from);

	for (size_t i = 0; i + n <= len; i++) {
		if (!memcmp(buf + i, from, n)) {
			memcpy(buf + i, to, n);
			return (int)i;
		}
	}
	return -1;
}

/* In the two tests below: a fresh copy of orig, one field changed, the CRC again. */
#define RESET() memcpy(buf, orig, len)
#define PATCH(off, v, n, want)                     \
	do {                                        \
		RESET();                            \
		put(buf + (off), (v), (n));         \
		recrc(buf, len);                    \
		ok &= refused_with(buf, len, want); \
	} while (0)

TEST(snapfile_config_refusals)
{
	uint8_t *buf, *orig;
	size_t len, c;
	int ok = 1, at;

	CHECK(encoded(&orig, &len) == 0);
	buf = malloc(len);
	CHECK(buf);
	c = sec(orig, SNAP_SEC_CONFIG);
	PATCH(c, 0, 4, "vcpu_count 0");
	PATCH(c, VM_MAX_VCPUS + 1, 4, "vcpu_count 33");
	PATCH(c, 1, 4, "2 vCPUs saved, but vcpu_count is 1");
	PATCH(c + 4, 0, 8, "mem_size_mib 0");
	PATCH(c + 4, 1ull << 40, 8, "mem_size_mib");
	PATCH(c + 4, 256, 8, "is not the configured 256 MiB");
	PATCH(c + 12, 2, 1, "smt is 2");
	PATCH(c + 15, 1, 1, "reserved bytes");
	PATCH(c + 16, 0xffffffff, 4, "4294967295 drives");
	PATCH(c + 16, CONFIG_MAX_DRIVES + 1, 4, "20 drives");
	PATCH(c + 20, 0x7fffffff, 4, "network interfaces, the limit");
	PATCH(c + 24, 0, 4, "drive id is empty");
	PATCH(c + 24, 1, 4, "drive id is empty");
	PATCH(c + 24, 0xfffffff0, 4, "the limit is 65");
	PATCH(c + 24, 3, 4, "not one NUL-terminated string");
	/* Whole files with one string changed. */
	RESET();
	at = swap_str(buf, len, "drive_b", "drive_a");
	recrc(buf, len);
	ok &= at > 0 && refused_with(buf, len, "duplicate drive id drive_a");
	RESET();
	at = swap_str(buf, len, "drive_b", "drive-b");
	recrc(buf, len);
	ok &= at > 0 && refused_with(buf, len, "invalid id");
	RESET();
	at = swap_str(buf, len, "tap_a", "tap/a");
	recrc(buf, len);
	ok &= at > 0 && refused_with(buf, len, "invalid tap name");
	RESET();
	at = swap_str(buf, len, "tap_a", "tap_a");
	buf[at + 5] = 'b'; /* over the NUL */
	recrc(buf, len);
	ok &= at > 0 && refused_with(buf, len, "not one NUL-terminated string");
	RESET();
	at = swap_str(buf, len, "tap_a", "t\0p_a");
	recrc(buf, len);
	ok &= at > 0 && refused_with(buf, len, "not one NUL-terminated string");
	RESET();
	at = swap_str(buf, len, "/images/data.img", "\0images/data.img");
	recrc(buf, len);
	ok &= at > 0 && refused_with(buf, len, "not one NUL-terminated string");
	RESET(); /* read_only of the second drive: 5 */
	at = swap_str(buf, len, "/images/data.img", "/images/data.img");
	buf[at + 17] = 5;
	recrc(buf, len);
	ok &= at > 0 && refused_with(buf, len, "read_only is 5");
	RESET(); /* two roots */
	buf[at + 18] = 1;
	recrc(buf, len);
	ok &= refused_with(buf, len, "2 root drives");
	free(buf);
	free(orig);
	CHECK(ok);
}

TEST(snapfile_state_refusals)
{
	uint8_t *buf, *orig;
	size_t len, v, m, vm, msr0;
	int ok = 1;

	CHECK(encoded(&orig, &len) == 0);
	buf = malloc(len);
	CHECK(buf);
	v = sec(orig, SNAP_SEC_VCPUS);
	m = sec(orig, SNAP_SEC_MEMORY);
	vm = sec(orig, SNAP_SEC_VM);
	msr0 = cpu0(orig, 8) + 8; /* after tsc_khz and nr_msrs */
	PATCH(v, 0, 4, "0 vCPUs");
	PATCH(v, 1000000, 4, "1000000 vCPUs");
	PATCH(v, VM_MAX_VCPUS + 1, 4, "33 vCPUs");
	PATCH(v, 1, 4, "left over");
	PATCH(v, 3, 4, "ends early");
	PATCH(cpu0(orig, 2), 4095, 4, "XSAVE size mismatch");
	PATCH(cpu0(orig, 2), 0xffffffff, 4, "XSAVE size mismatch");
	PATCH(cpu0(orig, 0), 0, 4, "registers size mismatch");
	PATCH(cpu0(orig, 5), 1, 4, "LAPIC size mismatch");
	PATCH(cpu0(orig, 7), 1 << 20, 4, "vCPU events size mismatch");
	PATCH(cpu0(orig, 6) + 4, KVM_MP_STATE_STOPPED, 4, "mp_state 5");
	PATCH(cpu0(orig, 6) + 4, 0xffffffff, 4, "mp_state 4294967295");
	PATCH(cpu0(orig, 3) + 4, KVM_MAX_XCRS + 1, 4, "XCRs");
	PATCH(cpu0(orig, 8) + 4, CPU_MAX_MSRS + 1, 4, "65 MSRs");
	PATCH(cpu0(orig, 8) + 4, 0xffffffff, 4, "4294967295 MSRs");
	PATCH(msr0, 0xdeadbeef, 4, "MSR 0xdeadbeef");
	PATCH(msr0, 0x4b564d01, 4, "MSR 0x4b564d01 appears twice");
	PATCH(msr0 + 4, 1, 4, "reserved bytes");
	PATCH(vm, 10, 4, "PIC master state size mismatch");
	PATCH(vm + 4, KVM_IRQCHIP_IOAPIC, 4, "wrong chip");
	PATCH(m, 0, 8, "memory size 0");
	PATCH(m, (128ull << 20) + 1, 8, "not a multiple of the page size");
	PATCH(m, (uint64_t)CONFIG_MEM_MIB_MAX << 21, 8, "over the limit");
	PATCH(m, 64ull << 20, 8, "not the configured 128 MiB");
	PATCH(m + 8, 2, 1, "neither Full nor Diff");
	PATCH(m + 9, 1, 1, "reserved bytes");
#undef PATCH
#undef RESET
	free(buf);
	free(orig);
	CHECK(ok);
}

/* A devices section one byte over the bound, built by hand (encode refuses it). */
TEST(snapfile_devices_bound)
{
	struct snapfile s;
	uint8_t *buf = NULL, *big;
	size_t len, dev, mem;
	char err[256] = "";
	int e;

	CHECK(make(&s) == 0);
	free(s.devices);
	s.devices_len = SNAPFILE_MAX_DEVICES;
	s.devices = calloc(1, s.devices_len);
	e = s.devices ? snapfile_encode(&s, &buf, &len, err, sizeof(err)) : -1;
	snapfile_free(&s);
	CHECK(e == 0);
	CHECK(dec(buf, len, err, sizeof(err)) == 0);
	big = malloc(len + 1);
	CHECK(big);
	dev = sec(buf, SNAP_SEC_DEVICES);
	mem = sec(buf, SNAP_SEC_MEMORY);
	CHECK(mem == dev + SNAPFILE_MAX_DEVICES);
	memcpy(big, buf, mem);
	big[mem] = 0;
	memcpy(big + mem + 1, buf + mem, len - mem);
	put(big + HDR + 3 * ENT + 16, SNAPFILE_MAX_DEVICES + 1, 8);
	put(big + HDR + 4 * ENT + 8, mem + 1, 8);
	recrc(big, len + 1);
	e = refused_with(big, len + 1, "device state of 1048577 bytes");
	free(big);
	free(buf);
	CHECK(e);
}

/* A scratch directory under /tmp, and how many entries it holds. */
static int scratch(char *dir, size_t n)
{
	snprintf(dir, n, "/tmp/kindling-snapfile-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

TEST(snapfile_write_read)
{
	char dir[64], path[128], sub[128], err[256] = "";
	struct snapfile s, d;
	struct stat st;
	uint8_t *a = NULL, *b = NULL;
	size_t na, nb;
	int ok;

	CHECK(scratch(dir, sizeof(dir)) == 0);
	snprintf(path, sizeof(path), "%s/state", dir);
	CHECK(make(&s) == 0);
	ok = snapfile_write(path, &s, true, err, sizeof(err)) == 0 && stat(path, &st) == 0 &&
	     (st.st_mode & 0777) == 0600 && entries(dir) == 1;
	ok = ok && snapfile_read(path, NULL, &d, err, sizeof(err)) == 0;
	if (ok) {
		ok = snapfile_encode(&s, &a, &na, err, sizeof(err)) == 0 &&
		     snapfile_encode(&d, &b, &nb, err, sizeof(err)) == 0 && na == nb && !memcmp(a, b, na);
		snapfile_free(&d);
	}
	/* Failures leave nothing: a directory that does not exist; a final component that is a
	 * directory; a path ending in '/'. The existing state file stays as it was. */
	snprintf(sub, sizeof(sub), "%s/nodir/state", dir);
	ok = ok && snapfile_write(sub, &s, false, err, sizeof(err)) == -ENOENT && entries(dir) == 1;
	snprintf(sub, sizeof(sub), "%s/adir", dir);
	ok = ok && mkdir(sub, 0700) == 0;
	ok = ok && snapfile_write(sub, &s, true, err, sizeof(err)) < 0 && entries(dir) == 2 && entries(sub) == 0;
	ok = ok && strstr(err, "cannot rename");
	snprintf(sub, sizeof(sub), "%s/adir/", dir);
	ok = ok && snapfile_write(sub, &s, false, err, sizeof(err)) == -EISDIR && entries(dir) == 2;
	/* A path without a directory: next to it in the current directory. */
	{
		int cwd = open(".", O_RDONLY | O_DIRECTORY);

		ok = ok && cwd >= 0 && chdir(dir) == 0 && snapfile_write("rel", &s, true, err, sizeof(err)) == 0 &&
		     entries(dir) == 3 && unlink("rel") == 0;
		if (cwd >= 0) {
			ok = fchdir(cwd) == 0 && ok;
			close(cwd);
		}
	}
	/* An invalid state is refused before any file is made. */
	s.kvm->nr_cpus = 0;
	ok = ok && snapfile_write(path, &s, false, err, sizeof(err)) == -EINVAL && entries(dir) == 2;
	ok = ok && snapfile_read(path, NULL, &d, err, sizeof(err)) == 0;
	if (ok)
		snapfile_free(&d);
	snapfile_free(&s);
	free(a);
	free(b);
	unlink(path);
	snprintf(sub, sizeof(sub), "%s/adir", dir);
	rmdir(sub);
	rmdir(dir);
	if (!ok)
		printf("  %s\n", err);
	CHECK(ok);
}

TEST(snapfile_read_refusals)
{
	char dir[64], p[128], err[256] = "";
	struct snapfile s;
	int fd, ok = 1;

	CHECK(scratch(dir, sizeof(dir)) == 0);
	/* A FIFO with no writer: refused at once, never blocking. */
	snprintf(p, sizeof(p), "%s/fifo", dir);
	ok &= mkfifo(p, 0600) == 0 && snapfile_read(p, NULL, &s, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "not a regular file");
	unlink(p);
	ok &= snapfile_read("/dev/zero", NULL, &s, err, sizeof(err)) == -EINVAL && strstr(err, "not a regular file");
	ok &= snapfile_read(dir, NULL, &s, err, sizeof(err)) == -EINVAL && strstr(err, "not a regular file");
	snprintf(p, sizeof(p), "%s/dangling", dir);
	ok &= symlink("/nonexistent/kindling-state", p) == 0 && snapfile_read(p, NULL, &s, err, sizeof(err)) == -ENOENT &&
	      strstr(err, "cannot open");
	unlink(p);
	snprintf(p, sizeof(p), "%s/empty", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	ok &= fd >= 0 && snapfile_read(p, NULL, &s, err, sizeof(err)) == -EINVAL && strstr(err, "empty");
	/* Over the cap (sparse): refused by its size, before any read. */
	ok &= ftruncate(fd, SNAPFILE_MAX_SIZE + 1) == 0 && snapfile_read(p, NULL, &s, err, sizeof(err)) == -EFBIG &&
	      strstr(err, "over the limit");
	/* At the cap: read, and refused by the CRC. */
	ok &= ftruncate(fd, SNAPFILE_MAX_SIZE) == 0 && snapfile_read(p, NULL, &s, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "CRC mismatch") && strstr(err, p);
	if (fd >= 0)
		close(fd);
	unlink(p);
	rmdir(dir);
	if (!ok)
		printf("  %s\n", err);
	CHECK(ok);
}

/* A guest CPUID with the leaves the identity reads. */
static struct kvm_cpuid2 *cpuid(const char *vendor, uint32_t leaf7_ebx, uint32_t htt)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 6 * sizeof(c->entries[0]));

	if (!c)
		return NULL;
	c->nent = 6;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
	memcpy(&c->entries[0].ebx, vendor, 4);
	memcpy(&c->entries[0].edx, vendor + 4, 4);
	memcpy(&c->entries[0].ecx, vendor + 8, 4);
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x00a20f12, .ecx = 0x80000001u | 1u << 27,
						   .edx = (0x178bfbffu & ~(1u << 28)) | htt };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 7, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						   .ebx = 0xffffffff };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						   .ebx = leaf7_ebx, .ecx = 0x10, .edx = 0x20 };
	c->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .ecx = 0x3, .edx = 0x2c100800 };
	c->entries[5] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						   .eax = 0x7, .ebx = 0x340 };
	return c;
}

TEST(snapfile_cpu_identity)
{
	struct kvm_cpuid2 *a = cpuid("AuthenticAMD", 0x219c07ab, 0), *b = cpuid("AuthenticAMD", 0x219c07ab, 1u << 28),
			  *fewer = cpuid("AuthenticAMD", 0x219c07ab & ~0x20u, 0), *intel = cpuid("GenuineIntel", 0x219c07ab, 0);
	struct snap_cpu_id ia, ib, ifewer, iintel;
	char err[256] = "";
	int ok;

	ok = a && b && fewer && intel && !snap_cpu_identity(a, &ia) && !snap_cpu_identity(b, &ib) &&
	     !snap_cpu_identity(fewer, &ifewer) && !snap_cpu_identity(intel, &iintel);
	ok = ok && !strcmp(ia.vendor, "AuthenticAMD") && ia.family == 0x19 && ia.model == 0x21 && ia.stepping == 2 &&
	     ia.words[SNAP_CPU_7_EBX] == 0x219c07ab && ia.words[SNAP_CPU_7_ECX] == 0x10 &&
	     ia.words[SNAP_CPU_1_ECX] == 0x80000001u && ia.words[SNAP_CPU_D_EAX] == 7 &&
	     ia.words[SNAP_CPU_81_EDX] == 0x2c100800;
	/* HTT (the vCPU count) and OSXSAVE do not count. */
	ok = ok && !memcmp(&ia, &ib, sizeof(ia)) && snap_cpu_check(&ia, &ib, err, sizeof(err)) == 0;
	/* A host with more is fine; one with fewer, or another vendor, is refused. */
	ok = ok && snap_cpu_check(&ifewer, &ia, err, sizeof(err)) == 0;
	ok = ok && snap_cpu_check(&ia, &ifewer, err, sizeof(err)) == -EINVAL && strstr(err, "7.0:EBX bits 0x00000020");
	ok = ok && snap_cpu_check(&ia, &iintel, err, sizeof(err)) == -EINVAL &&
	     strstr(err, "AuthenticAMD CPU, this host's is GenuineIntel");
	if (a) {
		a->entries[0].function = 2;
		ok = ok && snap_cpu_identity(a, &ia) == -ENOENT;
	}
	free(a);
	free(b);
	free(fewer);
	free(intel);
	if (!ok)
		printf("  %s\n", err);
	CHECK(ok);
}

TEST(snapfile_config_conversion)
{
	struct snapfile s;
	struct snap_config back;
	struct vmm_config c;
	int ok;

	CHECK(make(&s) == 0);
	config_init(&c);
	ok = snap_config_to_vmm(&s.config, &c) == 0 && c.vcpu_count == 2 && c.nr_drives == 2 &&
	     c.drives[0].path != s.config.drives[0].path && !strcmp(c.drives[0].path, s.config.drives[0].path) &&
	     !strcmp(c.nets[0].host_dev_name, "tap_a");
	ok = ok && snap_config_from_vmm(&back, &c) == 0 && back.mem_size_mib == 128 &&
	     !strcmp(back.drives[1].path, "/images/data.img") && back.drives[1].cache_writeback;
	for (int i = 0; i < CONFIG_MAX_DRIVES; i++)
		free(back.drives[i].path);
	config_free(&c);
	snapfile_free(&s);
	CHECK(ok);
}
