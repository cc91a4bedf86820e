/* The jailer's command line (Firecracker's jailer interface) and its validation: everything
 * is checked here, before the jailer changes anything on the host. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer.h"

void jail_usage(void)
{
	fprintf(stderr,
		"usage: kindling-jailer --id ID --exec-file PATH --uid UID --gid GID\n"
		"                       [--chroot-base-dir DIR] [--netns PATH] [--daemonize] [--new-pid-ns]\n"
		"                       [--cgroup-version 1|2] [--cgroup FILE=VALUE]... [--parent-cgroup PATH]\n"
		"                       [--resource-limit fsize=N|no-file=N]... [-- VMM-ARGS...]\n"
		"       kindling-jailer --cleanup --id ID [--exec-file PATH] [--chroot-base-dir DIR]\n"
		"                       [--cgroup-version 1|2] [--parent-cgroup PATH]\n"
		"\n"
		"Runs the VMM (a copy of --exec-file) as UID:GID without capabilities, chrooted by\n"
		"pivot_root into DIR/<exec-name>/ID/root (default DIR %s), in its own mount\n"
		"namespace and cgroup <parent>/ID (default parent: the exec file's name), with only\n"
		"/dev/kvm, /dev/net/tun and /dev/urandom. The VMM gets \"--id ID\" and VMM-ARGS.\n"
		"--cleanup removes the jail directory and cgroup of a VM that has exited.\n",
		JAIL_DEFAULT_BASE);
}

/* Decimal, no sign, no junk, at most max. */
static int parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > JAIL_ID_MAX)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* A path component we are willing to put in a path: no '/', not "." or "..". */
static bool valid_component(const char *s, size_t len)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

	if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!memchr(ok, s[i], sizeof(ok) - 1))
			return false;
	return true;
}

/* A relative path of valid components ("a/b/c"). */
static bool valid_relative_path(const char *s)
{
	if (!*s || *s == '/' || strlen(s) > 256)
		return false;
	while (*s) {
		size_t n = strcspn(s, "/");

		if (!valid_component(s, n))
			return false;
		s += n;
		if (*s == '/')
			s++;
		if (!*s && s[-1] == '/')
			return false;
	}
	return true;
}

/* --cgroup FILE=VALUE: FILE is "<controller>.<name>". */
static int parse_cgroup(struct jail *j, const char *arg)
{
	struct cgroup_setting *c;
	const char *eq = strchr(arg, '='), *dot;
	size_t klen;

	if (j->nr_cgroups == JAIL_MAX_CGROUPS) {
		jail_error("at most %d --cgroup settings", JAIL_MAX_CGROUPS);
		return -EINVAL;
	}
	c = &j->cgroups[j->nr_cgroups];
	klen = eq ? (size_t)(eq - arg) : 0;
	dot = eq ? memchr(arg, '.', klen) : NULL;
	if (!eq || !dot || dot == arg || klen >= sizeof(c->file) || !valid_component(arg, klen) ||
	    (size_t)(dot - arg) >= sizeof(c->controller) || !eq[1] || strlen(eq + 1) >= sizeof(c->value) ||
	    strchr(eq + 1, '\n')) {
		jail_error("--cgroup '%s': want <controller>.<file>=<value>, e.g. cpuset.cpus=0", arg);
		return -EINVAL;
	}
	memcpy(c->file, arg, klen);
	c->file[klen] = 0;
	memcpy(c->controller, arg, (size_t)(dot - arg));
	c->controller[dot - arg] = 0;
	snprintf(c->value, sizeof(c->value), "%s", eq + 1);
	j->nr_cgroups++;
	return 0;
}

static int parse_limit(struct jail *j, const char *arg)
{
	unsigned long long v;
	const char *eq = strchr(arg, '=');

	if (eq && !strncmp(arg, "fsize=", 6) && !parse_u64(eq + 1, RLIM_INFINITY - 1, &v)) {
		j->has_fsize = true;
		j->fsize = v;
		return 0;
	}
	if (eq && !strncmp(arg, "no-file=", 8) && !parse_u64(eq + 1, 1u << 30, &v) && v >= 1) {
		j->nofile = v;
		return 0;
	}
	jail_error("--resource-limit '%s': want fsize=BYTES or no-file=N (N >= 1)", arg);
	return -EINVAL;
}

static int set_once(const char **dst, const char *val, const char *name)
{
	if (*dst) {
		jail_error("--%s given twice", name);
		return -EINVAL;
	}
	*dst = val;
	return 0;
}

