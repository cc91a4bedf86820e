/* `kindling run`: the VMM child, its signals, and requests to the guest (see
 * runner_child.h). */
#include "runner_child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpc.h"
#include "log.h"
#include "runner.h"
#include "runner_snap.h"

volatile sig_atomic_t runner_interrupted;
static volatile pid_t vmm_pid; /* for on_diag_signal */
static volatile sig_atomic_t diag_forwarded; /* a user's SIGUSR1: drain shows the answer */

static void on_signal(int sig)
{
	runner_interrupted = sig;
}

/* SIGUSR1: the VMM prints its vCPU and virtqueue state (drain passes it on to stderr). */
static void on_diag_signal(int sig)
{
	if (vmm_pid > 0) {
		diag_forwarded = 1;
		kill(vmm_pid, sig);
	}
}

void runner_child_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_diag_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static double ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

void runner_kernel_cmdline(const struct run_opts *o, char *buf, size_t len)
{
	snprintf(buf, len,
		 "console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd quiet "
		 "tsc=reliable no_timer_check ip=" GUEST_IP "::" HOST_IP ":" NETMASK ":function:eth0:off "
		 "kindling.port=%d kindling.timeout=%d%s",
		 GUEST_PORT, o->timeout_s, o->scratch ? " kindling.scratch=/dev/vdb" : "");
}

int runner_child_spawn(const struct run_opts *o, const struct launch *l, struct child_io *c, char *err,
		       size_t errlen)
{
	char exe[PATH_MAX], drive[PATH_MAX + 32], scratch[PATH_MAX + 32], cmdline[512], vcpus[16], mem[16];
	char *argv[24];
	int out[2], errp[2], a = 0, r;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return errorf_errno(err, errlen, errno, "cannot find the kindling binary");
	exe[n] = 0;
	argv[a++] = "kindling";
	if (l->state) {
		/* The snapshot is the whole VM: its config names the rootfs and the tap. */
		argv[a++] = "--restore";
		argv[a++] = (char *)l->state;
		argv[a++] = "--mem";
		argv[a++] = (char *)l->mem;
		argv[a++] = "--resume";
		/* Warm starts and clones are about sharing: the guest's free memory in 4 KiB
		 * pages, each written one its own, not 2 MiB under the host's THP "always". */
		argv[a++] = "--restore-small-pages";
		if (l->scratch) {
			/* The snapshot's scratch disk, at this run's own copy of it. */
			snprintf(scratch, sizeof(scratch), "scratch=%s", l->scratch);
			argv[a++] = "--restore-drive";
			argv[a++] = scratch;
		}
		if (l->prefetch) {
			argv[a++] = "--prefetch";
			argv[a++] = (char *)l->prefetch;
		}
	} else {
		snprintf(drive, sizeof(drive), "path=%s,ro,root,id=rootfs", o->rootfs);
		runner_kernel_cmdline(o, cmdline, sizeof(cmdline));
		snprintf(vcpus, sizeof(vcpus), "%d", o->vcpus);
		snprintf(mem, sizeof(mem), "%d", o->mem_mib);
		argv[a++] = "--kernel";
		argv[a++] = (char *)o->kernel;
		argv[a++] = "--drive";
		argv[a++] = drive;
		if (l->scratch) {
			/* The second drive: /dev/vdb (kindling.scratch= above). */
			snprintf(scratch, sizeof(scratch), "path=%s,id=scratch", l->scratch);
			argv[a++] = "--drive";
			argv[a++] = scratch;
		}
		argv[a++] = "--net";
		argv[a++] = "tap=" TAP_NAME ",mac=" GUEST_MAC_TEXT ",id=eth0";
		argv[a++] = "--cmdline";
		argv[a++] = cmdline;
		argv[a++] = "--vcpus";
		argv[a++] = vcpus;
		argv[a++] = "--mem-mib";
		argv[a++] = mem;
		argv[a++] = "--boot-timer";
	}
	if (l->api_sock) {
		argv[a++] = "--api-sock";
		argv[a++] = (char *)l->api_sock;
	}
	argv[a] = NULL;
	if (pipe2(out, O_CLOEXEC) < 0)
		return errorf_errno(err, errlen, errno, "pipe");
	if (pipe2(errp, O_CLOEXEC) < 0) {
		int e = errno; /* before close() can change it */

		close(out[0]);
		close(out[1]);
		return errorf_errno(err, errlen, e, "pipe");
	}
	/* posix_spawn (vfork-like: no copy of the runner's page tables, which exec would only
	 * throw away), stdin /dev/null, stdout and stderr the pipes, no signal blocked. An exec
	 * that fails is reported here. */
	r = posix_spawn_file_actions_init(&fa);
	if (!r) {
		r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
		if (!r)
			r = posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
		if (!r)
			r = posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
		if (!r)
			r = posix_spawnattr_init(&at);
		if (!r) {
			sigemptyset(&none);
			r = posix_spawnattr_setsigmask(&at, &none);
			if (!r)
				r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
			if (!r)
				r = posix_spawn(&c->pid, exe, &fa, &at, argv, environ);
			posix_spawnattr_destroy(&at);
		}
		posix_spawn_file_actions_destroy(&fa);
	}
	close(out[1]);
	close(errp[1]);
	if (r) {
		close(out[0]);
		close(errp[0]);
		c->pid = -1;
		return errorf(err, errlen, -r, "cannot start %s: %s", exe, strerror(r));
	}
	vmm_pid = c->pid;
	c->out_fd = out[0];
	c->err_fd = errp[0];
	return 0;
}

