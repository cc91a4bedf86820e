/* Boot structures: zero page, e820, PVH start info, page tables, GDT, MP table, CPUID. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "test.h"
#include "vm.h"

#define RAM (64u << 20)

static uint8_t *ram;
static struct guest_mem mem;
static char err[256];

static struct kernel_info elf_kernel(void)
{
	struct kernel_info ki = { .format = KERNEL_ELF, .entry64 = 0x1000000, .load_start = 0x1000000,
				  .load_end = 0x1400000, .initrd_addr_max = 0x37ffffff, .cmdline_max = 2047 };
	return ki;
}

static void setup_ram(void)
{
	if (!ram)
		ram = calloc(1, RAM);
	memset(ram, 0, RAM);
	if (mem_layout(&mem, RAM, ram))
		abort();
}

static uint32_t r32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, ram + gpa, 4);
	return v;
}

static uint64_t r64(uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, ram + gpa, 8);
	return v;
}

TEST(boot_zero_page_linux64)
{
	static uint8_t initrd[8192];
	struct kernel_info ki = elf_kernel();
	struct boot_config bc = { .cmdline = "console=ttyS0 quiet", .initrd = initrd,
				  .initrd_size = sizeof(initrd), .nr_vcpus = 2, .protocol = BOOT_LINUX64 };
	struct boot_entry e;
	uint64_t zp = BOOT_ZERO_PAGE_ADDR, rd;

	setup_ram();
	memset(initrd, 0x42, sizeof(initrd));
	CHECK(boot_setup(&mem, &ki, &bc, &e, err, sizeof(err)) == 0);
	CHECK(e.protocol == BOOT_LINUX64 && e.rip == 0x1000000 && e.rsi == zp);
	CHECK(!memcmp(ram + zp + BP_HEADER, "HdrS", 4));
	CHECK(ram[zp + BP_BOOT_FLAG] == 0x55 && ram[zp + BP_BOOT_FLAG + 1] == 0xaa);
	CHECK(ram[zp + BP_TYPE_OF_LOADER] == 0xff);
	CHECK(r32(zp + BP_CMD_LINE_PTR) == BOOT_CMDLINE_ADDR);
	CHECK(!strcmp((char *)ram + BOOT_CMDLINE_ADDR, "console=ttyS0 quiet"));
	rd = r32(zp + BP_RAMDISK_IMAGE);
	CHECK(r32(zp + BP_RAMDISK_SIZE) == sizeof(initrd));
	CHECK(rd % 4096 == 0 && rd >= ki.load_end && rd + sizeof(initrd) <= RAM);
	CHECK(ram[rd] == 0x42 && ram[rd + sizeof(initrd) - 1] == 0x42);
	/* e820: low RAM, EBDA reserved, RAM from 1 MiB to the end. */
	CHECK(ram[zp + BP_E820_ENTRIES] == 3);
	CHECK(r64(zp + BP_E820_TABLE) == 0 && r64(zp + BP_E820_TABLE + 8) == BOOT_EBDA_START);
	CHECK(r32(zp + BP_E820_TABLE + 16) == E820_RAM);
	CHECK(r32(zp + BP_E820_TABLE + 20 + 16) == E820_RESERVED);
	CHECK(r64(zp + BP_E820_TABLE + 40) == HIGHMEM_START);
	CHECK(r64(zp + BP_E820_TABLE + 48) == RAM - HIGHMEM_START);
}

TEST(boot_e820_large_memory)
{
	struct guest_mem m;
	struct e820_entry e[E820_MAX];
	int n;

	CHECK(mem_layout(&m, 6ull << 30, NULL) == 0);
	n = boot_e820(&m, e, E820_MAX);
	CHECK(n == 4);
	CHECK(e[2].addr == HIGHMEM_START && e[2].addr + e[2].size == MEM_GAP_START);
	CHECK(e[3].addr == MEM_GAP_END && e[3].size == (6ull << 30) - MEM_GAP_START);
}

