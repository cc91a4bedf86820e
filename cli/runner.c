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

#include "fcopy.h"
#include "httpc.h"
#include "log.h"
#include "runner_child.h"
#include "runner_clones.h"
#include "runner_snap.h"
#include "runstats.h"
#include "util.h"
#include "wset.h"

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

/* The guest's address resolves to its fixed MAC for good: a restored guest is not asked. */
static int set_guest_neigh(int sock, const char *ifname)
{
	static const unsigned char mac[6] = GUEST_MAC;
	struct arpreq req = { .arp_flags = ATF_PERM | ATF_COM };
	struct sockaddr_in *sin = (struct sockaddr_in *)&req.arp_pa;

	sin->sin_family = AF_INET;
	inet_pton(AF_INET, GUEST_IP, &sin->sin_addr);
	req.arp_ha.sa_family = ARPHRD_ETHER;
	memcpy(req.arp_ha.sa_data, mac, sizeof(mac));
	snprintf(req.arp_dev, sizeof(req.arp_dev), "%s", ifname);
	return ioctl(sock, SIOCSARP, &req) < 0 ? -errno : 0;
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

/* No IPv6 on the run's own link: the namespace's kernel would otherwise send the guest its
 * MLD reports, duplicate-address probes and router solicitations (6 frames in the first 2 s
 * after the tap comes up, in the lab), each a wake-up of the VMM and an interrupt in the
 * guest, which speaks IPv4 to the host only. Best effort: a kernel without IPv6 has none. */
static void disable_ipv6(void)
{
	static const char *const knobs[] = { "/proc/sys/net/ipv6/conf/all/disable_ipv6",
					     "/proc/sys/net/ipv6/conf/default/disable_ipv6" };

	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++) {
		int fd = open(knobs[i], O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "1", 1) != 1) {
			if (errno != ENOENT)
				log_debug("run: %s: %s", knobs[i], strerror(errno));
		}
		if (fd >= 0)
			close(fd);
	}
}

int runner_setup_network(char *err, size_t errlen)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int tun, sock, r;

	if (unshare(CLONE_NEWNET) < 0)
		return errorf_errno(err, errlen, errno, "cannot create a network namespace");
	/* Before the tap exists: it takes the namespace's default. */
	disable_ipv6();
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
	    (r = set_addr(sock, SIOCSIFNETMASK, TAP_NAME, NETMASK)) || (r = link_up(sock, TAP_NAME)) ||
	    (r = set_guest_neigh(sock, TAP_NAME)))
		errorf_errno(err, errlen, -r, "cannot configure %s", TAP_NAME);
	close(sock);
	return r;
}

int runner_scratch_make(struct scratch_copy *c, const char *src, bool verbose)
{
	enum fcopy_how how;
	uint64_t copied, t0 = now_ns();
	char err[320];
	int r;

	snprintf(c->dir, sizeof(c->dir), "/tmp/kindling-run-XXXXXX");
	if (!mkdtemp(c->dir)) {
		log_error("run: cannot create a directory for the scratch disk: %s", strerror(errno));
		c->dir[0] = 0;
		return -EIO;
	}
	snprintf(c->path, sizeof(c->path), "%s/scratch", c->dir);
	r = fcopy(src, c->path, &how, &copied, err, sizeof(err));
	if (r) {
		log_error("run: scratch disk: %s", err);
		return r;
	}
	if (verbose)
		log_info("run: scratch disk: %s of %s in %.1f ms (%ju KiB of data)",
			 how == FCOPY_REFLINK ? "reflink" : "sparse copy", src, (double)(now_ns() - t0) / 1e6,
			 (uintmax_t)(copied >> 10));
	return 0;
}

void runner_scratch_remove(struct scratch_copy *c)
{
	if (!c->dir[0])
		return;
	unlink(c->path);
	rmdir(c->dir);
	c->dir[0] = 0;
}

/* The page faults pid's vCPU threads took so far, into *n: false (with a warning) when they
 * cannot be read. */
static bool vcpu_faults(pid_t pid, uint64_t *n)
{
	struct wset_faults f;
	char err[200];
	int threads;

	if (wset_thread_faults(pid, "kindling-vcpu", &f, &threads, err, sizeof(err)) || !threads) {
		log_warn("run: cannot count the vCPUs' page faults: %s", threads ? err : "no vCPU thread");
		return false;
	}
	*n = f.minflt + f.majflt;
	return true;
}

/* Records the working set of the restored VMM pid into s's entry; a line for the breakdown
 * in report. A failure is only reported: the entry stays usable without it. */
