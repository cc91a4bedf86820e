/* The VM's cgroup <parent>/<id>: found through /proc/self/mountinfo, made, given the --cgroup
 * settings and the device allowlist (v1: the devices controller; v2: a BPF program), joined,
 * and removed by --cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer.h"
#include "util.h"

#define MAX_HIER 32

struct hier {
	char path[PATH_MAX];
	char opts[256]; /* super options: "rw,cpu,cpuacct" */
};

struct mounts {
	struct hier v1[MAX_HIER];
	int nr_v1;
	char v2[PATH_MAX]; /* "" if no cgroup2 is mounted */
};

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = 0;
}

static int read_mounts(struct mounts *m)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];

	memset(m, 0, sizeof(*m));
	if (!f)
		return jail_error_errno(errno, "cannot read /proc/self/mountinfo");
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), *save, *mnt = NULL, *type, *opts;
		int field = 0;

		if (!sep)
			continue;
		*sep = 0;
		for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save))
			if (field++ == 4)
				mnt = t;
		type = strtok_r(sep + 3, " ", &save);
		(void)strtok_r(NULL, " ", &save); /* source */
		opts = strtok_r(NULL, " \n", &save);
		if (!mnt || !type || !opts)
			continue;
		unescape(mnt);
		if (!strcmp(type, "cgroup2") && !m->v2[0]) {
			snprintf(m->v2, sizeof(m->v2), "%s", mnt);
		} else if (!strcmp(type, "cgroup") && m->nr_v1 < MAX_HIER) {
			snprintf(m->v1[m->nr_v1].path, PATH_MAX, "%s", mnt);
			snprintf(m->v1[m->nr_v1].opts, sizeof(m->v1[0].opts), "%s", opts);
			m->nr_v1++;
		}
	}
	fclose(f);
	return 0;
}

