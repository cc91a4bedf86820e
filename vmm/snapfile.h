/* The snapshot state file: its format, its encoder and its decoder. Everything a restore needs
 * but the guest's RAM (which is the separate memory file) is in one file that is read from an
 * untrusted place, so the decoder trusts nothing: the CRC first, then every count and size
 * bounded before any allocation, then every value checked. No KVM here: the glue
 * (snapshot.c) fills and consumes struct snapfile.
 *
 * Format 1.3 (1.1: the rate limiters in CONFIG; 1.2: signing; 1.3: the HOLES section. A
 * reader reads every older minor; an older reader refuses a newer minor). All integers are little-endian, written field by field. Raw KVM structures
 * (kvm_regs, kvm_xsave, kvm_irqchip, ...) are stored as their bytes (x86-64 is little-endian)
 * behind a u32 size, and refused when that size is not this build's sizeof.
 *
 *   offset  size  header (SNAPFILE_HDR_SIZE = 128 bytes)
 *   0       8     magic "KNDLSNAP"
 *   8       2     major version   (a reader refuses a newer major)
 *   10      2     minor version   (... and, same major, a newer minor)
 *   12      4     architecture: 62 (ELF's EM_X86_64)
 *   16      16    snapshot id (128 random bits, made at create)
 *   32      12    CPU vendor (CPUID.0 EBX, EDX, ECX)
 *   44      4     family (CPUID.1:EAX, display family)
 *   48      4     model (display model)
 *   52      4     stepping
 *   56      36    the 9 CPUID feature words the guest saw, in enum snap_cpu_word's order
 *   92      4     number of sections (1..SNAPFILE_MAX_SECTIONS)
 *   96      4     flags (1.1): bit 0 SIGNED; other bits zero (in 1.0 files the whole u32 is 0)
 *   100     28    reserved, zero
 *   128     24*n  section table: u32 type, u32 flags (0), u64 offset, u64 length
 *   ...           the sections, back to back in table order after the table: no gap, no
 *                 overlap, nothing after the last one
 *   end-8   8     CRC-64/XZ of every byte before it
 *
 * The sections, each present exactly once, each read to its last byte:
 *   1 CONFIG   u32 vcpu_count, u64 mem_size_mib, u8 smt, u8 track_dirty_pages, u8 boot_timer,
 *              u8 0, u32 nr_drives, u32 nr_nets; per drive: str id, str path, u8 read_only,
 *              u8 is_root, u8 cache_writeback, u8 0; per net: str id, str tap name,
 *              u8 has_mac, mac[6], u8 0. A str is u32 length (its NUL included) + bytes.
 *              Since 1.1: per drive its rate_limiter, then per net its rx_rate_limiter and
 *              tx_rate_limiter, each 6 u64: bandwidth size, one_time_burst, refill_time,
 *              ops size, one_time_burst, refill_time (zeros: no bucket). A 1.0 file has
 *              none: no limiters. (The limiters' state is in the devices' blobs, virtio-blk
 *              and virtio-net state version 2; a 1.0 file holds version 1, without it.)
 *   2 VM       raw kvm_irqchip PIC master, PIC slave, IOAPIC; kvm_pit_state2; kvm_clock_data
 *   3 VCPUS    u32 nr_cpus; per vCPU: raw kvm_regs, kvm_sregs, kvm_xsave, kvm_xcrs,
 *              kvm_debugregs, kvm_lapic_state, kvm_mp_state, kvm_vcpu_events; u32 tsc_khz,
 *              u32 nr_msrs; per MSR: u32 index, u32 0, u64 data
 *   4 DEVICES  device_list_save()'s blob, opaque here (device_list_restore checks it)
 *   5 MEMORY   u64 ram_size (bytes), u8 type (0 Full, 1 Diff), 7 bytes 0
 *   7 HOLES    (1.3) at most once, never in a Diff: u32 nr_holes (1..SNAPFILE_MAX_HOLES),
 *              u32 0, then per hole u64 offset, u64 length: ranges of RAM (in the memory
 *              file's offsets) that are all zero, page aligned, inside RAM, sorted by offset,
 *              not overlapping. The writer lists the largest runs of zero pages below the
 *              memory file's zero end (its trailer's data end), and a restore maps them as
 *              anonymous memory rather than from the file (mem_map_fd). What the guest sees
 *              there is zeros whatever the memory file holds, so a signed file's digests are
 *              checked with them as zeros too (snapauth_verify_mem). Absent: no table (files
 *              before 1.3, Diffs, whose memory file is only whole once merged, and RAM
 *              without a run worth a mapping).
 *   6 AUTH     (1.1) present exactly when the header says SIGNED, and then the last section:
 *              u32 chunk size (SNAPAUTH_CHUNK), u32 nr_chunks (RAM size / chunk, rounded up),
 *              nr_chunks SHA-256 digests of the RAM the memory file gives the guest (holes and
 *              the zero tail as zeros; a diff's digests are of the whole RAM, as merged),
 *              then a 32-byte HMAC-SHA256. Being last, the MAC is always the 32 bytes
 *              before the CRC, and it covers every byte before it (header, table, every
 *              section, the digests): file[0, len - 40). A checker needs nothing but the
 *              CRC and the fixed header (SIGNED) to find and check it, before any parsing.
 *
 * What stays fixed across every future version, so that any reader can refuse a newer file
 * clearly: the magic and version at the start, and the trailing CRC-64/XZ over the rest. */
