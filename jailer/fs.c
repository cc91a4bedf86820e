/* The jail's file system: what the VMM needs copied in (the binary and, when it is dynamically
 * linked, its ELF interpreter and libraries), the pivot_root into it, its device nodes, and
 * its removal. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gelf.h>
#include <libelf.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "jailer.h"
#include "util.h"

const struct jail_device jail_devices[] = {
	{ "/dev/kvm", 10, 232 },
	{ "/dev/net/tun", 10, 200 },
	{ "/dev/urandom", 1, 9 },
};
const int jail_nr_devices = ARRAY_SIZE(jail_devices);

/* Where ld.so looks without a cache (Debian's multiarch directories first). */
static const char *const lib_dirs[] = {
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
};

static int add_lib(struct jail *j, const char *path)
{
	for (int i = 0; i < j->nr_libs; i++)
		if (!strcmp(j->libs[i], path))
			return 0;
	if (j->nr_libs == JAIL_MAX_LIBS) {
		jail_error("%s needs more than %d libraries", j->exec_file, JAIL_MAX_LIBS);
		return -E2BIG;
	}
	snprintf(j->libs[j->nr_libs++], PATH_MAX, "%s", path);
	return 1;
}

static int scan_elf(struct jail *j, const char *path, bool top);

static int find_needed(struct jail *j, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (strchr(name, '/')) {
		jail_error("%s needs '%s', a library by path, which the jailer does not copy", j->exec_file, name);
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(lib_dirs); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", lib_dirs[i], name) >= sizeof(path))
			return -ENAMETOOLONG;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			int r = add_lib(j, path);

			return r == 1 ? scan_elf(j, path, false) : r;
		}
	}
	jail_error("%s needs the library %s, which is in none of the standard directories", j->exec_file, name);
	return -ENOENT;
}

/* Records the interpreter (top level only) and the DT_NEEDED libraries, recursively. */
static int scan_elf(struct jail *j, const char *path, bool top)
{
	char needed[JAIL_MAX_LIBS][NAME_MAX + 1];
	int fd, nr_needed = 0, r = 0;
	Elf *e = NULL;
	GElf_Ehdr eh;
	size_t nph;
	Elf_Scn *scn = NULL;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return jail_error_errno(errno, "%s", path);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh) || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
	    elf_getphdrnum(e, &nph)) {
		jail_error("%s is not an ELF executable or library", path);
		r = -ENOEXEC;
		goto out;
	}
	for (size_t i = 0; top && i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_INTERP)
			continue;
		if (ph.p_filesz < 2 || ph.p_filesz >= sizeof(j->interp) ||
		    pread(fd, j->interp, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz ||
		    j->interp[ph.p_filesz - 1] || j->interp[0] != '/') {
			jail_error("%s: bad ELF interpreter entry", path);
			r = -ENOEXEC;
			goto out;
		}
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t k = 0; k < sh.sh_size / (sh.sh_entsize ? sh.sh_entsize : 1); k++) {
			GElf_Dyn dyn;
			const char *name;

			if (!gelf_getdyn(d, (int)k, &dyn) || dyn.d_tag != DT_NEEDED)
				continue;
			name = elf_strptr(e, sh.sh_link, dyn.d_un.d_val);
			if (!name || strlen(name) > NAME_MAX || nr_needed == JAIL_MAX_LIBS) {
				jail_error("%s: bad or too many DT_NEEDED entries", path);
				r = -ENOEXEC;
				goto out;
			}
			snprintf(needed[nr_needed++], NAME_MAX + 1, "%s", name);
		}
	}
out:
	if (e)
		elf_end(e);
	close(fd);
	for (int i = 0; i < nr_needed && !r; i++)
		r = find_needed(j, needed[i]);
	return r;
}

int fs_find_libs(struct jail *j)
{
	struct stat st;
	int r;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		jail_error("libelf: %s", elf_errmsg(-1));
		return -EINVAL;
	}
	r = scan_elf(j, j->exec_file, true);
	if (r)
		return r;
	if (j->interp[0] && (stat(j->interp, &st) < 0 || !S_ISREG(st.st_mode))) {
		jail_error("%s: its ELF interpreter %s is missing", j->exec_file, j->interp);
		return -ENOENT;
	}
	if (!j->interp[0] && j->nr_libs) {
		jail_error("%s has libraries but no ELF interpreter", j->exec_file);
		return -ENOEXEC;
	}
	return 0;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
	char buf[65536];

	if (in < 0) {
		r = -errno;
		goto fail;
	}
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (out < 0) {
		r = -errno;
		goto fail;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf)), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		while (w < n) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				r = k < 0 ? -errno : -EIO;
				goto fail;
			}
			w += k;
		}
	}
	if (fchmod(out, mode) < 0)
		r = -errno;
fail:
	if (r)
		jail_error("cannot copy %s to %s: %s", from, to, strerror(-r));
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return r;
}