TEST(boot_pvh_start_info)
{
	static uint8_t initrd[4096];
	struct kernel_info ki = elf_kernel();
	struct boot_config bc = { .cmdline = "x", .initrd = initrd, .initrd_size = sizeof(initrd), .nr_vcpus = 1 };
	struct boot_entry e;
	uint64_t info = BOOT_PVH_INFO_ADDR, modlist, memmap;

	setup_ram();
	ki.pvh_entry = 0x1000100;
	CHECK(boot_setup(&mem, &ki, &bc, &e, err, sizeof(err)) == 0); /* auto picks PVH */
	CHECK(e.protocol == BOOT_PVH && e.rip == 0x1000100 && e.rbx == info);
	CHECK(r32(info) == PVH_START_MAGIC && r32(info + 4) == 1 && r32(info + 12) == 1);
	CHECK(r64(info + 24) == BOOT_CMDLINE_ADDR);
	modlist = r64(info + 16);
	memmap = r64(info + 40);
	CHECK(r64(modlist + 8) == sizeof(initrd) && r64(modlist) >= ki.load_end);
	CHECK(r32(info + 48) == 3 && r64(memmap + 2 * 24) == HIGHMEM_START && r32(memmap + 2 * 24 + 16) == 1);
	/* Asking for PVH from a kernel without the note is an error. */
	ki.pvh_entry = 0;
	bc.protocol = BOOT_PVH;
	CHECK(boot_setup(&mem, &ki, &bc, &e, err, sizeof(err)) == -EINVAL && strstr(err, "PVH"));
}

TEST(boot_bzimage_header_copied)
{
	struct kernel_info ki = elf_kernel();
	struct boot_config bc = { .cmdline = "", .nr_vcpus = 1, .protocol = BOOT_LINUX64 };
	struct boot_entry e;

	setup_ram();
	ki.format = KERNEL_BZIMAGE;
	ki.setup_hdr_len = 0x268 - 0x1f1;
	memset(ki.setup_hdr, 0, sizeof(ki.setup_hdr));
	memcpy(ki.setup_hdr + (0x202 - 0x1f1), "HdrS", 4);
	ki.setup_hdr[0x260 - 0x1f1] = 0x99; /* init_size byte, copied verbatim */
	CHECK(boot_setup(&mem, &ki, &bc, &e, err, sizeof(err)) == 0);
	CHECK(!memcmp(ram + BOOT_ZERO_PAGE_ADDR + 0x202, "HdrS", 4));
	CHECK(ram[BOOT_ZERO_PAGE_ADDR + 0x260] == 0x99);
	CHECK(ram[BOOT_ZERO_PAGE_ADDR + BP_LOADFLAGS] & 1);
}

TEST(boot_refuses_bad_sizes)
{
	static uint8_t big[1 << 20];
	struct kernel_info ki = elf_kernel();
	struct boot_config bc = { .cmdline = "", .nr_vcpus = 1 };
	struct boot_entry e;
	char *line = malloc(4096);

	setup_ram();
	memset(line, 'a', 4095);
	line[4095] = 0;
	bc.cmdline = line;
	CHECK(boot_setup(&mem, &ki, &bc, &e, err, sizeof(err)) == -E2BIG && strstr(err, "command line"));
	bc.cmdline = "";
	/* An initrd that cannot fit above the kernel. */
	ki.load_end = RAM - 0x80000;
	bc.initrd = big;
	bc.initrd_size = sizeof(big);
	CHECK(boot_setup(&mem, &ki, &bc, &e, err, sizeof(err)) == -ENOMEM && strstr(err, "initrd"));
	free(line);
}

TEST(boot_page_tables_identity)
{
	setup_ram();
	CHECK(boot_write_page_tables(&mem) == 0);
	CHECK(r64(BOOT_PML4_ADDR) == (BOOT_PDPT_ADDR | 3));
	for (uint64_t i = 0; i < 4; i++)
		CHECK(r64(BOOT_PDPT_ADDR + i * 8) == ((BOOT_PD_ADDR + i * 4096) | 3));
	CHECK(r64(BOOT_PD_ADDR) == 0x83);
	CHECK(r64(BOOT_PD_ADDR + 8) == ((2ull << 20) | 0x83));
	CHECK(r64(BOOT_PD_ADDR + 2047 * 8) == ((2047ull << 21) | 0x83)); /* last 2 MiB below 4 GiB */
}

