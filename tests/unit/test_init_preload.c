/* kindling-init's preload (guest-init/preload.c): what a handler runs first, and the reading. */
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../guest-init/preload.h"
#include "test.h"

static bool next_of(const char *s, char *out)
{
	return preload_next((const unsigned char *)s, strlen(s), out, PATH_MAX);
}

TEST(init_preload_script_interpreter)
{
	char out[PATH_MAX];

	CHECK(next_of("#!/bin/sh\necho hi\n", out) && !strcmp(out, "/bin/sh"));
	CHECK(next_of("#! /bin/busybox sh -e\n", out) && !strcmp(out, "/bin/busybox"));
	CHECK(next_of("#!\t/usr/bin/env python3\n", out) && !strcmp(out, "/usr/bin/env"));
	CHECK(next_of("#!/bin/sh", out) && !strcmp(out, "/bin/sh")); /* no line break at all */
	CHECK(!next_of("#!sh\n", out));                               /* not absolute */
	CHECK(!next_of("#!\n", out));
	CHECK(!next_of("#!", out));
	CHECK(!next_of("echo hi\n", out));
	CHECK(!next_of("", out));
	/* Longer than the caller's buffer: refused, not cut. */
	CHECK(!preload_next((const unsigned char *)"#!/bin/shell\n", 13, out, 8));
}

/* A minimal ELF64 file: header, one program header (type), and an interpreter string. */
static size_t elf(unsigned char *buf, size_t cap, uint32_t type, const char *interp, size_t interp_len)
{
	Elf64_Ehdr eh = { .e_phoff = sizeof(Elf64_Ehdr), .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 1 };
	Elf64_Phdr ph = { .p_type = type, .p_offset = sizeof(eh) + sizeof(ph), .p_filesz = interp_len };
	size_t n = sizeof(eh) + sizeof(ph) + interp_len;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	if (n > cap)
		return 0;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), &ph, sizeof(ph));
	memcpy(buf + sizeof(eh) + sizeof(ph), interp, interp_len);
	return n;
}

TEST(init_preload_elf_interpreter)
{
	static const char ld[] = "/lib64/ld-linux-x86-64.so.2";
	unsigned char b[512];
	char out[PATH_MAX];
	size_t n;

	n = elf(b, sizeof(b), PT_INTERP, ld, sizeof(ld));
	CHECK(n && preload_next(b, n, out, sizeof(out)) && !strcmp(out, ld));
	n = elf(b, sizeof(b), PT_LOAD, ld, sizeof(ld)); /* static: no PT_INTERP */
	CHECK(n && !preload_next(b, n, out, sizeof(out)));
	n = elf(b, sizeof(b), PT_INTERP, ld, sizeof(ld) - 1); /* not NUL-terminated */
	CHECK(n && !preload_next(b, n, out, sizeof(out)));
	n = elf(b, sizeof(b), PT_INTERP, "lib/ld.so", 10); /* not absolute */
	CHECK(n && !preload_next(b, n, out, sizeof(out)));
	n = elf(b, sizeof(b), PT_INTERP, ld, sizeof(ld));
	CHECK(!preload_next(b, n - 1, out, sizeof(out)));                /* the string cut off */
	CHECK(!preload_next(b, sizeof(Elf64_Ehdr) + 8, out, sizeof(out))); /* the phdr cut off */
	CHECK(!preload_next(b, sizeof(Elf64_Ehdr) - 1, out, sizeof(out))); /* the header cut off */
	CHECK(!preload_next(b, n, out, 8));                                /* out too small */
	((Elf64_Ehdr *)(void *)b)->e_phnum = 0xffff;                       /* phdrs past the end */
	CHECK(!preload_next(b, n, out, sizeof(out)));
	n = elf(b, sizeof(b), PT_INTERP, ld, sizeof(ld));
	((Elf64_Phdr *)(void *)(b + sizeof(Elf64_Ehdr)))->p_offset = ~0ull; /* offset past the end */
	CHECK(!preload_next(b, n, out, sizeof(out)));
	n = elf(b, sizeof(b), PT_INTERP, ld, sizeof(ld));
	b[EI_CLASS] = ELFCLASS32;
	CHECK(!preload_next(b, n, out, sizeof(out)));
}

/* A script whose interpreter is a script whose interpreter is a file: all three read; a
 * missing file ends the chain; a self-naming script stops. */
TEST(init_preload_reads_the_chain)
{
	char dir[] = "/tmp/kpreload.XXXXXX", a[64], b[64], c[64], s[128];
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(c, sizeof(c), "%s/c", dir);
	fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	snprintf(s, sizeof(s), "#!%s\n", b);
	CHECK(fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s) && !close(fd));
	fd = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	snprintf(s, sizeof(s), "#!%s -x\n", c);
	CHECK(fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s) && !close(fd));
	fd = open(c, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	CHECK(fd >= 0 && write(fd, "12345", 5) == 5 && !close(fd));
	CHECK(preload_handler(a) == strlen(b) + 3 + strlen(c) + 6 + 5);
	unlink(c);
	CHECK(preload_handler(a) == strlen(b) + 3 + strlen(c) + 6);
	fd = open(c, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	snprintf(s, sizeof(s), "#!%s\n", c);
	CHECK(fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s) && !close(fd));
	CHECK(preload_handler(c) == strlen(c) + 3);
	CHECK(preload_handler(dir) == 0); /* not a regular file */
	CHECK(preload_handler("/nonexistent/handler") == 0);
	CHECK(preload_handler(NULL) == 0);
	unlink(a);
	unlink(b);
	unlink(c);
	rmdir(dir);
}

/* A dynamic executable: itself and its program interpreter, found in its first page. */
TEST(init_preload_reads_elf_interpreter)
{
	static const char ld[] = "/lib64/ld-linux-x86-64.so.2";
	unsigned char head[4096];
	char out[PATH_MAX];
	struct stat a, b;
	ssize_t h;
	int fd = open("/bin/true", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || stat("/bin/true", &a) || stat(ld, &b))
		SKIP("no /bin/true or no x86-64 ld.so here");
	h = read(fd, head, sizeof(head));
	close(fd);
	if (h <= 0 || !preload_next(head, (size_t)h, out, sizeof(out)) || strcmp(out, ld))
		SKIP("/bin/true is not a dynamic executable run by ld-linux-x86-64.so.2 here");
	CHECK(preload_handler("/bin/true") == (size_t)a.st_size + (size_t)b.st_size);
}