static void record_wset(const struct runner_snap *s, pid_t pid, char *report, size_t len)
{
	struct wset_stats st;
	uint64_t t0 = now_ns();
	char err[320];

	if (wset_record(pid, s->entry.mem, s->entry.wset, &st, err, sizeof(err))) {
		log_warn("run: working set not recorded: %s", err);
		return;
	}
	snprintf(report, len,
		 "working set: %ju of %ju pages (%zu ranges) recorded in %.1f ms as %s; %ju written; "
		 "%u of %u read-only 2 MiB regions made huge pages",
		 (uintmax_t)st.pages, (uintmax_t)st.mapped_pages, st.ranges, (double)(now_ns() - t0) / 1e6,
		 s->entry.wset, (uintmax_t)st.written, st.huge_made, st.huge_tried);
}

/* Restores s's snapshot: 0 once the guest has taken the restore message (warm), 1 when the
 * snapshot does not restore (removed; the run boots cold), -errno when the run fails. */
static int start_warm(const struct run_opts *o, struct runner_snap *s, const char *scratch, struct child_io *c,
		      uint64_t *t_ready)
{
	struct launch l = { .state = s->entry.state, .mem = s->entry.mem, .scratch = scratch };
	char err[320], line[200];
	int r;

	/* The working set an earlier warm run recorded, fetched while the vCPUs start. */
	s->prefetched = !o->no_prefetch && access(s->entry.wset, R_OK) == 0;
	l.prefetch = s->prefetched ? s->entry.wset : NULL;
	r = runner_child_spawn(o, &l, c, err, sizeof(err));
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
	r = runner_snap_restore_msg(s, NULL, o->boot_timeout_s, err, sizeof(err));
	if (r)
		log_error("run: %s", err);
	return r;
}

