/* `kindling run`'s options (runner_opts.c): what the command line says, checked. Private to
 * cli/runner*.c and the unit tests. */
#ifndef KINDLING_RUNNER_OPTS_H
#define KINDLING_RUNNER_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#define RUNNER_MAX_REPEAT 10000
#define RUNNER_MAX_CLONES 256

struct run_opts {
	const char *kernel;
	const char *rootfs;
	const char *input;
	int vcpus;
	int mem_mib;
	int timeout_s;      /* the invocation */
	int boot_timeout_s; /* until the guest is ready */
	const char *snap_dir;
	const char *scratch; /* --scratch IMG: each run writes a copy of it, as /dev/vdb */
	bool no_prefetch;    /* --no-prefetch: warm runs do not prefetch the recorded working set */
	bool verbose;
	int repeat; /* --repeat N; 0: not given (one run, no summary) */
	bool json;  /* the summary as JSON on stdout, in place of the function's output */
	int clones; /* --clones N: N warm instances at once from the snapshot; 0: not given */
	const char *outputs; /* --outputs DIR: clone K's output also as DIR/clone-K.out */
};

/* Parses argv (argv[0] is "run") into o: 0, or -errno with the reason in err ("" after
 * printing the usage). The kernel and the rootfs must be readable. --help prints the usage
 * and exits. */
int runner_parse(int argc, char **argv, struct run_opts *o, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