/* The v1 hierarchy with this controller, or -1. */
static int find_v1(const struct mounts *m, const char *ctrl)
{
	for (int i = 0; i < m->nr_v1; i++) {
		char opts[256], *save;

		snprintf(opts, sizeof(opts), "%s", m->v1[i].opts);
		for (char *t = strtok_r(opts, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (!strcmp(t, ctrl))
				return i;
	}
	return -1;
}

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX * 2];
	int fd;
	ssize_t n;
	size_t len = strlen(value);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return jail_error_errno(errno, "cgroup: cannot open %s", path);
	n = write(fd, value, len);
	if (n != (ssize_t)len) {
		int e = n < 0 ? errno : EIO;

		jail_error("cgroup: cannot write '%s' to %s: %s", value, path, strerror(e));
		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

static bool word_in(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The hierarchies a v1 jail uses: devices, then each setting's. Returns the count. */
static int v1_hiers(const struct jail *j, const struct mounts *m, int *out)
{
	int n = 0, k;

	out[n++] = find_v1(m, "devices");
	for (int i = 0; i < j->nr_cgroups; i++) {
		int h = find_v1(m, j->cgroups[i].controller);

		for (k = 0; k < n && out[k] != h; k++)
			;
		if (k == n)
			out[n++] = h;
	}
	return n;
}

int cgroup_check(const struct jail *j)
{
	struct mounts m;
	char path[PATH_MAX * 2];
	int r = read_mounts(&m);

	if (r)
		return r;
	if (j->cgroup_version == 1) {
		int hs[JAIL_MAX_CGROUPS + 1], n;

		if (find_v1(&m, "devices") < 0) {
			jail_error("no cgroup v1 'devices' hierarchy is mounted (a cgroup v2 only host?): "
				   "use --cgroup-version 2");
			return -ENOENT;
		}
		for (int i = 0; i < j->nr_cgroups; i++) {
			if (find_v1(&m, j->cgroups[i].controller) < 0) {
				jail_error("--cgroup %s: no cgroup v1 hierarchy has the '%s' controller",
					   j->cgroups[i].file, j->cgroups[i].controller);
				return -ENOENT;
			}
		}
		n = v1_hiers(j, &m, hs);
		for (int i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/%s/%s", m.v1[hs[i]].path, j->parent_cgroup, j->id);
			if (exists(path)) {
				jail_error("the cgroup %s already exists (kindling-jailer --cleanup --id %s)", path,
					   j->id);
				return -EEXIST;
			}
		}
		return 0;
	}
	if (!m.v2[0]) {
		jail_error("no cgroup2 file system is mounted: use --cgroup-version 1, or mount one");
		return -ENOENT;
	}
	if (j->nr_cgroups) {
		char ctrls[1024];

		snprintf(path, sizeof(path), "%s/cgroup.controllers", m.v2);
		if ((r = read_small(path, ctrls, sizeof(ctrls)))) {
			jail_error("cannot read %s: %s", path, strerror(-r));
			return r;
		}
		for (int i = 0; i < j->nr_cgroups; i++) {
			if (!word_in(ctrls, j->cgroups[i].controller)) {
				jail_error("--cgroup %s: the cgroup2 hierarchy at %s has no '%s' controller "
					   "(available: %s)", j->cgroups[i].file, m.v2, j->cgroups[i].controller,
					   ctrls[0] && ctrls[0] != '\n' ? strtok(ctrls, "\n") : "none");
				return -ENOENT;
			}
		}
	}
	snprintf(path, sizeof(path), "%s/%s/%s", m.v2, j->parent_cgroup, j->id);
	if (exists(path)) {
		jail_error("the cgroup %s already exists (kindling-jailer --cleanup --id %s)", path, j->id);
		return -EEXIST;
	}
	return 0;
}

/* Directories made so far, removed again if setting up fails. */
struct made {
	char path[MAX_HIER * 8][PATH_MAX];
	int n;
};

static void undo(struct made *md)
{
	while (md->n > 0)
		rmdir(md->path[--md->n]);
}

/* A cpuset cgroup is unusable until cpus and mems are set: take the parent's. */
static int cpuset_inherit(const char *dir)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char path[PATH_MAX * 2], val[4096];

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (read_small(path, val, sizeof(val)) || (val[0] && val[0] != '\n'))
			continue;
		snprintf(path, sizeof(path), "%s/../%s", dir, files[i]);
		if (read_small(path, val, sizeof(val)) == 0 && val[0] != '\n' && write_file(dir, files[i], val))
			return -EINVAL;
	}
	return 0;
}

/* mkdir -p of <root>/<rel>, recording what it made. */
static int make_path(const char *root, const char *rel, bool cpuset, struct made *md)
{
	char path[PATH_MAX];
	size_t n = strlen(root);

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >= sizeof(path))
		return -ENAMETOOLONG;
	for (char *s = path + n + 1;; s++) {
		if (*s == '/' || !*s) {
			char c = *s;

			*s = 0;
			if (mkdir(path, 0755) == 0) {
				if (md->n < (int)ARRAY_SIZE(md->path))
					snprintf(md->path[md->n++], PATH_MAX, "%s", path);
				if (cpuset && cpuset_inherit(path))
					return -EINVAL;
			} else if (errno != EEXIST) {
				return jail_error_errno(errno, "cgroup: cannot make %s", path);
			}
			*s = c;
			if (!c)
				return 0;
		}
	}
}

static int join(const char *dir)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	return write_file(dir, "cgroup.procs", pid);
}

static int setup_v1(const struct jail *j, const struct mounts *m, struct made *md)
{
	int hs[JAIL_MAX_CGROUPS + 1], n = v1_hiers(j, m, hs), r;
	char rel[PATH_MAX], dir[PATH_MAX * 2], rule[64];

	snprintf(rel, sizeof(rel), "%s/%s", j->parent_cgroup, j->id);
	for (int i = 0; i < n; i++) {
		const struct hier *h = &m->v1[hs[i]];

		if ((r = make_path(h->path, rel, find_v1(m, "cpuset") == hs[i], md)))
			return r;
	}
	for (int i = 0; i < j->nr_cgroups; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", m->v1[find_v1(m, j->cgroups[i].controller)].path, rel);
		if ((r = write_file(dir, j->cgroups[i].file, j->cgroups[i].value)))
			return r;
	}
	snprintf(dir, sizeof(dir), "%s/%s", m->v1[find_v1(m, "devices")].path, rel);
	if ((r = write_file(dir, "devices.deny", "a")))
		return r;
	for (int i = 0; i < jail_nr_devices; i++) {
		snprintf(rule, sizeof(rule), "c %u:%u rwm", jail_devices[i].major, jail_devices[i].minor);
		if ((r = write_file(dir, "devices.allow", rule)))
			return r;
	}
	for (int i = 0; i < n; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", m->v1[hs[i]].path, rel);
		if ((r = join(dir)))
			return r;
	}
	return 0;
}

