/* `kindling run --clones N`: N warm instances of one function snapshot at once (see
 * runner_clones.h).
 *
 * Each clone is a child process of the runner that does what one warm run does: a network
 * namespace of its own (so every clone's guest keeps the snapshot's address and MAC: they
 * are per namespace), its own scratch copy, the VMM restoring the snapshot, the restore
 * message (fresh entropy, the wall clock, hostname clone-K), the invocation. It then reports
 * to the runner over a socket and waits: once every clone has answered (or failed, or the
 * deadline passed) the runner reads each VMM's /proc/PID/smaps, the memory figures, and only
 * then tells the clones to stop their VMMs. A clone whose runner goes away sees its socket's
 * end and stops too: nothing outlives the run. */
#include "runner_clones.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpc.h"
#include "log.h"
#include "runner.h"
#include "runner_child.h"
#include "runstats.h"
#include "smaps.h"
#include "wset.h"

/* What a clone tells the runner once its invocation is over; the output follows. */
struct clone_report {
	int answered; /* the function answered: status is its */
	int status;
	pid_t vmm_pid; /* still running, for the memory figures (0: none) */
	unsigned body_len;
	bool prefetched;
	double restore_ms, msg_ms, invoke_ms, faults;
	uint64_t t_answered; /* now_ns() when the answer was in */
};

/* And once it has stopped its VMM. */
struct clone_end {
	double teardown_ms;
	uint64_t t_end;
};

struct clone {
	pid_t pid;
	int fd; /* the runner's end of the clone's socket; -1: closed */
	struct clone_report rep;
	size_t got;     /* bytes of rep, then of body, read so far */
	char *body;
	bool reported;  /* rep and body complete */
	bool measured;  /* mem holds its memory figures */
	struct smaps_density mem;
	struct clone_end end;
	bool ended;
	bool differs;   /* output or status other than clone 1's */
};

static double ms_between(uint64_t t0, uint64_t t1)
{
	return t1 > t0 ? (double)(t1 - t0) / 1e6 : 0;
}

/* Writes all of buf; false on an error (the runner went away). */
static bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static double vcpu_faults_now(pid_t pid, bool *ok)
{
	struct wset_faults f;
	char err[200];
	int threads = 0;

	*ok = !wset_thread_faults(pid, "kindling-vcpu", &f, &threads, err, sizeof(err)) && threads;
	return *ok ? (double)(f.minflt + f.majflt) : 0;
}

/* Clone k (1-based) in its own process: restore, identity, invocation, report; then wait
 * for the runner's word (or its end), stop the VMM, report the teardown. Returns the
 * process's exit status. */
