/* Records a restored VMM's working set (wset.h) from /proc/PID/maps and /proc/PID/pagemap,
 * and reads its fault counts from /proc/PID/stat. Runs in the runner, never in the VMM. */
#include "wset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "smaps.h"
#include "wsetfile.h"

#define PAGE 4096u
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
/* A file page (or shared anonymous). Clear on a present page of a private file mapping: an
 * anonymous copy, made when the page was written (copy-on-write); clear too on a swapped-out
 * page there, which can only be such a copy (file pages are dropped, not swapped). */
#define PM_FILE (1ull << 61)
/* pagemap entries read at once: 64 KiB. */
#define PM_CHUNK 8192
/* More mappings of one file than any VMM makes (guest RAM once, split around the anonymous
 * zero ranges of a restore: at most SNAPFILE_MAX_HOLES + 2 pieces of the file). */
#define MAX_VMAS 1024

struct vma {
	uint64_t start, end, offset;
};

struct range_list {
	struct wset_range *r;
	size_t n, cap;
};

static int find_vmas(pid_t pid, const struct smaps_file *id, struct vma **out, int *nr, char *err, size_t errlen)
{
	char maps[64], *line = NULL;
	size_t cap = 0;
	struct vma *v = NULL;
	int n = 0, r = 0;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	f = fopen(maps, "re");
	if (!f)
		return errorf_errno(err, errlen, errno, "%s", maps);
	while (getline(&line, &cap, f) > 0) {
		struct vma one;

		if (smaps_mapping(line, id, &one.start, &one.end, &one.offset) != 1)
			continue;
		if (n == MAX_VMAS) {
			r = errorf(err, errlen, -E2BIG, "%s: more than %d mappings of the memory file", maps, MAX_VMAS);
			break;
		}
		if (!v && !(v = calloc(MAX_VMAS, sizeof(*v)))) {
			r = errorf(err, errlen, -ENOMEM, "out of memory");
			break;
		}
		if (one.offset % PAGE || one.start % PAGE || one.end % PAGE || one.end <= one.start) {
			r = errorf(err, errlen, -EINVAL, "%s: a mapping that is not page aligned: %s", maps, line);
			break;
		}
		v[n++] = one;
	}
	if (!r && ferror(f))
		r = errorf(err, errlen, -EIO, "%s: read failed", maps);
	fclose(f);
	free(line);
	if (r) {
		free(v);
		return r;
	}
	*out = v;
	*nr = n;
	return 0;
}

static int add_range(struct range_list *l, struct wset_range r)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct wset_range *n = realloc(l->r, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->r = n;
		l->cap = cap;
	}
	l->r[l->n++] = r;
	return 0;
}

static int add_page(struct range_list *l, uint64_t page, bool written)
{
	struct wset_range *last = l->n ? &l->r[l->n - 1] : NULL;

	if (last && (uint64_t)last->start + last->count == page) {
		last->count++;
		return 0;
	}
	return add_range(l, (struct wset_range){ .start = (uint32_t)page, .count = 1, .written = written });
}

/* The present pages of one mapping, as file pages, appended in order to rd (file pages: read
 * at most) or wr (private copies: written). */
static int scan_vma(int pm, const char *pm_path, const struct vma *v, uint64_t *buf, struct range_list *rd,
		    struct range_list *wr, uint64_t *present, char *err, size_t errlen)
{
	uint64_t npages = (v->end - v->start) / PAGE, first = v->offset / PAGE;

