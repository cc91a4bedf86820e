/* Log lines never wait for their reader: a full destination costs the line, counted. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

TEST(log_full_pipe_drops_and_counts)
{
	uint64_t missed0, fails0, missed, fails, t0;
	char block[4096] = { 0 };
	int p[2];

	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	while (write(p[1], block, sizeof(block)) > 0)
		;
	log_counts(&missed0, &fails0);
	log_configure(p[1], false, false);
	t0 = now_ns();
	for (int i = 0; i < 10; i++)
		log_error("a line nobody will read %d", i);
	log_configure(-1, false, false);
	log_counts(&missed, &fails);
	close(p[0]);
	close(p[1]);
	CHECK(missed == missed0 + 10);
	CHECK(fails == fails0);
	CHECK(now_ns() - t0 < 100000000ull); /* 100 ms: nothing waited */
}

TEST(log_errwrap_prefixes_the_reason)
{
	char err[64];

	CHECK(errorf(err, sizeof(err), -ENOENT, "%s: %s", "disk.img", "No such file") == -ENOENT);
	CHECK(errwrap(err, sizeof(err), -ENOENT, "drive %s", "rootfs") == -ENOENT);
	CHECK(strcmp(err, "drive rootfs: disk.img: No such file") == 0);
	/* Truncated, never overflowing, when the context and reason do not fit. */
	CHECK(errwrap(err, 16, -EIO, "long context") == -EIO);
	CHECK(strlen(err) == 15);
}

TEST(log_errorf_errno_appends_the_reason)
{
	char err[64];

	CHECK(errorf_errno(err, sizeof(err), ENOENT, "drive %s", "rootfs") == -ENOENT);
	CHECK(strcmp(err, "drive rootfs: No such file or directory") == 0);
	/* Truncated, never overflowing. */
	CHECK(errorf_errno(err, 10, EIO, "a long message") == -EIO);
	CHECK(strlen(err) == 9);
}
