/* The API's routes for the microVM as a whole: /, /version, /boot-source, /machine-config,
 * /actions, /vm, /vm/config, /logger and /metrics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "routes_impl.h"

void route_get_root(struct route_ctx *c)
{
	static const char *const states[] = { [VMM_NOT_STARTED] = "Not started", [VMM_RUNNING] = "Running",
					      [VMM_PAUSED] = "Paused" };
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", c->a->id);
	cJSON_AddStringToObject(o, "state", states[api_state(c->a)]);
	cJSON_AddStringToObject(o, "vmm_version", KINDLING_VERSION);
	cJSON_AddStringToObject(o, "app_name", "kindling");
	api_respond_json(c->resp, 200, o);
}

void route_get_version(struct route_ctx *c)
{
	cJSON *o = cJSON_CreateObject();

	/* The Firecracker API version we are compatible with, then our own. */
	cJSON_AddStringToObject(o, "firecracker_version", API_COMPAT_VERSION);
	cJSON_AddStringToObject(o, "kindling_version", KINDLING_VERSION);
	api_respond_json(c->resp, 200, o);
}

/* ---- /boot-source ---- */

cJSON *api_boot_source_body(const char *body, size_t len, char *err, size_t errlen)
{
	static const struct field f[] = {
		{ "kernel_image_path", F_STR, true, false },
		{ "initrd_path", F_STR, false, true },
		{ "boot_args", F_STR, false, true },
	};

	return api_body(body, len, f, ARRAY_SIZE(f), err, errlen);
}

int api_boot_source_apply(struct api *a, const cJSON *o, char *err, size_t errlen)
{
	return config_set_boot_source(&a->cfg, api_get_str(o, "kernel_image_path"), api_get_str(o, "initrd_path"),
				      api_get_str(o, "boot_args"), err, errlen);
}

void route_put_boot_source(struct route_ctx *c)
{
	char err[1024];
	cJSON *o = api_boot_source_body(c->body, c->len, err, sizeof(err));
	int r;

	if (!o)
		api_fault(c->resp, 400, "%s", err);
	else if (route_boot_specific(c) && (r = api_boot_source_apply(c->a, o, err, sizeof(err))))
		api_fault_err(c->resp, r, err);
	else if (!c->resp->status)
		api_no_content(c->resp);
	cJSON_Delete(o);
}

/* ---- /machine-config ---- */

cJSON *api_machine_config_body(const char *body, size_t len, bool patch, char *err, size_t errlen)
{
	/* PUT is Firecracker's MachineConfig, PATCH its MachineConfigUpdate (all Options). */
	static const struct field f[] = {
		{ "vcpu_count", F_U8, true, false },	    { "mem_size_mib", F_USIZE, true, false },
		{ "smt", F_BOOL, false, false },	    { "track_dirty_pages", F_BOOL, false, false },
		{ "cpu_template", F_STR, false, true }, { "huge_pages", F_STR, false, false },
	};
	struct field pf[ARRAY_SIZE(f)];

	memcpy(pf, f, sizeof(f));
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		pf[i].required = !patch && f[i].required;
		pf[i].nullable = patch || f[i].nullable;
	}
	return api_body(body, len, pf, ARRAY_SIZE(pf), err, errlen);
}

int api_machine_config_apply(struct api *a, const cJSON *o, bool patch, bool *deprecated, char *err,
			     size_t errlen)
{
	static const char *const templates[] = { "C3", "T2", "T2S", "None", "T2CL", "T2A" };
	static const char *const huge[] = { "None", "2M" };
	/* PUT resets the optional fields to their defaults. */
	struct machine_update u = { .has_smt = !patch, .has_track_dirty_pages = !patch };
	const char *s;
	double v;
	int r;

	if ((s = api_get_str(o, "cpu_template"))) {
		if ((r = api_variant(s, templates, ARRAY_SIZE(templates), err, errlen)))
			return r;
		/* Firecracker answers with a Deprecation header and logs this line. */
		log_warn("%s /machine-config: cpu_template field is deprecated.", patch ? "PATCH" : "PUT");
		*deprecated = true;
		if (strcmp(s, "None"))
			return errorf(err, errlen, -EINVAL, "cpu_template '%s' is not supported by kindling; use \"None\".",
				      s);
	}
	if ((s = api_get_str(o, "huge_pages"))) {
		if ((r = api_variant(s, huge, ARRAY_SIZE(huge), err, errlen)))
			return r;
		if (strcmp(s, "None"))
			return errorf(err, errlen, -EINVAL, "huge_pages '%s' is not supported by kindling; use \"None\".",
				      s);
	}
	u.has_track_dirty_pages |= api_get_bool(o, "track_dirty_pages", &u.track_dirty_pages);
	u.has_smt |= api_get_bool(o, "smt", &u.smt);
	/* The body's types are checked (vcpu_count a u8, mem_size_mib a usize), but a number
	 * must not reach the casts below negative or NaN whatever the text was: a config file
	 * with NUL bytes around "-6" got through (cJSON takes a NUL for white space), and a
	 * negative double cast to an unsigned type is undefined (fuzz.api, UBSan). */
	if ((u.has_vcpu_count = api_get_num(o, "vcpu_count", &v))) {
		if (!(v >= 0))
			return errorf(err, errlen, -EINVAL, "invalid value: integer `%.0f`, expected u8", v);
		u.vcpu_count = v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v;
	}
	if ((u.has_mem_size_mib = api_get_num(o, "mem_size_mib", &v))) {
		if (!(v >= 0))
			return errorf(err, errlen, -EINVAL, "invalid value: integer `%.0f`, expected usize", v);
		u.mem_size_mib = v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v;
	}
	return config_set_machine(&a->cfg, &u, err, errlen);
}

