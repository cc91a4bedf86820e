/* `kindling run`'s message when the microVM stops before the function is ready: a host
 * whose KVM cannot emulate the guest is not blamed on the rootfs (issue 10, clear errors). */
#include <string.h>

#include "runner.h"
#include "test.h"

TEST(runner_reason_kvm_internal_error)
{
	const char *m = runner_stop_reason("[kindling] error: vCPU 0: KVM internal error, suberror 1\n",
					   "Linux version 6.1\n");

	CHECK(strstr(m, "this host's KVM failed to emulate the guest"));
	CHECK(strstr(m, "kindling check"));
	CHECK(strstr(m, "tests/lab/run"));
	CHECK(!strstr(m, "bad rootfs"));
}

TEST(runner_reason_kernel_panic)
{
	const char *m = runner_stop_reason("", "Kernel panic - not syncing: VFS: Unable to mount root fs\n");

	CHECK(strstr(m, "panicked"));
}

TEST(runner_reason_unknown)
{
	CHECK(strstr(runner_stop_reason("", ""), "stopped before the function was ready"));
}
