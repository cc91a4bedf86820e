/* `kindling run`: one invocation of a packaged function in a fresh microVM.
 *
 * The runner moves itself into a private network namespace, so the tap device and the
 * addresses it creates vanish with the runner whatever happens to it: there is nothing named
 * to clean up. In there it creates a tap, starts the VMM (this same binary) as a child with
 * the function's rootfs as a read-only root drive and the tap as its network, waits for the
 * guest's init to signal readiness (its boot-timer write), POSTs the input to /invoke, writes
 * the output to stdout and exits with the handler's status. The VMM child is runner_child.c's,
 * the snapshots runner_snap.c's. */
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
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpc.h"
#include "log.h"
#include "runner_child.h"
#include "runner_snap.h"

#define RUN_MAX_INPUT (6u << 20)

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

/* Restores s's snapshot: 0 once the guest has taken the restore message (warm), 1 when the
 * snapshot does not restore (removed; the run boots cold), -errno when the run fails. */
static int start_warm(const struct run_opts *o, struct runner_snap *s, struct child_io *c, uint64_t *t_ready)
{
	struct launch l = { .state = s->entry.state, .mem = s->entry.mem };
	char err[320], line[200];
	int r = runner_child_spawn(o, &l, c, err, sizeof(err));

	if (r) {
		log_error("run: %s", err);
		return r;
	}
	r = runner_child_wait_ready(c, o->boot_timeout_s * 1000, o->verbose);
	if (r == -EINTR) {
		log_error("run: interrupted while the snapshot was restored");
		return r;
	}
	if (r) {
		runner_snap_failed(s, r == -ETIMEDOUT ? "its vCPUs did not all run within --boot-timeout"
						      : runner_child_last_log_line(c, line, sizeof(line)));
		runner_child_kill(c);
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
	r = runner_child_spawn(o, &l, c, err, sizeof(err));
	if (r) {
		log_error("run: %s", err);
		return r;
	}
	r = runner_child_wait_ready(c, o->boot_timeout_s * 1000, o->verbose);
	if (r) {
		runner_child_report_not_ready(c, r, o->boot_timeout_s);
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

		runner_kernel_cmdline(&o, cmdline, sizeof(cmdline));
		if (runner_snap_find(&snap, o.snap_dir, &fn, &runner_interrupted, err, sizeof(err))) {
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
	runner_child_catch_signals();
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
	if (r || runner_interrupted) {
		log_error("run: invocation failed: %s", runner_interrupted ? "interrupted" : strerror(-r));
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
		runner_child_stop(&c, o.verbose);
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
	if (runner_interrupted)
		status = 128 + runner_interrupted;
	httpc_free(&resp);
	free(input);
	return status;
}