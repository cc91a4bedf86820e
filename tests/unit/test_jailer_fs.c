/* The jailer's file-system helpers (jailer/fs.c) and cgroup checks (jailer/cgroup.c) on a
 * temporary directory, linked without jailer/main.c (issue 11). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../jailer/jailer.h"
#include "test.h"

static char msg[512];

static bool write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);

	if (fd >= 0)
		close(fd);
	return ok;
}

static bool is_mode(const char *path, mode_t type, mode_t perm)
{
	struct stat st;

	return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == type && (st.st_mode & 07777) == perm;
}

/* A jail for exec file <tmp>/vmm under <tmp>/base, as jail_validate would lay it out. */
static void jail_in(struct jail *j, const char *tmp)
{
	memset(j, 0, sizeof(*j));
	j->id = "vm-1";
	snprintf(j->exec_name, sizeof(j->exec_name), "vmm");
	snprintf(j->jail_dir, sizeof(j->jail_dir), "%s/base/vmm/vm-1", tmp);
	snprintf(j->root_dir, sizeof(j->root_dir), "%s/base/vmm/vm-1/root", tmp);
	j->uid = getuid();
	j->gid = getgid();
}

TEST(jailer_fs_create_and_remove)
{
	static struct jail j;
	char tmp[] = "/tmp/kindling-jail-XXXXXX", exe[64], path[PATH_MAX + 64];

	CHECK(mkdtemp(tmp));
	snprintf(exe, sizeof(exe), "%s/vmm", tmp);
	CHECK(write_text(exe, "#!/bin/sh\n", 0755));
	jail_in(&j, tmp);
	j.exec_file = exe;

	jail_error_capture(msg, sizeof(msg));
	CHECK(fs_create_jail(&j) == 0);
	CHECK(is_mode(j.root_dir, S_IFDIR, 0700));
	snprintf(path, sizeof(path), "%s/vmm", j.root_dir);
	CHECK(is_mode(path, S_IFREG, 0555));
	snprintf(path, sizeof(path), "%s/run", j.root_dir);
	CHECK(is_mode(path, S_IFDIR, 0700));

	/* A second VM with the same id: the errno of the failed mkdir, reported and returned. */
	CHECK(fs_create_jail(&j) == -EEXIST);
	CHECK(strstr(msg, j.jail_dir) && strstr(msg, ": File exists"));
	jail_error_capture(NULL, 0);

	/* What the VMM leaves behind may point outside: removal must not follow it. */
	snprintf(path, sizeof(path), "%s/escape", j.root_dir);
	CHECK(symlink(tmp, path) == 0);
	CHECK(fs_remove_tree(j.jail_dir) == 0);
	CHECK(access(j.jail_dir, F_OK) < 0 && errno == ENOENT);
	CHECK(access(exe, F_OK) == 0);
	CHECK(fs_remove_tree(j.jail_dir) == 0); /* already gone */
	CHECK(fs_remove_tree(tmp) == 0);
}

TEST(jailer_fs_find_libs_errors)
{
	static struct jail j;
	char tmp[] = "/tmp/kindling-jail-XXXXXX", exe[64];
	int r;

	CHECK(mkdtemp(tmp));
	jail_in(&j, tmp);
	snprintf(exe, sizeof(exe), "%s/vmm", tmp);
	j.exec_file = exe;
	jail_error_capture(msg, sizeof(msg));
	r = fs_find_libs(&j);
	CHECK(r == -ENOENT && strstr(msg, ": No such file or directory"));
	CHECK(write_text(exe, "#!/bin/sh\n", 0755));
	r = fs_find_libs(&j);
	CHECK(r == -ENOEXEC && strstr(msg, "is not an ELF executable or library"));
	jail_error_capture(NULL, 0);
	CHECK(fs_remove_tree(tmp) == 0);
}

/* A controller no hierarchy has is refused before anything is made. */
TEST(jailer_cgroup_check_unknown_controller)
{
	static struct jail j;
	int r;

	memset(&j, 0, sizeof(j));
	j.id = "vm-unit";
	j.parent_cgroup = "kindling-unit";
	j.nr_cgroups = 1;
	snprintf(j.cgroups[0].controller, sizeof(j.cgroups[0].controller), "nosuchctl");
	snprintf(j.cgroups[0].file, sizeof(j.cgroups[0].file), "nosuchctl.max");
	snprintf(j.cgroups[0].value, sizeof(j.cgroups[0].value), "1");
	jail_error_capture(msg, sizeof(msg));
	for (int v = 1; v <= 2; v++) {
		j.cgroup_version = v;
		r = cgroup_check(&j);
		if (r != -ENOENT)
			printf("  v%d: %d, \"%s\"\n", v, r, msg);
		CHECK(r == -ENOENT);
		/* Either the host lacks that cgroup version altogether, or the controller. */
		CHECK(strstr(msg, "'nosuchctl'") || strstr(msg, "no cgroup"));
	}
	jail_error_capture(NULL, 0);
}
