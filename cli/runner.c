/* `kindling run`: one invocation of a packaged function in a fresh microVM.
 *
 * The runner moves itself into a private network namespace, so the tap device and the
 * addresses it creates vanish with the runner whatever happens to it: there is nothing named
 * to clean up. In there it creates a tap, starts the VMM (this same binary) as a child with
 * the function's rootfs as a read-only root drive and the tap as its network, waits for the
 * guest's init to signal readiness (its boot-timer write), POSTs the input to /invoke, writes
 * the output to stdout and exits with the handler's status. */
#include "runner.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpc.h"
#include "log.h"
#include "runner_snap.h"

#define TAP_NAME "kt0"
/* The tap's MAC, the same in every runner's namespace: a guest restored from a snapshot
 * taken in another one finds its gateway where its neighbour table says. */
#define TAP_MAC { 0x02, 0x4b, 0x4e, 0x00, 0x00, 0x01 }
#define HOST_IP "172.31.255.1"
#define GUEST_IP "172.31.255.2"
#define NETMASK "255.255.255.252"
#define GUEST_PORT 8080
#define RUN_MAX_INPUT (6u << 20)
#define RUN_MAX_OUTPUT ((6u << 20) + 65536)
#define CONSOLE_TAIL 8192

struct run_opts {
	const char *kernel;
	const char *rootfs;
	const char *input;
	int vcpus;
	int mem_mib;
	int timeout_s;      /* the invocation */
	int boot_timeout_s; /* until the guest is ready */
	const char *snap_dir;
	bool verbose;
};

/* How the VMM starts: boots the function (with an API socket when api_sock) or restores
 * the snapshot in state and mem. */
struct launch {
	const char *api_sock;
	const char *state, *mem;
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

static volatile sig_atomic_t interrupted;
static volatile pid_t vmm_pid; /* for on_diag_signal */
static volatile sig_atomic_t diag_forwarded; /* a user's SIGUSR1: drain() shows the answer */

static void on_signal(int sig)
{
	interrupted = sig;
}

/* SIGUSR1: the VMM prints its vCPU and virtqueue state (drain() passes it on to stderr). */
static void on_diag_signal(int sig)
{
	if (vmm_pid > 0) {
		diag_forwarded = 1;
		kill(vmm_pid, sig);
	}
}

static double ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

static int read_input(const char *path, char **out, size_t *len)
{
	int fd = (!path || !strcmp(path, "-")) ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	int r = fd < 0 ? -errno : 0; /* before malloc() can change errno */
	size_t cap = 65536, n = 0;
	char *buf = r ? NULL : malloc(cap);

	if (r)
		goto out;
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t got;

		if (n == cap) {
			char *b;

			if (cap >= RUN_MAX_INPUT) {
				r = -EFBIG;
				goto out;
			}
			cap *= 2;
			b = realloc(buf, cap);
			if (!b) {
				r = -ENOMEM;
				goto out;
			}
			buf = b;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	if (fd >= 0 && fd != STDIN_FILENO)
		close(fd);
	return r;
}

static int set_addr(int sock, unsigned long req, const char *ifname, const char *ip)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sin->sin_addr);
	return ioctl(sock, req, &ifr) < 0 ? -errno : 0;
}

static int set_mac(int sock, const char *ifname)
{
	static const unsigned char mac[6] = TAP_MAC;
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, sizeof(mac));
	return ioctl(sock, SIOCSIFHWADDR, &ifr) < 0 ? -errno : 0;
}

