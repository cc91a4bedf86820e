/* The loader reading the kernel and initrd from their fds (pread straight into guest RAM)
 * must leave guest RAM byte for byte as copying from the mapped file does, refuse what
 * that refuses, and turn a file that shrank after its check into an error, not a SIGBUS. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "loader.h"
#include "test.h"

#define RAM (32u << 20)

static char err[256];

/* Two PT_LOADs whose sizes are not page multiples, the second with a BSS, and a PVH note
 * when pvh is not 0. */
static size_t make_elf(uint8_t *buf, uint64_t paddr, uint32_t pvh)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));
	size_t size = 0x5000;

	memset(buf, 0, size);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_entry = paddr;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = pvh ? 3 : 2;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = paddr, .p_filesz = 0x1234,
			      .p_memsz = 0x1234 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x3000, .p_paddr = paddr + 0x200000,
			      .p_filesz = 0x1f00, .p_memsz = 0x6000 };
	for (size_t i = 0x1000; i < size; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	if (pvh) {
		uint32_t hdr[3] = { 4, 4, 18 };

		memcpy(buf + 0x200, hdr, 12);
		memcpy(buf + 0x20c, "Xen", 4);
		memcpy(buf + 0x210, &pvh, 4);
		ph[2] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x200, .p_filesz = 20 };
	}
	return size;
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
	img[0x236] = 1;                       /* XLF_KERNEL_64 */
	img[0x238] = 0xff, img[0x239] = 0x07; /* cmdline_size 2047 */
	img[0x260 + 2] = 0x10;                /* init_size 1 MiB */
	for (size_t i = 1024; i < size; i++)
		img[i] = (uint8_t)(i * 13 + 5);
	return size;
}

