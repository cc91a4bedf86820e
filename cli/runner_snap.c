/* `kindling run --snapshot-dir`: taking, finding and restoring function snapshots (see
 * runner_snap.h; the directory itself is runsnap.c's). */
#include "runner_snap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcopy.h"
#include "log.h"
#include "restoremsg.h"

#define API_TIMEOUT_S 60 /* a create writes all of guest memory */
#define API_MAX_ANSWER 65536

static double ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

int runner_snap_find(struct runner_snap *s, const char *dir, const struct runsnap_fn *fn,
		     const volatile sig_atomic_t *cancel, char *err, size_t errlen)
{
	char why[160], rm[300];
	enum runsnap_found found;
	int r;

	memset(s, 0, sizeof(*s));
	s->dir = dir;
	s->cancel = cancel;
	s->build.lock_fd = -1;
	r = runsnap_key(fn, &s->key, err, errlen);
	if (r)
		return errwrap(err, errlen, r, "--snapshot-dir");
	found = runsnap_lookup(dir, &s->key, &s->entry, why, sizeof(why));
	s->usable = found == RUNSNAP_HIT;
	if (found == RUNSNAP_STALE || found == RUNSNAP_DAMAGED) {
		r = runsnap_remove(dir, s->key.name, rm, sizeof(rm));
		log_warn("run: snapshot %s is %s (%s): %s; booting cold to rebuild it", s->entry.path,
			 found == RUNSNAP_STALE ? "stale" : "damaged", why, r ? rm : "removed");
	}
	return 0;
}

void runner_snap_failed(struct runner_snap *s, const char *why)
{
	char rm[300];
	int r = runsnap_remove(s->dir, s->key.name, rm, sizeof(rm));

	log_warn("run: snapshot %s is damaged (it does not restore: %s): %s; booting cold to rebuild it", s->entry.path,
		 why, r ? rm : "removed");
	s->usable = false;
}

int runner_snap_begin(struct runner_snap *s, char *err, size_t errlen)
{
	int r;

	snprintf(s->api_dir, sizeof(s->api_dir), "/tmp/kindling-run-XXXXXX");
	if (!mkdtemp(s->api_dir)) {
		r = errorf_errno(err, errlen, errno, "cannot create a directory for the VMM's API socket");
		s->api_dir[0] = 0;
		return r;
	}
	snprintf(s->api_sock, sizeof(s->api_sock), "%s/api.sock", s->api_dir);
	r = runsnap_begin(s->dir, &s->key, &s->build, err, errlen);
	if (r)
		runner_snap_end(s);
	return r;
}

/* One request to the VMM's API; 0 on a 2xx answer, else -errno with the fault in err. */
static int api_call(const struct runner_snap *s, const char *method, const char *path, const char *body,
		    double *ms, char *err, size_t errlen)
{
	struct httpc_response resp;
	uint64_t t0 = now_ns();
	int fd = httpc_dial_unix(s->api_sock, API_TIMEOUT_S), r;

	r = fd < 0 ? fd : httpc_request(fd, method, path, body, strlen(body), API_MAX_ANSWER, s->cancel, &resp);
	*ms = ms_since(t0);
	if (r)
		return errorf(err, errlen, r, "%s %s: %s", method, path, strerror(-r));
	if (resp.status / 100 != 2)
		r = errorf(err, errlen, -EIO, "%s %s answered %d: %.200s", method, path, resp.status, resp.body);
	httpc_free(&resp);
	return r;
}

/* kindling-init answers a restore message it cannot parse with 400, one that predates the
 * message with 404: a snapshot of the latter could never be given fresh identity. */
static int check_restore_support(char *err, size_t errlen)
{
	struct httpc_response resp;
	int r = runner_guest_post("/restore", "{}", 2, 10, &resp);

	if (r)
		return errorf(err, errlen, r, "POST /restore to the guest: %s", strerror(-r));
	if (resp.status == 404 || resp.status == 405)
		r = errorf(err, errlen, -ENOTSUP,
			   "the function's kindling-init predates the restore message (POST /restore answered %d): "
			   "package it again with guest/mkfunction.sh",
			   resp.status);
	else if (resp.status != 400)
		r = errorf(err, errlen, -EIO, "POST /restore with an empty message answered %d, not 400", resp.status);
	httpc_free(&resp);
	return r;
}