void route_put_machine_config(struct route_ctx *c)
{
	char err[1024];
	cJSON *o = api_machine_config_body(c->body, c->len, c->patch, err, sizeof(err));
	const cJSON *m;
	bool any = false;
	int r;

	if (!o) {
		api_fault(c->resp, 400, "%s", err);
		return;
	}
	cJSON_ArrayForEach(m, o) any |= !cJSON_IsNull(m);
	if (c->patch && !any)
		api_fault(c->resp, 400, "Empty PATCH request.");
	else if (route_boot_specific(c) &&
		 (r = api_machine_config_apply(c->a, o, c->patch, &c->resp->deprecated, err, sizeof(err))))
		api_fault_err(c->resp, r, err);
	else if (!c->resp->status)
		api_no_content(c->resp);
	cJSON_Delete(o);
}

void route_get_machine_config(struct route_ctx *c)
{
	const struct vmm_config *cfg = &c->a->cfg;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "vcpu_count", cfg->vcpu_count);
	cJSON_AddNumberToObject(o, "mem_size_mib", (double)cfg->mem_size_mib);
	cJSON_AddBoolToObject(o, "smt", cfg->smt);
	cJSON_AddBoolToObject(o, "track_dirty_pages", cfg->track_dirty_pages);
	cJSON_AddStringToObject(o, "huge_pages", "None");
	api_respond_json(c->resp, 200, o);
}

/* ---- /actions and /vm ---- */

int api_instance_start(struct api *a, char *err, size_t errlen)
{
	int r;

	if (api_state(a) != VMM_NOT_STARTED)
		return errorf(err, errlen, -EBUSY, ERR_AFTER_BOOT);
	r = config_validate(&a->cfg, err, errlen);
	if (!r)
		r = a->ops->start(a->opaque, &a->cfg, err, errlen);
	if (r)
		return errwrap(err, errlen, r, "Start microvm error");
	return 0;
}

void route_put_actions(struct route_ctx *c)
{
	static const struct field f[] = { { "action_type", F_STR, true, false } };
	static const char *const actions[] = { "FlushMetrics", "InstanceStart", "SendCtrlAltDel" };
	struct api *a = c->a;
	char err[1024] = "";
	const char *t;
	int r;
	cJSON *o = api_body(c->body, c->len, f, ARRAY_SIZE(f), err, sizeof(err));

	if (!o) {
		api_fault(c->resp, 400, "%s", err);
		return;
	}
	t = api_get_str(o, "action_type");
	if ((r = api_variant(t, actions, ARRAY_SIZE(actions), err, sizeof(err)))) {
		api_fault_err(c->resp, r, err);
	} else if (!strcmp(t, "InstanceStart")) {
		if ((r = api_instance_start(a, err, sizeof(err))))
			api_fault(c->resp, 400, "%s", err);
		else
			api_no_content(c->resp);
	} else if (api_state(a) == VMM_NOT_STARTED) {
		api_fault(c->resp, 400, ERR_BEFORE_BOOT);
	} else if (!strcmp(t, "SendCtrlAltDel")) {
		if (a->ops->ctrl_alt_del(a->opaque, err, sizeof(err)))
			api_fault(c->resp, 400, "Internal VMM error: SendCtrlAltDel failed: %s", err);
		else
			api_no_content(c->resp);
	} else if (!a->metrics_path) {
		api_no_content(c->resp); /* as in Firecracker: nothing to flush to */
	} else if (a->ops->flush_metrics(a->opaque, err, sizeof(err))) {
		api_fault(c->resp, 400, "Internal VMM error: FlushMetrics failed: %s", err);
	} else {
		api_no_content(c->resp);
	}
	cJSON_Delete(o);
}

