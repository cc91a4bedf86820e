/* `kindling run`: runs one function invocation in a fresh microVM and reports where the
 * cold start went. */
#ifndef KINDLING_RUNNER_H
#define KINDLING_RUNNER_H

/* Returns the handler's exit status, or RUNNER_FAILED (with a message) if the runner could
 * not get an answer from the function. */
#define RUNNER_FAILED 125
int runner_main(int argc, char **argv);

/* Why the microVM stopped before the function was ready, told from the tails of the VMM's
 * log and the guest console (NUL-terminated): one line for the user. */
const char *runner_stop_reason(const char *vmm_log, const char *console);

#endif
