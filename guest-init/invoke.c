/* Handler processes: spawn, feed, collect, time out, kill. The handler runs in its own
 * session so that one kill(-pgid) reaches everything it started, and a timeout or an
 * over-long output leaves nothing running into the next invocation. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "invoke.h"
#include "util.h"

#define OUT_INITIAL (64 * 1024)

static const char *const default_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/tmp",
	"TMPDIR=/tmp",
	"LANG=C.UTF-8",
};
#define NDEFAULT_ENV (ARRAY_SIZE(default_env))

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static bool env_has(char *const *env, int n, const char *kv)
{
	size_t kl = strcspn(kv, "=");

	for (int i = 0; i < n; i++)
		if (!strncmp(env[i], kv, kl) && env[i][kl] == '=')
			return true;
	return false;
}

/* The handler's environment: the function's own entries win over our defaults; nothing of
 * init's environment (whatever the kernel passed) leaks in. */
static void build_env(const struct fnconfig *fc, const char *idvar, char **envp)
{
	int n = 0;

	for (int i = 0; i < fc->nenv; i++)
		envp[n++] = fc->env[i];
	for (size_t i = 0; i < NDEFAULT_ENV; i++)
		if (!env_has(fc->env, fc->nenv, default_env[i]))
			envp[n++] = (char *)default_env[i];
	if (idvar && !env_has(fc->env, fc->nenv, idvar))
		envp[n++] = (char *)idvar;
	envp[n] = NULL;
}

/* The handler is started with posix_spawn, which glibc does with clone(CLONE_VM |
 * CLONE_VFORK): init's page tables are not copied and write-protected as fork() would, only
 * to be thrown away by the exec. In a guest on shadow page tables (nested KVM) each of those
 * page-table writes is a trap; the fork cost a clone's first invocation a visible share of
 * its time. The child: its own session, the pipes as 0/1/2, no blocked signal, SIGPIPE
 * back to its default (an ignored disposition would survive execve), the program's own
 * directory as its working directory (or /, as before, if that cannot be opened). */
int invoke_spawn(const struct fnconfig *fc, char *const argv[], const char *idvar, int in, int out, int errfd,
		 pid_t *pid, char *err, size_t errlen)
{
	char *envp[FN_MAX_ENV + NDEFAULT_ENV + 2], dir[FN_MAX_STR], *slash;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	int dfd, r;

	build_env(fc, idvar, envp);
	/* The program runs in its own directory, so relative paths to bundled files work. */
	snprintf(dir, sizeof(dir), "%s", argv[0]);
	slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	*pid = 0;
	if ((r = posix_spawn_file_actions_init(&fa)))
		goto fail;
	if ((r = posix_spawnattr_init(&at))) {
		posix_spawn_file_actions_destroy(&fa);
		goto fail;
	}
	if (!(r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) &&
	    !(r = posix_spawnattr_setsigmask(&at, &none)) && !(r = posix_spawnattr_setsigdefault(&at, &def)) &&
	    !(r = posix_spawn_file_actions_adddup2(&fa, in, 0)) && !(r = posix_spawn_file_actions_adddup2(&fa, out, 1)) &&
	    !(r = posix_spawn_file_actions_adddup2(&fa, errfd, 2)) &&
	    (dfd < 0 || !(r = posix_spawn_file_actions_addfchdir_np(&fa, dfd))))
		r = posix_spawn(pid, argv[0], &fa, &at, argv, envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (!r)
		goto out;
	*pid = 0;
fail:
	snprintf(err, errlen, "cannot execute %s: %s", argv[0], strerror(r));
out:
	close_fd(&dfd);
	return -r;
}

int invoke_start(struct invocation *inv, const struct fnconfig *fc, unsigned id, const char *in,
		 size_t in_len, size_t out_limit, uint64_t now_ns, char *err, size_t errlen)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	char idvar[48];
	int r;

	memset(inv, 0, sizeof(*inv));
	inv->in_fd = inv->out_fd = inv->err_fd = -1;
	snprintf(idvar, sizeof(idvar), "KINDLING_INVOCATION_ID=%u", id);
	snprintf(inv->err.prefix, sizeof(inv->err.prefix), "handler[%u]", id);

	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
		r = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-r));
		goto out;
	}
	inv->out = malloc(OUT_INITIAL);
	if (!inv->out) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	inv->out_alloc = OUT_INITIAL;
	r = invoke_spawn(fc, fc->argv, idvar, pin[0], pout[1], perr[1], &inv->pid, err, errlen);
	if (r)
		goto out;
	inv->in_fd = pin[1], pin[1] = -1;
	inv->out_fd = pout[0], pout[0] = -1;
	inv->err_fd = perr[0], perr[0] = -1;
	fcntl(inv->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(inv->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(inv->err_fd, F_SETFL, O_NONBLOCK);
	inv->active = true;
	inv->id = id;
	inv->in = in;
	inv->in_len = in_len;
	inv->out_limit = out_limit;
	inv->start_ns = now_ns;
	inv->deadline_ns = now_ns + (uint64_t)fc->timeout_s * 1000000000ull;
	inv->grace_ns = UINT64_MAX;
	if (!in_len)
		close_fd(&inv->in_fd);
out:
	close_fd(&pin[0]), close_fd(&pin[1]), close_fd(&pout[0]), close_fd(&pout[1]);
	close_fd(&perr[0]), close_fd(&perr[1]);
	if (r) {
		free(inv->out);
		inv->out = NULL;
	}
	return r;
}

int invoke_pollfds(const struct invocation *inv, struct pollfd *pfd)
{
	int n = 0;

	if (inv->in_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = inv->in_fd, .events = POLLOUT };
	if (inv->out_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = inv->out_fd, .events = POLLIN };
	if (inv->err_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = inv->err_fd, .events = POLLIN };
	return n;
}

void invoke_signal(struct invocation *inv, int sig)
{
	if (inv->active && inv->pid > 0)
		kill(-inv->pid, sig);
}

/* Only while the leader is unreaped (a zombie still holds its pid = pgid), so the group id
 * cannot have been reused by an unrelated process. */
static void kill_group(struct invocation *inv)
{
	if (inv->pid > 0)
		kill(-inv->pid, SIGKILL);
}

static void feed_stdin(struct invocation *inv)
{
	ssize_t n = write(inv->in_fd, inv->in + inv->in_off, inv->in_len - inv->in_off);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			close_fd(&inv->in_fd); /* EPIPE: the handler does not want (all of) it */
		return;
	}
	inv->in_off += (size_t)n;
	if (inv->in_off == inv->in_len)
		close_fd(&inv->in_fd);
}

