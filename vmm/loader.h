/* Kernel image loading: ELF vmlinux (64-bit entry or PVH entry note) and bzImage, parsed
 * from a byte buffer and copied into guest memory, every bound checked. */
#ifndef KINDLING_LOADER_H
#define KINDLING_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

/* Kernels load at or above 1 MiB: the low megabyte holds our boot structures. */
#define HIGHMEM_START 0x100000ull

enum kernel_format { KERNEL_ELF, KERNEL_BZIMAGE };

enum boot_protocol {
	BOOT_AUTO,    /* PVH when the kernel has the note, else the 64-bit Linux entry */
	BOOT_LINUX64, /* boot_params in RSI, long mode, per Documentation/arch/x86/boot.rst */
	BOOT_PVH,     /* hvm_start_info in EBX, 32-bit protected mode, paging off */
};

#define SETUP_HDR_START 0x1f1
#define SETUP_HDR_MAX 0x110 /* 0x202 + 0xff - 0x1f1 */

struct kernel_info {
	enum kernel_format format;
	uint64_t entry64;   /* 64-bit Linux entry point (physical) */
	uint64_t pvh_entry; /* 32-bit PVH entry from the Xen note, 0 if none */
	uint64_t load_start;
	uint64_t load_end;  /* exclusive; includes init_size for bzImage */
	/* bzImage only: the setup header, copied into the zero page as the protocol asks. */
	uint8_t setup_hdr[SETUP_HDR_MAX];
	uint32_t setup_hdr_len;
	uint16_t protocol_version;
	uint32_t initrd_addr_max; /* highest address the initrd may end at */
	uint32_t cmdline_max;     /* longest command line, without the NUL */
};

/* Loads `img` into `m`. On failure returns -errno and writes a one-line reason to err. */
int loader_load_kernel(const struct guest_mem *m, const uint8_t *img, size_t size, struct kernel_info *ki,
		       char *err, size_t errlen) __attribute__((warn_unused_result));
/* The same, with img a mapping of fd (loader_map_file's): the headers are parsed from img,
 * the segments read from fd straight into guest RAM. A file that shrank since it was
 * mapped gives -EIO, where copying from img would kill the VMM with SIGBUS. */
int loader_load_kernel_fd(const struct guest_mem *m, const uint8_t *img, size_t size, int fd,
			  struct kernel_info *ki, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Reads exactly len bytes of fd at off into dst: 0, -EIO if the file ends first, or -errno. */
int loader_pread(int fd, uint8_t *dst, size_t len, uint64_t off) __attribute__((warn_unused_result));

/* Checks everything about `img` that does not depend on guest RAM, so that a file that is
 * not a kernel is refused before any VM exists (or on a host without KVM). */
int loader_check_kernel(const uint8_t *img, size_t size, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Reads a whole file into a malloc'd buffer, refusing anything but a regular file and
 * anything bigger than max. */
int loader_read_file(const char *path, size_t max, uint8_t **out, size_t *out_size, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Maps a whole regular file read-only (at most max bytes). With fd_out, the file stays open
 * there (the caller closes it) for loader_load_kernel_fd and loader_pread, and the mapping
 * is not prefaulted: only the headers are read through it. Without, it is prefaulted. */
int loader_map_file(const char *path, size_t max, const uint8_t **out, size_t *out_size, int *fd_out, char *err,
		    size_t errlen) __attribute__((warn_unused_result));
void loader_unmap_file(const uint8_t *data, size_t size);

#endif
