/* Guest physical memory: the RAM regions and the one checked gpa -> host pointer
 * accessor through which every guest-memory access goes. */
#ifndef KINDLING_MEM_H
#define KINDLING_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The 32-bit MMIO gap: RAM that would fall here is placed above 4 GiB instead. */
#define MEM_GAP_START 0xc0000000ull
#define MEM_GAP_END 0x100000000ull
#define MEM_MAX_REGIONS 2

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

/* A range of RAM in mapping order (as mem_map_fd maps a file: the file's offsets). */
struct mem_range {
	uint64_t off, len;
};

struct guest_mem {
	struct mem_region region[MEM_MAX_REGIONS];
	int nr_regions;
	uint64_t ram_size; /* total bytes of RAM */
	uint8_t *map;      /* one host mapping backing every region */
	size_t map_size;
	bool anon;         /* map is private anonymous memory (mem_create), not a file's */
	bool thp_advised;  /* MADV_HUGEPAGE given by mem_use_hugepages, not yet taken back */
	/* Pages the VMM itself wrote (virtio buffers and used rings), which KVM's dirty log
	 * does not see: one bit per 4 KiB page of RAM in mapping order. NULL unless dirty
	 * pages are tracked (mem_track_dirty). */
	uint64_t *dirty;
};

/* Lays out `ram_size` bytes of RAM around the MMIO gap. `host` may be NULL (tests of the
 * layout alone); otherwise it must point at ram_size bytes. */
int mem_layout(struct guest_mem *m, uint64_t ram_size, uint8_t *host) __attribute__((warn_unused_result));

/* The size of a huge page, and guest RAM's alignment in the VMM's address space. */
#define MEM_HUGE_SIZE (2ull << 20)
/* mmap(NULL, size, prot, flags, fd, 0) at a MEM_HUGE_SIZE boundary (a reservation made and
 * trimmed around it): MAP_FAILED with errno on failure, nothing left mapped. */
void *mem_mmap_aligned(size_t size, int prot, int flags, int fd);

/* Maps anonymous memory for the guest and lays it out. */
int mem_create(struct guest_mem *m, uint64_t ram_size) __attribute__((warn_unused_result));
/* Transparent huge pages over anonymous RAM (mem_create's) while a booting VM's kernel and
 * initrd are copied in (the VMM's set-up: 2 MiB per fault rather than 4 KiB), from
 * mem_use_hugepages to mem_end_hugepages; the guest's own faults afterwards get what the
 * host's policy gives unadvised memory. Best effort: a host with THP off keeps 4 KiB pages.
 * Not for RAM a snapshot restore fills (file-backed, or served through userfaultfd). */
void mem_use_hugepages(struct guest_mem *m);
void mem_end_hugepages(struct guest_mem *m);
/* Maps ram_size bytes of fd (a memfd or a regular file at least that long) as guest RAM:
 * shared, so that the guest's writes reach fd, or private, copy-on-write over it (a
 * snapshot's memory file restored without changing it). Private: each of the nr_zero ranges
 * (all zero in fd, as the snapshot says) that mem_zero_range_ok takes is anonymous memory
 * instead, whatever fd holds there; the others stay fd's. -errno (and nothing mapped) if
 * one of those cannot be mapped. fd may be closed afterwards. */
int mem_map_fd(struct guest_mem *m, uint64_t ram_size, int fd, bool private, const struct mem_range *zero,
	       size_t nr_zero) __attribute__((warn_unused_result));
/* The zero ranges mem_map_fd mapped anonymous get 4 KiB pages (MADV_NOHUGEPAGE) even where
 * the host's transparent huge page policy ("always") would give them 2 MiB ones: each page
 * the guest writes there then costs 4 KiB, not 2 MiB. For clones, which are about sharing
 * (`--restore-small-pages`, which `kindling run` passes); without it they keep the host's
 * policy as a booted VM's RAM does, and a restored guest's first writes to its free memory
 * cost what a booted one's do (the lab's post-restore fault test: 0.96x a booted VM's time,
 * against 1.79-2.00x with 4 KiB pages). Best effort. */
void mem_small_pages(struct guest_mem *m, const struct mem_range *zero, size_t nr_zero);
/* A zero range worth mapping on its own: page aligned, inside RAM, at least MEM_ZERO_MIN
 * (a mapping costs more than the faults of fewer pages save). The one rule both the mapping
 * and a signed snapshot's check (snapauth_verify_mem) apply, so they agree on what is zero. */
#define MEM_ZERO_MIN (64u << 10)
bool mem_zero_range_ok(const struct mem_range *z, uint64_t ram_size);
/* A fresh memfd of ram_size bytes, sealed against shrinking: RAM that can be handed to
 * mem_map_fd and later written to a snapshot or shared. Returns the fd or -errno. */
int mem_memfd(uint64_t ram_size);
void mem_destroy(struct guest_mem *m);

/* Host pointer for [gpa, gpa+len) if the whole range lies inside one RAM region, else NULL.
 * len 0 is treated as 1 byte so a pointer to an empty range is still in bounds. */
void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Starts tracking the pages the VMM writes (for diff snapshots). -ENOMEM only. */
int mem_track_dirty(struct guest_mem *m) __attribute__((warn_unused_result));
/* Marks the pages of [gpa, gpa+len) as written by the VMM (no-op unless tracking; safe
 * from any thread). */
void mem_mark_dirty(const struct guest_mem *m, uint64_t gpa, uint64_t len);
/* Puts pages back (a snapshot that failed after vm_take_dirty must lose none). */
void mem_untake_dirty(struct guest_mem *m, const uint64_t *bitmap);
/* ORs the VMM-written pages into bitmap (same layout) and clears them. */
void mem_take_dirty(struct guest_mem *m, uint64_t *bitmap);
/* Words in a bitmap of one bit per page of RAM. */
size_t mem_bitmap_words(const struct guest_mem *m);

/* End of RAM below the MMIO gap (exclusive). */
uint64_t mem_low_end(const struct guest_mem *m);

#endif