static void read_stdout(struct invocation *inv)
{
	size_t want;
	ssize_t n;

	if (inv->out_len == inv->out_alloc) {
		size_t na = inv->out_alloc * 2;
		char *p;

		if (na > inv->out_limit + 1)
			na = inv->out_limit + 1; /* one byte past the limit detects overflow */
		p = realloc(inv->out, na);
		if (!p) {
			inv->overflow = true;
			kill_group(inv);
			close_fd(&inv->out_fd);
			return;
		}
		inv->out = p;
		inv->out_alloc = na;
	}
	want = inv->out_alloc - inv->out_len;
	n = read(inv->out_fd, inv->out + inv->out_len, want);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			close_fd(&inv->out_fd);
		return;
	}
	if (n == 0) {
		close_fd(&inv->out_fd);
		return;
	}
	inv->out_len += (size_t)n;
	if (inv->out_len > inv->out_limit) {
		inv->overflow = true;
		kill_group(inv);
		close_fd(&inv->out_fd);
	}
}

static void console_line(struct console_lines *cl)
{
	char line[sizeof(cl->prefix) + sizeof(cl->line) + 32];
	int n;

	n = snprintf(line, sizeof(line), "kindling-init: %s: %.*s\n", cl->prefix, (int)cl->len, cl->line);
	if (n > 0 && write(2, line, (size_t)n) < 0) {
		/* The console is best effort; the child's result does not depend on it. */
	}
	cl->len = 0;
}

/* Capped: a serial console writes ~10 KiB/s, and an unbounded stream would stall init. */
void invoke_console_feed(struct console_lines *cl, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++, cl->total++) {
		if (cl->total == INVOKE_CONSOLE_MAX) {
			invoke_console_flush(cl);
			snprintf(cl->line, sizeof(cl->line), "(further output not shown: over %d bytes)",
				 INVOKE_CONSOLE_MAX);
			cl->len = strlen(cl->line);
			console_line(cl);
		}
		if (cl->total >= INVOKE_CONSOLE_MAX)
			continue;
		if (buf[i] == '\n') {
			console_line(cl);
			continue;
		}
		cl->line[cl->len++] = buf[i];
		if (cl->len == sizeof(cl->line))
			console_line(cl);
	}
}

void invoke_console_flush(struct console_lines *cl)
{
	if (cl->len)
		console_line(cl);
}

/* Line-buffers the handler's stderr onto the console. */
static void read_stderr(struct invocation *inv)
{
	char buf[4096];
	ssize_t n = read(inv->err_fd, buf, sizeof(buf));

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			close_fd(&inv->err_fd);
		return;
	}
	if (n == 0) {
		invoke_console_flush(&inv->err);
		close_fd(&inv->err_fd);
		return;
	}
	invoke_console_feed(&inv->err, buf, (size_t)n);
}

void invoke_io(struct invocation *inv, int fd, short revents, uint64_t now_ns)
{
	(void)now_ns;
	if (!revents)
		return;
	if (fd == inv->in_fd)
		feed_stdin(inv);
	else if (fd == inv->out_fd)
		read_stdout(inv);
	else if (fd == inv->err_fd)
		read_stderr(inv);
}

void invoke_reaped(struct invocation *inv, int wstatus, uint64_t now_ns)
{
	inv->wstatus = wstatus;
	inv->reaped = true;
	/* Background children die with the handler: an invocation owns nothing afterwards.
	 * Right after waitpid the pgid is still held by any member left, so this is safe. */
	kill(-inv->pid, SIGKILL);
	inv->pid = 0;
	close_fd(&inv->in_fd);
	inv->grace_ns = now_ns + INVOKE_EXIT_GRACE_MS * 1000000ull;
}

uint64_t invoke_tick(struct invocation *inv, uint64_t now_ns)
{
	if (!inv->active)
		return UINT64_MAX;
	if (!inv->reaped && !inv->timed_out && now_ns >= inv->deadline_ns) {
		inv->timed_out = true;
		kill_group(inv);
	}
	if (inv->reaped)
		return inv->grace_ns;
	return inv->timed_out ? UINT64_MAX : inv->deadline_ns;
}

bool invoke_done(const struct invocation *inv, uint64_t now_ns)
{
	if (!inv->active || !inv->reaped)
		return false;
	/* A process that escaped the group (setsid) may hold the pipes open: stop waiting. */
	return (inv->out_fd < 0 && inv->err_fd < 0) || now_ns >= inv->grace_ns;
}

void invoke_end(struct invocation *inv)
{
	invoke_console_flush(&inv->err);
	kill_group(inv);
	close_fd(&inv->in_fd);
	close_fd(&inv->out_fd);
	close_fd(&inv->err_fd);
	inv->active = false;
}