static int clone_main(const struct run_opts *o, struct runner_snap *snap, int k, int fd, const char *input,
		      size_t input_len)
{
	struct child_io c = { .pid = -1, .out_fd = -1, .err_fd = -1 };
	struct scratch_copy scratch = { .dir = "" };
	struct launch l = { .state = snap->entry.state, .mem = snap->entry.mem };
	struct clone_report rep = { .status = RUNNER_FAILED };
	struct httpc_response resp = { 0 };
	struct clone_end end = { 0 };
	char err[320], host[32], line[200], go;
	const char *exit_status;
	uint64_t t_ready, t_invoke, t_stop;
	double f0 = 0, f1;
	bool f_ok = false;
	int r;

	snprintf(host, sizeof(host), "clone-%d", k);
	if (runner_setup_network(err, sizeof(err))) {
		log_error("run: clone %d: %s", k, err);
		goto report;
	}
	if (o->scratch && runner_scratch_make(&scratch, snap->entry.disk, o->verbose))
		goto report;
	l.scratch = o->scratch ? scratch.path : NULL;
	rep.prefetched = !o->no_prefetch && access(snap->entry.wset, R_OK) == 0;
	l.prefetch = rep.prefetched ? snap->entry.wset : NULL;
	if (runner_child_spawn(o, &l, &c, err, sizeof(err))) {
		log_error("run: clone %d: %s", k, err);
		goto report;
	}
	r = runner_child_wait_ready(&c, o->boot_timeout_s * 1000, o->verbose);
	if (r) {
		log_error("run: clone %d: the snapshot did not restore: %s", k,
			  r == -ETIMEDOUT ? "its vCPUs did not all run within --boot-timeout"
			  : r == -EINTR	  ? "interrupted"
					  : runner_child_last_log_line(&c, line, sizeof(line)));
		goto report;
	}
	t_ready = now_ns();
	rep.restore_ms = c.restore_ms;
	if (runner_snap_restore_msg(snap, host, o->boot_timeout_s, err, sizeof(err))) {
		log_error("run: clone %d: %s", k, err);
		goto report;
	}
	f0 = vcpu_faults_now(c.pid, &f_ok);
	t_invoke = now_ns();
	rep.msg_ms = ms_between(t_ready, t_invoke);
	r = runner_guest_post("/invoke", input, input_len, o->timeout_s + 5, &resp);
	rep.t_answered = now_ns();
	rep.invoke_ms = ms_between(t_invoke, rep.t_answered);
	f1 = f_ok ? vcpu_faults_now(c.pid, &f_ok) : 0;
	rep.faults = f_ok ? f1 - f0 : 0;
	if (r || runner_interrupted) {
		log_error("run: clone %d: invocation failed: %s", k, runner_interrupted ? "interrupted" : strerror(-r));
		goto report;
	}
	exit_status = httpc_header(&resp, "X-Kindling-Exit-Status");
	if (resp.status != 200 || !exit_status || atoi(exit_status) < 0) {
		log_error("run: clone %d: the function answered HTTP %d: %.*s", k, resp.status, (int)resp.body_len,
			  resp.body);
		goto report;
	}
	rep.status = atoi(exit_status);
	rep.answered = 1;
	rep.body_len = (unsigned)resp.body_len;
report:
	rep.vmm_pid = c.pid > 0 && !c.exited ? c.pid : 0;
	/* The runner measures the VMM while it still runs: wait for its word (any byte, or the
	 * socket's end). The VMM's pipes are drained meanwhile, lest it block on a full one. The
	 * wait sleeps until one of them has something (or a signal comes): with 50 clones, the
	 * first to answer wait for the last ones, and need not wake every 100 ms meanwhile. */
	if (write_all(fd, &rep, sizeof(rep)) && (!rep.answered || write_all(fd, resp.body, resp.body_len)) &&
	    rep.vmm_pid) {
		struct pollfd p[3] = { { fd, POLLIN, 0 }, { c.out_fd, POLLIN, 0 }, { c.err_fd, POLLIN, 0 } };

		while (!runner_interrupted) {
			int n = poll(p, 3, -1);

			if (n < 0 && errno != EINTR)
				break;
			if (n > 0 && p[0].revents) {
				(void)!read(fd, &go, 1);
				break;
			}
			/* A pipe at its end (the VMM exited) is left out: it would wake this at once. */
			for (int i = 1; i < 3; i++)
				if (p[i].revents & (POLLHUP | POLLERR | POLLNVAL))
					p[i].fd = -1;
			if (n > 0)
				runner_child_drain(&c, o->verbose);
		}
	}
	t_stop = now_ns();
	if (c.pid > 0)
		runner_child_stop(&c, o->verbose);
	runner_scratch_remove(&scratch);
	end.t_end = now_ns();
	end.teardown_ms = ms_between(t_stop, end.t_end);
	(void)!write_all(fd, &end, sizeof(end));
	httpc_free(&resp);
	return rep.answered ? 0 : 1;
}

/* Reads what is there of clone c's report and output: false once it has nothing more to say
 * (complete, or its socket ended). */
static bool read_report(struct clone *c)
{
	char *dst;
	size_t want;
	ssize_t n;

	if (c->got < sizeof(c->rep)) {
		dst = (char *)&c->rep + c->got;
		want = sizeof(c->rep) - c->got;
	} else {
		if (!c->body && !(c->body = malloc(c->rep.body_len ? c->rep.body_len : 1)))
			return false;
		dst = c->body + (c->got - sizeof(c->rep));
		want = sizeof(c->rep) + c->rep.body_len - c->got;
	}
	n = read(c->fd, dst, want);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	c->got += (size_t)n;
	if (c->got == sizeof(c->rep)) {
		if (!c->rep.answered)
			c->rep.body_len = 0;
		if (c->rep.body_len > RUN_MAX_OUTPUT)
			return false; /* not a report this runner's clones write */
	}
	if (c->got >= sizeof(c->rep) && c->got == sizeof(c->rep) + c->rep.body_len) {
		c->reported = true;
		return false;
	}
	return true;
}

