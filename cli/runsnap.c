/* The runner's snapshot directory: see runsnap.h. */
#include "runsnap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "routes.h" /* KINDLING_VERSION */
#include "snapfile.h" /* snap_crc64, snap_fsync_path */

#define KEY_FORMAT "kindling run snapshot 2"
#define TMP_PREFIX ".tmp-"
#define DEAD_PREFIX ".dead-"
/* The key file: the key, then three identity lines of at most this length each. */
#define IDENT_MAX 256
#define KEY_FILE_MAX (RUNSNAP_KEY_MAX + 3 * IDENT_MAX)

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* "LABEL dev=D ino=I size=S mtime=SEC.NSEC ctime=SEC.NSEC\n": what changes when the file is
 * replaced, rewritten, truncated or renamed from elsewhere (ctime cannot be set back). */
static int ident(const char *label, const char *path, char *out, size_t len)
{
	struct stat st;
	int n;

	if (stat(path, &st) < 0)
		return -errno;
	n = snprintf(out, len, "%s dev=%ju ino=%ju size=%jd mtime=%jd.%09ld ctime=%jd.%09ld\n", label,
		     (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec,
		     st.st_mtim.tv_nsec, (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Appends to the key; false once it is full. */
__attribute__((format(printf, 3, 4))) static bool add(struct runsnap_key *k, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= sizeof(k->text))
		return false;
	va_start(ap, fmt);
	n = vsnprintf(k->text + *off, sizeof(k->text) - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(k->text) - *off)
		return false;
	*off += (size_t)n;
	return true;
}

static int resolve(const char *what, const char *path, char *out, char *err, size_t errlen)
{
	if (!realpath(path, out))
		return errorf_errno(err, errlen, errno, "%s %s", what, path);
	if (has_control(out))
		return errorf(err, errlen, -EINVAL, "%s %s: a path with a control character cannot key a snapshot",
			      what, path);
	return 0;
}

int runsnap_key(const struct runsnap_fn *f, struct runsnap_key *k, char *err, size_t errlen)
{
	char kid[IDENT_MAX], rid[IDENT_MAX], sid[IDENT_MAX] = "";
	uint64_t crc;
	size_t off = 0;
	int r;

	memset(k, 0, sizeof(*k));
	if ((r = resolve("kernel", f->kernel, k->kernel, err, errlen)) ||
	    (r = resolve("rootfs", f->rootfs, k->rootfs, err, errlen)) ||
	    (f->scratch && (r = resolve("scratch image", f->scratch, k->scratch, err, errlen))))
		return r;
	if (has_control(f->cmdline))
		return errorf(err, errlen, -EINVAL, "a command line with a control character cannot key a snapshot");
	if ((r = ident("kernel-file", k->kernel, kid, sizeof(kid))) ||
	    (r = ident("rootfs-file", k->rootfs, rid, sizeof(rid))))
		return errorf(err, errlen, r, "cannot stat the kernel or rootfs: %s", strerror(-r));
	if (k->scratch[0] && (r = ident("scratch-file", k->scratch, sid, sizeof(sid))))
		return errorf(err, errlen, r, "cannot stat the scratch image: %s", strerror(-r));
	if (!add(k, &off,
		 KEY_FORMAT "\nkindling %s\nkernel %s\nrootfs %s\nscratch %s\nvcpus %d\nmem_mib %d\ncmdline %s\n",
		 KINDLING_VERSION, k->kernel, k->rootfs, k->scratch[0] ? k->scratch : "-", f->vcpus, f->mem_mib,
		 f->cmdline))
		return errorf(err, errlen, -ENAMETOOLONG, "the snapshot key is too long");
	k->named_len = off;
	if (!add(k, &off, "%s%s%s", kid, rid, sid))
		return errorf(err, errlen, -ENAMETOOLONG, "the snapshot key is too long");
	crc = snap_crc64(0, k->text, k->named_len);
	snprintf(k->name, sizeof(k->name), "%016" PRIx64, crc);
	return 0;
}

/* Reads at most cap - 1 bytes of path, NUL-terminated; -EFBIG when there is more. */
static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n < cap) {
		ssize_t got = read(fd, buf + n, cap - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (!r && n == cap)
		r = -EFBIG;
	if (!r)
		buf[n] = 0;
	return r;
}

/* The first line where a and b differ, told by its label (the first word of a's line). */
static void first_difference(const char *a, const char *b, char *label, size_t len)
{
	const char *line = a;
	size_t n;

	for (; *a && *a == *b; a++, b++)
		if (*a == '\n')
			line = a + 1;
	n = strcspn(line, " \n");
	snprintf(label, len, "%.*s", (int)(n < 40 ? n : 40), line);
}

static void describe_stale(const char *stored, const struct runsnap_key *k, char *why, size_t whylen)
{
	char label[48];

	first_difference(k->text, stored, label, sizeof(label));
	if (!strcmp(label, "kernel-file"))
		snprintf(why, whylen, "the kernel changed since it was taken");
	else if (!strcmp(label, "rootfs-file"))
		snprintf(why, whylen, "the rootfs changed since it was taken");
	else if (!strcmp(label, "scratch-file"))
		snprintf(why, whylen, "the scratch image changed since it was taken");
	else if (!strcmp(label, "kindling"))
		snprintf(why, whylen, "another version of kindling took it");
	else
		snprintf(why, whylen, "its key differs from this function's (at '%s')", label);
}

static void entry_paths(const char *dir, const char *name, struct runsnap_entry *e)
{
	snprintf(e->path, sizeof(e->path), "%s/%s", dir, name);
	snprintf(e->state, sizeof(e->state), "%s/state", e->path);
	snprintf(e->mem, sizeof(e->mem), "%s/mem", e->path);
	snprintf(e->disk, sizeof(e->disk), "%s/disk", e->path);
	snprintf(e->wset, sizeof(e->wset), "%s/wset", e->path);
}

/* The identity lines the key file ends with, from the files as they are now: the state
 * and memory files, and the disk when disk is not NULL. */
static int files_ident(const char *state, const char *mem, const char *disk, char *out, size_t len, char *why,
		       size_t whylen)
{
	int r = ident("state-file", state, out, len);

	if (r) {
		snprintf(why, whylen, "its state file: %s", strerror(-r));
		return r;
	}
	r = ident("mem-file", mem, out + strlen(out), len - strlen(out));
	if (r) {
		snprintf(why, whylen, "its memory file: %s", strerror(-r));
		return r;
	}
	r = disk ? ident("disk-file", disk, out + strlen(out), len - strlen(out)) : 0;
	if (r)
		snprintf(why, whylen, "its disk file: %s", strerror(-r));
	return r;
}

/* The label of the first identity line where a and b differ, in words. */
static const char *which_file(const char *a, const char *b)
{
	char label[48];

	first_difference(a, b, label, sizeof(label));
	return !strcmp(label, "state-file") ? "state file" : !strcmp(label, "mem-file") ? "memory file" : "disk file";
}

enum runsnap_found runsnap_lookup(const char *dir, const struct runsnap_key *k, struct runsnap_entry *e, char *why,
				  size_t whylen)
{
	char keypath[PATH_MAX + 8], now[3 * IDENT_MAX], *stored;
	size_t klen = strlen(k->text);
	struct stat st;
	enum runsnap_found found = RUNSNAP_DAMAGED;
	int r;

	why[0] = 0;
	if (strlen(dir) > RUNSNAP_DIR_MAX)
		return RUNSNAP_MISS;
	entry_paths(dir, k->name, e);
	if (lstat(e->path, &st) < 0)
		return RUNSNAP_MISS;
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "it is not a directory");
		return RUNSNAP_DAMAGED;
	}
	stored = malloc(KEY_FILE_MAX);
	if (!stored) {
		snprintf(why, whylen, "out of memory");
		return RUNSNAP_DAMAGED;
	}
	snprintf(keypath, sizeof(keypath), "%s/key", e->path);
	r = read_small(keypath, stored, KEY_FILE_MAX);
	if (r == -ENOENT && lstat(e->path, &st) < 0) {
		found = RUNSNAP_MISS; /* removed by another run meanwhile */
	} else if (r) {
		snprintf(why, whylen, "its key file: %s", strerror(-r));
	} else if (strncmp(stored, k->text, klen)) {
		describe_stale(stored, k, why, whylen);
		found = RUNSNAP_STALE;
	} else if (!files_ident(e->state, e->mem, k->scratch[0] ? e->disk : NULL, now, sizeof(now), why, whylen)) {
		if (strcmp(stored + klen, now))
			snprintf(why, whylen, "its %s changed since it was stored", which_file(stored + klen, now));
		else
			found = RUNSNAP_HIT;
	}
	free(stored);
	return found;
}

/* Removes the files in path, then path (an entry has no subdirectories; one found is
 * removed if empty). */
static int remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && unlinkat(dirfd(d), de->d_name, 0) < 0 &&
		    errno == EISDIR)
			unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	closedir(d);
	return rmdir(path) < 0 && errno != ENOENT ? -errno : 0;
}

