/* Parses and loads kernel images. Every offset and size read from the image is untrusted:
 * all arithmetic is done so that it cannot wrap before it is compared. */
#include "log.h"
#include "loader.h"

#include <elf.h>
#include <errno.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define BZ_MIN_VERSION 0x020c /* 2.12: xloadflags and the 64-bit entry */
#define XLF_KERNEL_64 0x1
#define LOADED_HIGH 0x1
#define ELF_CMDLINE_MAX 2047   /* x86 COMMAND_LINE_SIZE - 1 */
#define DEFAULT_INITRD_MAX 0x37ffffff


static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* True if [off, off+len) lies inside a buffer of `size` bytes. */
static int in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

int loader_pread(int fd, uint8_t *dst, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, dst, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank since it was checked */
		dst += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies [off, off+filesz) of the image to gpa and zeroes up to memsz. With fd >= 0 the
 * bytes are read from fd straight into guest RAM: the kernel copies from its page cache,
 * with no mapping of the file to fault in and walk page by page (on a nested host, memcpy
 * from a mapped 10 MB vmlinux took 12 ms where pread takes 2; benches/setup.sh). */
static int copy_to_guest(const struct guest_mem *m, uint64_t gpa, const uint8_t *img, int fd, uint64_t off,
			 uint64_t filesz, uint64_t memsz)
{
	uint8_t *dst;

	if (gpa < HIGHMEM_START)
		return -ERANGE;
	if (!m)
		return 0; /* loader_check_kernel: the file alone */
	if (!(dst = mem_ptr(m, gpa, memsz)))
		return -ERANGE;
	if (fd >= 0) {
		int r = loader_pread(fd, dst, filesz, off);

		if (r)
			return r;
	} else {
		memcpy(dst, img + off, filesz);
	}
	memset(dst + filesz, 0, memsz - filesz);
	return 0;
}

/* The reason for a copy_to_guest that failed reading the file. */
static int read_failed(int r, char *err, size_t errlen)
{
	if (r == -EIO)
		return errorf(err, errlen, -EIO, "cannot read the kernel image: the file is shorter than when it was checked");
	return errorf(err, errlen, r, "cannot read the kernel image: %s", strerror(-r));
}

/* Walks one PT_NOTE segment for Xen's PHYS32_ENTRY note. */
static uint64_t find_pvh_note(const uint8_t *p, uint64_t len)
{
	uint64_t off = 0;

	while (len - off >= 12) {
		uint32_t namesz = rd32(p + off), descsz = rd32(p + off + 4), type = rd32(p + off + 8);
		uint64_t name_off = off + 12;
		uint64_t desc_off = name_off + (((uint64_t)namesz + 3) & ~3ull);
		uint64_t next = desc_off + (((uint64_t)descsz + 3) & ~3ull);

		if (next > len || next <= off)
			break;
		if (namesz == 4 && !memcmp(p + name_off, "Xen", 4) && type == XEN_ELFNOTE_PHYS32_ENTRY) {
			if (descsz == 4)
				return rd32(p + desc_off);
			if (descsz == 8)
				return rd64(p + desc_off);
		}
		off = next;
	}
	return 0;
}

static int load_elf(const struct guest_mem *m, const uint8_t *img, size_t size, int fd, struct kernel_info *ki,
		    char *err, size_t errlen)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	uint64_t lo = UINT64_MAX, hi = 0;
	int loads = 0, r;

	if (size < sizeof(*eh))
		return errorf(err, errlen, -ENOEXEC, "truncated ELF header (%zu bytes)", size);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return errorf(err, errlen, -ENOEXEC, "not a 64-bit little-endian ELF");
	if (eh->e_machine != EM_X86_64)
		return errorf(err, errlen, -ENOEXEC, "ELF is not for x86-64 (e_machine %u)", eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return errorf(err, errlen, -ENOEXEC, "ELF is not an executable (e_type %u)", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 64)
		return errorf(err, errlen, -ENOEXEC, "bad ELF program header table (%u entries of %u bytes)",
			    eh->e_phnum, eh->e_phentsize);
	if (!in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), size))
		return errorf(err, errlen, -ENOEXEC, "truncated ELF: program headers past end of file");

	memset(ki, 0, sizeof(*ki));
	ki->format = KERNEL_ELF;
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (!in_file(ph.p_offset, ph.p_filesz, size))
			return errorf(err, errlen, -ENOEXEC, "truncated ELF: segment %d data past end of file", i);
		if (ph.p_type == PT_NOTE) {
			uint64_t e = find_pvh_note(img + ph.p_offset, ph.p_filesz);

			if (e)
				ki->pvh_entry = e;
			continue;
		}
		if (ph.p_filesz > ph.p_memsz)
			return errorf(err, errlen, -ENOEXEC, "ELF segment %d: file size exceeds memory size", i);
		if (ph.p_memsz == 0)
			continue;
		r = copy_to_guest(m, ph.p_paddr, img, fd, ph.p_offset, ph.p_filesz, ph.p_memsz);
		if (r == -ERANGE)
			return errorf(err, errlen, -ENOEXEC,
				    "ELF segment %d at 0x%llx (+0x%llx) is outside guest RAM above 1 MiB", i,
				    (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz);
		if (r)
			return read_failed(r, err, errlen);
		if (ph.p_paddr < lo)
			lo = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > hi)
			hi = ph.p_paddr + ph.p_memsz;
		loads++;
	}
	if (!loads)
		return errorf(err, errlen, -ENOEXEC, "ELF has no loadable segment");
	if (eh->e_entry < lo || eh->e_entry >= hi)
		return errorf(err, errlen, -ENOEXEC, "ELF entry 0x%llx is outside its loaded segments",
			    (unsigned long long)eh->e_entry);
	if (ki->pvh_entry && (ki->pvh_entry < lo || ki->pvh_entry >= hi))
		return errorf(err, errlen, -ENOEXEC, "PVH entry 0x%llx is outside the loaded segments",
			    (unsigned long long)ki->pvh_entry);
	ki->entry64 = eh->e_entry;
	ki->load_start = lo;
	ki->load_end = hi;
	ki->initrd_addr_max = DEFAULT_INITRD_MAX;
	ki->cmdline_max = ELF_CMDLINE_MAX;
	return 0;
}

