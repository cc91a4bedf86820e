/* Kernel image parsing: valid ELF/PVH/bzImage, and corrupt inputs that must be refused
 * with an error (never a crash, never a write outside guest RAM). */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "test.h"

#define RAM (16u << 20)

static uint8_t *ram;
static struct guest_mem mem;
static char err[256];

static void setup_ram(void)
{
	if (!ram)
		ram = calloc(1, RAM);
	if (mem_layout(&mem, RAM, ram))
		abort();
}

/* An ELF with one PT_LOAD at paddr, `code` bytes of payload, optional PVH note. */
static size_t make_elf(uint8_t *buf, uint64_t paddr, uint64_t entry, uint32_t pvh)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));
	uint8_t *note = buf + 0x200;
	size_t size = 0x1000 + 0x100;

	memset(buf, 0, size);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_entry = entry;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = pvh ? 2 : 1;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = paddr, .p_filesz = 0x100,
			      .p_memsz = 0x2000 };
	memset(buf + 0x1000, 0xcc, 0x100);
	if (pvh) {
		uint32_t hdr[3] = { 4, 4, 18 };

		memcpy(note, hdr, 12);
		memcpy(note + 12, "Xen", 4);
		memcpy(note + 16, &pvh, 4);
		ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x200, .p_filesz = 20 };
	}
	return size;
}

TEST(loader_elf_valid)
{
	static uint8_t img[0x2000];
	struct kernel_info ki;
	size_t n;

	setup_ram();
	memset(ram + 0x100100, 0x77, 0x100); /* bss must be zeroed by the loader */
	n = make_elf(img, 0x100000, 0x100000, 0);
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == 0);
	CHECK(ki.format == KERNEL_ELF && ki.entry64 == 0x100000 && ki.pvh_entry == 0);
	CHECK(ki.load_start == 0x100000 && ki.load_end == 0x102000);
	CHECK(ram[0x100000] == 0xcc && ram[0x1000ff] == 0xcc && ram[0x100100] == 0);
}

TEST(loader_elf_pvh_note)
{
	static uint8_t img[0x2000];
	struct kernel_info ki;
	size_t n;

	setup_ram();
	n = make_elf(img, 0x100000, 0x100000, 0x100040);
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == 0);
	CHECK(ki.pvh_entry == 0x100040);
	/* A PVH entry outside the image is refused. */
	n = make_elf(img, 0x100000, 0x100000, 0x900000);
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	CHECK(strstr(err, "PVH"));
}

TEST(loader_elf_corrupt)
{
	static uint8_t img[0x2000];
	struct kernel_info ki;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	size_t n;

	setup_ram();
	n = make_elf(img, 0x100000, 0x100000, 0);
	/* Truncated header and truncated program headers. */
	CHECK(loader_load_kernel(&mem, img, 40, &ki, err, sizeof(err)) == -ENOEXEC && strstr(err, "truncated"));
	CHECK(loader_load_kernel(&mem, img, sizeof(*eh) + 10, &ki, err, sizeof(err)) == -ENOEXEC);
	/* Segment data past the end of the file. */
	CHECK(loader_load_kernel(&mem, img, 0x1010, &ki, err, sizeof(err)) == -ENOEXEC && strstr(err, "truncated"));
	/* Wrong machine, 32-bit class. */
	eh->e_machine = EM_386;
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	n = make_elf(img, 0x100000, 0x100000, 0);
	eh->e_ident[EI_CLASS] = ELFCLASS32;
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	/* Segment outside RAM, below 1 MiB, wrapping around. */
	n = make_elf(img, RAM - 0x1000, RAM - 0x1000, 0);
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC && strstr(err, "outside"));
	n = make_elf(img, 0x7000, 0x7000, 0);
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	n = make_elf(img, UINT64_MAX - 0xfff, 0x100000, 0);
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	/* Huge p_memsz, p_offset + p_filesz overflow, filesz > memsz. */
	n = make_elf(img, 0x100000, 0x100000, 0);
	ph[0].p_memsz = UINT64_MAX;
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	n = make_elf(img, 0x100000, 0x100000, 0);
	ph[0].p_offset = UINT64_MAX - 0x10;
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	n = make_elf(img, 0x100000, 0x100000, 0);
	ph[0].p_filesz = 0x3000;
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	/* Absurd phnum, entry outside every segment. */
	n = make_elf(img, 0x100000, 0x100000, 0);
	eh->e_phnum = 0xffff;
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	n = make_elf(img, 0x100000, 0x500000, 0);
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC && strstr(err, "entry"));
	/* A PVH note whose sizes run past the segment is ignored, not followed. */
	n = make_elf(img, 0x100000, 0x100000, 0x100040);
	((uint32_t *)(img + 0x200))[1] = 0xfffffff0u;
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == 0 && ki.pvh_entry == 0);
}

