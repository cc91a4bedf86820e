/* Closing every inherited file descriptor before the VMM runs, with a fallback for kernels
 * or filters that refuse close_range, and a check that nothing survived. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jailer.h"

/* Upper bound for the one-by-one fallback when /proc is not mounted. */
#define FDS_SCAN_MAX (1u << 20)

static unsigned scan_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max == RLIM_INFINITY || rl.rlim_max > FDS_SCAN_MAX)
		return FDS_SCAN_MAX;
	return (unsigned)rl.rlim_max;
}

/* Closes every fd >= from listed in /proc/self/fd; -errno if /proc cannot be read. */
static int close_listed(unsigned from, unsigned *left)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int self;

	if (!d)
		return -errno;
	self = dirfd(d);
	*left = 0;
	while ((e = readdir(d))) {
		char *end;
		unsigned long fd = strtoul(e->d_name, &end, 10);

		if (*end || e->d_name[0] == '.' || fd < from || (int)fd == self)
			continue;
		if (close((int)fd) < 0 && errno == EBADF)
			continue;
		(*left)++; /* closed now; the next pass checks that none is left */
	}
	closedir(d);
	return 0;
}

int jail_close_fds(unsigned from, bool use_close_range)
{
	unsigned left = 0, limit;

	if (use_close_range && syscall(SYS_close_range, from, ~0u, 0) == 0)
		return 0;
	/* ENOSYS before Linux 5.9, EPERM or ENOSYS under a seccomp filter: close them one by
	 * one, and check that none survived. */
	for (int pass = 0; pass < 4; pass++) {
		if (close_listed(from, &left) < 0)
			break;
		if (!left)
			return 0;
	}
	limit = scan_limit();
	for (unsigned fd = from; fd < limit; fd++)
		close((int)fd);
	for (unsigned fd = from; fd < limit; fd++)
		if (fcntl((int)fd, F_GETFD) >= 0)
			return -EBADFD;
	return 0;
}