static int load_bzimage(const struct guest_mem *m, const uint8_t *img, size_t size, int fd, struct kernel_info *ki,
			char *err, size_t errlen)
{
	uint32_t setup_sects, setup_size, hdr_end, init_size;
	uint64_t load = HIGHMEM_START, runtime, need;
	uint16_t version;
	int r;

	if (size < 0x270)
		return errorf(err, errlen, -ENOEXEC, "truncated bzImage: %zu bytes is too short for a setup header",
			    size);
	version = rd16(img + 0x206);
	if (version < BZ_MIN_VERSION)
		return errorf(err, errlen, -ENOEXEC, "bzImage boot protocol %u.%02u is older than 2.12",
			    version >> 8, version & 0xff);
	if (!(rd16(img + 0x236) & XLF_KERNEL_64))
		return errorf(err, errlen, -ENOEXEC, "bzImage has no 64-bit entry point (XLF_KERNEL_64 clear)");
	if (!(img[0x211] & LOADED_HIGH))
		return errorf(err, errlen, -ENOEXEC, "bzImage is not a high-loaded (bzImage) kernel");
	setup_sects = img[0x1f1] ? img[0x1f1] : 4;
	setup_size = (setup_sects + 1) * 512;
	if (setup_size >= size)
		return errorf(err, errlen, -ENOEXEC, "truncated bzImage: no kernel after %u setup bytes", setup_size);
	hdr_end = 0x202u + img[0x201];
	if (hdr_end > size)
		return errorf(err, errlen, -ENOEXEC, "truncated bzImage: setup header ends past end of file");
	init_size = rd32(img + 0x260);

	memset(ki, 0, sizeof(*ki));
	ki->format = KERNEL_BZIMAGE;
	ki->protocol_version = version;
	ki->setup_hdr_len = hdr_end - SETUP_HDR_START;
	memcpy(ki->setup_hdr, img + SETUP_HDR_START, ki->setup_hdr_len);

	/* The decompressor runs at the load address rounded up to kernel_alignment (or at
	 * pref_address when not relocatable) and needs init_size bytes there. */
	runtime = rd64(img + 0x258);
	if (img[0x234]) {
		uint32_t align = rd32(img + 0x230);

		if (align && !(align & (align - 1)))
			runtime = (load + align - 1) & ~((uint64_t)align - 1);
		if (runtime < load)
			runtime = load;
	}
	need = runtime + init_size;
	if (need < runtime || (m && !mem_ptr(m, runtime, init_size ? init_size : 1)))
		return errorf(err, errlen, -ENOEXEC, "bzImage needs RAM up to 0x%llx to decompress; guest RAM is too small",
			    (unsigned long long)need);
	r = copy_to_guest(m, load, img, fd, setup_size, size - setup_size, size - setup_size);
	if (r == -ERANGE)
		return errorf(err, errlen, -ENOEXEC, "bzImage kernel (%zu bytes) does not fit in guest RAM",
			    size - setup_size);
	if (r)
		return read_failed(r, err, errlen);
	ki->entry64 = load + 0x200;
	ki->load_start = load;
	ki->load_end = need > load + (size - setup_size) ? need : load + (size - setup_size);
	ki->initrd_addr_max = rd32(img + 0x22c) ? rd32(img + 0x22c) : DEFAULT_INITRD_MAX;
	ki->cmdline_max = rd32(img + 0x238) ? rd32(img + 0x238) : 255;
	return 0;
}

