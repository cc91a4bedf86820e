/* Boot structures in guest memory: e820, command line, initrd, zero page, PVH start info,
 * page tables and GDT. The MP table is in mptable.c. */
#include "log.h"
#include "boot.h"

#include <errno.h>

#include <stdio.h>
#include <string.h>


static void wr16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

int boot_e820(const struct guest_mem *m, struct e820_entry *out, int max)
{
	int n = 0;

	if (max < 2 + MEM_MAX_REGIONS)
		return -EINVAL;
	out[n++] = (struct e820_entry){ 0, BOOT_EBDA_START, E820_RAM };
	out[n++] = (struct e820_entry){ BOOT_EBDA_START, BOOT_LOW_RAM_END - BOOT_EBDA_START, E820_RESERVED };
	for (int i = 0; i < m->nr_regions; i++) {
		uint64_t start = m->region[i].gpa, end = start + m->region[i].size;

		if (start < HIGHMEM_START)
			start = HIGHMEM_START;
		if (end > start)
			out[n++] = (struct e820_entry){ start, end - start, E820_RAM };
	}
	return n;
}

uint64_t boot_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

int boot_write_gdt(const struct guest_mem *m)
{
	uint64_t gdt[GDT_ENTRIES] = {
		0,
		boot_gdt_entry(0xc09b, 0, 0xfffff), /* 32-bit code, for PVH */
		boot_gdt_entry(0xa09b, 0, 0xfffff), /* 64-bit code */
		boot_gdt_entry(0xc093, 0, 0xfffff), /* data */
		boot_gdt_entry(0x808b, 0, 0xfffff), /* TSS */
	};
	uint8_t *p = mem_ptr(m, BOOT_GDT_ADDR, sizeof(gdt));

	if (!p)
		return -EFAULT;
	memcpy(p, gdt, sizeof(gdt));
	return 0;
}

/* Identity-maps the first 4 GiB with 2 MiB pages: enough for any kernel, initrd and boot
 * structure we place, and for the bzImage decompressor before it builds its own tables. */
int boot_write_page_tables(const struct guest_mem *m)
{
	uint8_t *pml4 = mem_ptr(m, BOOT_PML4_ADDR, 4096);
	uint8_t *pdpt = mem_ptr(m, BOOT_PDPT_ADDR, 4096);
	uint8_t *pd = mem_ptr(m, BOOT_PD_ADDR, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	wr64(pml4, BOOT_PDPT_ADDR | 0x3); /* present, writable */
	for (uint64_t i = 0; i < 4; i++)
		wr64(pdpt + i * 8, (BOOT_PD_ADDR + i * 4096) | 0x3);
	for (uint64_t i = 0; i < 4 * 512; i++)
		wr64(pd + i * 8, (i << 21) | 0x83); /* present, writable, 2 MiB page */
	return 0;
}

static int place_initrd(const struct guest_mem *m, const struct kernel_info *ki, const struct boot_config *cfg,
			uint64_t *addr, char *err, size_t errlen)
{
	uint64_t top = mem_low_end(m), a;
	uint8_t *dst;
	int r;

	if ((uint64_t)ki->initrd_addr_max + 1 < top)
		top = (uint64_t)ki->initrd_addr_max + 1;
	if (cfg->initrd_size > top)
		goto toobig;
	a = (top - cfg->initrd_size) & ~0xfffull;
	if (a < ki->load_end || a < HIGHMEM_START)
		goto toobig;
	dst = mem_ptr(m, a, cfg->initrd_size);
	/* Read straight into guest RAM, as the loader reads the kernel (loader_pread). */
	if (!cfg->initrd && (r = loader_pread(cfg->initrd_fd, dst, cfg->initrd_size, 0)))
		return errorf(err, errlen, r, "cannot read the initrd: %s",
			      r == -EIO ? "the file is shorter than when it was opened" : strerror(-r));
	if (cfg->initrd)
		memcpy(dst, cfg->initrd, cfg->initrd_size);
	*addr = a;
	return 0;
toobig:
	return errorf(err, errlen, -ENOMEM, "initrd (%zu bytes) does not fit in guest RAM above the kernel",
		    cfg->initrd_size);
}

static int write_zero_page(const struct guest_mem *m, const struct kernel_info *ki, uint64_t cmdline_len,
			   uint64_t initrd_addr, size_t initrd_size)
{
	uint8_t *zp = mem_ptr(m, BOOT_ZERO_PAGE_ADDR, 4096);
	struct e820_entry e820[E820_MAX];
	int n = boot_e820(m, e820, E820_MAX);

	if (!zp || n < 0)
		return -EFAULT;
	memset(zp, 0, 4096);
	if (ki->format == KERNEL_BZIMAGE) {
		memcpy(zp + SETUP_HDR_START, ki->setup_hdr, ki->setup_hdr_len);
	} else {
		wr16(zp + BP_BOOT_FLAG, 0xaa55);
		memcpy(zp + BP_HEADER, "HdrS", 4);
		wr16(zp + BP_VERSION, 0x020f);
		wr32(zp + BP_KERNEL_ALIGNMENT, 0x1000000);
	}
	zp[BP_TYPE_OF_LOADER] = 0xff;
	zp[BP_LOADFLAGS] |= 0x01 | 0x20; /* LOADED_HIGH, QUIET_FLAG (no decompressor chatter) */
	wr32(zp + BP_CMD_LINE_PTR, BOOT_CMDLINE_ADDR);
	wr32(zp + BP_CMDLINE_SIZE, (uint32_t)cmdline_len);
	if (initrd_size) {
		wr32(zp + BP_RAMDISK_IMAGE, (uint32_t)initrd_addr);
		wr32(zp + BP_RAMDISK_SIZE, (uint32_t)initrd_size);
		wr32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
		wr32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)initrd_size >> 32));
	}
	zp[BP_E820_ENTRIES] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		uint8_t *e = zp + BP_E820_TABLE + i * 20;

		wr64(e, e820[i].addr);
		wr64(e + 8, e820[i].size);
		wr32(e + 16, e820[i].type);
	}
	return 0;
}

