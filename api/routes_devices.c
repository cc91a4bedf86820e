/* The API's routes for devices: /drives/{id} and /network-interfaces/{id}, PUT before boot
 * (through the config setters) and PATCH after. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "routes_impl.h"

/* Firecracker requires the id in the path and the one in the body to agree. */
static bool body_id_matches(struct route_ctx *c, const cJSON *o, const char *key)
{
	const char *body_id = api_get_str(o, key);

	if (!strcmp(body_id, c->id))
		return true;
	if (!strcmp(key, "drive_id"))
		api_fault(c->resp, 400, "The id from the path does not match the id from the body!");
	else
		api_fault(c->resp, 400, "The id from the path [%s] does not match the id from the body [%s]!", c->id,
			  body_id);
	return false;
}

/* An id from a body, into a config struct's array: too long an id would be cut to a valid
 * one, so it is refused here with the setters' words. */
static int copy_id(char *dst, size_t size, const char *id, char *err, size_t errlen)
{
	if (!config_valid_id(id))
		return errorf(err, errlen, -EINVAL,
			      "API Resource IDs can only contain alphanumeric characters and underscores.");
	snprintf(dst, size, "%s", id);
	return 0;
}

/* A rate limiter of a PUT body: its enabled buckets, zeros for the others. */
static struct rl_config limiter(const cJSON *o, const char *key)
{
	struct rl_config c = { 0 };
	struct rl_update u;

	body_get_rate_limiter(o, key, &u);
	rate_limiter_config_update(&c, &u);
	return c;
}

/* ---- /drives ---- */

cJSON *api_drive_body(const char *body, size_t len, char *err, size_t errlen)
{
	static const struct field f[] = {
		{ "drive_id", F_STR, true, false },	  { "path_on_host", F_STR, true, false },
		{ "is_root_device", F_BOOL, true, false }, { "is_read_only", F_BOOL, false, true },
		{ "partuuid", F_STR, false, true },	  { "cache_type", F_STR, false, false },
		{ "io_engine", F_STR, false, true },	  { "rate_limiter", F_RATE_LIMITER, false, true },
		{ "socket", F_UNSUPPORTED, false, true },
	};

	return api_body(body, len, f, ARRAY_SIZE(f), err, errlen);
}

int api_drive_apply(struct api *a, const cJSON *o, char *err, size_t errlen)
{
	static const char *const caches[] = { "Unsafe", "Writeback" };
	static const char *const engines[] = { "Sync", "Async" };
	struct drive_config d = { 0 };
	const char *s;
	int r;

	if ((r = copy_id(d.id, sizeof(d.id), api_get_str(o, "drive_id"), err, errlen)))
		return r;
	api_get_bool(o, "is_root_device", &d.is_root);
	api_get_bool(o, "is_read_only", &d.read_only);
	if ((s = api_get_str(o, "cache_type"))) {
		if ((r = api_variant(s, caches, ARRAY_SIZE(caches), err, errlen)))
			return r;
		d.cache_writeback = !strcmp(s, "Writeback");
	}
	if ((s = api_get_str(o, "io_engine"))) {
		if ((r = api_variant(s, engines, ARRAY_SIZE(engines), err, errlen)))
			return r;
		if (strcmp(s, "Sync"))
			return errorf(err, errlen, -EINVAL,
				      "Drive config error: Unable to create the virtio block device: "
				      "VirtioBackend(FileEngine(UnsupportedEngine(%s))): kindling has only the Sync engine.",
				      s);
	}
	d.path = (char *)api_get_str(o, "path_on_host");
	d.partuuid = (char *)api_get_str(o, "partuuid");
	d.rate_limiter = limiter(o, "rate_limiter");
	return config_set_drive(&a->cfg, &d, err, errlen);
}

void route_put_drive(struct route_ctx *c)
{
	char err[1024];
	cJSON *o = api_drive_body(c->body, c->len, err, sizeof(err));
	int r;

	if (!o)
		api_fault(c->resp, 400, "%s", err);
	else if (body_id_matches(c, o, "drive_id") && route_boot_specific(c) &&
		 (r = api_drive_apply(c->a, o, err, sizeof(err))))
		api_fault_err(c->resp, r, err);
	else if (!c->resp->status)
		api_no_content(c->resp);
	cJSON_Delete(o);
}