/* Controllers must be enabled in cgroup.subtree_control of every ancestor of the cgroup. */
static int enable_controllers(const struct jail *j, const char *root)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], ctl[1024], plus[80];
	size_t n = strlen(root);
	int r;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", root, j->parent_cgroup) >= sizeof(dir))
		return -ENAMETOOLONG;
	for (char *s = dir + n;; s++) {
		if (*s == '/' || !*s) {
			char c = *s;

			*s = 0;
			if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir) >= sizeof(path))
				return -ENAMETOOLONG;
			if ((r = read_small(path, ctl, sizeof(ctl)))) {
				jail_error("cannot read %s/cgroup.subtree_control: %s", dir, strerror(-r));
				return r;
			}
			for (int i = 0; i < j->nr_cgroups; i++) {
				if (word_in(ctl, j->cgroups[i].controller))
					continue;
				snprintf(plus, sizeof(plus), "+%s", j->cgroups[i].controller);
				if ((r = write_file(dir, "cgroup.subtree_control", plus)))
					return r;
			}
			*s = c;
			if (!c)
				return 0;
		}
	}
}

static int setup_v2(const struct jail *j, const struct mounts *m, struct made *md)
{
	char rel[PATH_MAX], dir[PATH_MAX * 2];
	int fd, r;

	if ((r = make_path(m->v2, j->parent_cgroup, false, md)) || (j->nr_cgroups && (r = enable_controllers(j, m->v2))))
		return r;
	snprintf(rel, sizeof(rel), "%s/%s", j->parent_cgroup, j->id);
	if ((r = make_path(m->v2, rel, false, md)))
		return r;
	snprintf(dir, sizeof(dir), "%s/%s", m->v2, rel);
	for (int i = 0; i < j->nr_cgroups; i++)
		if ((r = write_file(dir, j->cgroups[i].file, j->cgroups[i].value)))
			return r;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return jail_error_errno(errno, "cannot open %s", dir);
	/* Attached (not linked): it stays with the cgroup after we close the fd and exec. */
	r = devfilter_attach(fd);
	close(fd);
	return r ? r : join(dir);
}

int cgroup_setup(const struct jail *j)
{
	static struct made md; /* large; the jailer is single-threaded */
	struct mounts m;
	int r = read_mounts(&m);

	if (r)
		return r;
	md.n = 0;
	r = j->cgroup_version == 1 ? setup_v1(j, &m, &md) : setup_v2(j, &m, &md);
	if (r)
		undo(&md); /* fails harmlessly for a cgroup we already joined */
	return r;
}

/* Removes <root>/<parent>/<id> if it exists; refuses while a process is in it. */
static int remove_cgroup(const char *root, const struct jail *j)
{
	char dir[PATH_MAX * 2], path[PATH_MAX * 2 + 16], procs[64];

	snprintf(dir, sizeof(dir), "%s/%s/%s", root, j->parent_cgroup, j->id);
	if (!exists(dir))
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if (read_small(path, procs, sizeof(procs)) == 0 && procs[0]) {
		jail_error("the cgroup %s still has processes (pid %s): is the VM still running?", dir,
			   strtok(procs, "\n"));
		return -EBUSY;
	}
	if (rmdir(dir) < 0)
		return jail_error_errno(errno, "cannot remove the cgroup %s", dir);
	return 0;
}

int cgroup_cleanup(const struct jail *j)
{
	struct mounts m;
	int r = read_mounts(&m), e;

	if (r)
		return r;
	if (j->cgroup_version != 2)
		for (int i = 0; i < m.nr_v1; i++)
			if ((e = remove_cgroup(m.v1[i].path, j)))
				r = e;
	if (j->cgroup_version != 1 && m.v2[0] && (e = remove_cgroup(m.v2, j)))
		r = e;
	return r;
}
