/* kindling-jailer: shared types of the jailer's modules (args, fs, cgroup, devices). */
#ifndef KINDLING_JAILER_H
#define KINDLING_JAILER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "jail_err.h"

#define JAIL_ID_MAX 64
#define JAIL_MAX_CGROUPS 32
#define JAIL_MAX_LIBS 32
#define JAIL_DEFAULT_BASE "/srv/jailer"
#define JAIL_DEFAULT_NOFILE 2048

#define WUR __attribute__((warn_unused_result))

struct cgroup_setting {
	char controller[64]; /* "cpuset" of "cpuset.cpus" */
	char file[128];      /* "cpuset.cpus" */
	char value[256];
};

/* A device node made in the jail's /dev and allowed by its cgroup. */
struct jail_device {
	const char *path; /* inside the jail */
	unsigned major, minor;
};

struct jail {
	/* From the command line. */
	const char *id;
	const char *exec_file;
	char exec_name[NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	const char *base_dir;
	const char *netns;
	bool daemonize, new_pid_ns, cleanup;
	int cgroup_version;
	struct cgroup_setting cgroups[JAIL_MAX_CGROUPS];
	int nr_cgroups;
	const char *parent_cgroup;
	bool has_fsize;
	rlim_t fsize, nofile;
	char **vmm_argv; /* after "--" */
	int vmm_argc;

	/* Derived while validating. */
	char jail_dir[PATH_MAX]; /* <base>/<exec-name>/<id> */
	char root_dir[PATH_MAX]; /* <jail_dir>/root */
	char interp[PATH_MAX];   /* the exec file's ELF interpreter, "" when static */
	char libs[JAIL_MAX_LIBS][PATH_MAX];
	int nr_libs;
};

extern const struct jail_device jail_devices[];
extern const int jail_nr_devices;

/* args.c: 0, 1 after printing the usage for --help, or -EINVAL with the reason printed. */
int jail_parse_args(struct jail *j, int argc, char **argv) WUR;
int jail_validate(struct jail *j) WUR;
void jail_usage(void);

/* fs.c: the jail directory, before and after pivot_root. */
int fs_find_libs(struct jail *j) WUR;
int fs_create_jail(const struct jail *j) WUR;
int fs_enter_jail(const struct jail *j) WUR;
int fs_make_devices(const struct jail *j) WUR;
int fs_remove_tree(const char *path) WUR;

/* cgroup.c */
int cgroup_check(const struct jail *j) WUR;
int cgroup_setup(const struct jail *j) WUR;
int cgroup_cleanup(const struct jail *j) WUR;

/* devfilter.c: the cgroup v2 device allowlist as a BPF program. */
int devfilter_attach(int cgroup_fd) WUR;

/* fds.c: closes every fd >= from (close_range, else one by one); -EBADFD if one survived. */
int jail_close_fds(unsigned from, bool use_close_range) WUR;

#endif