int runsnap_remove(const char *dir, const char *name, char *err, size_t errlen)
{
	char from[PATH_MAX], to[PATH_MAX];
	uint32_t rnd = 0;
	int r;

	if (strlen(dir) > RUNSNAP_DIR_MAX || strlen(name) > NAME_MAX)
		return errorf(err, errlen, -ENAMETOOLONG, "the snapshot directory's path is too long");
	if (getrandom(&rnd, sizeof(rnd), 0) < 0)
		rnd = (uint32_t)now_ns();
	snprintf(from, sizeof(from), "%s/%s", dir, name);
	snprintf(to, sizeof(to), "%s/" DEAD_PREFIX "%s-%ld-%08x", dir, name, (long)getpid(), rnd);
	if (rename(from, to) < 0)
		return errno == ENOENT ? 0 : errorf_errno(err, errlen, errno, "cannot remove %s", from);
	r = remove_tree(to);
	return r ? errorf_errno(err, errlen, -r, "cannot remove %s (renamed %s)", from, to) : 0;
}

/* A temporary whose builder is gone: its lock file is free (or missing) and it has not
 * changed for min_age_s (a builder creates the directory before it can lock it). The age is
 * taken with CLOCK_REALTIME, not time(): here time() lags the file times the kernel stamps
 * by up to a few ms after each second starts (measured), which made a directory created
 * just now look to be from the future, and so never abandoned, even at min_age_s 0. */
