/* The handler's file in the page cache before readiness (preload.h). */
#include "preload.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

bool preload_next(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	if (len > 2 && p[0] == '#' && p[1] == '!') {
		size_t i = 2, n = 0;

		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (i + n < len && p[i + n] != ' ' && p[i + n] != '\t' && p[i + n] != '\n' && p[i + n] != '\0')
			n++;
		if (!n || n >= outlen || p[i] != '/')
			return false;
		memcpy(out, p + i, n);
		out[n] = '\0';
		return true;
	}
	if (len >= sizeof(Elf64_Ehdr) && !memcmp(p, ELFMAG, SELFMAG) && p[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;

		memcpy(&eh, p, sizeof(eh));
		if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
		    eh.e_phnum > (len - eh.e_phoff) / sizeof(Elf64_Phdr))
			return false;
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;

			memcpy(&ph, p + eh.e_phoff + i * sizeof(ph), sizeof(ph));
			if (ph.p_type != PT_INTERP)
				continue;
			if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset || ph.p_filesz < 2 ||
			    ph.p_filesz > outlen || p[ph.p_offset + ph.p_filesz - 1] != '\0' ||
			    p[ph.p_offset] != '/')
				return false;
			memcpy(out, p + ph.p_offset, ph.p_filesz);
			return true;
		}
	}
	return false;
}

/* Reads path (within *budget) into the page cache: mapped with MAP_POPULATE, which faults
 * every page in; next names what it runs first ("": nothing), from its first page read with
 * pread: the mapping is never touched, so a file cut short meanwhile cannot kill init with a
 * SIGBUS. */
static size_t preload_one(const char *path, size_t *budget, char *next, size_t nextlen)
{
	unsigned char head[4096];
	struct stat st;
	ssize_t h;
	size_t len;
	void *m;
	int fd;

	next[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return 0;
	}
	len = (size_t)st.st_size < *budget ? (size_t)st.st_size : *budget;
	h = pread(fd, head, sizeof(head), 0);
	m = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : MAP_FAILED;
	close(fd);
	if (h > 0)
		preload_next(head, (size_t)h, next, nextlen); /* next stays "" when it names none */
	if (m == MAP_FAILED)
		return 0;
	munmap(m, len);
	*budget -= len;
	return len;
}

size_t preload_handler(const char *path)
{
	char cur[PATH_MAX], next[PATH_MAX];
	size_t budget = PRELOAD_MAX_BYTES, total = 0;

	if (!path || strlen(path) >= sizeof(cur))
		return 0;
	strcpy(cur, path);
	/* The handler, its interpreter, and the interpreter's (a script run by a dynamic shell). */
	for (int depth = 0; depth < 3 && cur[0] && budget; depth++) {
		total += preload_one(cur, &budget, next, sizeof(next));
		if (!strcmp(next, cur))
			break;
		strcpy(cur, next);
	}
	return total;
}