/* Waits until every clone reported, the deadline passed, or a signal came. */
static void collect_reports(struct clone *cl, int n, uint64_t deadline)
{
	struct pollfd *p = calloc((size_t)n, sizeof(*p));

	if (!p)
		return;
	for (;;) {
		int waiting = 0;
		uint64_t now = now_ns();

		for (int i = 0; i < n; i++) {
			bool open = cl[i].fd >= 0 && !cl[i].reported && cl[i].got != SIZE_MAX;

			p[i] = (struct pollfd){ .fd = open ? cl[i].fd : -1, .events = POLLIN };
			waiting += open;
		}
		if (!waiting || now >= deadline || runner_interrupted)
			break;
		if (poll(p, (nfds_t)n, (int)((deadline - now) / 1000000 + 1)) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++)
			if (p[i].revents && !read_report(&cl[i]) && !cl[i].reported)
				cl[i].got = SIZE_MAX; /* the clone ended without a whole report */
	}
	free(p);
}

/* Reads each answered clone's VMM's memory, while all of them still run. */
static void measure(struct clone *cl, int n, const struct smaps_file *mem)
{
	char path[64], err[320];

	for (int i = 0; i < n; i++) {
		if (!cl[i].reported || !cl[i].rep.answered || cl[i].rep.vmm_pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/smaps", (int)cl[i].rep.vmm_pid);
		if (smaps_density_read(path, mem, &cl[i].mem, err, sizeof(err)))
			log_warn("run: clone %d: no memory figures: %s", i + 1, err);
		else
			cl[i].measured = true;
	}
}

/* Tells every clone to stop, reads its teardown, reaps it; one that does not end within
 * its VMM's stop time is sent SIGTERM, then SIGKILL. */
static void stop_all(struct clone *cl, int n)
{
	uint64_t t0 = now_ns();
	bool termed = false;

	for (int i = 0; i < n; i++)
		if (cl[i].fd >= 0)
			(void)!write(cl[i].fd, "x", 1);
	for (int i = 0; i < n; i++) {
		size_t got = 0;

		while (cl[i].fd >= 0 && got < sizeof(cl[i].end)) {
			struct pollfd p = { .fd = cl[i].fd, .events = POLLIN };
			ssize_t r;

			if (poll(&p, 1, 200) <= 0) {
				if (ms_between(t0, now_ns()) > 15000)
					break;
				continue;
			}
			r = read(cl[i].fd, (char *)&cl[i].end + got, sizeof(cl[i].end) - got);
			if (r <= 0 && !(r < 0 && errno == EINTR))
				break;
			if (r > 0)
				got += (size_t)r;
		}
		cl[i].ended = got == sizeof(cl[i].end);
	}
	for (int i = 0; i < n; i++) {
		if (cl[i].fd >= 0)
			close(cl[i].fd);
		cl[i].fd = -1;
	}
	/* Each clone stops its VMM within 5 s (runner_child_stop): more is a stuck clone. */
	for (int left = n; left;) {
		left = 0;
		for (int i = 0; i < n; i++) {
			if (cl[i].pid <= 0)
				continue;
			if (waitpid(cl[i].pid, NULL, WNOHANG) == cl[i].pid) {
				cl[i].pid = 0;
				continue;
			}
			left++;
			if (!termed && ms_between(t0, now_ns()) > 20000)
				kill(cl[i].pid, SIGTERM);
			else if (ms_between(t0, now_ns()) > 30000) {
				log_error("run: clone %d does not stop: killed", i + 1);
				kill(cl[i].pid, SIGKILL);
			}
		}
		termed = termed || ms_between(t0, now_ns()) > 20000;
		if (left)
			usleep(5000);
	}
}

static void mark_differing(struct clone *cl, int n)
{
	const struct clone *first = &cl[0];

	for (int i = 1; i < n; i++)
		cl[i].differs = first->rep.answered && cl[i].rep.answered &&
				(cl[i].rep.status != first->rep.status || cl[i].rep.body_len != first->rep.body_len ||
				 (first->rep.body_len && memcmp(cl[i].body, first->body, first->rep.body_len)));
}

/* Writes clone k's output to DIR/clone-K.out: false when it could not, with the reason
 * logged. */
static bool save_output(const char *dir, int k, const struct clone *c)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/clone-%d.out", dir, k);
	f = fopen(path, "we");
	if (!f) {
		log_error("run: cannot write %s: %s", path, strerror(errno));
		return false;
	}
	if ((c->rep.body_len && fwrite(c->body, 1, c->rep.body_len, f) != c->rep.body_len) | (fclose(f) != 0)) {
		log_error("run: cannot write %s: %s", path, strerror(errno));
		return false;
	}
	return true;
}

