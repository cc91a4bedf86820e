/* `kindling run`'s command line: its options, checked (runner_opts.h). */
#include "runner_opts.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "runsnap.h" /* RUNSNAP_DIR_MAX */

static void usage(FILE *f)
{
	fprintf(f, "usage: kindling run [--kernel K] --rootfs FS.ext4 [--input FILE|-] [--vcpus N] [--mem-mib N]\n"
		   "                    [--timeout S] [--boot-timeout S] [--snapshot-dir DIR] [--scratch IMG]\n"
		   "                    [--no-prefetch] [--verbose]\n"
		   "                    [--repeat N | --clones N [--outputs DIR]] [--json]\n"
		   "Runs the function packaged in FS.ext4 (guest/mkfunction.sh) once in a fresh microVM,\n"
		   "with FILE (default: stdin) as its input; prints its output and exits with its status.\n"
		   "With --snapshot-dir, the first run snapshots the function once it is ready, into DIR,\n"
		   "and later runs of the same function (kernel, rootfs, vCPUs, memory, timeout) restore\n"
		   "that snapshot instead of booting.\n"
		   "With --scratch IMG (an ext4 image), the function gets a writable copy of IMG at /scratch;\n"
		   "IMG itself is never written. A snapshot keeps the copy as it was, and each run restored\n"
		   "from it writes a copy of that.\n"
		   "The first warm run records the pages its invocation touched (the working set) next to\n"
		   "the snapshot; later warm runs prefetch them while the vCPUs start (--no-prefetch: not).\n"
		   "With --repeat N, runs it N times in a row (each run a fresh microVM; with\n"
		   "--snapshot-dir the first may boot cold and store the snapshot, the rest restore it),\n"
		   "prints the first run's output and, on stderr, each phase's p50, p90, p99, min and max\n"
		   "for cold and warm runs apart. --json prints that summary as JSON on stdout, in place\n"
		   "of the output. A run whose output or status differs from the first's is an error.\n"
		   "With --clones N (1..256; needs --snapshot-dir), starts N instances at once from the\n"
		   "snapshot (stored first by a cold run if missing), each in a network namespace of its\n"
		   "own with fresh entropy and the hostname clone-K, and invokes each with the input; prints\n"
		   "clone 1's output, on stderr each clone's breakdown and memory (the VMM's own RSS, guest\n"
		   "memory's PSS and private dirty size, after every clone answered) and how long the N\n"
		   "took; --json prints those as JSON on stdout instead. A clone whose output or status\n"
		   "differs from clone 1's is an error, as with --repeat. --outputs DIR writes each clone's\n"
		   "output to DIR/clone-K.out too (one it cannot write is an error).\n");
}