int jail_parse_args(struct jail *j, int argc, char **argv)
{
	enum { O_ID = 256, O_EXEC, O_UID, O_GID, O_BASE, O_NETNS, O_DAEMON, O_PIDNS, O_CGV, O_CG, O_PARENT,
	       O_LIMIT, O_CLEANUP, O_HELP };
	static const struct option opts[] = {
		{ "id", required_argument, NULL, O_ID },
		{ "exec-file", required_argument, NULL, O_EXEC },
		{ "uid", required_argument, NULL, O_UID },
		{ "gid", required_argument, NULL, O_GID },
		{ "chroot-base-dir", required_argument, NULL, O_BASE },
		{ "netns", required_argument, NULL, O_NETNS },
		{ "daemonize", no_argument, NULL, O_DAEMON },
		{ "new-pid-ns", no_argument, NULL, O_PIDNS },
		{ "cgroup-version", required_argument, NULL, O_CGV },
		{ "cgroup", required_argument, NULL, O_CG },
		{ "parent-cgroup", required_argument, NULL, O_PARENT },
		{ "resource-limit", required_argument, NULL, O_LIMIT },
		{ "cleanup", no_argument, NULL, O_CLEANUP },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *uid = NULL, *gid = NULL, *cgv = NULL;
	unsigned long long v;
	int opt;

	memset(j, 0, sizeof(*j));
	j->nofile = JAIL_DEFAULT_NOFILE;
	opterr = 0;
	/* "+": stop at the first non-option, so that everything after "--" is the VMM's. */
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		int r = 0;

		switch (opt) {
		case O_ID: r = set_once(&j->id, optarg, "id"); break;
		case O_EXEC: r = set_once(&j->exec_file, optarg, "exec-file"); break;
		case O_UID: r = set_once(&uid, optarg, "uid"); break;
		case O_GID: r = set_once(&gid, optarg, "gid"); break;
		case O_BASE: r = set_once(&j->base_dir, optarg, "chroot-base-dir"); break;
		case O_NETNS: r = set_once(&j->netns, optarg, "netns"); break;
		case O_CGV: r = set_once(&cgv, optarg, "cgroup-version"); break;
		case O_PARENT: r = set_once(&j->parent_cgroup, optarg, "parent-cgroup"); break;
		case O_DAEMON: j->daemonize = true; break;
		case O_PIDNS: j->new_pid_ns = true; break;
		case O_CLEANUP: j->cleanup = true; break;
		case O_CG: r = parse_cgroup(j, optarg); break;
		case O_LIMIT: r = parse_limit(j, optarg); break;
		case O_HELP: jail_usage(); return 1;
		default:
			if (optopt)
				jail_error("option %s needs a value", argv[optind - 1]);
			else
				jail_error("unknown option '%s' (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
		if (r)
			return r;
	}
	if (optind < argc && strcmp(argv[optind - 1], "--")) {
		jail_error("unexpected argument '%s' (arguments for the VMM go after --)", argv[optind]);
		return -EINVAL;
	}
	j->vmm_argv = argv + optind;
	j->vmm_argc = argc - optind;

	if (!j->id) {
		jail_error("--id is required");
		return -EINVAL;
	}
	if (!valid_id(j->id)) {
		jail_error("invalid --id '%s': 1-%d characters of A-Z, a-z, 0-9 and '-'", j->id, JAIL_ID_MAX);
		return -EINVAL;
	}
	if (cgv) {
		if (strcmp(cgv, "1") && strcmp(cgv, "2")) {
			jail_error("--cgroup-version must be 1 or 2, not '%s'", cgv);
			return -EINVAL;
		}
		j->cgroup_version = cgv[0] - '0';
	}
	if (j->parent_cgroup && !valid_relative_path(j->parent_cgroup)) {
		jail_error("invalid --parent-cgroup '%s': a relative path of [A-Za-z0-9._-] names, no '..'",
			   j->parent_cgroup);
		return -EINVAL;
	}
	if (!j->base_dir)
		j->base_dir = JAIL_DEFAULT_BASE;
	if (j->cleanup) {
		if (uid || gid || j->netns || j->daemonize || j->new_pid_ns || j->nr_cgroups || j->vmm_argc) {
			jail_error("--cleanup takes only --id, --exec-file, --chroot-base-dir, --cgroup-version and "
				   "--parent-cgroup");
			return -EINVAL;
		}
		return 0;
	}
	if (!j->exec_file || !uid || !gid) {
		jail_error("--exec-file, --uid and --gid are required (see --help)");
		return -EINVAL;
	}
	/* (uid_t)-1 means "unchanged" to setresuid: refuse it. */
	if (parse_u64(uid, 0xfffffffe, &v)) {
		jail_error("invalid --uid '%s': a number from 0 to 4294967294", uid);
		return -EINVAL;
	}
	j->uid = (uid_t)v;
	if (parse_u64(gid, 0xfffffffe, &v)) {
		jail_error("invalid --gid '%s': a number from 0 to 4294967294", gid);
		return -EINVAL;
	}
	j->gid = (gid_t)v;
	if (!j->cgroup_version)
		j->cgroup_version = 1; /* Firecracker's default */
	return 0;
}

/* The base directory must be absolute and, where it exists, free of symlinks: the jail is
 * bind-mounted by path. */
static int check_base_dir(const char *base)
{
	char real[PATH_MAX];
	struct stat st;
	size_t n = strlen(base);

	if (base[0] != '/' || n >= PATH_MAX / 2 || strstr(base, "/../") || strstr(base, "/./") ||
	    (n >= 3 && !strcmp(base + n - 3, "/..")) || (n >= 2 && !strcmp(base + n - 2, "/."))) {
		jail_error("--chroot-base-dir '%s' must be an absolute path without '.' or '..'", base);
		return -EINVAL;
	}
	if (lstat(base, &st) < 0) {
		if (errno == ENOENT)
			return 0; /* made later, as Firecracker does */
		return jail_error_errno(errno, "--chroot-base-dir %s", base);
	}
	if (S_ISLNK(st.st_mode)) {
		jail_error("--chroot-base-dir %s is a symbolic link; give the real path", base);
		return -ELOOP;
	}
	if (!S_ISDIR(st.st_mode)) {
		jail_error("--chroot-base-dir %s is not a directory", base);
		return -ENOTDIR;
	}
	if (!realpath(base, real) || strncmp(real, base, strlen(real)) ||
	    strspn(base + strlen(real), "/") != strlen(base + strlen(real))) {
		jail_error("--chroot-base-dir %s goes through a symbolic link; give the real path (%s)", base,
			   realpath(base, real) ? real : "?");
		return -EINVAL;
	}
	return 0;
}

static int check_exec_file(struct jail *j)
{
	struct stat st;
	const char *slash = strrchr(j->exec_file, '/');
	const char *name = slash ? slash + 1 : j->exec_file;

	if (lstat(j->exec_file, &st) < 0)
		return jail_error_errno(errno, "--exec-file %s", j->exec_file);
	if (S_ISLNK(st.st_mode)) {
		jail_error("--exec-file %s is a symbolic link; give the file itself", j->exec_file);
		return -ELOOP;
	}
	if (!S_ISREG(st.st_mode)) {
		jail_error("--exec-file %s is not a regular file", j->exec_file);
		return -EINVAL;
	}
	if (access(j->exec_file, X_OK) < 0 || !(st.st_mode & 0111)) {
		jail_error("--exec-file %s is not executable", j->exec_file);
		return -EACCES;
	}
	if (!valid_component(name, strlen(name)) || strlen(name) >= sizeof(j->exec_name)) {
		jail_error("--exec-file name '%s' must be made of [A-Za-z0-9._-]", name);
		return -EINVAL;
	}
	snprintf(j->exec_name, sizeof(j->exec_name), "%s", name);
	return 0;
}

static int check_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), type;

	if (fd < 0)
		return jail_error_errno(errno, "--netns %s", path);
	type = ioctl(fd, NS_GET_NSTYPE);
	close(fd);
	if (type != CLONE_NEWNET) {
		jail_error("--netns %s is not a network namespace", path);
		return -EINVAL;
	}
	return 0;
}