#ifndef KINDLING_SNAPFILE_H
#define KINDLING_SNAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "snapauth.h"
#include "vmm.h"

#define SNAPFILE_MAGIC "KNDLSNAP"
#define SNAPFILE_MAJOR 1
#define SNAPFILE_MINOR 3
#define SNAPFILE_F_SIGNED 1u /* header flags: since 1.2 */
/* The hole table's bound: each hole costs a restore one mmap (~5 us here: benches/holemap), so
 * 32 keep it near 0.15 ms. */
#define SNAPFILE_MAX_HOLES 32
#define SNAPFILE_ARCH_X86_64 62
#define SNAPFILE_HDR_SIZE 128
#define SNAPFILE_SECTION_ENTRY 24
#define SNAPFILE_MAX_SECTIONS 16
/* The devices' blob: DEVICE_LIST_MAX devices of a few KiB at most (a virtio device with its
 * queues is the largest, well under 2 KiB). */
#define SNAPFILE_MAX_DEVICES (1u << 20)
/* The largest file a reader accepts. The largest valid 1.0 file is under 2 MiB (32 vCPUs of
 * ~7.5 KiB, 19 drive paths of 4 KiB, the devices' 1 MiB bound); 16 MiB leaves room for
 * larger vCPU state (AMX's XSAVE area) in later minors, and still keeps a wrong path (the
 * memory file, a disk image) from being read into memory. */
#define SNAPFILE_MAX_SIZE (16u << 20)
#define SNAPFILE_PATH_MAX 4096 /* a drive path, NUL included */

enum snap_section {
	SNAP_SEC_CONFIG = 1,
	SNAP_SEC_VM = 2,
	SNAP_SEC_VCPUS = 3,
	SNAP_SEC_DEVICES = 4,
	SNAP_SEC_MEMORY = 5,
	SNAP_SEC_COUNT = 5, /* the sections every file has */
	SNAP_SEC_AUTH = 6,  /* signed files only */
	SNAP_SEC_HOLES = 7, /* 1.3, optional */
	SNAP_SEC_MAX = 7,
};

/* The CPUID feature words of the identity record. */
enum snap_cpu_word {
	SNAP_CPU_1_ECX,
	SNAP_CPU_1_EDX,
	SNAP_CPU_7_EBX,
	SNAP_CPU_7_ECX,
	SNAP_CPU_7_EDX,
	SNAP_CPU_81_ECX,
	SNAP_CPU_81_EDX,
	SNAP_CPU_D_EAX, /* XCR0 bits the guest may enable (low half) */
	SNAP_CPU_D_EDX, /* (high half) */
	SNAP_CPU_WORDS,
};

/* The CPU the guest saw: from its filtered CPUID (snap_cpu_identity). */
struct snap_cpu_id {
	char vendor[13]; /* 12 characters and a NUL */
	uint32_t family, model, stepping;
	uint32_t words[SNAP_CPU_WORDS];
};

/* What vmm_create needs to rebuild the same machine. Drive paths are malloc'd and owned by
 * the snapfile (snapfile_free); partuuid is never set (it only shapes a boot's command line). */
struct snap_config {
	int vcpu_count;
	uint64_t mem_size_mib;
	bool smt, track_dirty_pages, boot_timer;
	struct drive_config drives[CONFIG_MAX_DRIVES];
	int nr_drives;
	struct net_config nets[CONFIG_MAX_NETS];
	int nr_nets;
};

enum snap_mem_type { SNAP_MEM_FULL = 0, SNAP_MEM_DIFF = 1 };

/* The memory file that goes with this state file. */
struct snap_mem {
	uint64_t ram_size; /* bytes; mem_size_mib << 20 */
	uint8_t diff;      /* enum snap_mem_type */
};