/* A temporary file holding buf; its path in path. */
static int write_tmp(const uint8_t *buf, size_t n, char *path)
{
	int fd;

	strcpy(path, "/tmp/kindling-loader-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, buf, n) != (ssize_t)n) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/* RAM filled with 0x77, so that a byte the loader should zero and did not shows. */
static uint8_t *dirty_ram(struct guest_mem *m)
{
	uint8_t *ram = malloc(RAM);

	if (!ram)
		abort();
	memset(ram, 0x77, RAM);
	if (mem_layout(m, RAM, ram))
		abort();
	return ram;
}

/* Loads img both ways (memcpy from the buffer; pread from its file) and compares. */
static int same_both_ways(const uint8_t *img, size_t n, struct kernel_info *out)
{
	struct guest_mem ma, mb;
	uint8_t *a = dirty_ram(&ma), *b = dirty_ram(&mb);
	struct kernel_info ka, kb;
	const uint8_t *map;
	char path[64];
	size_t size;
	int fd = -1, ok = 0;

	if (write_tmp(img, n, path))
		goto out;
	if (loader_map_file(path, 1 << 20, &map, &size, &fd, err, sizeof(err)) || size != n)
		goto out_unlink;
	if (loader_load_kernel(&ma, img, n, &ka, err, sizeof(err)) ||
	    loader_load_kernel_fd(&mb, map, size, fd, &kb, err, sizeof(err)))
		goto out_unmap;
	ok = !memcmp(a, b, RAM) && !memcmp(&ka, &kb, sizeof(ka));
	*out = kb;
out_unmap:
	loader_unmap_file(map, size);
	close(fd);
out_unlink:
	unlink(path);
out:
	free(a);
	free(b);
	return ok;
}

TEST(loader_fd_elf_same_as_copy)
{
	static uint8_t img[0x5000];
	struct kernel_info ki;
	struct guest_mem m;
	uint8_t *ram;

	CHECK(same_both_ways(img, make_elf(img, 0x1000000, 0), &ki));
	CHECK(ki.format == KERNEL_ELF && ki.entry64 == 0x1000000 && ki.pvh_entry == 0);
	CHECK(ki.load_start == 0x1000000 && ki.load_end == 0x1206000);
	CHECK(same_both_ways(img, make_elf(img, 0x1000000, 0x1000040), &ki));
	CHECK(ki.pvh_entry == 0x1000040);
	/* And what landed is the file's bytes, with the BSS zeroed. */
	ram = dirty_ram(&m);
	{
		const uint8_t *map;
		char path[64];
		size_t size;
		int fd = -1, r = -1;

		if (!write_tmp(img, sizeof(img), path)) {
			if (!loader_map_file(path, 1 << 20, &map, &size, &fd, err, sizeof(err))) {
				r = loader_load_kernel_fd(&m, map, size, fd, &ki, err, sizeof(err));
				loader_unmap_file(map, size);
				close(fd);
			}
			unlink(path);
		}
		if (r) {
			free(ram);
			CHECK(r == 0);
		}
	}
	CHECK(!memcmp(ram + 0x1000000, img + 0x1000, 0x1234) && ram[0x1001234] == 0x77);
	CHECK(!memcmp(ram + 0x1200000, img + 0x3000, 0x1f00));
	for (size_t i = 0x1f00; i < 0x6000; i++) {
		if (ram[0x1200000 + i]) {
			free(ram);
			CHECK(!"BSS zeroed");
		}
	}
	free(ram);
}

TEST(loader_fd_bzimage_same_as_copy)
{
	static uint8_t img[1024 + 0x3456];
	struct kernel_info ki;

	CHECK(same_both_ways(img, make_bz(img, 0x3456), &ki));
	CHECK(ki.format == KERNEL_BZIMAGE && ki.entry64 == 0x100200);
}

/* Opens img as a file for loader_load_kernel_fd, loads it into a RAM of 32 MiB. */
static int load_fd(const uint8_t *img, size_t n, size_t truncate_to)
{
	struct guest_mem m;
	uint8_t *ram = dirty_ram(&m);
	struct kernel_info ki;
	const uint8_t *map;
	char path[64];
	size_t size;
	int fd, r = -999;

	if (write_tmp(img, n, path))
		goto out;
	if (loader_map_file(path, 1 << 20, &map, &size, &fd, err, sizeof(err)))
		goto out_unlink;
	/* The file shrinks after it was mapped and checked, as a kernel rewritten in place. */
	if (!truncate_to || !truncate(path, (off_t)truncate_to))
		r = loader_load_kernel_fd(&m, map, size, fd, &ki, err, sizeof(err));
	loader_unmap_file(map, size);
	close(fd);
out_unlink:
	unlink(path);
out:
	free(ram);
	return r;
}

TEST(loader_fd_refuses_as_before)
{
	static uint8_t img[0x5000];
	size_t n;

	n = make_elf(img, 0x1f00000, 0); /* the second segment ends past 32 MiB */
	CHECK(load_fd(img, n, 0) == -ENOEXEC && strstr(err, "outside guest RAM"));
	n = make_elf(img, 0x80000, 0); /* below 1 MiB */
	CHECK(load_fd(img, n, 0) == -ENOEXEC && strstr(err, "outside guest RAM"));
	n = make_elf(img, 0x1000000, 0);
	CHECK(load_fd(img, n - 0x200, 0) == -ENOEXEC && strstr(err, "truncated"));
	/* Shrunk after the check: an error, where copying from the mapping would SIGBUS. */
	CHECK(load_fd(img, n, 0x2000) == -EIO && strstr(err, "shorter"));
	n = make_bz(img, 0x3456);
	CHECK(load_fd(img, n, 0x1000) == -EIO && strstr(err, "shorter"));
}

TEST(loader_fd_initrd)
{
	static uint8_t initrd[0x3210];
	struct kernel_info ki = { .format = KERNEL_ELF, .entry64 = 0x1000000, .load_start = 0x1000000,
				  .load_end = 0x1400000, .initrd_addr_max = 0x37ffffff, .cmdline_max = 2047 };
	struct boot_config bc = { .cmdline = "quiet", .initrd = initrd, .initrd_size = sizeof(initrd), .nr_vcpus = 1 };
	struct guest_mem ma, mb;
	uint8_t *a = dirty_ram(&ma), *b = dirty_ram(&mb);
	struct boot_entry e;
	char path[64];
	int fd, same, r1, r2 = -1;

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 3);
	if (write_tmp(initrd, sizeof(initrd), path)) {
		free(a), free(b);
		CHECK(!"temporary file");
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	r1 = boot_setup(&ma, &ki, &bc, &e, err, sizeof(err));
	bc.initrd = NULL;
	bc.initrd_fd = fd;
	if (fd >= 0)
		r2 = boot_setup(&mb, &ki, &bc, &e, err, sizeof(err));
	same = !memcmp(a, b, RAM);
	/* An initrd shorter than when it was opened. */
	if (fd >= 0 && !truncate(path, 0x1000))
		r2 |= boot_setup(&mb, &ki, &bc, &e, err, sizeof(err)) == -EIO && strstr(err, "initrd") ? 0 : 1;
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(a), free(b);
	CHECK(r1 == 0 && r2 == 0 && same);
}

/* The real guest kernel, when built (make kernel): the same bytes both ways at 128 MiB, in
 * anonymous RAM with huge pages as the VMM boots it. */
TEST(loader_fd_real_vmlinux)
{
	const char *path = "build/guest/vmlinux";
	struct guest_mem ma, mb;
	struct kernel_info ka, kb;
	const uint8_t *map;
	size_t size;
	int fd, ra, rb, same;

	if (access(path, R_OK))
		SKIP("no build/guest/vmlinux (make kernel)");
	CHECK(loader_map_file(path, 512u << 20, &map, &size, &fd, err, sizeof(err)) == 0);
	if (mem_create(&ma, 128u << 20) || mem_create(&mb, 128u << 20)) {
		loader_unmap_file(map, size);
		close(fd);
		CHECK(!"mem_create");
	}
	mem_use_hugepages(&mb);
	ra = loader_load_kernel(&ma, map, size, &ka, err, sizeof(err));
	rb = loader_load_kernel_fd(&mb, map, size, fd, &kb, err, sizeof(err));
	same = !ra && !rb && !memcmp(&ka, &kb, sizeof(ka)) && !memcmp(ma.map, mb.map, 128u << 20);
	loader_unmap_file(map, size);
	close(fd);
	mem_destroy(&ma);
	mem_destroy(&mb);
	CHECK(same);
}
