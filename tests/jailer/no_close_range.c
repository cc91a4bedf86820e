/* no-close-range CMD...: runs CMD with close_range(2) failing with ENOSYS (a seccomp filter),
 * as on kernels before 5.9 or under a container's filter; for the jailer's fd-closing test. */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (argc < 2 || !ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(close_range), 0) ||
	    seccomp_load(ctx)) {
		fprintf(stderr, "no-close-range: cannot install the filter\n");
		return 125;
	}
	seccomp_release(ctx);
	execv(argv[1], argv + 1);
	fprintf(stderr, "no-close-range: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