static size_t make_bz(uint8_t *img, size_t payload)
{
	size_t size = 1024 + payload;

	memset(img, 0, size);
	img[0x1f1] = 1;
	img[0x1fe] = 0x55, img[0x1ff] = 0xaa;
	img[0x201] = 0x66;
	memcpy(img + 0x202, "HdrS", 4);
	img[0x206] = 0x0f, img[0x207] = 0x02;
	img[0x211] = 1;
	img[0x234] = 1;                       /* relocatable */
	img[0x230 + 2] = 0x20;                /* kernel_alignment 2 MiB */
	img[0x236] = 1;                       /* XLF_KERNEL_64 */
	img[0x238] = 0xff, img[0x239] = 0x07; /* cmdline_size 2047 */
	img[0x260 + 2] = 0x10;                /* init_size 1 MiB */
	memset(img + 1024, 0xab, payload);
	return size;
}

TEST(loader_bzimage_valid)
{
	static uint8_t img[8192];
	struct kernel_info ki;
	size_t n = make_bz(img, 4096);

	setup_ram();
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == 0);
	CHECK(ki.format == KERNEL_BZIMAGE && ki.entry64 == 0x100200);
	CHECK(ram[0x100000] == 0xab && ram[0x100fff] == 0xab);
	CHECK(ki.setup_hdr_len == 0x268 - 0x1f1 && ki.setup_hdr[0x202 - 0x1f1] == 'H');
	CHECK(ki.cmdline_max == 2047);
	/* Runtime address is 1 MiB rounded up to 2 MiB: init_size must fit from there. */
	CHECK(ki.load_end == 0x200000 + 0x100000);
}

TEST(loader_bzimage_corrupt)
{
	static uint8_t img[8192];
	struct kernel_info ki;
	size_t n;

	setup_ram();
	n = make_bz(img, 4096);
	CHECK(loader_load_kernel(&mem, img, 0x250, &ki, err, sizeof(err)) == -ENOEXEC && strstr(err, "truncated"));
	CHECK(loader_load_kernel(&mem, img, 1024, &ki, err, sizeof(err)) == -ENOEXEC && strstr(err, "truncated"));
	img[0x206] = 0x0b; /* protocol 2.11 */
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC && strstr(err, "2.12"));
	n = make_bz(img, 4096);
	img[0x236] = 0;
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC && strstr(err, "64-bit"));
	n = make_bz(img, 4096);
	img[0x211] = 0;
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	n = make_bz(img, 4096);
	img[0x263] = 0xff; /* init_size ~4 GiB: cannot decompress in 16 MiB */
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC && strstr(err, "RAM"));
	n = make_bz(img, 4096);
	img[0x1f1] = 200; /* setup sectors run past the end */
	CHECK(loader_load_kernel(&mem, img, n, &ki, err, sizeof(err)) == -ENOEXEC);
	n = make_bz(img, 4096);
	img[0x201] = 0xff; /* header end past a short file */
	CHECK(loader_load_kernel(&mem, img, 0x280, &ki, err, sizeof(err)) == -ENOEXEC);
}

TEST(loader_not_a_kernel)
{
	static const uint8_t text[] = "myhostname\n";
	static uint8_t zeros[4096];
	struct kernel_info ki;

	setup_ram();
	CHECK(loader_load_kernel(&mem, text, sizeof(text), &ki, err, sizeof(err)) == -ENOEXEC);
	CHECK(strstr(err, "not a kernel"));
	CHECK(loader_load_kernel(&mem, zeros, sizeof(zeros), &ki, err, sizeof(err)) == -ENOEXEC);
	CHECK(loader_load_kernel(&mem, zeros, 0, &ki, err, sizeof(err)) == -ENOEXEC);
}

TEST(loader_read_file_errors)
{
	uint8_t *buf;
	size_t n;

	CHECK(loader_read_file("/nonexistent/kernel", 1 << 20, &buf, &n, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "/nonexistent/kernel"));
	CHECK(loader_read_file("/", 1 << 20, &buf, &n, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "not a regular file"));
	CHECK(loader_read_file("/proc/self/exe", 16, &buf, &n, err, sizeof(err)) == -EFBIG);
}
