/* `kindling run`'s options, --repeat and --json in particular: good values taken, bad ones
 * refused with a message that names the option and its range. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runner_opts.h"
#include "test.h"

/* Parses "run --kernel F --rootfs F" followed by extra (NULL-terminated), F a readable file. */
static int parse_with(struct run_opts *o, char *err, size_t errlen, const char *const *extra)
{
	static char self[] = "/proc/self/exe";
	char *argv[32] = { "run", "--kernel", self, "--rootfs", self };
	int argc = 5;

	for (; *extra && argc < 31; extra++)
		argv[argc++] = (char *)*extra;
	argv[argc] = NULL;
	return runner_parse(argc, argv, o, err, errlen);
}

TEST(runner_opts_defaults)
{
	struct run_opts o;
	char err[256];

	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ NULL }) == 0);
	CHECK(o.repeat == 0 && !o.json && o.vcpus == 1 && o.mem_mib == 128 && !o.snap_dir);
}

TEST(runner_opts_repeat_and_json)
{
	struct run_opts o;
	char err[256];

	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--repeat", "20", "--json", NULL }) == 0);
	CHECK(o.repeat == 20 && o.json);
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--repeat=1", NULL }) == 0);
	CHECK(o.repeat == 1 && !o.json);
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--repeat", "10000", "--snapshot-dir", "/tmp/s",
								       NULL }) == 0);
	CHECK(o.repeat == 10000 && !strcmp(o.snap_dir, "/tmp/s"));
	/* --json alone: one run, summarized. */
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--json", NULL }) == 0);
	CHECK(o.repeat == 0 && o.json);
}

TEST(runner_opts_repeat_refused)
{
	static const char *const bad[] = { "0", "10001", "-1", "", "5x", "x", "99999999999999999999", NULL };
	struct run_opts o;
	char err[256];

	for (const char *const *b = bad; *b; b++) {
		err[0] = 0;
		CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--repeat", *b, NULL }) != 0);
		if (!strstr(err, "--repeat must be 1..10000")) {
			printf("  --repeat '%s': %s\n", *b, err);
			CHECK(0);
		}
	}
}

/* A second parse starts afresh (runner_parse resets getopt). */
TEST(runner_opts_parse_twice)
{
	struct run_opts o;
	char err[256];

	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--repeat", "0", "--json", NULL }) != 0);
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--vcpus", "2", NULL }) == 0);
	CHECK(o.vcpus == 2 && o.repeat == 0 && !o.json);
}