void route_patch_vm(struct route_ctx *c)
{
	static const struct field f[] = { { "state", F_STR, true, false } };
	static const char *const states[] = { "Paused", "Resumed" };
	struct api *a = c->a;
	char err[1024] = "";
	const char *s;
	bool pause;
	int r;
	cJSON *o = api_body(c->body, c->len, f, ARRAY_SIZE(f), err, sizeof(err));

	if (!o) {
		api_fault(c->resp, 400, "%s", err);
		return;
	}
	s = api_get_str(o, "state");
	pause = !strcmp(s, "Paused");
	if ((r = api_variant(s, states, ARRAY_SIZE(states), err, sizeof(err))))
		api_fault_err(c->resp, r, err);
	else if (api_state(a) == VMM_NOT_STARTED)
		api_fault(c->resp, 400, ERR_BEFORE_BOOT);
	else if (pause != (api_state(a) == VMM_PAUSED) && a->ops->pause(a->opaque, pause, err, sizeof(err)))
		api_fault(c->resp, 400, "Internal VMM error: cannot change the VM state: %s", err);
	else
		api_no_content(c->resp);
	cJSON_Delete(o);
}

void route_get_vm_config(struct route_ctx *c)
{
	char *s = api_vm_config_json(c->a);

	c->resp->status = s ? 200 : 500;
	c->resp->body = s;
	c->resp->body_len = s ? strlen(s) : 0;
}

/* ---- /logger and /metrics ---- */

cJSON *api_logger_body(const char *body, size_t len, char *err, size_t errlen)
{
	static const struct field f[] = {
		{ "log_path", F_STR, false, true },	   { "level", F_STR, false, true },
		{ "show_level", F_BOOL, false, true },	   { "show_log_origin", F_BOOL, false, true },
		{ "module", F_STR, false, true },
	};

	return api_body(body, len, f, ARRAY_SIZE(f), err, errlen);
}

int api_logger_apply(struct api *a, const cJSON *o, char *err, size_t errlen)
{
	struct logger_config lc = { .level = LOG_INFO };
	const char *s;
	int r;

	if ((s = api_get_str(o, "level")) && log_parse_level(s, &lc.level))
		return errorf(err, errlen, -EINVAL, BODY_ERR "Failed to parse string to level filter: %.64s.", s);
	api_get_bool(o, "show_level", &lc.show_level);
	api_get_bool(o, "show_log_origin", &lc.show_log_origin);
	lc.log_path = (char *)api_get_str(o, "log_path");
	lc.module = (char *)api_get_str(o, "module");
	if ((r = a->ops->logger(a->opaque, &lc, err, errlen)))
		return errwrap(err, errlen, r, "Logger error");
	free(a->logger.log_path);
	free(a->logger.module);
	a->logger = lc;
	a->logger.log_path = lc.log_path ? strdup(lc.log_path) : NULL;
	a->logger.module = lc.module ? strdup(lc.module) : NULL;
	a->has_logger = true;
	return 0;
}

void route_put_logger(struct route_ctx *c)
{
	char err[1024];
	cJSON *o;
	int r;

	/* As Firecracker: after boot the VMM thread opens nothing (its filter has no openat). */
	if (!route_pre_boot(c))
		return;
	if (!(o = api_logger_body(c->body, c->len, err, sizeof(err))))
		api_fault(c->resp, 400, "%s", err);
	else if ((r = api_logger_apply(c->a, o, err, sizeof(err))))
		api_fault_err(c->resp, r, err);
	else
		api_no_content(c->resp);
	cJSON_Delete(o);
}

#define ERR_METRICS "Metrics error: Cannot initialize the metrics system due to bad user input"

cJSON *api_metrics_body(const char *body, size_t len, char *err, size_t errlen)
{
	static const struct field f[] = { { "metrics_path", F_STR, true, false } };

	return api_body(body, len, f, ARRAY_SIZE(f), err, errlen);
}

int api_metrics_apply(struct api *a, const cJSON *o, char *err, size_t errlen)
{
	const char *path = api_get_str(o, "metrics_path");
	int r;

	if (a->metrics_path)
		return errorf(err, errlen, -EEXIST, ERR_METRICS ": Reinitialization of metrics not allowed.");
	if ((r = a->ops->metrics(a->opaque, path, err, errlen)))
		return errwrap(err, errlen, r, ERR_METRICS);
	/* The op may have recorded the path already (control_set_metrics_path does). */
	if (!a->metrics_path && !(a->metrics_path = strdup(path)))
		return errorf(err, errlen, -ENOMEM, "Out of memory.");
	return 0;
}

void route_put_metrics(struct route_ctx *c)
{
	char err[1024];
	cJSON *o;
	int r;

	if (!route_pre_boot(c))
		return;
	if (!(o = api_metrics_body(c->body, c->len, err, sizeof(err))))
		api_fault(c->resp, 400, "%s", err);
	else if ((r = api_metrics_apply(c->a, o, err, sizeof(err))))
		api_fault_err(c->resp, r, err);
	else
		api_no_content(c->resp);
	cJSON_Delete(o);
}
