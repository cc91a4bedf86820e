/* `kindling run`: the VMM child (runner_child.c). Starting it (booting the function, or
 * restoring its snapshot), reading what it writes (the guest console, its log and timing
 * lines), waiting for the guest to be ready, and stopping it; the signals the runner takes
 * and passes on to it; requests to kindling-init. Private to cli/runner*.c. */
#ifndef KINDLING_RUNNER_CHILD_H
#define KINDLING_RUNNER_CHILD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "runner_opts.h"

/* The network each runner makes in its own namespace (runner.c) and the guest is given. */
#define TAP_NAME "kt0"
/* The tap's MAC, the same in every runner's namespace: a guest restored from a snapshot
 * taken in another one finds its gateway where its neighbour table says. */
#define TAP_MAC { 0x02, 0x4b, 0x4e, 0x00, 0x00, 0x01 }
/* The guest's MAC, fixed too, so that the host's neighbour entry for the guest is made
 * permanent at once (no ARP round trip through a just-restored guest). */
#define GUEST_MAC { 0x02, 0x4b, 0x4e, 0x00, 0x00, 0x02 }
#define GUEST_MAC_TEXT "02:4b:4e:00:00:02"
#define HOST_IP "172.31.255.1"
#define GUEST_IP "172.31.255.2"
#define NETMASK "255.255.255.252"
#define GUEST_PORT 8080
#define RUN_MAX_OUTPUT ((6u << 20) + 65536)
#define CONSOLE_TAIL 8192

/* How the VMM starts: boots the function (with an API socket when api_sock) or restores
 * the snapshot in state and mem. */
struct launch {
	const char *api_sock;
	const char *state, *mem;
	const char *scratch; /* this run's copy of the scratch disk, NULL: none */
	const char *prefetch; /* a restore: the working set to prefetch, NULL: none */
};

struct child_io {
	pid_t pid;
	int out_fd; /* guest console */
	int err_fd; /* VMM log */
	char console[CONSOLE_TAIL];
	size_t console_len;
	char log[4096];
	size_t log_len;
	double vmm_setup_ms, boot_to_init_ms, restore_ms;
	bool ready, exited;
	int status;
};

/* The signal that asked the runner to stop (SIGINT, SIGTERM, SIGHUP), 0 until one came.
 * Written by the signal handler only. */
extern volatile sig_atomic_t runner_interrupted;

/* Catches the signals above, and SIGUSR1 to pass on to the VMM (it prints its vCPU and
 * virtqueue state; runner_child_drain shows it); ignores SIGPIPE. */
void runner_child_catch_signals(void);

/* The guest kernel's command line for o. */
void runner_kernel_cmdline(const struct run_opts *o, char *buf, size_t len);

/* Starts the VMM as l says; c gets its pid and the ends of its stdout and stderr. */
int runner_child_spawn(const struct run_opts *o, const struct launch *l, struct child_io *c, char *err,
		       size_t errlen) __attribute__((warn_unused_result));

/* Reads whatever the VMM wrote; notes its timing lines (and copies it all to stderr when
 * verbose). */
void runner_child_drain(struct child_io *c, bool verbose);

/* Waits up to timeout_ms for the VMM to say the guest is ready: 0, -ECHILD when it exited
 * first, -ETIMEDOUT, -EINTR at a signal. */
int runner_child_wait_ready(struct child_io *c, int timeout_ms, bool verbose) __attribute__((warn_unused_result));

/* Asks the guest to power off (when it was ready) and waits for the VMM to exit, up to 5 s,
 * then kills it. */
void runner_child_stop(struct child_io *c, bool verbose);

/* Ends a VMM that is of no further use, and forgets it. */
void runner_child_kill(struct child_io *c);

/* The guest did not get ready (r from runner_child_wait_ready): says why, with the ends of
 * the guest's console and the VMM's log. */
void runner_child_report_not_ready(struct child_io *c, int r, int boot_timeout_s);

/* The last line the VMM logged, for a one-line message. */
const char *runner_child_last_log_line(struct child_io *c, char *buf, size_t len);

#endif