/* Neither quotes, backslashes nor control characters. */
static bool plain_path(const char *p)
{
	for (; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* A whole number of lo..hi for the option name into *out, else -EINVAL and a message that
 * gives the range (in unit). */
static int number(const char *name, const char *arg, long lo, long hi, const char *unit, int *out, char *err,
		  size_t errlen)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (!*arg || *end || v < lo || v > hi)
		return errorf(err, errlen, -EINVAL, "%s must be %ld..%ld%s", name, lo, hi, unit);
	*out = (int)v;
	return 0;
}

int runner_parse(int argc, char **argv, struct run_opts *o, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' }, { "rootfs", required_argument, NULL, 'r' },
		{ "input", required_argument, NULL, 'i' },  { "vcpus", required_argument, NULL, 'n' },
		{ "mem-mib", required_argument, NULL, 'm' }, { "timeout", required_argument, NULL, 't' },
		{ "boot-timeout", required_argument, NULL, 'b' }, { "verbose", no_argument, NULL, 'v' },
		{ "snapshot-dir", required_argument, NULL, 's' }, { "repeat", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' }, { "scratch", required_argument, NULL, 'S' },
		{ "no-prefetch", no_argument, NULL, 'P' }, { "clones", required_argument, NULL, 'C' },
		{ "outputs", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },	 { NULL, 0, NULL, 0 },
	};
	static char default_kernel[PATH_MAX];
	ssize_t n;
	int c, r = 0;

	err[0] = 0;
	*o = (struct run_opts){ .vcpus = 1, .mem_mib = 128, .timeout_s = 30, .boot_timeout_s = 300 };
	/* Default kernel: the one `make kernel` builds next to this binary. */
	n = readlink("/proc/self/exe", default_kernel, sizeof(default_kernel) - 20);
	if (n > 0) {
		default_kernel[n] = 0;
		strcpy(strrchr(default_kernel, '/') + 1, "guest/vmlinux");
		o->kernel = default_kernel;
	}
	optind = 0; /* a full restart of getopt's scan, for a second call */
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o->kernel = optarg; break;
		case 'r': o->rootfs = optarg; break;
		case 'i': o->input = optarg; break;
		case 'v': o->verbose = true; break;
		case 'j': o->json = true; break;
		case 'P': o->no_prefetch = true; break;
		case 'C': r = number("--clones", optarg, 1, RUNNER_MAX_CLONES, "", &o->clones, err, errlen); break;
		case 'O':
			/* DIR/clone-K.out must fit a path. */
			if (!*optarg || strlen(optarg) > RUNSNAP_DIR_MAX)
				return errorf(err, errlen, -EINVAL, "--outputs must be a path of 1..%d characters",
					      RUNSNAP_DIR_MAX);
			o->outputs = optarg;
			break;
		case 'R': r = number("--repeat", optarg, 1, RUNNER_MAX_REPEAT, "", &o->repeat, err, errlen); break;
		case 's':
			/* It goes into the VMM's JSON and the snapshot's paths unescaped. */
			if (!*optarg || strlen(optarg) > RUNSNAP_DIR_MAX || !plain_path(optarg))
				return errorf(err, errlen, -EINVAL,
					      "--snapshot-dir must be a path of 1..%d characters without quotes, "
					      "backslashes or control characters",
					      RUNSNAP_DIR_MAX);
			o->snap_dir = optarg;
			break;
		case 'S':
			/* It goes into the VMM's --drive (comma-separated) and the snapshot's key. */
			if (!*optarg || strlen(optarg) > RUNSNAP_DIR_MAX || !plain_path(optarg) || strchr(optarg, ','))
				return errorf(err, errlen, -EINVAL,
					      "--scratch must be a path of 1..%d characters without commas, quotes, "
					      "backslashes or control characters",
					      RUNSNAP_DIR_MAX);
			o->scratch = optarg;
			break;
		case 'n': r = number("--vcpus", optarg, 1, 32, "", &o->vcpus, err, errlen); break;
		case 'm': r = number("--mem-mib", optarg, 32, 65536, "", &o->mem_mib, err, errlen); break;
		case 't': r = number("--timeout", optarg, 1, 3600, " seconds", &o->timeout_s, err, errlen); break;
		case 'b':
			r = number("--boot-timeout", optarg, 1, 3600, " seconds", &o->boot_timeout_s, err, errlen);
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
		if (r)
			return r;
	}
	if (o->clones && !o->snap_dir)
		return errorf(err, errlen, -EINVAL, "--clones needs --snapshot-dir (clones are restored from a snapshot)");
	if (o->clones && o->repeat)
		return errorf(err, errlen, -EINVAL, "--clones and --repeat do not go together");
	if (o->outputs && !o->clones)
		return errorf(err, errlen, -EINVAL, "--outputs goes with --clones");
	if (o->outputs) {
		struct stat st;

		if (stat(o->outputs, &st) < 0 || !S_ISDIR(st.st_mode) || access(o->outputs, W_OK) < 0)
			return errorf(err, errlen, -ENOTDIR, "--outputs %s must be a writable directory", o->outputs);
	}
	if (!o->rootfs)
		return errorf(err, errlen, -EINVAL, "--rootfs is required (see kindling run --help)");
	if (access(o->rootfs, R_OK) < 0)
		return errorf_errno(err, errlen, errno, "rootfs %s", o->rootfs);
	if (o->scratch) {
		struct stat st;

		if (stat(o->scratch, &st) < 0 || access(o->scratch, R_OK) < 0)
			return errorf_errno(err, errlen, errno, "scratch image %s", o->scratch);
		if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size % 512)
			return errorf(err, errlen, -EINVAL,
				      "scratch image %s must be a regular file of a whole number of 512-byte sectors "
				      "(make one with truncate and mkfs.ext4)",
				      o->scratch);
	}
	if (!o->kernel)
		return errorf(err, errlen, -ENOENT, "no kernel (build it with make kernel, or pass --kernel)");
	if (access(o->kernel, R_OK) < 0) {
		int e = errno;

		return errorf(err, errlen, -e, "kernel %s: %s (build it with make kernel, or pass --kernel)", o->kernel,
			      strerror(e));
	}
	return 0;
}
