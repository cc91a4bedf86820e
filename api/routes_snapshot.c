/* The API's snapshot routes, PUT /snapshot/create and PUT /snapshot/load, with Firecracker
 * v1.7.0's bodies, order checks and fault messages (src/firecracker/src/api_server/request/
 * snapshot.rs, src/vmm/src/rpc_interface.rs). The work is the VMM's (vmm/snapshot.h),
 * reached through api_ops. Unlike Firecracker, a failed load is an ordinary 400: the VMM
 * and the API are left as they were, and the process keeps serving. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "routes_impl.h"

/* Firecracker's words (snapshot.rs, rpc_interface.rs, vstate/vcpu/mod.rs). */
#define ERR_MISSING_MEM "missing field: either `mem_backend` or `mem_file_path` is required"
#define ERR_BOTH_MEM "too many fields: either `mem_backend` or `mem_file_path` exclusively is required"
#define ERR_LOAD_NOT_ALLOWED \
	"Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources."
#define ERR_DIFF_NO_TRACKING \
	"The requested operation is not supported: Diff snapshots are not allowed on uVMs with dirty page " \
	"tracking disabled."
#define ERR_CREATE_RUNNING \
	"Create snapshot error: Cannot save the microVM state: Operation not allowed: save/restore unavailable " \
	"while running"
#define LOAD_DEPRECATION "PUT /snapshot/load: mem_file_path field is deprecated."

static void put_create(struct route_ctx *c)
{
	/* CreateSnapshotParams: snapshot_type defaults to Full. */
	static const struct field f[] = {
		{ "snapshot_type", F_STR, false, false },
		{ "snapshot_path", F_PATH, true, false },
		{ "mem_file_path", F_PATH, true, false },
	};
	static const char *const types[] = { "Diff", "Full" };
	struct api *a = c->a;
	struct snapshot_create_params p = { .type = SNAPSHOT_FULL };
	char err[1024];
	const char *t;
	uint64_t t0;
	int r;
	cJSON *o = api_body(c->body, c->len, f, ARRAY_SIZE(f), err, sizeof(err));

	if (!o) {
		api_fault(c->resp, 400, "%s", err);
		return;
	}
	if ((t = api_get_str(o, "snapshot_type")) && (r = api_variant(t, types, ARRAY_SIZE(types), err, sizeof(err)))) {
		api_fault_err(c->resp, r, err);
		goto out;
	}
	if (t && !strcmp(t, "Diff"))
		p.type = SNAPSHOT_DIFF;
	p.state_path = api_get_str(o, "snapshot_path");
	p.mem_path = api_get_str(o, "mem_file_path");
	/* Firecracker's order: pre-boot refusal, then the Diff check, then the vCPUs' state. */
	if (api_state(a) == VMM_NOT_STARTED) {
		api_fault(c->resp, 400, ERR_BEFORE_BOOT);
	} else if (p.type == SNAPSHOT_DIFF && !a->cfg.track_dirty_pages) {
		api_fault(c->resp, 400, ERR_DIFF_NO_TRACKING);
	} else if (api_state(a) != VMM_PAUSED) {
		api_fault(c->resp, 400, ERR_CREATE_RUNNING);
	} else if (!a->ops->snapshot_create) {
		api_fault(c->resp, 400, "Create snapshot error: snapshots are not available in this build");
	} else {
		t0 = now_ns();
		r = a->ops->snapshot_create(a->opaque, &p, err, sizeof(err));
		if (r) {
			api_fault(c->resp, r == -ENOMEM ? 500 : 400, "Create snapshot error: %s", err);
		} else {
			log_info("'create %s snapshot' VMM action took %llu us.", p.type == SNAPSHOT_DIFF ? "diff" : "full",
				 (unsigned long long)((now_ns() - t0) / 1000));
			api_no_content(c->resp);
		}
	}
out:
	cJSON_Delete(o);
}

