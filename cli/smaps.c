/* A VMM's memory, told apart into guest RAM and the VMM's own, from /proc/PID/smaps (see
 * smaps.h). */
#include "smaps.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "log.h"
#include "snapmem.h"

int smaps_file_id(const char *path, struct smaps_file *f)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	*f = (struct smaps_file){ .maj = major(st.st_dev), .min = minor(st.st_dev), .ino = st.st_ino };
	if (st.st_size > (off_t)SNAPMEM_TRAILER_SIZE)
		f->ram_size = (uint64_t)st.st_size - SNAPMEM_TRAILER_SIZE;
	if (!realpath(path, f->path))
		f->path[0] = 0;
	return 0;
}

int smaps_mapping(const char *line, const struct smaps_file *f, uint64_t *start, uint64_t *end, uint64_t *offset)
{
	unsigned long long s, e, off, ino;
	unsigned maj, min;
	const char *path;
	size_t len;
	int n = 0;

	if (sscanf(line, "%llx-%llx %*s %llx %x:%x %llu %n", &s, &e, &off, &maj, &min, &ino, &n) < 6 || !n)
		return -1;
	*start = s;
	*end = e;
	*offset = off;
	if (ino != f->ino || !ino)
		return 0;
	if (maj == f->maj && min == f->min)
		return 1;
	path = line + n;
	len = strcspn(path, "\n");
	return f->path[0] && len == strlen(f->path) && !memcmp(path, f->path, len);
}

/* "NAME:   VALUE kB" into *kib when line is that field. */
static bool field(const char *line, const char *name, uint64_t *kib)
{
	size_t n = strlen(name);
	unsigned long long v;

	if (strncmp(line, name, n) || line[n] != ':' || sscanf(line + n + 1, "%llu kB", &v) != 1)
		return false;
	*kib = v;
	return true;
}

uint64_t smaps_pmd_mapped_kib(const char *path)
{
	char line[256];
	uint64_t kib = 0, v;
	FILE *f = fopen(path, "re");

	while (f && fgets(line, sizeof(line), f))
		if (field(line, "ShmemPmdMapped", &v) || field(line, "FilePmdMapped", &v))
			kib += v;
	if (f)
		fclose(f);
	return kib;
}

/* A mapping line of no file (inode 0): anonymous memory, the heap, the stack. */
static bool anon_line(const char *line)
{
	unsigned long long ino;

	return sscanf(line, "%*x-%*x %*s %*x %*x:%*x %llu", &ino) == 1 && ino == 0;
}

/* Where guest RAM starts: the address of f's offset 0, from the first mapping of f (all of
 * them map RAM at the same offsets). 0 if none. */
static uint64_t guest_base(FILE *in, const struct smaps_file *f, char **line, size_t *cap)
{
	uint64_t start, end, off;

	while (getline(line, cap, in) > 0) {
		if (smaps_mapping(*line, f, &start, &end, &off) == 1 && start >= off)
			return start - off;
	}
	return 0;
}

int smaps_density_read(const char *smaps_path, const struct smaps_file *f, struct smaps_density *d, char *err,
		       size_t errlen)
{
	FILE *in = fopen(smaps_path, "re");
	char *line = NULL;
	size_t cap = 0;
	bool guest = false, seen = false;
	uint64_t v, start, end, off, base = 0;
	int r = 0, m;

	memset(d, 0, sizeof(*d));
	if (!in)
		return errorf_errno(err, errlen, errno, "%s", smaps_path);
	if (f->ram_size) {
		base = guest_base(in, f, &line, &cap);
		rewind(in);
	}
	while (getline(&line, &cap, in) > 0) {
		if ((m = smaps_mapping(line, f, &start, &end, &off)) >= 0) {
			bool anon = !m && base && start >= base && end <= base + f->ram_size && anon_line(line);

			guest = m || anon;
			seen = true;
			d->guest_mappings += m;
			d->guest_anon_mappings += anon;
		} else if (!seen) {
			continue; /* not smaps: caught below */
		} else if (field(line, "Rss", &v)) {
			*(guest ? &d->guest_rss_kib : &d->vmm_rss_kib) += v;
		} else if (guest && field(line, "Pss", &v)) {
			d->guest_pss_kib += v;
		} else if (guest && field(line, "Anonymous", &v)) {
			/* Not Private_Dirty: a tmpfs file's page-cache pages are dirty, and mapped by
			 * one clone alone they count there too (one clone of a snapshot on tmpfs: ~9
			 * MiB "private dirty", of which ~0.8 MiB its own copies). */
			d->guest_private_dirty_kib += v;
		}
	}
	if (ferror(in))
		r = errorf(err, errlen, -EIO, "%s: read failed", smaps_path);
	else if (!d->guest_mappings)
		r = errorf(err, errlen, -ENOENT, "%s: no mapping of the snapshot's memory file%s", smaps_path,
			   seen ? "" : " (no mapping at all)");
	fclose(in);
	free(line);
	return r;
}
