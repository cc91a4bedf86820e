/* The init hook: one blocking run before the server exists, so a plain poll loop over its
 * output pipe and a signalfd, with the function's timeout as the deadline. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inithook.h"
#include "invoke.h"

#define MS 1000000ull

struct hookrun {
	const char *path;
	pid_t pid; /* also the process group; 0 once reaped */
	int out_fd, sfd;
	int wstatus;
	int resignal; /* SIGTERM/SIGINT that came when the hook was gone: for the server */
	bool reaped, timed_out;
	uint64_t deadline_ns, grace_ns;
	struct console_lines out;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void read_output(struct hookrun *h)
{
	char buf[4096];
	ssize_t n = read(h->out_fd, buf, sizeof(buf));

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			close_fd(&h->out_fd);
		return;
	}
	if (n == 0) {
		invoke_console_flush(&h->out);
		close_fd(&h->out_fd);
		return;
	}
	invoke_console_feed(&h->out, buf, (size_t)n);
}

static void on_signals(struct hookrun *h, uint64_t now)
{
	struct signalfd_siginfo si;

	while (read(h->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			int st;
			pid_t p;

			/* As PID 1 we reap every orphan, not only the hook. */
			while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
				if (p != h->pid)
					continue;
				h->wstatus = st;
				h->reaped = true;
				/* Its background children die with it, as a handler's do; right after
				 * waitpid the pgid is still held by any member left. */
				kill(-h->pid, SIGKILL);
				h->pid = 0;
				h->grace_ns = now + INVOKE_EXIT_GRACE_MS * MS;
			}
		} else if (h->pid > 0) {
			dprintf(2, "kindling-init: forwarding signal %u to the init hook\n", si.ssi_signo);
			kill(-h->pid, (int)si.ssi_signo);
		} else {
			h->resignal = (int)si.ssi_signo;
		}
	}
}

/* Until the hook is reaped and its output closed, or the grace after its exit is over: a
 * process that left the group (setsid) may hold the pipe open. */
static int wait_hook(struct hookrun *h)
{
	while (!h->reaped || (h->out_fd >= 0 && mono_ns() < h->grace_ns)) {
		struct pollfd pfd[2] = { { .fd = h->sfd, .events = POLLIN }, { .fd = h->out_fd, .events = POLLIN } };
		uint64_t now = mono_ns(), next;
		int timeout = -1;

		if (!h->reaped && !h->timed_out && now >= h->deadline_ns) {
			h->timed_out = true;
			kill(-h->pid, SIGKILL);
		}
		next = h->reaped ? h->grace_ns : h->timed_out ? UINT64_MAX : h->deadline_ns;
		if (next != UINT64_MAX)
			timeout = next <= now ? 0 : (int)((next - now + MS - 1) / MS);
		if (poll(pfd, h->out_fd >= 0 ? 2 : 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[1].revents && h->out_fd >= 0)
			read_output(h);
		if (pfd[0].revents)
			on_signals(h, mono_ns());
	}
	return 0;
}

int inithook_run(const struct fnconfig *fc, unsigned *ms, char *err, size_t errlen)
{
	struct hookrun h = { .path = fc->init_argv[0], .out_fd = -1, .sfd = -1, .out.prefix = "init" };
	int pout[2] = { -1, -1 }, null, st, r;
	char why[FN_MAX_STR + 64];
	uint64_t start;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	h.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (null < 0 || h.sfd < 0 || pipe2(pout, O_CLOEXEC)) {
		r = -errno;
		snprintf(err, errlen, "init hook: /dev/null, signalfd or pipe: %s", strerror(-r));
		goto out;
	}
	start = mono_ns();
	h.deadline_ns = start + (uint64_t)fc->timeout_s * 1000000000ull;
	h.grace_ns = UINT64_MAX;
	r = invoke_spawn(fc, fc->init_argv, NULL, null, pout[1], pout[1], &h.pid, why, sizeof(why));
	if (r) {
		snprintf(err, errlen, "init hook: %s", why);
		goto out;
	}
	close_fd(&pout[1]);
	h.out_fd = pout[0], pout[0] = -1;
	fcntl(h.out_fd, F_SETFL, O_NONBLOCK);
	r = wait_hook(&h);
	invoke_console_flush(&h.out);
	if (r) {
		/* poll itself failed: nothing is left to wait with, so nothing may be left running. */
		if (h.pid > 0)
			kill(-h.pid, SIGKILL);
		snprintf(err, errlen, "init hook %s: poll: %s", h.path, strerror(-r));
		goto out;
	}
	st = h.wstatus;
	*ms = (unsigned)((mono_ns() - start) / MS);
	if (h.timed_out) {
		r = -ETIMEDOUT;
		snprintf(err, errlen, "init hook %s did not finish within %u s (timeout_s); killed with its process group",
			 h.path, fc->timeout_s);
	} else if (WIFSIGNALED(st)) {
		r = -ECHILD;
		snprintf(err, errlen, "init hook %s was killed by signal %d (%s)", h.path, WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	} else if (WEXITSTATUS(st)) {
		r = -ECHILD;
		snprintf(err, errlen, "init hook %s exited with status %d", h.path, WEXITSTATUS(st));
	}
out:
	close_fd(&pout[0]);
	close_fd(&pout[1]);
	close_fd(&h.out_fd);
	close_fd(&h.sfd);
	if (null >= 0)
		close(null);
	/* Pending again (it is blocked), for the server's signalfd to find. */
	if (h.resignal)
		kill(getpid(), h.resignal);
	return r;
}