/* The figures, from the fan-out's start at t0. */
struct fanout {
	int n, answered, failed, differing, measured;
	double wall_ms, first_ms, last_ms, rate;
	double mean_vmm_rss, mean_guest_pss, mean_guest_dirty;
};

static void tally(const struct clone *cl, int n, uint64_t t0, uint64_t t_all_end, struct fanout *f)
{
	*f = (struct fanout){ .n = n, .wall_ms = ms_between(t0, t_all_end), .first_ms = -1 };
	for (int i = 0; i < n; i++) {
		const struct clone *c = &cl[i];
		double at = ms_between(t0, c->rep.t_answered);

		if (!c->reported || !c->rep.answered) {
			f->failed++;
			continue;
		}
		f->answered++;
		f->differing += c->differs;
		if (f->first_ms < 0 || at < f->first_ms)
			f->first_ms = at;
		if (at > f->last_ms)
			f->last_ms = at;
		if (c->measured) {
			f->measured++;
			f->mean_vmm_rss += (double)c->mem.vmm_rss_kib;
			f->mean_guest_pss += (double)c->mem.guest_pss_kib;
			f->mean_guest_dirty += (double)c->mem.guest_private_dirty_kib;
		}
	}
	if (f->first_ms < 0)
		f->first_ms = 0;
	if (f->measured) {
		f->mean_vmm_rss /= f->measured;
		f->mean_guest_pss /= f->measured;
		f->mean_guest_dirty /= f->measured;
	}
	f->rate = f->last_ms > 0 ? f->answered / (f->last_ms / 1000) : 0;
}

static void print_lines(const struct clone *cl, int n, uint64_t t0, const struct fanout *f)
{
	for (int i = 0; i < n; i++) {
		const struct clone *c = &cl[i];

		if (!c->reported || !c->rep.answered) {
			fprintf(stderr, "clone %d: failed\n", i + 1);
			continue;
		}
		fprintf(stderr,
			"clone %d: exit %d; warm start: restore %.1f ms, restore message %.1f ms, invocation %.1f ms, "
			"teardown %.1f ms, total %.1f ms; invocation faults %.0f%s%s\n",
			i + 1, c->rep.status, c->rep.restore_ms, c->rep.msg_ms, c->rep.invoke_ms, c->end.teardown_ms,
			c->ended ? ms_between(t0, c->end.t_end) : 0, c->rep.faults,
			c->rep.prefetched ? " (working set prefetched)" : "", c->differs ? "; output differs from clone 1's" : "");
	}
	for (int i = 0; i < n; i++)
		if (cl[i].measured)
			fprintf(stderr, "clone %d: vmm_rss_kib %ju, guest_pss_kib %ju, guest_private_dirty_kib %ju\n", i + 1,
				(uintmax_t)cl[i].mem.vmm_rss_kib, (uintmax_t)cl[i].mem.guest_pss_kib,
				(uintmax_t)cl[i].mem.guest_private_dirty_kib);
	if (f->measured)
		fprintf(stderr, "clones mean: vmm_rss_kib %.0f, guest_pss_kib %.0f, guest_private_dirty_kib %.0f\n",
			f->mean_vmm_rss, f->mean_guest_pss, f->mean_guest_dirty);
	fprintf(stderr, "clones: %d answered in %.1f ms (first answer at %.1f ms, last at %.1f ms), %.1f clones/s\n",
		f->answered, f->wall_ms, f->first_ms, f->last_ms, f->rate);
}