/* LoadSnapshotConfig, with MemBackendConfig nested; one of mem_file_path and mem_backend. */
static cJSON *load_body(struct route_ctx *c, struct snapshot_load_params *p, cJSON **backend, char *err,
			size_t errlen)
{
	/* track_dirty_pages is Firecracker v1.13's name for enable_diff_snapshots (v1.7.0
	 * refuses it as an unknown field); both are accepted. */
	static const struct field f[] = {
		{ "snapshot_path", F_PATH, true, false },
		{ "mem_file_path", F_PATH, false, true },
		{ "mem_backend", F_MEM_BACKEND, false, true },
		{ "enable_diff_snapshots", F_BOOL, false, false },
		{ "resume_vm", F_BOOL, false, false },
		{ "track_dirty_pages", F_BOOL, false, false },
	};
	static const struct field mf[] = {
		{ "backend_path", F_PATH, true, false },
		{ "backend_type", F_STR, true, false },
	};
	static const char *const backends[] = { "File", "Uffd" };
	char why[700];
	bool serde, diff = false, track = false;
	const char *file, *type = NULL;
	cJSON *o = api_body(c->body, c->len, f, ARRAY_SIZE(f), err, errlen);

	*backend = NULL;
	if (!o)
		return NULL;
	*backend = body_parse_member(c->body, c->len, "mem_backend", mf, ARRAY_SIZE(mf), why, sizeof(why), &serde);
	if (!*backend && why[0]) {
		snprintf(err, errlen, "%s%s%s", serde ? BODY_ERR : "", why, serde ? "." : "");
		goto bad;
	}
	if (*backend && api_variant((type = api_get_str(*backend, "backend_type")), backends, ARRAY_SIZE(backends),
				    err, errlen))
		goto bad;
	file = api_get_str(o, "mem_file_path");
	if (file && *backend) {
		snprintf(err, errlen, BODY_ERR ERR_BOTH_MEM ".");
		goto bad;
	}
	if (!file && !*backend) {
		snprintf(err, errlen, BODY_ERR ERR_MISSING_MEM ".");
		goto bad;
	}
	p->state_path = api_get_str(o, "snapshot_path");
	if (file) {
		p->backend = SNAPSHOT_MEM_FILE;
		p->backend_path = file;
	} else {
		p->backend = strcmp(type, "Uffd") ? SNAPSHOT_MEM_FILE : SNAPSHOT_MEM_UFFD;
		p->backend_path = api_get_str(*backend, "backend_path");
	}
	api_get_bool(o, "enable_diff_snapshots", &diff);
	api_get_bool(o, "track_dirty_pages", &track);
	p->track_dirty_pages = diff || track;
	api_get_bool(o, "resume_vm", &p->resume);
	return o;
bad:
	cJSON_Delete(*backend);
	cJSON_Delete(o);
	*backend = NULL;
	return NULL;
}

int api_snapshot_load(struct api *a, struct snapshot_load_params *p, char *err, size_t errlen)
{
	struct vmm_config loaded;
	uint64_t t0;
	int r;

	if (api_state(a) != VMM_NOT_STARTED)
		return errorf(err, errlen, -EBUSY, ERR_AFTER_BOOT);
	if (a->boot_path) {
		log_info("%s", ERR_LOAD_NOT_ALLOWED + strlen("Load snapshot error: "));
		return errorf(err, errlen, -EBUSY, ERR_LOAD_NOT_ALLOWED);
	}
	if (!a->ops->snapshot_load)
		return errorf(err, errlen, -ENOTSUP, "Load snapshot error: snapshots are not available in this build");
	config_init(&loaded);
	loaded.host_mem_mib = a->cfg.host_mem_mib;
	p->config = &loaded;
	t0 = now_ns();
	r = a->ops->snapshot_load(a->opaque, p, err, errlen);
	p->config = NULL;
	if (r) {
		/* Firecracker exits here; the VMM left nothing behind, so the API stays as it
		 * was and the client may try again. */
		config_free(&loaded);
		return errwrap(err, errlen, r, "Load snapshot error: Failed to restore from snapshot");
	}
	/* GET /vm/config now describes the loaded VM, as in Firecracker. */
	loaded.track_dirty_pages = p->track_dirty_pages;
	config_free(&a->cfg);
	a->cfg = loaded;
	log_info("'load snapshot' VMM action took %llu us.", (unsigned long long)((now_ns() - t0) / 1000));
	return 0;
}

static void put_load(struct route_ctx *c)
{
	struct snapshot_load_params p = { 0 };
	char err[1024];
	cJSON *backend;
	int r;
	cJSON *o = load_body(c, &p, &backend, err, sizeof(err));

	if (!o) {
		api_fault(c->resp, 400, "%s", err);
		return;
	}
	if (p.backend_path == api_get_str(o, "mem_file_path")) {
		/* Firecracker answers with a Deprecation header (even when the load fails) and
		 * logs this line. */
		log_warn(LOAD_DEPRECATION);
		c->resp->deprecated = true;
	}
	if ((r = api_snapshot_load(c->a, &p, err, sizeof(err))))
		api_fault_err(c->resp, r, err);
	else
		api_no_content(c->resp);
	cJSON_Delete(backend);
	cJSON_Delete(o);
}

void route_put_snapshot(struct route_ctx *c)
{
	/* Firecracker reads the segment after /snapshot/ and ignores the rest. */
	int n = c->id ? (int)strcspn(c->id, "/") : 0;

	if (!c->id)
		api_fault(c->resp, 400, "Missing snapshot operation type.");
	else if (n == 6 && !strncmp(c->id, "create", 6))
		put_create(c);
	else if (n == 4 && !strncmp(c->id, "load", 4))
		put_load(c);
	else
		api_fault(c->resp, 400, "Invalid request method and/or path: PUT /snapshot/%.*s.", n > 64 ? 64 : n, c->id);
}