	if (first + npages > WSETFILE_MAX_PAGES)
		return errorf(err, errlen, -EFBIG, "a mapping reaches page %llu of the memory file, past the %u a "
			      "working set can name", (unsigned long long)(first + npages), WSETFILE_MAX_PAGES);
	for (uint64_t done = 0; done < npages;) {
		size_t want = npages - done < PM_CHUNK ? (size_t)(npages - done) : PM_CHUNK;
		off_t at = (off_t)((v->start / PAGE + done) * sizeof(uint64_t));
		ssize_t got = pread(pm, buf, want * sizeof(uint64_t), at);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return errorf_errno(err, errlen, errno, "%s", pm_path);
		if (got == 0 || got % sizeof(uint64_t))
			return errorf(err, errlen, -EIO, "%s: short read", pm_path);
		for (size_t i = 0; i < (size_t)got / sizeof(uint64_t); i++) {
			bool written = !(buf[i] & PM_FILE);

			if (!(buf[i] & (PM_PRESENT | PM_SWAPPED)))
				continue;
			if (add_page(written ? wr : rd, first + done + i, written))
				return errorf(err, errlen, -ENOMEM, "out of memory");
			(*present)++;
		}
		done += (size_t)got / sizeof(uint64_t);
	}
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct wset_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorts l and merges ranges that overlap or touch (mappings of the same file pages twice,
 * or out of file order). */
static void normalize(struct range_list *l)
{
	size_t out = 0;

	if (!l->n)
		return;
	qsort(l->r, l->n, sizeof(*l->r), by_start);
	for (size_t i = 1; i < l->n; i++) {
		struct wset_range *o = &l->r[out];
		uint64_t o_end = (uint64_t)o->start + o->count, i_end = (uint64_t)l->r[i].start + l->r[i].count;

		if (l->r[i].start <= o_end) {
			if (i_end > o_end)
				o->count = (uint32_t)(i_end - o->start);
		} else {
			l->r[++out] = l->r[i];
		}
	}
	l->n = out + 1;
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif
#define HUGE MEM_HUGE_SIZE
#define HUGE_PAGES (HUGE / PAGE)

/* Whether the 2 MiB region of file offset off lies within one mapping of the recorded VMM:
 * a region split between the file and an anonymous zero range cannot be mapped huge. */
static bool region_mapped(const struct vma *v, int nv, uint64_t off)
{
	for (int i = 0; i < nv; i++)
		if (v[i].offset <= off && off + HUGE <= v[i].offset + (v[i].end - v[i].start))
			return true;
	return false;
}

/* Makes huge pages of the page cache of mem_path for each 2 MiB region where the working set
 * read at least WSET_HUGE_MIN_READ pages and wrote none (MADV_COLLAPSE; Linux 6.1+, tmpfs and
 * shmem files: other file systems need CONFIG_READ_ONLY_THP_FOR_FS, which Debian's kernels
 * lack). Every later restore maps such a region with one huge page of the VMM's mapping
 * (vmm/mem.c aligns it), and KVM with one large page where the guest maps it large too, as it
 * does its kernel text: one fault instead of one per 4 KiB page. The huge pages are the
 * page cache's, shared by every VMM that maps the file; a region a guest writes after all is
 * split again in that VMM's mapping only. Best effort: what is not made stays as it was.
 * Counts into st the regions tried and the regions now huge (checked by mapping them). */
static void make_huge(const char *mem_path, const struct vma *v, int nv, const struct range_list *rd,
		      const struct range_list *wr, struct wset_stats *st)
{
	uint32_t *rd_pages = NULL;
	uint8_t *any_wr = NULL, *p = MAP_FAILED;
	uint64_t size, nreg, before;
	struct stat sb;
	int fd = open(mem_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size < (off_t)HUGE)
		goto out;
	size = (uint64_t)sb.st_size & ~(uint64_t)(HUGE - 1);
	nreg = size / HUGE;
	rd_pages = calloc(nreg, sizeof(*rd_pages));
	any_wr = calloc(nreg, 1);
	if (!rd_pages || !any_wr)
		goto out;
	for (size_t i = 0; i < rd->n; i++)
		for (uint64_t pg = rd->r[i].start; pg < (uint64_t)rd->r[i].start + rd->r[i].count; pg++)
			if (pg / HUGE_PAGES < nreg)
				rd_pages[pg / HUGE_PAGES]++;
	for (size_t i = 0; i < wr->n; i++)
		for (uint64_t pg = wr->r[i].start; pg < (uint64_t)wr->r[i].start + wr->r[i].count; pg++)
			if (pg / HUGE_PAGES < nreg)
				any_wr[pg / HUGE_PAGES] = 1;
	/* A shared, read-only mapping at a 2 MiB boundary: MADV_COLLAPSE works on whole aligned
	 * 2 MiB ranges of the address space. */
	p = mem_mmap_aligned(size, PROT_READ, MAP_SHARED, fd);
	if (p == MAP_FAILED)
		goto out;
	before = smaps_pmd_mapped_kib("/proc/self/smaps_rollup");
	for (uint64_t i = 0; i < nreg; i++) {
		if (rd_pages[i] < WSET_HUGE_MIN_READ || any_wr[i] || !region_mapped(v, nv, i * HUGE))
			continue;
		st->huge_tried++;
		/* Linux 6.1 answers EINVAL even where it made the huge page (it could not map it
		 * here at once): the result is read from this mapping below, not from here. */
		(void)madvise(p + i * HUGE, HUGE, MADV_COLLAPSE);
		*(volatile uint8_t *)(p + i * HUGE); /* maps it: with one huge page if it is one */
	}
	if (st->huge_tried)
		st->huge_made = (unsigned)((smaps_pmd_mapped_kib("/proc/self/smaps_rollup") - before) / (HUGE >> 10));
out:
	if (p != MAP_FAILED)
		munmap(p, size);
	if (fd >= 0)
		close(fd);
	free(rd_pages);
	free(any_wr);
}

/* Into out, sorted: the ranges of wr, and those of rd less the pages wr has (a file page read
 * through one mapping and written through another was written). Both normalized. */
static int combine(const struct range_list *rd, const struct range_list *wr, struct range_list *out)
{
	size_t j = 0;

	for (size_t i = 0; i < wr->n; i++)
		if (add_range(out, wr->r[i]))
			return -ENOMEM;
	for (size_t i = 0; i < rd->n; i++) {
		uint64_t cur = rd->r[i].start, end = cur + rd->r[i].count;

		while (j < wr->n && (uint64_t)wr->r[j].start + wr->r[j].count <= cur)
			j++;
		for (size_t k = j; k < wr->n && wr->r[k].start < end; k++) {
			if (wr->r[k].start > cur &&
			    add_range(out, (struct wset_range){ .start = (uint32_t)cur,
								.count = (uint32_t)(wr->r[k].start - cur) }))
				return -ENOMEM;
			if ((uint64_t)wr->r[k].start + wr->r[k].count > cur)
				cur = (uint64_t)wr->r[k].start + wr->r[k].count;
		}
		if (cur < end &&
		    add_range(out, (struct wset_range){ .start = (uint32_t)cur, .count = (uint32_t)(end - cur) }))
			return -ENOMEM;
	}
	if (out->n)
		qsort(out->r, out->n, sizeof(*out->r), by_start); /* disjoint: by start is enough */
	return 0;
}

int wset_record(pid_t pid, const char *mem_path, const char *out_path, struct wset_stats *st, char *err,
		size_t errlen)
{
	struct range_list rd = { 0 }, wr = { 0 }, l = { 0 };
	struct wset_stats s = { 0 };
	struct smaps_file id;
	char pm_path[64];
	struct vma *v = NULL;
	uint64_t *buf = NULL;
	int pm = -1, r;

	r = smaps_file_id(mem_path, &id);
	if (r)
		return errorf_errno(err, errlen, -r, "%s", mem_path);
	r = find_vmas(pid, &id, &v, &s.mappings, err, errlen);
	if (r)
		return r;
	if (!s.mappings) {
		r = errorf(err, errlen, -ENOENT, "process %d maps no part of %s (device %x:%x, inode %llu)", (int)pid,
			   mem_path, id.maj, id.min, (unsigned long long)id.ino);
		goto out;
	}
	snprintf(pm_path, sizeof(pm_path), "/proc/%d/pagemap", (int)pid);
	pm = open(pm_path, O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		r = errorf_errno(err, errlen, errno, "%s", pm_path);
		goto out;
	}
	buf = malloc(PM_CHUNK * sizeof(*buf));
	if (!buf) {
		r = errorf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < s.mappings && !r; i++) {
		s.mapped_pages += (v[i].end - v[i].start) / PAGE;
		r = scan_vma(pm, pm_path, &v[i], buf, &rd, &wr, &s.pages, err, errlen);
	}
	if (r)
		goto out;
	normalize(&rd);
	normalize(&wr);
	if (combine(&rd, &wr, &l)) {
		r = errorf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	s.ranges = l.n;
	for (size_t i = 0; i < wr.n; i++)
		s.written += wr.r[i].count;
	r = wsetfile_write(out_path, l.r, l.n, err, errlen);
	if (!r)
		make_huge(mem_path, v, s.mappings, &rd, &wr, &s);
	if (!r && st)
		*st = s;
out:
	if (pm >= 0)
		close(pm);
	free(buf);
	free(l.r);
	free(wr.r);
	free(rd.r);
	free(v);
	return r;
}

/* Fields 10 and 12 of a /proc stat file (a process's or a thread's); with comm, its field
 * 2 too (the command name, cut to comm's size). */
static int stat_faults(const char *path, struct wset_faults *out, char *comm, size_t comm_len, char *err,
		       size_t errlen)
{
	char buf[2048], *name, *p, *save = NULL;
	unsigned long long v[10];
	ssize_t n;
	int fd, i;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errorf_errno(err, errlen, errno, "%s", path);
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		int e = errno;

		close(fd);
		return errorf_errno(err, errlen, e, "%s", path);
	}
	close(fd);
	if (!n) /* a thread that has ended but is not reaped yet */
		return errorf(err, errlen, -ESRCH, "%s: empty", path);
	buf[n] = 0;
	/* The command name (field 2) may hold spaces and parentheses: fields 3 on follow the
	 * last ')'. */
	name = strchr(buf, '(');
	p = strrchr(buf, ')');
	if (!name || !p || p < name)
		return errorf(err, errlen, -EINVAL, "%s: no command name", path);
	if (comm)
		snprintf(comm, comm_len, "%.*s", (int)(p - name - 1), name + 1);
	p++;
	for (i = 0; i < 10; i++) {
		char *tok = strtok_r(i ? NULL : p, " ", &save), *end;

		if (!tok)
			break;
		v[i] = i ? strtoull(tok, &end, 10) : 0; /* field 3, the state, is a letter */
		if (i && *end)
			break;
	}
	if (i < 10)
		return errorf(err, errlen, -EINVAL, "%s: field %d is missing or not a number", path, i + 3);
	out->minflt = v[7]; /* field 10 */
	out->majflt = v[9]; /* field 12 */
	return 0;
}

int wset_faults(pid_t pid, struct wset_faults *out, char *err, size_t errlen)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_faults(path, out, NULL, 0, err, errlen);
}

int wset_thread_faults(pid_t pid, const char *prefix, struct wset_faults *out, int *threads, char *err,
		       size_t errlen)
{
	char path[96], comm[32];
	struct dirent *de;
	DIR *d;
	int r = 0;

	*out = (struct wset_faults){ 0 };
	*threads = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return errorf_errno(err, errlen, errno, "%s", path);
	while (!r && (de = readdir(d))) {
		struct wset_faults t;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || strlen(de->d_name) > 12)
			continue;
		/* One read per thread: its stat has its name too (a clone's invocation is timed
		 * between two of these counts; in the lab each open of a /proc file costs ~0.1 ms). */
		snprintf(path, sizeof(path), "/proc/%d/task/%.12s/stat", (int)pid, de->d_name);
		r = stat_faults(path, &t, comm, sizeof(comm), err, errlen);
		if (r == -ENOENT || r == -ESRCH) {
			r = 0; /* gone meanwhile */
			continue;
		}
		if (!r && !strncmp(comm, prefix, strlen(prefix))) {
			out->minflt += t.minflt;
			out->majflt += t.majflt;
			++*threads;
		}
	}
	closedir(d);
	return r;
}