int loader_load_kernel_fd(const struct guest_mem *m, const uint8_t *img, size_t size, int fd, struct kernel_info *ki,
			  char *err, size_t errlen)
{
	if (size >= 4 && !memcmp(img, ELFMAG, SELFMAG))
		return load_elf(m, img, size, fd, ki, err, errlen);
	if (size >= 0x206 && rd16(img + 0x1fe) == 0xaa55 && !memcmp(img + 0x202, "HdrS", 4))
		return load_bzimage(m, img, size, fd, ki, err, errlen);
	return errorf(err, errlen, -ENOEXEC, "not a kernel: neither an ELF vmlinux nor a bzImage (bad magic)");
}

int loader_load_kernel(const struct guest_mem *m, const uint8_t *img, size_t size, struct kernel_info *ki,
		       char *err, size_t errlen)
{
	return loader_load_kernel_fd(m, img, size, -1, ki, err, errlen);
}

int loader_check_kernel(const uint8_t *img, size_t size, char *err, size_t errlen)
{
	struct kernel_info ki;

	return loader_load_kernel(NULL, img, size, &ki, err, errlen);
}

/* Opens path as a regular file of at most max bytes. */
static int open_regular(const char *path, size_t max, int *fd_out, size_t *size, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return errorf_errno(err, errlen, errno, "%s", path);
	if (fstat(fd, &st) < 0) {
		r = errno; /* before close() can change it */
		close(fd);
		return errorf_errno(err, errlen, r, "%s", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return errorf(err, errlen, -EINVAL, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return errorf(err, errlen, -EFBIG, "%s: %lld bytes is larger than the %zu allowed", path,
			      (long long)st.st_size, max);
	}
	*fd_out = fd;
	*size = (size_t)st.st_size;
	return 0;
}

int loader_map_file(const char *path, size_t max, const uint8_t **out, size_t *out_size, int *fd_out, char *err,
		    size_t errlen)
{
	size_t size;
	void *p;
	int fd, r;

	r = open_regular(path, max, &fd, &size, err, errlen);
	if (r)
		return r;
	if (size == 0) {
		*out = (const uint8_t *)"";
		*out_size = 0;
		goto keep_fd;
	}
	/* Without fd_out the whole file is copied from the mapping: prefaulted in one call, as
	 * a page fault per 4 KiB costs far more, above all when nested. With it, the bulk is
	 * read from fd and only the headers are touched here: a few faults, not 17 MB of PTEs. */
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | (fd_out ? 0 : MAP_POPULATE), fd, 0);
	if (p == MAP_FAILED) {
		r = errno; /* before close() can change it */
		close(fd);
		return errorf_errno(err, errlen, r, "%s: cannot map", path);
	}
	*out = p;
	*out_size = size;
keep_fd:
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return 0;
}

void loader_unmap_file(const uint8_t *data, size_t size)
{
	if (data && size)
		munmap((void *)data, size);
}

int loader_read_file(const char *path, size_t max, uint8_t **out, size_t *out_size, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t size, done = 0;
	int fd, r;

	r = open_regular(path, max, &fd, &size, err, errlen);
	if (r)
		return r;
	buf = malloc(size ? size : 1);
	if (!buf) {
		close(fd);
		return errorf(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? errno : EIO; /* before free() and close() */
			free(buf);
			close(fd);
			if (n == 0)
				return errorf(err, errlen, -EIO, "%s: read failed: file shrank", path);
			return errorf_errno(err, errlen, r, "%s: read failed", path);
		}
		done += (size_t)n;
	}
	close(fd);
	*out = buf;
	*out_size = done;
	return 0;
}