static bool abandoned(int dfd, const char *name, int min_age_s)
{
	char lock[NAME_MAX + 8];
	struct timespec now;
	struct stat st;
	int fd;
	bool gone;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return false;
	clock_gettime(CLOCK_REALTIME, &now);
	if (min_age_s > 0 && now.tv_sec - st.st_mtim.tv_sec < min_age_s)
		return false;
	snprintf(lock, sizeof(lock), "%s/lock", name);
	fd = openat(dfd, lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT;
	gone = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return gone;
}

void runsnap_sweep(const char *dir, int min_age_s)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];

	if (!d)
		return;
	while ((de = readdir(d))) {
		bool dead = !strncmp(de->d_name, DEAD_PREFIX, strlen(DEAD_PREFIX));

		if (!dead && (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) ||
			      !abandoned(dirfd(d), de->d_name, min_age_s)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (remove_tree(path) == 0)
			log_info("run: removed %s, left by a run that stopped", path);
	}
	closedir(d);
}

int runsnap_begin(const char *dir, const struct runsnap_key *k, struct runsnap_build *b, char *err, size_t errlen)
{
	char lock[PATH_MAX + 8];
	struct stat st;

	b->lock_fd = -1;
	b->tmp[0] = 0;
	if (strlen(dir) > RUNSNAP_DIR_MAX)
		return errorf(err, errlen, -ENAMETOOLONG, "the snapshot directory's path is too long");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return errorf_errno(err, errlen, errno, "cannot create the snapshot directory %s", dir);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return errorf(err, errlen, -ENOTDIR, "the snapshot directory %s is not a directory", dir);
	runsnap_sweep(dir, 60);
	snprintf(b->tmp, sizeof(b->tmp), "%s/" TMP_PREFIX "%s-XXXXXX", dir, k->name);
	if (!mkdtemp(b->tmp)) {
		int e = errno;

		b->tmp[0] = 0;
		return errorf_errno(err, errlen, e, "cannot create a directory in %s", dir);
	}
	snprintf(lock, sizeof(lock), "%s/lock", b->tmp);
	snprintf(b->state, sizeof(b->state), "%s/state", b->tmp);
	snprintf(b->mem, sizeof(b->mem), "%s/mem", b->tmp);
	snprintf(b->disk, sizeof(b->disk), "%s/disk", b->tmp);
	b->lock_fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (b->lock_fd < 0 || flock(b->lock_fd, LOCK_EX) < 0) {
		int e = errno;

		runsnap_abort(b);
		return errorf_errno(err, errlen, e, "cannot lock %s", lock);
	}
	return 0;
}