/* What a state file holds, decoded and checked. */
struct snapfile {
	uint16_t major, minor; /* the format version (encode always writes this build's) */
	uint8_t id[16];
	struct snap_cpu_id cpu;
	struct snap_config config;
	struct vmm_kvm_state *kvm; /* heap */
	uint8_t *devices;          /* heap, devices_len bytes */
	size_t devices_len;
	struct snap_mem mem;
	/* The hole table (1.3): RAM known to be zero, mapped anonymous on restore. */
	uint32_t nr_holes;
	struct mem_range holes[SNAPFILE_MAX_HOLES];
	/* Signing (1.1). Encode signs when sign_key is set (with digests, nr_chunks) and writes
	 * mac as it is otherwise; decode fills is_signed, nr_chunks, digests (heap), mac, and
	 * does not check the MAC (snapfile_check_auth does, before decode). */
	bool is_signed;
	uint32_t nr_chunks;
	uint8_t (*digests)[32];
	uint8_t mac[32];
	const struct snapauth_key *sign_key; /* not owned */
};

/* Every function returning int gives 0 or -errno with a one-line reason in err: -EINVAL for
 * a refused file (with what is wrong in it), -EFBIG over SNAPFILE_MAX_SIZE, -ENOMEM, or the
 * errno of a failed system call. */

/* Checks s as decode would (the same bounds), then writes it in the format above into a new
 * malloc'd buffer (*buf, *len), with this build's version. */
int snapfile_encode(const struct snapfile *s, uint8_t **buf, size_t *len, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Checks the CRC, then the header, the section table and every section. On success s holds
 * the file's content (release it with snapfile_free); on failure s holds nothing to free. */
int snapfile_decode(const uint8_t *buf, size_t len, struct snapfile *s, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* The signing rule, on a whole state file before it is decoded: the CRC, the fixed header,
 * then: signed and key: the MAC must match; signed without a key, or a key and not signed:
 * refused; neither: 0. -EINVAL (corrupt, unsigned/unexpected) or -EACCES (MAC mismatch or
 * no key) with the reason in err. *is_signed (if not NULL) tells which the file says. */
int snapfile_check_auth(const uint8_t *buf, size_t len, const struct snapauth_key *key, bool *is_signed, char *err,
			size_t errlen) __attribute__((warn_unused_result));
/* Encodes s into a temporary file next to path (O_EXCL, mode 0600), fsyncs it and its
 * directory if sync, and renames it to path. On failure nothing is left: neither the
 * temporary file nor a new file under path. A file already under path stays as it was,
 * except when the fsync of the directory after the rename fails: then path is removed.
 * System calls: openat, write, fsync, close, rename, unlink (the VMM thread's seccomp
 * filter must allow them where this runs). */
int snapfile_write(const char *path, const struct snapfile *s, bool sync, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Reads a regular file of at most SNAPFILE_MAX_SIZE bytes (never blocking on a FIFO or
 * reading a device), applies snapfile_check_auth with key (NULL: no key), and decodes it.
 * System calls: newfstatat, openat, read, close. */
int snapfile_read(const char *path, const struct snapauth_key *key, struct snapfile *s, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Releases what decode (or the caller) allocated: kvm, devices, drive paths. s is zeroed. */
void snapfile_free(struct snapfile *s);

/* The ranges of RAM a restore maps as anonymous memory, for mem_map_fd and
 * snapauth_verify_mem alike: s's holes, then the memory file's zero end from zero_from (0:
 * none; snapmem_open gives it). Returns how many it put into out. */
size_t snapfile_zero_ranges(const struct snapfile *s, uint64_t zero_from, struct mem_range out[SNAPFILE_MAX_HOLES + 1]);

/* The config section from a vmm_config (paths copied) and back (into a config_init'ed c; its
 * drive and net arrays are replaced, paths copied). -ENOMEM only. */
int snap_config_from_vmm(struct snap_config *out, const struct vmm_config *c) __attribute__((warn_unused_result));
int snap_config_to_vmm(const struct snap_config *sc, struct vmm_config *c) __attribute__((warn_unused_result));

/* The identity record of a guest-visible (filtered) CPUID: vendor, family/model/stepping and
 * the feature words, less the bits that follow the vCPU count or the guest's own state (HTT,
 * OSXSAVE). Compute both sides from the same vCPU (0) filtered for the same vCPU count.
 * -ENOENT without leaf 0. */
int snap_cpu_identity(const struct kvm_cpuid2 *guest_cpuid, struct snap_cpu_id *out) __attribute__((warn_unused_result));
/* -EINVAL with the reason unless here is the same vendor and has every feature bit saved
 * has. Family, model and stepping may differ (as Firecracker's templates allow). */
int snap_cpu_check(const struct snap_cpu_id *saved, const struct snap_cpu_id *here, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* CRC-64/XZ (ECMA-182 polynomial, reflected, init and final xor all ones). crc64(0, ...)
 * starts; pass the previous value to continue. */
uint64_t snap_crc64(uint64_t crc, const void *p, size_t n);

/* fsync of the file or directory (dir) at path: of a directory, so that a rename in it
 * lasts. 0 or -errno. */
int snap_fsync_path(const char *path, bool dir) __attribute__((warn_unused_result));

#endif
