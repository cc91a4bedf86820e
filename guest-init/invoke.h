/* One run of the function handler: its own session and process group, the request body on a
 * stdin pipe, stdout collected up to a limit, stderr copied to the console line by line, a
 * deadline after which the whole process group is killed. Non-blocking; driven by the
 * server's poll loop. */
#ifndef KINDLING_INIT_INVOKE_H
#define KINDLING_INIT_INVOKE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fnconfig.h"

#define INVOKE_CONSOLE_MAX (64 * 1024) /* output bytes per child (stderr of an invocation) sent to the console */
#define INVOKE_EXIT_GRACE_MS 200       /* after the handler exits, wait this long for EOF */

/* A child's output copied to the console line by line, each line one write of
 * "kindling-init: PREFIX: LINE", at most INVOKE_CONSOLE_MAX bytes in all. */
struct console_lines {
	char prefix[32];
	char line[256];
	size_t len, total;
};

struct invocation {
	bool active;
	unsigned id;
	pid_t pid; /* also the process group; 0 once reaped */
	int in_fd, out_fd, err_fd;
	const char *in;
	size_t in_len, in_off;
	char *out;
	size_t out_len, out_alloc, out_limit;
	bool overflow, timed_out, reaped;
	int wstatus;
	uint64_t start_ns, deadline_ns, grace_ns;
	struct console_lines err;
};

/* Starts argv (argv[0] an absolute path) as a handler runs: in its own session, with in, out
 * and errfd as its fds 0, 1 and 2, the function's environment (plus idvar, "KEY=value", when
 * not NULL), in the directory of argv[0]. Returns 0 and its pid, or -errno with a message in
 * err when it could not be started (exec failures included). */
int invoke_spawn(const struct fnconfig *fc, char *const argv[], const char *idvar, int in, int out, int errfd,
		 pid_t *pid, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Copies n bytes of a child's output to the console; complete lines are written at once. */
void invoke_console_feed(struct console_lines *cl, const char *buf, size_t n);
/* Writes a last line without its newline, if any. */
void invoke_console_flush(struct console_lines *cl);

/* Starts the handler. in must stay valid until invoke_end. Returns 0, or -errno with a
 * message in err when the handler could not be started (exec failures included). */
int invoke_start(struct invocation *inv, const struct fnconfig *fc, unsigned id, const char *in,
		 size_t in_len, size_t out_limit, uint64_t now_ns, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Appends the pipes that need polling to pfd (room for 3); returns how many. */
int invoke_pollfds(const struct invocation *inv, struct pollfd *pfd);
/* Handles readiness of one of the invocation's fds. */
void invoke_io(struct invocation *inv, int fd, short revents, uint64_t now_ns);
/* The handler's process was reaped by the server's waitpid loop. */
void invoke_reaped(struct invocation *inv, int wstatus, uint64_t now_ns);
/* Applies the deadline; returns the next time (ns) it needs a call, or UINT64_MAX. */
uint64_t invoke_tick(struct invocation *inv, uint64_t now_ns);
bool invoke_done(const struct invocation *inv, uint64_t now_ns);
/* Sends sig to the handler's process group, if it still runs. */
void invoke_signal(struct invocation *inv, int sig);
/* Releases the pipes; the caller takes inv->out (and frees it). Kills leftovers. */
void invoke_end(struct invocation *inv);

#endif
