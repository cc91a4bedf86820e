/* `kindling run`'s options, --repeat and --json in particular: good values taken, bad ones
 * refused with a message that names the option and its range. */
#include <stdio.h>
#include <stdlib.h>
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

/* The other numeric options keep their ranges and messages. */
TEST(runner_opts_numbers)
{
	static const struct {
		const char *opt, *good, *bad, *msg;
	} cases[] = {
		{ "--vcpus", "32", "33", "--vcpus must be 1..32" },
		{ "--mem-mib", "32", "31", "--mem-mib must be 32..65536" },
		{ "--timeout", "3600", "0", "--timeout must be 1..3600 seconds" },
		{ "--boot-timeout", "1", "3601", "--boot-timeout must be 1..3600 seconds" },
	};
	struct run_opts o;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ cases[i].opt, cases[i].good, NULL }) == 0);
		CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ cases[i].opt, cases[i].bad, NULL }) != 0);
		CHECK(!strcmp(err, cases[i].msg));
	}
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--vcpus", "4", "--mem-mib", "256", "--timeout",
								       "7", "--boot-timeout", "9", NULL }) == 0);
	CHECK(o.vcpus == 4 && o.mem_mib == 256 && o.timeout_s == 7 && o.boot_timeout_s == 9);
}

TEST(runner_opts_scratch)
{
	char dir[] = "/tmp/kindling-opts-XXXXXX", img[64], odd[64], empty[64], comma[64], err[256];
	struct run_opts o;
	FILE *f;

	CHECK(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/scratch.ext4", dir);
	snprintf(odd, sizeof(odd), "%s/odd.img", dir);
	snprintf(empty, sizeof(empty), "%s/empty.img", dir);
	snprintf(comma, sizeof(comma), "%s/a,b.img", dir);
	CHECK(truncate(img, 0) == -1); /* not there yet */
	f = fopen(img, "w");
	CHECK(f && fclose(f) == 0 && truncate(img, 1 << 20) == 0);
	f = fopen(odd, "w");
	CHECK(f && fclose(f) == 0 && truncate(odd, 1000) == 0);
	f = fopen(empty, "w");
	CHECK(f && fclose(f) == 0);
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ NULL }) == 0 && !o.scratch);
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--scratch", img, NULL }) == 0);
	CHECK(o.scratch && !strcmp(o.scratch, img));
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--scratch", odd, NULL }) != 0 &&
	      strstr(err, "whole number of 512-byte sectors"));
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--scratch", empty, NULL }) != 0 &&
	      strstr(err, "whole number of 512-byte sectors"));
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--scratch", dir, NULL }) != 0 &&
	      strstr(err, "regular file"));
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--scratch", comma, NULL }) != 0 &&
	      strstr(err, "without commas"));
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--scratch", "", NULL }) != 0 &&
	      strstr(err, "--scratch must be"));
	unlink(img);
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--scratch", img, NULL }) != 0 &&
	      strstr(err, "scratch image") && strstr(err, "No such file"));
	unlink(odd);
	unlink(empty);
	CHECK(rmdir(dir) == 0);
}

/* --clones N: 1..256, only with --snapshot-dir, not with --repeat; --outputs only with it. */
TEST(runner_opts_clones)
{
	static const char *const bad[] = { "0", "257", "-1", "", "3x", NULL };
	struct run_opts o;
	char err[256];

	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ NULL }) == 0);
	CHECK(o.clones == 0 && !o.outputs);
	CHECK(parse_with(&o, err, sizeof(err),
			 (const char *const[]){ "--clones", "10", "--snapshot-dir", "/tmp/s", "--json", NULL }) == 0);
	CHECK(o.clones == 10 && o.json && !strcmp(o.snap_dir, "/tmp/s"));
	CHECK(parse_with(&o, err, sizeof(err),
			 (const char *const[]){ "--clones=256", "--snapshot-dir", "/tmp/s", "--outputs", "/tmp", NULL }) == 0);
	CHECK(o.clones == 256 && !strcmp(o.outputs, "/tmp"));
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--clones", "1", "--snapshot-dir", "/tmp/s", NULL }) ==
	      0);
	CHECK(o.clones == 1);
	for (const char *const *b = bad; *b; b++) {
		err[0] = 0;
		CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--clones", *b, "--snapshot-dir", "/tmp/s", NULL }) !=
		      0);
		CHECK(strstr(err, "--clones must be 1..256"));
	}
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--clones", "2", NULL }) != 0);
	CHECK(strstr(err, "--clones needs --snapshot-dir"));
	CHECK(parse_with(&o, err, sizeof(err),
			 (const char *const[]){ "--clones", "2", "--repeat", "2", "--snapshot-dir", "/tmp/s", NULL }) != 0);
	CHECK(strstr(err, "--clones and --repeat do not go together"));
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ "--outputs", "/tmp", NULL }) != 0);
	CHECK(strstr(err, "--outputs goes with --clones"));
	CHECK(parse_with(&o, err, sizeof(err),
			 (const char *const[]){ "--clones", "2", "--snapshot-dir", "/tmp/s", "--outputs", "/proc/self/exe",
						NULL }) != 0);
	CHECK(strstr(err, "must be a writable directory"));
	/* The next parse forgets them. */
	CHECK(parse_with(&o, err, sizeof(err), (const char *const[]){ NULL }) == 0);
	CHECK(o.clones == 0 && !o.outputs);
}
