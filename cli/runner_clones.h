/* `kindling run --clones N` (runner_clones.c): N warm instances at once from one snapshot,
 * and what runner.c shares with it: a run's network namespace and its scratch copy. Private
 * to cli/runner*.c. */
#ifndef KINDLING_RUNNER_CLONES_H
#define KINDLING_RUNNER_CLONES_H

#include <stdbool.h>
#include <stddef.h>

#include "runner_opts.h"
#include "runner_snap.h"

/* Moves the calling process into a private network namespace holding one persistent tap
 * (TAP_NAME) with the host side's address and a permanent neighbour entry for the guest. */
int runner_setup_network(char *err, size_t errlen) __attribute__((warn_unused_result));

/* A run's own copy of the scratch disk, in a private directory. */
struct scratch_copy {
	char dir[32]; /* "": none */
	char path[48];
};

/* Makes c a copy of src (the scratch image, or a snapshot's disk): 0, or -errno with a
 * message. */
int runner_scratch_make(struct scratch_copy *c, const char *src, bool verbose) __attribute__((warn_unused_result));
void runner_scratch_remove(struct scratch_copy *c);

/* Starts o->clones instances of snap's entry (snap->usable) at once, each in a process and
 * network namespace of its own, invokes each with input, measures their memory once all
 * answered, stops them, and reports (README, "Clones"). Returns the exit status: clone 1's,
 * RUNNER_FAILED when a clone failed or answered otherwise, 128 + a signal. */
int runner_clones(const struct run_opts *o, struct runner_snap *snap, const char *input, size_t input_len);

#endif