/* setrlimit refuses more than fs.nr_open. */
static int check_nofile(rlim_t n)
{
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");
	unsigned long long max = 0;

	if (f) {
		if (fscanf(f, "%llu", &max) != 1)
			max = 0;
		fclose(f);
	}
	if (max && n > max) {
		jail_error("--resource-limit no-file=%llu is above the system's maximum (fs.nr_open = %llu)",
			   (unsigned long long)n, max);
		return -EINVAL;
	}
	return 0;
}

static int set_paths(struct jail *j)
{
	const char *base = j->base_dir;
	size_t n = strlen(base);

	while (n > 1 && base[n - 1] == '/')
		n--;
	if ((size_t)snprintf(j->jail_dir, sizeof(j->jail_dir), "%.*s/%s/%s", (int)n, base, j->exec_name, j->id) >=
		    sizeof(j->jail_dir) ||
	    (size_t)snprintf(j->root_dir, sizeof(j->root_dir), "%s/root", j->jail_dir) >= sizeof(j->root_dir)) {
		jail_error("the jail path is too long");
		return -ENAMETOOLONG;
	}
	if (!j->parent_cgroup)
		j->parent_cgroup = j->exec_name;
	return 0;
}

int jail_validate(struct jail *j)
{
	struct stat st;
	int r;

	if (geteuid() != 0) {
		jail_error("must run as root (it mounts, makes device nodes and cgroups, and drops to --uid/--gid)");
		return -EPERM;
	}
	if (j->cleanup) {
		const char *e = j->exec_file ? strrchr(j->exec_file, '/') : NULL;
		const char *name = j->exec_file ? (e ? e + 1 : j->exec_file) : "kindling";

		if (!valid_component(name, strlen(name)) || strlen(name) >= sizeof(j->exec_name)) {
			jail_error("--exec-file name '%s' must be made of [A-Za-z0-9._-]", name);
			return -EINVAL;
		}
		snprintf(j->exec_name, sizeof(j->exec_name), "%s", name);
		r = check_base_dir(j->base_dir);
		return r ? r : set_paths(j);
	}
	if ((r = check_exec_file(j)) || (r = check_base_dir(j->base_dir)) || (r = set_paths(j)))
		return r;
	if (lstat(j->jail_dir, &st) == 0) {
		jail_error("the jail %s already exists: a VM with id %s is running or was not cleaned up "
			   "(kindling-jailer --cleanup --id %s)", j->jail_dir, j->id, j->id);
		return -EEXIST;
	}
	if (j->netns && (r = check_netns(j->netns)))
		return r;
	if ((r = check_nofile(j->nofile)))
		return r;
	if ((r = cgroup_check(j)))
		return r;
	return fs_find_libs(j);
}