static void keep_tail(char *buf, size_t cap, size_t *len, const char *data, size_t n)
{
	if (n >= cap) {
		memcpy(buf, data + n - cap, cap);
		*len = cap;
		return;
	}
	if (*len + n > cap) {
		size_t drop = *len + n - cap;

		memmove(buf, buf + drop, *len - drop);
		*len -= drop;
	}
	memcpy(buf + *len, data, n);
	*len += n;
}

void runner_child_drain(struct child_io *c, bool verbose)
{
	struct pollfd p[2] = { { c->out_fd, POLLIN, 0 }, { c->err_fd, POLLIN, 0 } };
	char buf[4096];

	while (poll(p, 2, 0) > 0) {
		bool any = false;

		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf) - 1);
			if (n <= 0) {
				p[i].fd = -1;
				continue;
			}
			any = true;
			buf[n] = 0;
			if (verbose && write(STDERR_FILENO, buf, (size_t)n) < 0)
				verbose = false;
			if (i == 0) {
				keep_tail(c->console, sizeof(c->console) - 1, &c->console_len, buf, (size_t)n);
				c->console[c->console_len] = 0;
				/* init also says so on the console, for kernels without ioperm. */
				if (strstr(c->console, "kindling-init: ready"))
					c->ready = true;
			} else {
				char *s;

				/* The diagnostics a user asked for with SIGUSR1 are shown even when quiet
				 * (the runner's own request at --boot-timeout shows them in the VMM log). */
				if (!verbose && diag_forwarded && strstr(buf, "kindling: diag:") &&
				    write(STDERR_FILENO, buf, (size_t)n) < 0)
					verbose = false;

				keep_tail(c->log, sizeof(c->log) - 1, &c->log_len, buf, (size_t)n);
				c->log[c->log_len] = 0;
				if ((s = strstr(c->log, "vmm_setup_ms ")))
					c->vmm_setup_ms = atof(s + 13);
				if ((s = strstr(c->log, "boot_to_init_ms "))) {
					c->boot_to_init_ms = atof(s + 16);
					c->ready = true;
				}
				/* A restored guest is ready already: once every vCPU runs. */
				if ((s = strstr(c->log, "restore_ms "))) {
					c->restore_ms = atof(s + 11);
					c->ready = true;
				}
			}
		}
		if (!any)
			break;
	}
}