#define ERR_PATCH_DRIVE "Drive config error: Unable to patch the block device: "

/* The drive's new backing file (PATCH path_on_host): checked, handed to the VMM, then
 * recorded. 0, or a fault answered. */
static int patch_drive_path(struct route_ctx *c, int idx, const char *path)
{
	struct vmm_config *cfg = &c->a->cfg;
	struct drive_config d;
	char err[1024] = "";
	char *copy;
	int r;

	if ((r = config_check_path(path, !cfg->drives[idx].read_only))) {
		api_fault(c->resp, 400,
			  ERR_PATCH_DRIVE "Device manager error: Virtio backend error: Error manipulating the backing "
					  "file: %s (os error %d) %s Please verify the request arguments.",
			  strerror(-r), -r, path);
		return r;
	}
	d = cfg->drives[idx];
	d.path = (char *)path;
	if ((r = c->a->ops->patch_drive(c->a->opaque, &d, err, sizeof(err)))) {
		api_fault(c->resp, 400, ERR_PATCH_DRIVE "%s Please verify the request arguments.", err);
		return r;
	}
	if (!(copy = strdup(path))) {
		api_fault(c->resp, 500, "Out of memory.");
		return -ENOMEM;
	}
	free(cfg->drives[idx].path);
	cfg->drives[idx].path = copy;
	return 0;
}

/* A limiter PATCH: the running device first, then the API's config (merged bucket by
 * bucket). A limiter without buckets ({}) changes nothing. 0, or -errno with err set. */
static int patch_limiter(struct api *a, bool net, const char *id, int which, const struct rl_update *u,
			 struct rl_config *cfg, char *err, size_t errlen)
{
	int r;

	if (!u->set_bandwidth && !u->set_ops)
		return 0;
	if (!a->ops->patch_rate_limiter)
		return errorf(err, errlen, -ENOTSUP, "rate limiters cannot be changed here.");
	if ((r = a->ops->patch_rate_limiter(a->opaque, net, id, which, u, err, errlen)))
		return r;
	rate_limiter_config_update(cfg, u);
	return 0;
}

void route_patch_drive(struct route_ctx *c)
{
	static const struct field f[] = {
		{ "drive_id", F_STR, true, false },
		{ "path_on_host", F_STR, false, true },
		{ "rate_limiter", F_RATE_LIMITER, false, true },
	};
	struct vmm_config *cfg = &c->a->cfg;
	struct rl_update u;
	char err[1024] = "";
	const char *path;
	bool has_limiter;
	int idx;
	cJSON *o = api_body(c->body, c->len, f, ARRAY_SIZE(f), err, sizeof(err));

	if (!o) {
		api_fault(c->resp, 400, "%s", err);
		return;
	}
	if (!body_id_matches(c, o, "drive_id"))
		goto out;
	if (api_state(c->a) == VMM_NOT_STARTED) {
		api_fault(c->resp, 400, ERR_BEFORE_BOOT);
		goto out;
	}
	idx = config_find_drive(cfg, c->id);
	if (idx < 0) {
		api_fault(c->resp, 400, ERR_PATCH_DRIVE "no drive with id '%s'. Please verify the request arguments.",
			  c->id);
		goto out;
	}
	path = api_get_str(o, "path_on_host");
	has_limiter = body_get_rate_limiter(o, "rate_limiter", &u);
	/* Firecracker takes a PATCH with neither for one of a vhost-user drive, which
	 * kindling's (virtio) drives are not. */
	if (!path && !has_limiter) {
		api_fault(c->resp, 400,
			  ERR_PATCH_DRIVE "Device manager error: Running method expected different backend. Please "
					  "verify the request arguments.");
		goto out;
	}
	if (path && patch_drive_path(c, idx, path))
		goto out;
	if (patch_limiter(c->a, false, c->id, 0, &u, &cfg->drives[idx].rate_limiter, err, sizeof(err))) {
		api_fault(c->resp, 400, ERR_PATCH_DRIVE "%s Please verify the request arguments.", err);
		goto out;
	}
	api_no_content(c->resp);
out:
	cJSON_Delete(o);
}