/* Boots the function (and snapshots it when s): 0 once its init is ready. */
static int start_cold(const struct run_opts *o, struct runner_snap *s, const char *scratch, struct child_io *c,
		      uint64_t *t_ready)
{
	struct launch l = { .scratch = scratch };
	char err[320];
	bool running;
	int r;

	if (s && runner_snap_begin(s, err, sizeof(err))) {
		log_warn("run: no snapshot this time: %s", err);
		s = NULL;
	}
	l.api_sock = s ? s->api_sock : NULL;
	if (s)
		s->disk_src = scratch;
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

/* One run's outcome. */
struct run_result {
	bool answered; /* the function answered: status and resp are its */
	bool warm;
	int status; /* the handler's, else RUNNER_FAILED */
	struct httpc_response resp;
	double ms[RUNSTATS_PHASES]; /* runstats.h's phases of its kind, once answered */
};

/* Finds the function's snapshot in o->snap_dir (runner_snap_find) and points o at the real
 * paths of the kernel and rootfs (given: as the user named them). */
static int find_snapshot(struct run_opts *o, struct runner_snap *snap, const char *kernel, const char *rootfs)
{
	char err[320], cmdline[512];
	struct runsnap_fn fn = { kernel, rootfs, cmdline, o->vcpus, o->mem_mib, o->scratch };

	runner_kernel_cmdline(o, cmdline, sizeof(cmdline));
	if (runner_snap_find(snap, o->snap_dir, &fn, &runner_interrupted, err, sizeof(err))) {
		log_error("run: %s", err);
		return -EINVAL;
	}
	snap->verbose = o->verbose;
	/* Real paths for the VMM: a snapshot's config keeps them for every later run. */
	o->kernel = snap->key.kernel;
	o->rootfs = snap->key.rootfs;
	if (o->scratch)
		o->scratch = snap->key.scratch;
	return 0;
}

/* One run of the function, timed from t_start: a network namespace of its own, the VMM
 * booting the function (snap: or restoring its snapshot), the invocation, the VMM's end.
 * The output goes to stdout when print_output, the breakdown to stderr when breakdown. */
static void run_once(const struct run_opts *o, struct runner_snap *snap, const char *input, size_t input_len,
		     uint64_t t_start, bool print_output, bool breakdown, struct run_result *res)
{
	struct child_io c = { .pid = -1, .out_fd = -1, .err_fd = -1 };
	struct scratch_copy scratch = { .dir = "" };
	char wset_report[PATH_MAX + 128] = "";
	uint64_t faults0 = 0, faults = 0;
	bool faults0_ok;
	const char *exit_status;
	char err[320];
	uint64_t t_ready = 0, t_invoke = 0, t_invoked = 0, t_end;
	int r;

	*res = (struct run_result){ .status = RUNNER_FAILED };
	if (runner_setup_network(err, sizeof(err))) {
		log_error("run: %s", err);
		goto out;
	}
	r = 1;
	if (snap && snap->usable) {
		r = o->scratch ? runner_scratch_make(&scratch, snap->entry.disk, o->verbose) : 0;
		if (r)
			goto out;
		r = start_warm(o, snap, o->scratch ? scratch.path : NULL, &c, &t_ready);
		if (r > 0)
			runner_scratch_remove(&scratch);
	}
	res->warm = r == 0;
	if (r > 0) {
		r = o->scratch ? runner_scratch_make(&scratch, o->scratch, o->verbose) : 0;
		if (!r)
			r = start_cold(o, snap, o->scratch ? scratch.path : NULL, &c, &t_ready);
	}
	if (r)
		goto out;
	faults0_ok = vcpu_faults(c.pid, &faults0);
	t_invoke = now_ns();
	r = runner_guest_post("/invoke", input, input_len, o->timeout_s + 5, &res->resp);
	t_invoked = now_ns();
	if (faults0_ok && vcpu_faults(c.pid, &faults))
		res->ms[RUNSTATS_FAULTS] = (double)(faults - faults0);
	/* The first warm run of a snapshot records what its invocation touched. */
	if (!r && res->warm && !snap->prefetched && access(snap->entry.wset, F_OK) < 0)
		record_wset(snap, c.pid, wset_report, sizeof(wset_report));
	if (r || runner_interrupted) {
		log_error("run: invocation failed: %s", runner_interrupted ? "interrupted" : strerror(-r));
		goto out;
	}
	if (print_output && res->resp.body_len &&
	    fwrite(res->resp.body, 1, res->resp.body_len, stdout) != res->resp.body_len)
		log_error("run: cannot write the output");
	fflush(stdout);
	exit_status = httpc_header(&res->resp, "X-Kindling-Exit-Status");
	if (res->resp.status != 200 || !exit_status || atoi(exit_status) < 0) {
		log_error("run: the function answered HTTP %d: %.*s", res->resp.status, (int)res->resp.body_len,
			  res->resp.body);
		goto out;
	}
	res->status = atoi(exit_status);
	res->answered = true;
out:
	if (c.pid > 0)
		runner_child_stop(&c, o->verbose);
	if (snap)
		runner_snap_end(snap);
	runner_scratch_remove(&scratch);
	t_end = now_ns();
	if (!t_invoked)
		return;
	if (res->warm) {
		res->ms[0] = c.restore_ms;
		res->ms[1] = (double)(t_invoke - t_ready) / 1e6;
	} else {
		res->ms[0] = c.vmm_setup_ms;
		res->ms[1] = c.boot_to_init_ms - c.vmm_setup_ms;
	}
	res->ms[2] = (double)(t_invoked - t_invoke) / 1e6;
	res->ms[3] = (double)(t_end - t_invoked) / 1e6;
	res->ms[4] = (double)(t_end - t_start) / 1e6;
	if (!breakdown)
		return;
	if (res->warm)
		fprintf(stderr,
			"warm start: restore %.1f ms, restore message %.1f ms, invocation %.1f ms, teardown %.1f ms, "
			"total %.1f ms; invocation faults %.0f%s\n",
			res->ms[0], res->ms[1], res->ms[2], res->ms[3], res->ms[4], res->ms[RUNSTATS_FAULTS],
			snap->prefetched ? " (working set prefetched)" : "");
	else
		fprintf(stderr,
			"cold start: vmm setup %.1f ms, kernel to init ready %.1f ms, invocation %.1f ms, "
			"teardown %.1f ms, total %.1f ms; invocation faults %.0f\n",
			res->ms[0], res->ms[1], res->ms[2], res->ms[3], res->ms[4], res->ms[RUNSTATS_FAULTS]);
	if (snap && snap->report[0])
		fprintf(stderr, "%s\n", snap->report);
	if (wset_report[0])
		fprintf(stderr, "%s\n", wset_report);
}

/* Counts res in s: a failure, or its phases (and whether it agrees with first's). */
static void tally(struct runstats *s, const struct run_result *res, const struct run_result *first)
{
	if (!res->answered) {
		s->failed++;
		return;
	}
	if (runstats_add(s, res->warm ? RUNSTATS_WARM : RUNSTATS_COLD, res->ms))
		log_error("run: more runs than --repeat asked for"); /* a broken invariant, not user input */
	if (first && (res->status != first->status || res->resp.body_len != first->resp.body_len ||
		      memcmp(res->resp.body, first->resp.body, res->resp.body_len)))
		s->differing++;
}

/* The --repeat summary: the table on stderr; with --json, the JSON on stdout. */
static int summarize(const struct run_opts *o, const struct runstats *s)
{
	struct runstats_host host;
	char *json;
	int r = runstats_print_table(stderr, s);

	if (!o->json)
		return r;
	runstats_host_read(&host, NULL, NULL);
	json = runstats_json(s, &host);
	if (!json) {
		log_error("run: out of memory for the JSON summary");
		return -ENOMEM;
	}
	if (printf("%s\n", json) < 0 || fflush(stdout) != 0) {
		log_error("run: cannot write the JSON summary");
		r = -EIO;
	}
	free(json);
	return r;
}

/* --clones: the snapshot first (a cold run stores it when there is none), then the clones. */
static int clones_main(struct run_opts *o, struct runner_snap *snap, const char *kernel, const char *rootfs,
		       const char *input, size_t input_len)
{
	struct run_result res;

	runner_child_catch_signals();
	if (!snap->usable) {
		run_once(o, snap, input, input_len, now_ns(), false, true, &res);
		httpc_free(&res.resp);
		if (!res.answered) {
			log_error("run: the cold run that was to store the snapshot failed");
			return runner_interrupted ? 128 + runner_interrupted : RUNNER_FAILED;
		}
		if (find_snapshot(o, snap, kernel, rootfs))
			return RUNNER_FAILED;
		if (!snap->usable) {
			log_error("run: no snapshot to clone: the cold run did not store one (see above)");
			return RUNNER_FAILED;
		}
	}
	if (runner_interrupted)
		return 128 + runner_interrupted;
	return runner_clones(o, snap, input, input_len);
}

int runner_main(int argc, char **argv)
{
	/* Static: the key and the paths are large. */
	static struct runner_snap snap;
	struct runstats stats;
	struct run_opts o;
	struct run_result first = { 0 }, res;
	const char *kernel, *rootfs; /* as given */
	char err[320], *input = NULL;
	size_t input_len = 0;
	uint64_t t_start = now_ns();
	int r, runs, status;

	if (runner_parse(argc, argv, &o, err, sizeof(err))) {
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
	kernel = o.kernel;
	rootfs = o.rootfs;
	if (o.snap_dir && find_snapshot(&o, &snap, kernel, rootfs))
		return RUNNER_FAILED;
	if ((r = read_input(o.input, &input, &input_len))) {
		log_error("run: input %s: %s", o.input ? o.input : "(stdin)", strerror(-r));
		return RUNNER_FAILED;
	}
	if (o.clones) {
		status = clones_main(&o, &snap, kernel, rootfs, input, input_len);
		free(input);
		return status;
	}
	runs = o.repeat ? o.repeat : 1;
	if (runstats_init(&stats, runs)) {
		log_error("run: out of memory for %d runs", runs);
		free(input);
		return RUNNER_FAILED;
	}
	stats.requested = runs;
	runner_child_catch_signals();
	for (int i = 0; i < runs && !runner_interrupted; i++) {
		struct run_result *cur = i ? &res : &first;

		if (i) {
			/* Each run is timed from its own start, the first from the runner's. */
			t_start = now_ns();
			/* The first run may have stored the snapshot, or a run removed a bad one. */
			if (o.snap_dir && find_snapshot(&o, &snap, kernel, rootfs)) {
				stats.failed++;
				continue;
			}
		}
		run_once(&o, o.snap_dir ? &snap : NULL, input, input_len, t_start, !i && !o.json, !o.json, cur);
		tally(&stats, cur, i ? &first : NULL);
		if (i)
			httpc_free(&res.resp);
		else if (!first.answered)
			break; /* nothing to compare the others with: the function does not work */
	}
	status = first.status;
	if (first.answered && (stats.failed || stats.differing)) {
		log_error("run: of %d runs, %d failed and %d gave another output or exit status than the first",
			  stats.n + stats.failed, stats.failed, stats.differing);
		status = RUNNER_FAILED;
	}
	if ((o.repeat || o.json) && summarize(&o, &stats))
		status = RUNNER_FAILED;
	if (runner_interrupted)
		status = 128 + runner_interrupted;
	runstats_free(&stats);
	httpc_free(&first.resp);
	free(input);
	return status;
}
