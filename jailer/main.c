/* kindling-jailer: Firecracker's jailer for kindling. Start-up is one straight line: parse ->
 * validate (nothing changed yet) -> jail dir -> rlimits -> cgroup -> netns -> pivot_root ->
 * device nodes -> PID namespace / daemon -> drop to uid/gid without capabilities -> exec. */
#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer.h"

static int set_limits(const struct jail *j)
{
	struct rlimit nofile = { j->nofile, j->nofile }, fsize = { j->fsize, j->fsize };

	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return jail_error_errno(errno, "cannot set the no-file limit to %llu", (unsigned long long)j->nofile);
	if (j->has_fsize && setrlimit(RLIMIT_FSIZE, &fsize) < 0)
		return jail_error_errno(errno, "cannot set the fsize limit to %llu", (unsigned long long)j->fsize);
	return 0;
}

static int join_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		int e = errno; /* before close() can change it */

		if (fd >= 0)
			close(fd);
		return jail_error_errno(e, "cannot join the network namespace %s", path);
	}
	close(fd);
	return 0;
}

/* In the jail: where to find the VMM's host PID when it is not the jailer's. */
static void write_pid_file(const struct jail *j, pid_t pid)
{
	char path[NAME_MAX + 8];
	FILE *f;

	snprintf(path, sizeof(path), "/%s.pid", j->exec_name);
	f = fopen(path, "we");
	if (!f) {
		jail_error_errno(errno, "cannot write %s", path);
		return;
	}
	if (fprintf(f, "%d\n", (int)pid) < 0) {
		int e = errno; /* before fclose() can change it */

		fclose(f);
		jail_error_errno(e, "cannot write %s", path);
		return;
	}
	if (fclose(f) != 0)
		jail_error_errno(errno, "cannot write %s", path);
}

/* The parent half of a fork: report the child and leave. */
static void fork_and_leave(const struct jail *j)
{
	pid_t pid = fork();

	if (pid < 0) {
		jail_error_errno(errno, "fork");
		_exit(1);
	}
	if (pid > 0) {
		write_pid_file(j, pid);
		_exit(0);
	}
}

static int detach(const struct jail *j, int null_fd)
{
	/* setsid needs a process that does not lead its process group. */
	if (getpid() == getpgrp())
		fork_and_leave(j);
	if (setsid() < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 || dup2(null_fd, 2) < 0)
		return jail_error_errno(errno, "cannot daemonize");
	close(null_fd);
	return 0;
}

static int drop_privileges(const struct jail *j)
{
	int r;

	capng_clear(CAPNG_SELECT_ALL);
	r = capng_change_id((int)j->uid, (int)j->gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING | CAPNG_CLEAR_AMBIENT);
	if (r) {
		jail_error_errno(errno, "cannot change to uid %u gid %u without capabilities (libcap-ng error %d)",
				 (unsigned)j->uid, (unsigned)j->gid, r);
		return -EPERM;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return jail_error_errno(errno, "PR_SET_NO_NEW_PRIVS");
	/* Trust, but verify: nothing may be left in any set. */
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_get_caps_process() || capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE ||
	    prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0 || getuid() != j->uid || geteuid() != j->uid ||
	    getgid() != j->gid || getegid() != j->gid || getgroups(0, NULL) != 0) {
		jail_error("capabilities or ids were not fully dropped; refusing to run the VMM");
		return -EPERM;
	}
	return 0;
}

static int run(const struct jail *j)
{
	char exe[NAME_MAX + 2], *argv[j->vmm_argc + 4];
	char *envp[] = { NULL };
	int null_fd = -1, r, joined = 0;

	/* Nothing of the caller's may reach the VMM: fds, environment, umask. */
	if ((r = jail_close_fds(3, true))) {
		jail_error("cannot close the inherited file descriptors: %s", strerror(-r));
		return 1;
	}
	clearenv();
	umask(022);
	/* A write past --resource-limit fsize then fails with EFBIG instead of killing the VMM
	 * (an ignored disposition survives exec). */
	signal(SIGXFSZ, SIG_IGN);

	/* Before the cgroup, whose device allowlist has no /dev/null. */
	if (j->daemonize && (null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		jail_error_errno(errno, "cannot open /dev/null");
		return 1;
	}
	if ((r = fs_create_jail(j)))
		goto undo;
	if ((r = cgroup_setup(j)))
		goto undo;
	joined = 1;
	if (j->netns && (r = join_netns(j->netns)))
		goto undo;
	if ((r = fs_enter_jail(j)))
		goto undo;
	/* From here on the host's file system is out of reach: no undo. */
	if ((r = fs_make_devices(j)))
		return 1;
	if (j->new_pid_ns) {
		if (unshare(CLONE_NEWPID) < 0) {
			jail_error_errno(errno, "unshare(CLONE_NEWPID)");
			return 1;
		}
		fork_and_leave(j); /* the child is PID 1 of the new namespace */
	}
	if (j->daemonize && detach(j, null_fd))
		return 1;
	/* Late, so that they bind the VMM and not the jailer's own copying. */
	if (set_limits(j) || drop_privileges(j))
		return 1;

	snprintf(exe, sizeof(exe), "/%s", j->exec_name);
	argv[0] = exe;
	argv[1] = "--id";
	argv[2] = (char *)j->id;
	for (int i = 0; i < j->vmm_argc; i++)
		argv[3 + i] = j->vmm_argv[i];
	argv[3 + j->vmm_argc] = NULL;
	execve(exe, argv, envp);
	jail_error_errno(errno, "cannot exec %s in the jail", exe);
	return 1;
undo:
	if (fs_remove_tree(j->jail_dir))
		jail_error("cannot remove %s", j->jail_dir);
	if (joined)
		jail_error("this process is in the VM's cgroup, which stays; remove it with: kindling-jailer "
			   "--cleanup --id %s --exec-file %s --chroot-base-dir %s --cgroup-version %d --parent-cgroup %s",
			   j->id, j->exec_name, j->base_dir, j->cgroup_version, j->parent_cgroup);
	return 1;
}

static int cleanup(const struct jail *j)
{
	char dir[PATH_MAX];
	int r;

	/* The cgroup first: it refuses while the VM still runs, which must keep its jail too. */
	r = cgroup_cleanup(j);
	if (r == -EBUSY)
		return 1;
	if (fs_remove_tree(j->jail_dir)) {
		jail_error("cannot remove %s", j->jail_dir);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s", j->jail_dir);
	*strrchr(dir, '/') = 0;
	rmdir(dir); /* <base>/<exec-name>, once its last jail is gone */
	return r ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct jail j;
	int r = jail_parse_args(&j, argc, argv);

	if (r)
		return r > 0 ? 0 : 2; /* --help, or a bad command line */
	if (jail_validate(&j))
		return 1;
	return j.cleanup ? cleanup(&j) : run(&j);
}