/* ---- /network-interfaces ---- */

cJSON *api_net_body(const char *body, size_t len, char *err, size_t errlen)
{
	static const struct field f[] = {
		{ "iface_id", F_STR, true, false },
		{ "host_dev_name", F_STR, true, false },
		{ "guest_mac", F_STR, false, true },
		{ "rx_rate_limiter", F_RATE_LIMITER, false, true },
		{ "tx_rate_limiter", F_RATE_LIMITER, false, true },
	};

	return api_body(body, len, f, ARRAY_SIZE(f), err, errlen);
}

int api_net_apply(struct api *a, const cJSON *o, char *err, size_t errlen)
{
	struct net_config n = { 0 };
	const char *s;
	int r;

	if ((r = copy_id(n.id, sizeof(n.id), api_get_str(o, "iface_id"), err, errlen)))
		return r;
	if ((s = api_get_str(o, "guest_mac"))) {
		if (config_parse_mac(s, n.mac))
			return errorf(err, errlen, -EINVAL,
				      BODY_ERR "invalid value: string \"%.40s\", expected a MAC address (xx:xx:xx:xx:xx:xx).",
				      s);
		n.has_mac = true;
	}
	/* Checked before the copy into host_dev_name, which would cut a long name. */
	s = api_get_str(o, "host_dev_name");
	if ((r = config_check_tap_name(s, err, errlen)))
		return r;
	snprintf(n.host_dev_name, sizeof(n.host_dev_name), "%s", s);
	n.rx_rate_limiter = limiter(o, "rx_rate_limiter");
	n.tx_rate_limiter = limiter(o, "tx_rate_limiter");
	return config_set_net(&a->cfg, &n, err, errlen);
}

void route_put_net(struct route_ctx *c)
{
	char err[1024];
	cJSON *o = api_net_body(c->body, c->len, err, sizeof(err));
	int r;

	if (!o)
		api_fault(c->resp, 400, "%s", err);
	else if (body_id_matches(c, o, "iface_id") && route_boot_specific(c) &&
		 (r = api_net_apply(c->a, o, err, sizeof(err))))
		api_fault_err(c->resp, r, err);
	else if (!c->resp->status)
		api_no_content(c->resp);
	cJSON_Delete(o);
}

void route_patch_net(struct route_ctx *c)
{
	static const struct field f[] = {
		{ "iface_id", F_STR, true, false },
		{ "rx_rate_limiter", F_RATE_LIMITER, false, true },
		{ "tx_rate_limiter", F_RATE_LIMITER, false, true },
	};
	char err[1024];
	struct rl_update rx, tx;
	struct net_config *n;
	int idx;
	cJSON *o = api_body(c->body, c->len, f, ARRAY_SIZE(f), err, sizeof(err));

	if (!o) {
		api_fault(c->resp, 400, "%s", err);
		return;
	}
	if (!body_id_matches(c, o, "iface_id"))
		goto out;
	if (api_state(c->a) == VMM_NOT_STARTED) {
		api_fault(c->resp, 400, ERR_BEFORE_BOOT);
		goto out;
	}
	idx = config_find_net(&c->a->cfg, c->id);
	if (idx < 0) {
		api_fault(c->resp, 400, "Network config error: no network interface with id '%s'.", c->id);
		goto out;
	}
	n = &c->a->cfg.nets[idx];
	body_get_rate_limiter(o, "rx_rate_limiter", &rx);
	body_get_rate_limiter(o, "tx_rate_limiter", &tx);
	if (patch_limiter(c->a, true, c->id, 0, &rx, &n->rx_rate_limiter, err, sizeof(err)) ||
	    patch_limiter(c->a, true, c->id, 1, &tx, &n->tx_rate_limiter, err, sizeof(err))) {
		api_fault(c->resp, 400, "Network config error: Unable to update the net device: %s", err);
		goto out;
	}
	api_no_content(c->resp);
out:
	cJSON_Delete(o);
}
