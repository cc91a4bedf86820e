/* The host's restore message (cli/restoremsg.c), read back by the guest's parser
 * (guest-init/restore.c): fresh entropy each time, the current time, the optional fields. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "../../cli/restoremsg.h"
#include "../../guest-init/restore.h"
#include "test.h"

TEST(restoremsg_build)
{
	struct restoremsg a, b;
	char buf[512], buf2[512], err[320];
	struct timespec ts;
	int n;

	n = restoremsg_build(buf, sizeof(buf), "fn-1", "10.0.0.5::10.0.0.1:255.255.255.0::eth0:off",
			     "02:00:00:00:00:05");
	CHECK(n > 0 && (size_t)n == strlen(buf));
	CHECK(restore_parse(&a, buf, (size_t)n, err, sizeof(err)) == 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	CHECK(a.entropy_len == RESTOREMSG_ENTROPY && !strcmp(a.hostname, "fn-1") && a.has_ip && a.has_mac);
	CHECK(a.time_ns <= (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
	CHECK(a.time_ns + 5000000000ull > (uint64_t)ts.tv_sec * 1000000000ull);
	n = restoremsg_build(buf2, sizeof(buf2), NULL, NULL, NULL);
	CHECK(n > 0 && restore_parse(&b, buf2, (size_t)n, err, sizeof(err)) == 0);
	CHECK(!b.hostname[0] && !b.has_ip && !b.has_mac);
	CHECK(memcmp(a.entropy, b.entropy, RESTOREMSG_ENTROPY)); /* fresh bytes each time */
	CHECK(restoremsg_build(buf, 40, NULL, NULL, NULL) == -ENOSPC);
	CHECK(restoremsg_build(buf, sizeof(buf), "a\"b", NULL, NULL) == -EINVAL);
	CHECK(restoremsg_build(buf, sizeof(buf), NULL, NULL, "02:00\n") == -EINVAL);
}
