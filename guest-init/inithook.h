/* The function's init hook (function.json "init"): run once, to completion, after set-up and
 * before init listens and signals readiness, so that the work it does once (files in /tmp or
 * /scratch, a warmed cache) is in the snapshot taken at readiness, as AWS Lambda's INIT
 * phase is with SnapStart. It starts as a handler does (invoke_spawn: session, environment,
 * directory), with stdin /dev/null and its stdout and stderr on the console as
 * "kindling-init: init: LINE", under the function's timeout. */
#ifndef KINDLING_INIT_INITHOOK_H
#define KINDLING_INIT_INITHOOK_H

#include "fnconfig.h"

/* Runs fc->init_argv (fc->ninit > 0) and waits for it and the rest of its process group,
 * which is killed once it exits or at the timeout. Needs SIGCHLD, SIGTERM and SIGINT
 * blocked (gserver_block_signals): it reaps through a signalfd, and passes SIGTERM/SIGINT on
 * to the hook's process group. Returns 0 when it exited with status 0, with its run time in
 * *ms; otherwise -ETIMEDOUT (over the timeout), -ECHILD (non-zero status or a signal) or
 * -errno (it could not be started), with the reason in err. */
int inithook_run(const struct fnconfig *fc, unsigned *ms, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
