/* The jailer's closing of inherited fds (jailer/fds.c), including the fallback for a
 * close_range that fails (issue 10 item 6). */
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

#include "../../jailer/jailer.h"
#include "test.h"

/* High numbers, so that the test process's own fds (stdio, ASan's) are left alone. */
static bool open_high(void)
{
	return dup2(0, 700) == 700 && dup2(0, 731) == 731 && dup2(0, 900) == 900;
}

static bool any_open(void)
{
	return fcntl(700, F_GETFD) >= 0 || fcntl(731, F_GETFD) >= 0 || fcntl(900, F_GETFD) >= 0;
}

TEST(jailer_close_fds_close_range)
{
	CHECK(open_high());
	CHECK(jail_close_fds(650, true) == 0);
	CHECK(!any_open());
	CHECK(fcntl(0, F_GETFD) >= 0);
}

/* What the jailer does when close_range fails (old kernel, seccomp): one by one. */
TEST(jailer_close_fds_fallback)
{
	CHECK(open_high());
	CHECK(jail_close_fds(650, false) == 0);
	CHECK(!any_open());
	CHECK(fcntl(0, F_GETFD) >= 0 && fcntl(1, F_GETFD) >= 0);
}