static int link_up(int sock, const char *ifname)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(sock, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/* A private network namespace holding one persistent tap with the host side's address. */
static int setup_network(char *err, size_t errlen)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int tun, sock, r;

	if (unshare(CLONE_NEWNET) < 0)
		return errorf_errno(err, errlen, errno, "cannot create a network namespace");
	tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tun < 0)
		return errorf_errno(err, errlen, errno, "cannot open /dev/net/tun");
	snprintf(ifr.ifr_name, IFNAMSIZ, TAP_NAME);
	/* Persistent so that it outlives this fd until the VMM attaches; the namespace's end
	 * removes it. */
	if (ioctl(tun, TUNSETIFF, &ifr) < 0 || ioctl(tun, TUNSETPERSIST, 1) < 0) {
		int e = errno; /* before close() can change it */

		close(tun);
		return errorf_errno(err, errlen, e, "cannot create tap %s", TAP_NAME);
	}
	close(tun);
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return errorf_errno(err, errlen, errno, "cannot configure %s: socket", TAP_NAME);
	if ((r = link_up(sock, "lo")) || (r = set_mac(sock, TAP_NAME)) ||
	    (r = set_addr(sock, SIOCSIFADDR, TAP_NAME, HOST_IP)) ||
	    (r = set_addr(sock, SIOCSIFNETMASK, TAP_NAME, NETMASK)) || (r = link_up(sock, TAP_NAME)))
		errorf_errno(err, errlen, -r, "cannot configure %s", TAP_NAME);
	close(sock);
	return r;
}

static void kernel_cmdline(const struct run_opts *o, char *buf, size_t len)
{
	snprintf(buf, len,
		 "console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd quiet "
		 "tsc=reliable no_timer_check ip=" GUEST_IP "::" HOST_IP ":" NETMASK ":function:eth0:off "
		 "kindling.port=%d kindling.timeout=%d",
		 GUEST_PORT, o->timeout_s);
}

static int spawn_vmm(const struct run_opts *o, const struct launch *l, struct child_io *c, char *err,
		     size_t errlen)
{
	char exe[PATH_MAX], drive[PATH_MAX + 32], cmdline[512], vcpus[16], mem[16];
	char *argv[20];
	int out[2], errp[2], a = 0;
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
	} else {
		snprintf(drive, sizeof(drive), "path=%s,ro,root,id=rootfs", o->rootfs);
		kernel_cmdline(o, cmdline, sizeof(cmdline));
		snprintf(vcpus, sizeof(vcpus), "%d", o->vcpus);
		snprintf(mem, sizeof(mem), "%d", o->mem_mib);
		argv[a++] = "--kernel";
		argv[a++] = (char *)o->kernel;
		argv[a++] = "--drive";
		argv[a++] = drive;
		argv[a++] = "--net";
		argv[a++] = "tap=" TAP_NAME ",id=eth0";
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
	c->pid = fork();
	if (c->pid < 0) {
		int e = errno; /* before close() can change it */

		close(out[0]);
		close(out[1]);
		close(errp[0]);
		close(errp[1]);
		return errorf_errno(err, errlen, e, "fork");
	}
	if (c->pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(null, STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(errp[1], STDERR_FILENO);
		execv(exe, argv);
		_exit(127);
	}
	vmm_pid = c->pid;
	close(out[1]);
	close(errp[1]);
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

/* Reads whatever the VMM wrote; notes its timing lines. */
static void drain(struct child_io *c, bool verbose)
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

/* Waits up to timeout_ms for the VMM to say the guest is ready (or to exit). */
static int wait_ready(struct child_io *c, int timeout_ms, bool verbose)
{
	uint64_t t0 = now_ns();

	while (!c->ready && !interrupted) {
		struct pollfd p[2] = { { c->out_fd, POLLIN, 0 }, { c->err_fd, POLLIN, 0 } };

		if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
			c->exited = true;
			vmm_pid = 0;
			drain(c, verbose);
			return c->ready ? 0 : -ECHILD;
		}
		if (ms_since(t0) > timeout_ms)
			return -ETIMEDOUT;
		if (poll(p, 2, 50) > 0)
			drain(c, verbose);
	}
	return interrupted ? -EINTR : 0;
}

/* One request to kindling-init, on a connection of its own (runner_snap.h). */
int runner_guest_post(const char *path, const char *body, size_t len, int timeout_s, struct httpc_response *resp)
{
	int fd = httpc_dial_tcp(GUEST_IP, GUEST_PORT, timeout_s);

	if (fd < 0) {
		memset(resp, 0, sizeof(*resp));
		return fd;
	}
	return httpc_request(fd, "POST", path, body, len, RUN_MAX_OUTPUT, &interrupted, resp);
}

static void stop_vmm(struct child_io *c, bool verbose)
{
	struct httpc_response r;
	uint64_t t0 = now_ns();

	if (c->exited)
		return;
	/* Ask init to power off; the VMM then exits on the guest's reset. */
	if (c->ready && runner_guest_post("/shutdown", "", 0, 2, &r) == 0)
		httpc_free(&r);
	while (ms_since(t0) < 5000) {
		if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
			c->exited = true;
			vmm_pid = 0;
			drain(c, verbose);
			return;
		}
		drain(c, verbose);
		usleep(2000);
	}
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &c->status, 0);
	c->exited = true;
	vmm_pid = 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kindling run [--kernel K] --rootfs FS.ext4 [--input FILE|-] [--vcpus N] [--mem-mib N]\n"
		   "                    [--timeout S] [--boot-timeout S] [--snapshot-dir DIR] [--verbose]\n"
		   "Runs the function packaged in FS.ext4 (guest/mkfunction.sh) once in a fresh microVM,\n"
		   "with FILE (default: stdin) as its input; prints its output and exits with its status.\n"
		   "With --snapshot-dir, the first run snapshots the function once it is ready, into DIR,\n"
		   "and later runs of the same function (kernel, rootfs, vCPUs, memory, timeout) restore\n"
		   "that snapshot instead of booting.\n");
}