int runner_snap_take(struct runner_snap *s, bool *running, char *err, size_t errlen)
{
	char body[2 * PATH_MAX + 128], e2[256];
	uint64_t t0 = now_ns();
	bool published;
	int r;

	*running = true;
	r = check_restore_support(err, errlen);
	s->probe_ms = ms_since(t0);
	if (r)
		goto out;
	r = api_call(s, "PATCH", "/vm", "{\"state\":\"Paused\"}", &s->pause_ms, err, errlen);
	if (r)
		goto out;
	snprintf(body, sizeof(body), "{\"snapshot_type\":\"Full\",\"snapshot_path\":\"%s\",\"mem_file_path\":\"%s\"}",
		 s->build.state, s->build.mem);
	r = api_call(s, "PUT", "/snapshot/create", body, &s->create_ms, err, errlen);
	/* The disk as the memory snapshot knows it: the vCPUs are paused, and every request
	 * they queued was served before the VMM answered the create. */
	if (!r && s->disk_src) {
		t0 = now_ns();
		r = fcopy(s->disk_src, s->build.disk, NULL, NULL, err, errlen);
		s->disk_ms = ms_since(t0);
	}
	if (api_call(s, "PATCH", "/vm", "{\"state\":\"Resumed\"}", &s->resume_ms, e2, sizeof(e2))) {
		*running = false;
		if (!r)
			r = errorf(err, errlen, -EIO, "%s", e2);
		goto out;
	}
	if (r)
		goto out;
	t0 = now_ns();
	r = runsnap_commit(s->dir, &s->key, &s->build, &published, err, errlen);
	s->store_ms = ms_since(t0);
	if (!r) {
		char disk[48] = "";

		if (s->disk_src)
			snprintf(disk, sizeof(disk), ", disk %.1f ms", s->disk_ms);
		snprintf(s->report, sizeof(s->report),
			 "snapshot: %.1f ms (check %.1f ms, pause %.1f ms, create %.1f ms%s, resume %.1f ms, store %.1f "
			 "ms), %s %s",
			 s->probe_ms + s->pause_ms + s->create_ms + s->disk_ms + s->resume_ms + s->store_ms, s->probe_ms,
			 s->pause_ms, s->create_ms, disk, s->resume_ms, s->store_ms,
			 published ? "stored as" : "discarded: another run stored", s->entry.path);
	}
out:
	runsnap_abort(&s->build);
	return r;
}

int runner_snap_restore_msg(struct runner_snap *s, const char *hostname, int timeout_s, char *err, size_t errlen)
{
	struct httpc_response resp;
	char body[512], rm[300];
	int n = restoremsg_build(body, sizeof(body), hostname, NULL, NULL), r;

	if (n < 0)
		return errorf(err, errlen, n, "cannot build the restore message: %s", strerror(-n));
	r = runner_guest_post("/restore", body, (size_t)n, timeout_s, &resp);
	explicit_bzero(body, sizeof(body)); /* the entropy is the guest's alone */
	if (r == -EINTR || (s->cancel && *s->cancel))
		return errorf(err, errlen, -EINTR, "interrupted while sending the restore message");
	if (r)
		errorf(err, errlen, r, "the restored guest did not take the restore message: %s", strerror(-r));
	else if (resp.status != 200)
		r = errorf(err, errlen, -EIO, "the restored guest refused the restore message (HTTP %d): %.200s",
			   resp.status, resp.body);
	else if (s->verbose) /* kindling-init says nothing on the console when all went well */
		log_info("run: the guest took the restore message: %.*s", (int)strcspn(resp.body, "\r\n"), resp.body);
	httpc_free(&resp);
	if (r) {
		char reason[320];

		snprintf(reason, sizeof(reason), "%s", err);
		n = runsnap_remove(s->dir, s->key.name, rm, sizeof(rm));
		snprintf(err, errlen, "%s; snapshot %s: %s, the next run rebuilds it", reason, s->entry.path,
			 n ? rm : "removed");
	}
	return r;
}

void runner_snap_end(struct runner_snap *s)
{
	runsnap_abort(&s->build);
	if (s->api_dir[0]) {
		unlink(s->api_sock); /* if the VMM did not */
		rmdir(s->api_dir);
	}
	s->api_dir[0] = 0;
}
