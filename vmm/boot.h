/* Boot-time guest memory contents: the low-memory layout, the command line, the initrd,
 * the zero page (boot_params) with its e820 map, PVH's hvm_start_info, the MP table, and the
 * page tables and GDT that let the first vCPU start directly in long or protected mode. */
#ifndef KINDLING_BOOT_H
#define KINDLING_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "loader.h"
#include "mem.h"

/* Low-memory layout (all below 1 MiB, below the EBDA). */
#define BOOT_GDT_ADDR 0x500
#define BOOT_PVH_INFO_ADDR 0x6000 /* hvm_start_info, then its memory map */
#define BOOT_ZERO_PAGE_ADDR 0x7000
#define BOOT_STACK_ADDR 0x8ff0
#define BOOT_PML4_ADDR 0x9000
#define BOOT_PDPT_ADDR 0xa000
#define BOOT_PD_ADDR 0xb000 /* 4 pages: identity map of the first 4 GiB in 2 MiB pages */
#define BOOT_CMDLINE_ADDR 0x20000
#define BOOT_CMDLINE_MAX 0x10000
#define BOOT_EBDA_START 0x9fc00 /* the MP table lives here, where Linux scans for it */
#define BOOT_LOW_RAM_END 0xa0000

/* GDT selectors. Linux's 64-bit boot protocol names __BOOT_CS 0x10 and __BOOT_DS 0x18. */
#define GDT_CODE32 0x08
#define GDT_CODE64 0x10
#define GDT_DATA 0x18
#define GDT_TSS 0x20
#define GDT_ENTRIES 5

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX 128

/* Offsets in struct boot_params (Documentation/arch/x86/zero-page.rst). */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_BOOT_FLAG 0x1fe
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_CMDLINE_SIZE 0x238
#define BP_E820_TABLE 0x2d0

#define PVH_START_MAGIC 0x336ec578
#define PVH_INFO_SIZE 56
#define PVH_MODLIST_ENTRY_SIZE 32
#define PVH_MEMMAP_ENTRY_SIZE 24

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* What the first vCPU needs to start the kernel. */
struct boot_entry {
	enum boot_protocol protocol; /* resolved: BOOT_LINUX64 or BOOT_PVH */
	uint64_t rip;
	uint64_t rsi; /* zero page (Linux 64-bit entry) */
	uint64_t rbx; /* hvm_start_info (PVH) */
};

struct boot_config {
	const char *cmdline;
	const uint8_t *initrd; /* NULL with an initrd_size: read it from initrd_fd instead */
	int initrd_fd;
	size_t initrd_size;
	int nr_vcpus;
	enum boot_protocol protocol;
};

/* Builds the guest's e820 map from the memory layout; returns the entry count. */
int boot_e820(const struct guest_mem *m, struct e820_entry *out, int max);

/* Writes everything the kernel needs besides itself into guest memory. */
int boot_setup(const struct guest_mem *m, const struct kernel_info *ki, const struct boot_config *cfg,
	       struct boot_entry *entry, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Individual pieces, exposed for tests. */
int boot_write_page_tables(const struct guest_mem *m) __attribute__((warn_unused_result));
int boot_write_gdt(const struct guest_mem *m) __attribute__((warn_unused_result));
uint64_t boot_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
int mptable_write(const struct guest_mem *m, int nr_vcpus) __attribute__((warn_unused_result));

#define MPTABLE_IOAPIC_ADDR 0xfec00000u
#define MPTABLE_LAPIC_ADDR 0xfee00000u
#define MPTABLE_NR_IRQS 24

#endif