static cJSON *num(double v)
{
	return cJSON_CreateNumber(round(v * 1000) / 1000);
}

static bool put(cJSON *o, const char *name, cJSON *item)
{
	if (o && item && cJSON_AddItemToObject(o, name, item))
		return true;
	cJSON_Delete(item);
	return false;
}

static cJSON *clone_json(const struct clone *c, int k, uint64_t t0)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = put(o, "clone", cJSON_CreateNumber(k));

	if (!c->reported || !c->rep.answered)
		return ok && put(o, "answered", cJSON_CreateFalse()) ? o : (cJSON_Delete(o), NULL);
	ok = ok && put(o, "answered", cJSON_CreateTrue()) && put(o, "exit", cJSON_CreateNumber(c->rep.status)) &&
	     put(o, "differs", cJSON_CreateBool(c->differs)) && put(o, "restore_ms", num(c->rep.restore_ms)) &&
	     put(o, "restore_message_ms", num(c->rep.msg_ms)) && put(o, "invocation_ms", num(c->rep.invoke_ms)) &&
	     put(o, "teardown_ms", num(c->end.teardown_ms)) &&
	     put(o, "answered_at_ms", num(ms_between(t0, c->rep.t_answered))) &&
	     put(o, "invocation_faults", num(c->rep.faults));
	if (c->measured)
		ok = ok && put(o, "vmm_rss_kib", cJSON_CreateNumber((double)c->mem.vmm_rss_kib)) &&
		     put(o, "guest_rss_kib", cJSON_CreateNumber((double)c->mem.guest_rss_kib)) &&
		     put(o, "guest_pss_kib", cJSON_CreateNumber((double)c->mem.guest_pss_kib)) &&
		     put(o, "guest_private_dirty_kib", cJSON_CreateNumber((double)c->mem.guest_private_dirty_kib));
	else
		ok = ok && put(o, "vmm_rss_kib", cJSON_CreateNull()) && put(o, "guest_rss_kib", cJSON_CreateNull()) &&
		     put(o, "guest_pss_kib", cJSON_CreateNull()) && put(o, "guest_private_dirty_kib", cJSON_CreateNull());
	if (ok)
		return o;
	cJSON_Delete(o);
	return NULL;
}

/* {"host":{...},"clones":{requested, answered, failed, differing, wall_ms, first_answer_ms,
 * last_answer_ms, clones_per_s, mean_vmm_rss_kib, mean_guest_pss_kib,
 * mean_guest_private_dirty_kib},"per_clone":[...]} (README). */
static int print_json(const struct clone *cl, int n, uint64_t t0, const struct fanout *f)
{
	struct runstats_host host;
	cJSON *root = cJSON_CreateObject(), *s = cJSON_CreateObject(), *list = cJSON_CreateArray();
	bool ok;
	char *text = NULL;
	int r = -ENOMEM;

	runstats_host_read(&host, NULL, NULL);
	ok = put(root, "host", runstats_host_json(&host)) && put(s, "requested", cJSON_CreateNumber(n)) &&
	     put(s, "answered", cJSON_CreateNumber(f->answered)) && put(s, "failed", cJSON_CreateNumber(f->failed)) &&
	     put(s, "differing", cJSON_CreateNumber(f->differing)) && put(s, "wall_ms", num(f->wall_ms)) &&
	     put(s, "first_answer_ms", num(f->first_ms)) && put(s, "last_answer_ms", num(f->last_ms)) &&
	     put(s, "clones_per_s", num(f->rate)) &&
	     put(s, "mean_vmm_rss_kib", f->measured ? num(f->mean_vmm_rss) : cJSON_CreateNull()) &&
	     put(s, "mean_guest_pss_kib", f->measured ? num(f->mean_guest_pss) : cJSON_CreateNull()) &&
	     put(s, "mean_guest_private_dirty_kib", f->measured ? num(f->mean_guest_dirty) : cJSON_CreateNull());
	ok = put(root, "clones", ok ? s : (cJSON_Delete(s), NULL)) && ok;
	for (int i = 0; ok && i < n; i++)
		ok = cJSON_AddItemToArray(list, clone_json(&cl[i], i + 1, t0));
	ok = put(root, "per_clone", ok ? list : (cJSON_Delete(list), NULL)) && ok;
	if (ok)
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text) {
		log_error("run: out of memory for the JSON summary");
		return r;
	}
	r = printf("%s\n", text) < 0 || fflush(stdout) ? -EIO : 0;
	if (r)
		log_error("run: cannot write the JSON summary");
	free(text);
	return r;
}