void runsnap_abort(struct runsnap_build *b)
{
	if (b->tmp[0])
		remove_tree(b->tmp);
	b->tmp[0] = 0;
	if (b->lock_fd >= 0)
		close(b->lock_fd);
	b->lock_fd = -1;
}

/* Writes the key file: k's text and the identity of the files it goes with. */
static int write_key(const struct runsnap_key *k, const struct runsnap_build *b, char *err, size_t errlen)
{
	char path[PATH_MAX + 8], files[3 * IDENT_MAX], why[128];
	size_t len = strlen(k->text);
	int fd, r = 0;

	if (files_ident(b->state, b->mem, k->scratch[0] ? b->disk : NULL, files, sizeof(files), why, sizeof(why)))
		return errorf(err, errlen, -EIO, "the new snapshot: %s", why);
	snprintf(path, sizeof(path), "%s/key", b->tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errorf_errno(err, errlen, errno, "cannot create %s", path);
	if (write(fd, k->text, len) != (ssize_t)len || write(fd, files, strlen(files)) != (ssize_t)strlen(files) ||
	    fsync(fd) < 0)
		r = errorf_errno(err, errlen, errno ? errno : EIO, "cannot write %s", path);
	close(fd);
	return r;
}

int runsnap_commit(const char *dir, const struct runsnap_key *k, struct runsnap_build *b, bool *published,
		   char *err, size_t errlen)
{
	char to[PATH_MAX], lock[PATH_MAX + 8];
	int r;

	*published = false;
	/* The files first, then the key that vouches for them, then the name: after a crash,
	 * an entry under its final name is whole. */
	if ((r = snap_fsync_path(b->state, false)) || (r = snap_fsync_path(b->mem, false)) ||
	    (k->scratch[0] && (r = snap_fsync_path(b->disk, false)))) {
		errorf(err, errlen, r, "cannot fsync the new snapshot: %s", strerror(-r));
		goto out;
	}
	if ((r = write_key(k, b, err, errlen)))
		goto out;
	snprintf(lock, sizeof(lock), "%s/lock", b->tmp);
	unlink(lock);
	snprintf(to, sizeof(to), "%s/%s", dir, k->name);
	if (rename(b->tmp, to) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY)
			r = errorf_errno(err, errlen, errno, "cannot rename %s to %s", b->tmp, to);
		goto out; /* another run stored it first: keep that one */
	}
	b->tmp[0] = 0;
	*published = true;
	/* Whether the rename lasts or not, what a crash leaves is whole. */
	(void)!snap_fsync_path(dir, true);
out:
	runsnap_abort(b);
	return r;
}
