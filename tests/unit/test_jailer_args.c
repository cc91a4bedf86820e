/* The jailer's command line (jailer/args.c) and its error helper (jailer/jail_err.c), linked
 * without jailer/main.c (issue 11). */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "../../jailer/jailer.h"
#include "test.h"
#include "util.h"

static char msg[512];

/* Parses a NULL-terminated argument list as kindling-jailer would, the message captured. */
static int parse(struct jail *j, const char *const *args)
{
	char *argv[32];
	int argc = 0, r;

	argv[argc++] = "kindling-jailer";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	optind = 0; /* glibc: start over, as for a fresh process */
	jail_error_capture(msg, sizeof(msg));
	r = jail_parse_args(j, argc, argv);
	jail_error_capture(NULL, 0);
	return r;
}

TEST(jailer_args_ok)
{
	static struct jail j;
	const char *const args[] = { "--id", "vm-1", "--exec-file", "/bin/true", "--uid", "123", "--gid", "456",
				     "--cgroup", "cpuset.cpus=0-1", "--resource-limit", "fsize=4096", "--new-pid-ns",
				     "--", "--api-sock", "/run/api.sock", NULL };

	CHECK(parse(&j, args) == 0);
	CHECK(!strcmp(j.id, "vm-1") && !strcmp(j.exec_file, "/bin/true"));
	CHECK(j.uid == 123 && j.gid == 456 && j.new_pid_ns && !j.daemonize);
	CHECK(j.nr_cgroups == 1 && !strcmp(j.cgroups[0].controller, "cpuset") &&
	      !strcmp(j.cgroups[0].file, "cpuset.cpus") && !strcmp(j.cgroups[0].value, "0-1"));
	CHECK(j.has_fsize && j.fsize == 4096 && j.nofile == JAIL_DEFAULT_NOFILE);
	CHECK(j.cgroup_version == 1 && !strcmp(j.base_dir, JAIL_DEFAULT_BASE));
	CHECK(j.vmm_argc == 2 && !strcmp(j.vmm_argv[0], "--api-sock") && !strcmp(j.vmm_argv[1], "/run/api.sock"));
}

TEST(jailer_args_errors)
{
	static struct jail j;
	static const struct {
		const char *args[12];
		const char *msg; /* the start of the message */
	} cases[] = {
		{ { "--exec-file", "/bin/true", "--uid", "1", "--gid", "1" }, "--id is required" },
		{ { "--id", "a/b", "--exec-file", "/bin/true", "--uid", "1", "--gid", "1" }, "invalid --id 'a/b'" },
		{ { "--id", "a", "--id", "b" }, "--id given twice" },
		{ { "--id", "a", "--exec-file", "/bin/true", "--uid", "4294967295", "--gid", "1" },
		  "invalid --uid '4294967295'" },
		{ { "--id", "a", "--exec-file", "/bin/true", "--uid", "-1", "--gid", "1" }, "invalid --uid '-1'" },
		{ { "--id", "a", "--exec-file", "/bin/true", "--uid", "1", "--gid", "x" }, "invalid --gid 'x'" },
		{ { "--id", "a", "--uid", "1", "--gid", "1" }, "--exec-file, --uid and --gid are required" },
		{ { "--id", "a", "--cgroup", "cpus=1" }, "--cgroup 'cpus=1': want" },
		{ { "--id", "a", "--cgroup", "cpuset.cpus=" }, "--cgroup 'cpuset.cpus=': want" },
		{ { "--id", "a", "--cgroup", "../x.y=1" }, "--cgroup '../x.y=1': want" },
		{ { "--id", "a", "--resource-limit", "no-file=0" }, "--resource-limit 'no-file=0'" },
		{ { "--id", "a", "--resource-limit", "core=1" }, "--resource-limit 'core=1'" },
		{ { "--id", "a", "--cgroup-version", "3" }, "--cgroup-version must be 1 or 2, not '3'" },
		{ { "--id", "a", "--parent-cgroup", "a/../b" }, "invalid --parent-cgroup 'a/../b'" },
		{ { "--id", "a", "--parent-cgroup", "/abs" }, "invalid --parent-cgroup '/abs'" },
		{ { "--id", "a", "--cleanup", "--uid", "1" }, "--cleanup takes only" },
		{ { "--id", "a", "--bogus" }, "unknown option '--bogus'" },
		{ { "--id" }, "option --id needs a value" },
		{ { "--id", "a", "stray" }, "unexpected argument 'stray'" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int r = parse(&j, cases[i].args);

		if (r != -EINVAL || strncmp(msg, cases[i].msg, strlen(cases[i].msg)))
			printf("  case %zu: %d, \"%s\"\n", i, r, msg);
		CHECK(r == -EINVAL);
		CHECK(!strncmp(msg, cases[i].msg, strlen(cases[i].msg)));
	}
}

/* --help prints the usage and tells main to exit 0: no exit() below main. */
TEST(jailer_args_help)
{
	static struct jail j;
	const char *const args[] = { "--help", NULL };
	FILE *saved = stderr;
	int r;

	stderr = fopen("/dev/null", "w"); /* the usage text */
	CHECK(stderr);
	r = parse(&j, args);
	fclose(stderr);
	stderr = saved;
	CHECK(r == 1);
}

/* --cleanup needs no --exec-file, --uid or --gid. */
TEST(jailer_args_cleanup)
{
	static struct jail j;
	const char *const args[] = { "--cleanup", "--id", "vm-2", "--cgroup-version", "2", NULL };

	CHECK(parse(&j, args) == 0);
	CHECK(j.cleanup && j.cgroup_version == 2 && !j.exec_file);
}

/* The helper reports the errno it was given, returns it negated, and leaves errno alone
 * for a plain message. */
TEST(jailer_error_errno)
{
	jail_error_capture(msg, sizeof(msg));
	errno = EACCES;
	jail_error("plain %d", 1);
	CHECK(errno == EACCES && !strcmp(msg, "plain 1"));
	CHECK(jail_error_errno(ENOENT, "opening %s", "x") == -ENOENT);
	CHECK(!strcmp(msg, "opening x: No such file or directory"));
	jail_error_capture(NULL, 0);
}