int runner_clones(const struct run_opts *o, struct runner_snap *snap, const char *input, size_t input_len)
{
	struct clone *cl = calloc((size_t)o->clones, sizeof(*cl));
	struct smaps_file mem;
	struct fanout f;
	uint64_t t0, deadline;
	int n = 0, status = RUNNER_FAILED, unsaved = 0, e;

	if (!cl) {
		log_error("run: out of memory for %d clones", o->clones);
		return RUNNER_FAILED;
	}
	if ((e = smaps_file_id(snap->entry.mem, &mem))) {
		log_error("run: snapshot memory file %s: %s", snap->entry.mem, strerror(-e));
		free(cl);
		return RUNNER_FAILED;
	}
	fflush(NULL); /* nothing buffered is written twice */
	t0 = now_ns();
	for (; n < o->clones && !runner_interrupted; n++) {
		int sv[2];

		cl[n].fd = -1;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			log_error("run: clone %d: socketpair: %s", n + 1, strerror(errno));
			break;
		}
		cl[n].pid = fork();
		if (cl[n].pid < 0) {
			log_error("run: clone %d: fork: %s", n + 1, strerror(errno));
			close(sv[0]);
			close(sv[1]);
			break;
		}
		if (cl[n].pid == 0) {
			/* The sockets of the clones before this one are theirs. */
			for (int i = 0; i < n; i++)
				close(cl[i].fd);
			close(sv[0]);
			_exit(clone_main(o, snap, n + 1, sv[1], input, input_len));
		}
		close(sv[1]);
		cl[n].fd = sv[0];
	}
	/* Each clone restores within --boot-timeout, takes the restore message within it again,
	 * and answers within --timeout + 5 s; a margin for the forks and namespaces. */
	deadline = t0 + (uint64_t)(2 * o->boot_timeout_s + o->timeout_s + 15) * 1000000000ull;
	collect_reports(cl, n, deadline);
	measure(cl, n, &mem);
	stop_all(cl, n);
	mark_differing(cl, n);
	tally(cl, n, t0, now_ns(), &f);
	f.failed += o->clones - n; /* never started */
	if (cl[0].reported && cl[0].rep.answered) {
		status = cl[0].rep.status;
		if (!o->json && cl[0].rep.body_len &&
		    fwrite(cl[0].body, 1, cl[0].rep.body_len, stdout) != cl[0].rep.body_len)
			log_error("run: cannot write the output");
		fflush(stdout);
	}
	for (int i = 0; o->outputs && i < n; i++)
		if (cl[i].reported && cl[i].rep.answered && !save_output(o->outputs, i + 1, &cl[i]))
			unsaved++;
	print_lines(cl, n, t0, &f);
	if (unsaved) {
		log_error("run: %d of the clones' outputs are not in %s (above: why)", unsaved, o->outputs);
		status = RUNNER_FAILED;
	}
	if (f.failed || f.differing) {
		log_error("run: of %d clones, %d failed and %d gave another output or exit status than the first",
			  o->clones, f.failed, f.differing);
		status = RUNNER_FAILED;
	}
	if (o->json && print_json(cl, n, t0, &f))
		status = RUNNER_FAILED;
	if (runner_interrupted)
		status = 128 + runner_interrupted;
	for (int i = 0; i < n; i++)
		free(cl[i].body);
	free(cl);
	return status;
}