static int write_pvh_info(const struct guest_mem *m, uint64_t initrd_addr, size_t initrd_size)
{
	struct e820_entry e820[E820_MAX];
	int n = boot_e820(m, e820, E820_MAX);
	uint64_t modlist = BOOT_PVH_INFO_ADDR + PVH_INFO_SIZE;
	uint64_t memmap = modlist + PVH_MODLIST_ENTRY_SIZE;
	uint8_t *info = mem_ptr(m, BOOT_PVH_INFO_ADDR, 4096);

	if (!info || n < 0 || memmap + (uint64_t)n * PVH_MEMMAP_ENTRY_SIZE > BOOT_PVH_INFO_ADDR + 4096)
		return -EFAULT;
	memset(info, 0, 4096);
	wr32(info + 0, PVH_START_MAGIC);
	wr32(info + 4, 1); /* version 1: has the memory map */
	wr32(info + 12, initrd_size ? 1 : 0);
	wr64(info + 16, initrd_size ? modlist : 0);
	wr64(info + 24, BOOT_CMDLINE_ADDR);
	wr64(info + 40, memmap);
	wr32(info + 48, (uint32_t)n);
	if (initrd_size) {
		uint8_t *mod = info + (modlist - BOOT_PVH_INFO_ADDR);

		wr64(mod, initrd_addr);
		wr64(mod + 8, initrd_size);
	}
	for (int i = 0; i < n; i++) {
		uint8_t *e = info + (memmap - BOOT_PVH_INFO_ADDR) + (uint64_t)i * PVH_MEMMAP_ENTRY_SIZE;

		wr64(e, e820[i].addr);
		wr64(e + 8, e820[i].size);
		wr32(e + 16, e820[i].type);
	}
	return 0;
}

int boot_setup(const struct guest_mem *m, const struct kernel_info *ki, const struct boot_config *cfg,
	       struct boot_entry *entry, char *err, size_t errlen)
{
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
	size_t len = strlen(cmdline);
	uint64_t initrd_addr = 0;
	enum boot_protocol proto = cfg->protocol;
	uint8_t *p;
	int r;

	if (mem_low_end(m) < 8ull << 20)
		return errorf(err, errlen, -EINVAL, "guest RAM must be at least 8 MiB");
	if (proto == BOOT_AUTO)
		proto = ki->pvh_entry ? BOOT_PVH : BOOT_LINUX64;
	if (proto == BOOT_PVH && !ki->pvh_entry)
		return errorf(err, errlen, -EINVAL, "PVH boot asked for, but the kernel has no PVH entry note");
	if (len > ki->cmdline_max || len >= BOOT_CMDLINE_MAX)
		return errorf(err, errlen, -E2BIG, "kernel command line is %zu bytes; this kernel takes at most %u",
			    len, ki->cmdline_max);
	p = mem_ptr(m, BOOT_CMDLINE_ADDR, len + 1);
	if (!p)
		return errorf(err, errlen, -EFAULT, "no RAM for the command line");
	memcpy(p, cmdline, len + 1);

	if (cfg->initrd_size) {
		r = place_initrd(m, ki, cfg, &initrd_addr, err, errlen);
		if (r)
			return r;
	}
	if (boot_write_gdt(m) || boot_write_page_tables(m))
		return errorf(err, errlen, -EFAULT, "no RAM for page tables");
	r = mptable_write(m, cfg->nr_vcpus);
	if (r)
		return errorf(err, errlen, r, "cannot write the MP table for %d vCPUs", cfg->nr_vcpus);

	memset(entry, 0, sizeof(*entry));
	entry->protocol = proto;
	if (proto == BOOT_PVH) {
		if (write_pvh_info(m, initrd_addr, cfg->initrd_size))
			return errorf(err, errlen, -EFAULT, "cannot write the PVH start info");
		entry->rip = ki->pvh_entry;
		entry->rbx = BOOT_PVH_INFO_ADDR;
	} else {
		if (write_zero_page(m, ki, len, initrd_addr, cfg->initrd_size))
			return errorf(err, errlen, -EFAULT, "cannot write the zero page");
		entry->rip = ki->entry64;
		entry->rsi = BOOT_ZERO_PAGE_ADDR;
	}
	return 0;
}