/* mkdir -p, each new directory root-owned with the given mode. */
static int mkdirs(const char *path, mode_t mode)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1;; s++) {
		if (*s == '/' || !*s) {
			char c = *s;

			*s = 0;
			if (mkdir(p, mode) < 0 && errno != EEXIST)
				return jail_error_errno(errno, "cannot make %s", p);
			*s = c;
			if (!c)
				return 0;
		}
	}
}

/* Copies a host file into the jail at the same path (ld.so finds it where it would on the host). */
static int copy_in(const struct jail *j, const char *host_path, const char *jail_path)
{
	char dst[PATH_MAX * 2], dir[PATH_MAX * 2];
	int r;

	snprintf(dst, sizeof(dst), "%s%s", j->root_dir, jail_path);
	snprintf(dir, sizeof(dir), "%s", dst);
	*strrchr(dir, '/') = 0;
	r = mkdirs(dir, 0755);
	return r ? r : copy_file(host_path, dst, 0555);
}

int fs_create_jail(const struct jail *j)
{
	char path[PATH_MAX * 2];
	int r;

	/* <base>/<exec-name> is shared by the jails of one binary; <id> is this VM's. */
	snprintf(path, sizeof(path), "%s", j->jail_dir);
	*strrchr(path, '/') = 0;
	if ((r = mkdirs(path, 0755)))
		return r;
	if (mkdir(j->jail_dir, 0755) < 0)
		return jail_error_errno(errno, "cannot make %s", j->jail_dir);
	/* The VMM's root is its own (it may create its API socket, logs, snapshots there), as in
	 * Firecracker; nobody else may look in. */
	if (mkdir(j->root_dir, 0700) < 0 || chown(j->root_dir, j->uid, j->gid) < 0)
		return jail_error_errno(errno, "cannot make %s", j->root_dir);
	snprintf(path, sizeof(path), "%s/%s", j->root_dir, j->exec_name);
	if ((r = copy_file(j->exec_file, path, 0555)))
		return r;
	if (j->interp[0] && (r = copy_in(j, j->interp, j->interp)))
		return r;
	for (int i = 0; i < j->nr_libs; i++)
		if ((r = copy_in(j, j->libs[i], j->libs[i])))
			return r;
	/* Where Firecracker puts its API socket by default. */
	snprintf(path, sizeof(path), "%s/run", j->root_dir);
	if (mkdir(path, 0700) < 0 || chown(path, j->uid, j->gid) < 0)
		return jail_error_errno(errno, "cannot make %s", path);
	return 0;
}

int fs_enter_jail(const struct jail *j)
{
	const char *step;

	step = "unshare(CLONE_NEWNS)";
	if (unshare(CLONE_NEWNS) < 0)
		goto fail;
	/* Nothing we mount or unmount from here on may propagate back to the host. */
	step = "making / private";
	if (mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL) < 0)
		goto fail;
	/* pivot_root wants the new root to be a mount point. */
	step = "bind-mounting the jail";
	if (mount(j->root_dir, j->root_dir, NULL, MS_BIND | MS_REC, NULL) < 0)
		goto fail;
	step = "chdir into the jail";
	if (chdir(j->root_dir) < 0)
		goto fail;
	step = "mkdir old_root";
	if (mkdir("old_root", 0700) < 0)
		goto fail;
	step = "pivot_root";
	if (syscall(SYS_pivot_root, ".", "old_root") < 0)
		goto fail;
	step = "chdir /";
	if (chdir("/") < 0)
		goto fail;
	step = "detaching the old root";
	if (umount2("/old_root", MNT_DETACH) < 0)
		goto fail;
	step = "rmdir /old_root";
	if (rmdir("/old_root") < 0)
		goto fail;
	return 0;
fail:
	return jail_error_errno(errno, "entering the jail %s: %s", j->root_dir, step);
}

/* After pivot_root: "/" is the jail. */
int fs_make_devices(const struct jail *j)
{
	if ((mkdir("/dev", 0755) < 0 && errno != EEXIST) || (mkdir("/dev/net", 0755) < 0 && errno != EEXIST))
		return jail_error_errno(errno, "cannot make /dev in the jail");
	for (int i = 0; i < jail_nr_devices; i++) {
		const struct jail_device *d = &jail_devices[i];

		if (mknod(d->path, S_IFCHR | 0600, makedev(d->major, d->minor)) < 0 ||
		    chown(d->path, j->uid, j->gid) < 0 || chmod(d->path, 0600) < 0)
			return jail_error_errno(errno, "cannot make %s (%u:%u) in the jail", d->path, d->major, d->minor);
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT) {
		jail_error_errno(errno, "cannot remove %s", path);
		return -1;
	}
	return 0;
}

/* rm -rf without following symlinks or crossing mounts: the tree holds what an untrusted VMM
 * left there. */
int fs_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	return nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) ? -EIO : 0;
}