/* Neither quotes, backslashes nor control characters. */
static bool plain_path(const char *p)
{
	for (; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* 0, or -errno with the reason in err ("" after printing the usage). */
static int parse(int argc, char **argv, struct run_opts *o, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' }, { "rootfs", required_argument, NULL, 'r' },
		{ "input", required_argument, NULL, 'i' },  { "vcpus", required_argument, NULL, 'n' },
		{ "mem-mib", required_argument, NULL, 'm' }, { "timeout", required_argument, NULL, 't' },
		{ "boot-timeout", required_argument, NULL, 'b' }, { "verbose", no_argument, NULL, 'v' },
		{ "snapshot-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },	 { NULL, 0, NULL, 0 },
	};
	static char default_kernel[PATH_MAX];
	ssize_t n;
	int c;

	err[0] = 0;
	*o = (struct run_opts){ .vcpus = 1, .mem_mib = 128, .timeout_s = 30, .boot_timeout_s = 300 };
	/* Default kernel: the one `make kernel` builds next to this binary. */
	n = readlink("/proc/self/exe", default_kernel, sizeof(default_kernel) - 20);
	if (n > 0) {
		default_kernel[n] = 0;
		strcpy(strrchr(default_kernel, '/') + 1, "guest/vmlinux");
		o->kernel = default_kernel;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end;
		long v = optarg ? strtol(optarg, &end, 10) : 0;
		bool num_ok = optarg && *optarg && !*end;

		switch (c) {
		case 'k': o->kernel = optarg; break;
		case 'r': o->rootfs = optarg; break;
		case 'i': o->input = optarg; break;
		case 'v': o->verbose = true; break;
		case 's':
			/* It goes into the VMM's JSON and the snapshot's paths unescaped. */
			if (!*optarg || strlen(optarg) > RUNSNAP_DIR_MAX || !plain_path(optarg))
				return errorf(err, errlen, -EINVAL,
					      "--snapshot-dir must be a path of 1..%d characters without quotes, "
					      "backslashes or control characters",
					      RUNSNAP_DIR_MAX);
			o->snap_dir = optarg;
			break;
		case 'n':
			if (!num_ok || v < 1 || v > 32)
				return errorf(err, errlen, -EINVAL, "--vcpus must be 1..32");
			o->vcpus = (int)v;
			break;
		case 'm':
			if (!num_ok || v < 32 || v > 65536)
				return errorf(err, errlen, -EINVAL, "--mem-mib must be 32..65536");
			o->mem_mib = (int)v;
			break;
		case 't':
			if (!num_ok || v < 1 || v > 3600)
				return errorf(err, errlen, -EINVAL, "--timeout must be 1..3600 seconds");
			o->timeout_s = (int)v;
			break;
		case 'b':
			if (!num_ok || v < 1 || v > 3600)
				return errorf(err, errlen, -EINVAL, "--boot-timeout must be 1..3600 seconds");
			o->boot_timeout_s = (int)v;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (!o->rootfs)
		return errorf(err, errlen, -EINVAL, "--rootfs is required (see kindling run --help)");
	if (access(o->rootfs, R_OK) < 0)
		return errorf_errno(err, errlen, errno, "rootfs %s", o->rootfs);
	if (!o->kernel)
		return errorf(err, errlen, -ENOENT, "no kernel (build it with make kernel, or pass --kernel)");
	if (access(o->kernel, R_OK) < 0) {
		int e = errno;

		return errorf(err, errlen, -e, "kernel %s: %s (build it with make kernel, or pass --kernel)", o->kernel,
			      strerror(e));
	}
	return 0;
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

/* The guest did not get ready (r from wait_ready): says why, with the ends of the guest's
 * console and the VMM's log. */
static void report_not_ready(struct child_io *c, int r, int boot_timeout_s)
{
	if (r == -EINTR)
		log_error("run: interrupted while the guest booted");
	else if (r == -ETIMEDOUT) {
		/* What the vCPUs are doing goes into the VMM log shown below. */
		kill(c->pid, SIGUSR1);
		for (int i = 0; i < 100 && !strstr(c->log, "kindling: diag:"); i++) {
			usleep(20000);
			drain(c, false);
		}
		log_error("run: the guest was not ready within %d s", boot_timeout_s);
	}
	c->console[c->console_len] = 0;
	c->log[c->log_len] = 0;
	if (r != -EINTR && r != -ETIMEDOUT)
		log_error("run: %s", runner_stop_reason(c->log, c->console));
	fprintf(stderr, "--- guest console (last lines)\n%s\n--- VMM log\n%s\n", c->console, c->log);
}

/* Ends a VMM that is of no further use, and forgets it. */
static void kill_vmm(struct child_io *c)
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

/* The last line the VMM logged, for a one-line message. */
static const char *last_log_line(struct child_io *c, char *buf, size_t len)
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

/* Restores s's snapshot: 0 once the guest has taken the restore message (warm), 1 when the
 * snapshot does not restore (removed; the run boots cold), -errno when the run fails. */
static int start_warm(const struct run_opts *o, struct runner_snap *s, struct child_io *c, uint64_t *t_ready)
{
	struct launch l = { .state = s->entry.state, .mem = s->entry.mem };
	char err[320], line[200];
	int r = spawn_vmm(o, &l, c, err, sizeof(err));

	if (r) {
		log_error("run: %s", err);
		return r;
	}
	r = wait_ready(c, o->boot_timeout_s * 1000, o->verbose);
	if (r == -EINTR) {
		log_error("run: interrupted while the snapshot was restored");
		return r;
	}
	if (r) {
		runner_snap_failed(s, r == -ETIMEDOUT ? "its vCPUs did not all run within --boot-timeout"
						      : last_log_line(c, line, sizeof(line)));
		kill_vmm(c);
		return 1;
	}
	*t_ready = now_ns();
	r = runner_snap_restore_msg(s, o->boot_timeout_s, err, sizeof(err));
	if (r)
		log_error("run: %s", err);
	return r;
}

/* Boots the function (and snapshots it when s): 0 once its init is ready. */
static int start_cold(const struct run_opts *o, struct runner_snap *s, struct child_io *c, uint64_t *t_ready)
{
	struct launch l = { 0 };
	char err[320];
	bool running;
	int r;

	if (s && runner_snap_begin(s, err, sizeof(err))) {
		log_warn("run: no snapshot this time: %s", err);
		s = NULL;
	}
	l.api_sock = s ? s->api_sock : NULL;
	r = spawn_vmm(o, &l, c, err, sizeof(err));
	if (r) {
		log_error("run: %s", err);
		return r;
	}
	r = wait_ready(c, o->boot_timeout_s * 1000, o->verbose);
	if (r) {
		report_not_ready(c, r, o->boot_timeout_s);
		return r;
	}
	*t_ready = now_ns();
	if (s && runner_snap_take(s, &running, err, sizeof(err))) {
		log_warn("run: no snapshot stored: %s", err);
		if (!running) {
			log_error("run: the microVM could not be resumed after its snapshot");
			return -EIO;
		}
	}
	return 0;
}

int runner_main(int argc, char **argv)
{
	/* Static: the key and the paths are large. */
	static struct runner_snap snap;
	struct run_opts o;
	struct child_io c = { .pid = -1, .out_fd = -1, .err_fd = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct httpc_response resp = { 0 };
	const char *exit_status;
	char err[320], cmdline[512], *input = NULL;
	size_t input_len = 0;
	uint64_t t_start = now_ns(), t_ready = 0, t_invoke = 0, t_invoked = 0, t_end;
	int r, status = RUNNER_FAILED;
	bool warm = false;

	if (parse(argc, argv, &o, err, sizeof(err))) {
		if (err[0])
			log_error("run: %s", err);
		return 2;
	}
	if (geteuid() != 0) {
		log_error("run: needs root, to create a network namespace and a tap device");
		return RUNNER_FAILED;
	}
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		log_error("run: /dev/kvm: %s (kindling check says more)", strerror(errno));
		return RUNNER_FAILED;
	}
	if (o.snap_dir) {
		struct runsnap_fn fn = { o.kernel, o.rootfs, cmdline, o.vcpus, o.mem_mib };

		kernel_cmdline(&o, cmdline, sizeof(cmdline));
		if (runner_snap_find(&snap, o.snap_dir, &fn, &interrupted, err, sizeof(err))) {
			log_error("run: %s", err);
			return RUNNER_FAILED;
		}
		/* Real paths for the VMM: a snapshot's config keeps them for every later run. */
		o.kernel = snap.key.kernel;
		o.rootfs = snap.key.rootfs;
	}
	if ((r = read_input(o.input, &input, &input_len))) {
		log_error("run: input %s: %s", o.input ? o.input : "(stdin)", strerror(-r));
		return RUNNER_FAILED;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_diag_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (setup_network(err, sizeof(err))) {
		log_error("run: %s", err);
		goto out;
	}
	r = o.snap_dir && snap.usable ? start_warm(&o, &snap, &c, &t_ready) : 1;
	warm = r == 0;
	if (r > 0)
		r = start_cold(&o, o.snap_dir ? &snap : NULL, &c, &t_ready);
	if (r)
		goto out;
	t_invoke = now_ns();
	r = runner_guest_post("/invoke", input, input_len, o.timeout_s + 5, &resp);
	t_invoked = now_ns();
	if (r || interrupted) {
		log_error("run: invocation failed: %s", interrupted ? "interrupted" : strerror(-r));
		goto out;
	}
	if (resp.body_len && fwrite(resp.body, 1, resp.body_len, stdout) != resp.body_len)
		log_error("run: cannot write the output");
	fflush(stdout);
	exit_status = httpc_header(&resp, "X-Kindling-Exit-Status");
	if (resp.status != 200 || !exit_status || atoi(exit_status) < 0) {
		log_error("run: the function answered HTTP %d: %.*s", resp.status, (int)resp.body_len, resp.body);
		goto out;
	}
	status = atoi(exit_status);
out:
	if (c.pid > 0)
		stop_vmm(&c, o.verbose);
	if (o.snap_dir)
		runner_snap_end(&snap);
	t_end = now_ns();
	if (t_invoked) {
		double total = (double)(t_end - t_start) / 1e6, invoke = (double)(t_invoked - t_invoke) / 1e6;
		double teardown = (double)(t_end - t_invoked) / 1e6;

		if (warm)
			fprintf(stderr,
				"warm start: restore %.1f ms, restore message %.1f ms, invocation %.1f ms, "
				"teardown %.1f ms, total %.1f ms\n",
				c.restore_ms, (double)(t_invoke - t_ready) / 1e6, invoke, teardown, total);
		else
			fprintf(stderr,
				"cold start: vmm setup %.1f ms, kernel to init ready %.1f ms, invocation %.1f ms, "
				"teardown %.1f ms, total %.1f ms\n",
				c.vmm_setup_ms, c.boot_to_init_ms - c.vmm_setup_ms, invoke, teardown, total);
		if (snap.report[0])
			fprintf(stderr, "%s\n", snap.report);
	}
	if (interrupted)
		status = 128 + interrupted;
	httpc_free(&resp);
	free(input);
	return status;
}