TEST(boot_gdt_entries)
{
	setup_ram();
	CHECK(boot_write_gdt(&mem) == 0);
	CHECK(r64(BOOT_GDT_ADDR) == 0);
	CHECK(r64(BOOT_GDT_ADDR + GDT_CODE64) == 0x00af9b000000ffffull);
	CHECK(r64(BOOT_GDT_ADDR + GDT_CODE32) == 0x00cf9b000000ffffull);
	CHECK(r64(BOOT_GDT_ADDR + GDT_DATA) == 0x00cf93000000ffffull);
	CHECK(r64(BOOT_GDT_ADDR + GDT_TSS) == 0x008f8b000000ffffull);
	CHECK(boot_gdt_entry(0xa09b, 0x12345678, 0xfffff) == 0x12af9b345678ffffull);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

TEST(mptable_contents)
{
	const uint8_t *mpf, *mpc, *p;
	uint16_t len, count;
	int cpus = 0, ioapics = 0, ints = 0, lints = 0;

	setup_ram();
	CHECK(mptable_write(&mem, 4) == 0);
	mpf = ram + BOOT_EBDA_START;
	CHECK(!memcmp(mpf, "_MP_", 4) && sum(mpf, 16) == 0 && mpf[8] == 1 && mpf[9] == 4);
	CHECK(r32(BOOT_EBDA_START + 4) == BOOT_EBDA_START + 16);
	mpc = ram + BOOT_EBDA_START + 16;
	memcpy(&len, mpc + 4, 2);
	memcpy(&count, mpc + 34, 2);
	CHECK(!memcmp(mpc, "PCMP", 4) && sum(mpc, len) == 0);
	CHECK(r32(BOOT_EBDA_START + 16 + 36) == MPTABLE_LAPIC_ADDR);
	p = mpc + 44;
	for (int i = 0; i < count; i++) {
		switch (p[0]) {
		case 0:
			CHECK(p[1] == cpus && (p[3] & 1) && ((p[3] & 2) != 0) == (cpus == 0));
			cpus++;
			p += 20;
			break;
		case 2:
			CHECK(p[1] == 5 && r32((uint64_t)(p + 4 - ram)) == MPTABLE_IOAPIC_ADDR);
			ioapics++;
			p += 8;
			break;
		case 3:
			CHECK(p[5] == ints && p[7] == ints && p[6] == 5);
			ints++;
			p += 8;
			break;
		case 4:
			lints++;
			p += 8;
			break;
		default:
			p += 8;
		}
	}
	CHECK(p == mpc + len);
	CHECK(cpus == 4 && ioapics == 1 && ints == MPTABLE_NR_IRQS && lints == 2);
	CHECK(mptable_write(&mem, 32) == 0);
	CHECK(mptable_write(&mem, 0) == -EINVAL);
}

TEST(cpuid_filter_topology)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 8 * sizeof(c->entries[0]));

	c->nent = 6;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff0800, .ecx = 0xffffffff,
						   .edx = 1u << 28 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0 };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1 };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 0xa, .eax = 0x07300403 };
	c->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .ecx = 0xffffffff };
	c->entries[5] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .ebx = 0x4b4d564b };
	CHECK(cpu_filter_cpuid(c, 3, 4) == 0);
	CHECK(c->entries[0].ebx >> 24 == 3 && ((c->entries[0].ebx >> 16) & 0xff) == 4);
	CHECK((c->entries[0].ebx & 0xffff) == 0x0800);   /* CLFLUSH size kept */
	CHECK(!(c->entries[0].ecx & (1u << 3)));         /* no MONITOR */
	CHECK(!(c->entries[0].ecx & (1u << 5)));         /* no VMX */
	CHECK(c->entries[0].ecx & (1u << 31));           /* hypervisor bit */
	CHECK(c->entries[1].edx == 3 && c->entries[1].ebx == 1);
	CHECK(c->entries[2].eax == 2 && c->entries[2].ebx == 4 && c->entries[2].edx == 3);
	CHECK(c->entries[3].eax == 0);                   /* no PMU */
	CHECK(!(c->entries[4].ecx & (1u << 2)));         /* no SVM */
	c->entries[5].function = 0x40000010;
	CHECK(cpu_filter_cpuid(c, 0, 1) == -ENOENT);     /* missing hypervisor leaf reported */
	CHECK(!(c->entries[0].edx & (1u << 28)));        /* one vCPU: no HTT */
	free(c);
}

TEST(cpu_sregs_modes)
{
	struct kvm_sregs s;

	memset(&s, 0, sizeof(s));
	cpu_long_mode_sregs(&s);
	CHECK(s.cr0 & 1 && s.cr0 & (1u << 31) && s.cr4 & (1u << 5));
	CHECK(s.efer & (1u << 8) && s.efer & (1u << 10));
	CHECK(s.cr3 == BOOT_PML4_ADDR && s.cs.l == 1 && s.cs.db == 0 && s.cs.selector == GDT_CODE64);
	CHECK(s.ds.selector == GDT_DATA && s.gdt.base == BOOT_GDT_ADDR);
	memset(&s, 0, sizeof(s));
	cpu_pvh_sregs(&s);
	CHECK((s.cr0 & 1) && !(s.cr0 & (1u << 31)) && s.efer == 0);
	CHECK(s.cs.l == 0 && s.cs.db == 1 && s.cs.selector == GDT_CODE32 && s.cs.limit == 0xffffffff);
}
