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

/* log.h's promise: what the limiter suppressed is counted and said before the next line it
 * lets through. */
TEST(log_ratelimited_reports_suppressed)
{
	struct ratelimit rl = RATELIMIT_INIT(1, 1000);
	char out[1024];
	ssize_t n;
	int p[2];

	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	log_configure(p[1], false, false);
	for (int i = 0; i < 4; i++)
		log_ratelimited(&rl, LOG_ERROR, "guest did a bad thing %d", i);
	CHECK(rl.suppressed == 3);
	rl.last_ms -= 2000; /* a refill's worth of time later */
	log_ratelimited(&rl, LOG_ERROR, "guest did a bad thing again");
	log_configure(-1, false, false);
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	close(p[1]);
	CHECK(n > 0);
	out[n] = 0;
	CHECK(strstr(out, "guest did a bad thing 0\n"));
	CHECK(!strstr(out, "guest did a bad thing 1"));
	CHECK(strstr(out, "3 similar messages suppressed\n"));
	CHECK(strstr(out, "3 similar messages suppressed\n") < strstr(out, "guest did a bad thing again\n"));
	CHECK(rl.suppressed == 0);
}