int runner_child_wait_ready(struct child_io *c, int timeout_ms, bool verbose)
{
	uint64_t t0 = now_ns();

	while (!c->ready && !runner_interrupted) {
		struct pollfd p[2] = { { c->out_fd, POLLIN, 0 }, { c->err_fd, POLLIN, 0 } };

		if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
			c->exited = true;
			vmm_pid = 0;
			runner_child_drain(c, verbose);
			return c->ready ? 0 : -ECHILD;
		}
		if (ms_since(t0) > timeout_ms)
			return -ETIMEDOUT;
		if (poll(p, 2, 50) > 0)
			runner_child_drain(c, verbose);
	}
	return runner_interrupted ? -EINTR : 0;
}

/* One request to kindling-init, on a connection of its own (runner_snap.h). */
int runner_guest_post(const char *path, const char *body, size_t len, int timeout_s, struct httpc_response *resp)
{
	int fd = httpc_dial_tcp(GUEST_IP, GUEST_PORT, timeout_s);

	if (fd < 0) {
		memset(resp, 0, sizeof(*resp));
		return fd;
	}
	return httpc_request(fd, "POST", path, body, len, RUN_MAX_OUTPUT, &runner_interrupted, resp);
}

void runner_child_stop(struct child_io *c, bool verbose)
{
	uint64_t t0 = now_ns();

	if (c->exited)
		return;
	/* The answer is in: nothing in the VM is worth a guest shutdown (the rootfs is read-only,
	 * the scratch disk a copy that goes with the run), so the VMM is told to stop at once
	 * (SIGTERM: it stops its vCPUs and exits). */
	kill(c->pid, SIGTERM);
	while (ms_since(t0) < 5000) {
		if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
			c->exited = true;
			vmm_pid = 0;
			runner_child_drain(c, verbose);
			return;
		}
		runner_child_drain(c, verbose);
		usleep(2000);
	}
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &c->status, 0);
	c->exited = true;
	vmm_pid = 0;
}

const char *runner_stop_reason(const char *vmm_log, const char *console)
{
	/* The host's KVM gave up on an instruction (seen on nested hosts without the features
	 * Linux needs at boot): nothing the function or its rootfs can cause or fix. */
	if (strstr(vmm_log, "KVM internal error"))
		return "this host's KVM failed to emulate the guest while it booted (KVM internal error): "
		       "the rootfs is not at fault; `kindling check` tells whether this host can run Linux "
		       "guests, and the KVM lab (tests/lab/run) can where it cannot";
	if (strstr(console, "Kernel panic"))
		return "the microVM stopped before the function was ready: the guest kernel panicked (a bad rootfs or kernel?)";
	return "the microVM stopped before the function was ready (a kernel panic or a bad rootfs?)";
}

void runner_child_report_not_ready(struct child_io *c, int r, int boot_timeout_s)
{
	if (r == -EINTR)
		log_error("run: interrupted while the guest booted");
	else if (r == -ETIMEDOUT) {
		/* What the vCPUs are doing goes into the VMM log shown below. */
		kill(c->pid, SIGUSR1);
		for (int i = 0; i < 100 && !strstr(c->log, "kindling: diag:"); i++) {
			usleep(20000);
			runner_child_drain(c, false);
		}
		log_error("run: the guest was not ready within %d s", boot_timeout_s);
	}
	c->console[c->console_len] = 0;
	c->log[c->log_len] = 0;
	if (r != -EINTR && r != -ETIMEDOUT)
		log_error("run: %s", runner_stop_reason(c->log, c->console));
	fprintf(stderr, "--- guest console (last lines)\n%s\n--- VMM log\n%s\n", c->console, c->log);
}

void runner_child_kill(struct child_io *c)
{
	if (!c->exited) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &c->status, 0);
	}
	close(c->out_fd);
	close(c->err_fd);
	vmm_pid = 0;
	*c = (struct child_io){ .pid = -1, .out_fd = -1, .err_fd = -1 };
}

const char *runner_child_last_log_line(struct child_io *c, char *buf, size_t len)
{
	char *end;

	c->log[c->log_len] = 0;
	end = c->log + strlen(c->log);
	while (end > c->log && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	*end = 0;
	snprintf(buf, len, "%.*s", (int)len - 1, strrchr(c->log, '\n') ? strrchr(c->log, '\n') + 1 : c->log);
	return buf[0] ? buf : "the VMM stopped without a word";
}
