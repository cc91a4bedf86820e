/* Firecracker's JSON layout of a whole microVM (its VmmConfig), both ways: GET /vm/config's
 * output, and --config-file's input. Each section of a file is checked and applied by the
 * same api_*_body/api_*_apply pair as the API's route for it, so a file gets exactly the
 * API's validation and messages. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "routes_impl.h"

static cJSON *str_or_null(const char *v)
{
	return v ? cJSON_CreateString(v) : cJSON_CreateNull();
}

/* An integer as JSON, exact past 2^53 (cJSON prints doubles). */
static cJSON *u64_json(uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	return cJSON_CreateRaw(s);
}

/* Firecracker's TokenBucketConfig (null when there is no bucket). */
static cJSON *bucket_json(const struct rl_bucket_config *b)
{
	cJSON *o;

	if (!rate_limiter_bucket_enabled(b))
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "size", u64_json(b->size));
	cJSON_AddItemToObject(o, "one_time_burst", b->one_time_burst ? u64_json(b->one_time_burst) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "refill_time", u64_json(b->refill_time));
	return o;
}

/* Firecracker's RateLimiterConfig as GET /vm/config shows it: null without any bucket. */
static cJSON *limiter_json(const struct rl_config *c)
{
	cJSON *o;

	if (!rate_limiter_config_enabled(c))
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "bandwidth", bucket_json(&c->bandwidth));
	cJSON_AddItemToObject(o, "ops", bucket_json(&c->ops));
	return o;
}

/* Firecracker's VmmConfig, key for key: sections kindling lacks are null, as are logger and
 * metrics (Firecracker does not report them either). */
char *api_vm_config_json(const struct api *a)
{
	const struct vmm_config *cfg = &a->cfg;
	cJSON *o = cJSON_CreateObject(), *bs, *mc, *drives, *nets;
	char *s;

	bs = cJSON_AddObjectToObject(o, "boot-source");
	cJSON_AddStringToObject(bs, "kernel_image_path", cfg->kernel_path ? cfg->kernel_path : "");
	cJSON_AddItemToObject(bs, "initrd_path", str_or_null(cfg->initrd_path));
	cJSON_AddItemToObject(bs, "boot_args", str_or_null(cfg->boot_args));
	drives = cJSON_AddArrayToObject(o, "drives");
	for (int i = 0; i < cfg->nr_drives; i++) {
		const struct drive_config *d = &cfg->drives[i];
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "drive_id", d->id);
		cJSON_AddItemToObject(j, "partuuid", str_or_null(d->partuuid));
		cJSON_AddBoolToObject(j, "is_root_device", d->is_root);
		cJSON_AddStringToObject(j, "cache_type", d->cache_writeback ? "Writeback" : "Unsafe");
		cJSON_AddBoolToObject(j, "is_read_only", d->read_only);
		cJSON_AddStringToObject(j, "path_on_host", d->path);
		cJSON_AddItemToObject(j, "rate_limiter", limiter_json(&d->rate_limiter));
		cJSON_AddStringToObject(j, "io_engine", "Sync");
		cJSON_AddNullToObject(j, "socket");
		cJSON_AddItemToArray(drives, j);
	}
	mc = cJSON_AddObjectToObject(o, "machine-config");
	cJSON_AddNumberToObject(mc, "vcpu_count", cfg->vcpu_count);
	cJSON_AddNumberToObject(mc, "mem_size_mib", (double)cfg->mem_size_mib);
	cJSON_AddBoolToObject(mc, "smt", cfg->smt);
	cJSON_AddBoolToObject(mc, "track_dirty_pages", cfg->track_dirty_pages);
	cJSON_AddStringToObject(mc, "huge_pages", "None");
	cJSON_AddNullToObject(o, "cpu-config");
	cJSON_AddNullToObject(o, "balloon");
	nets = cJSON_AddArrayToObject(o, "network-interfaces");
	for (int i = 0; i < cfg->nr_nets; i++) {
		const struct net_config *n = &cfg->nets[i];
		cJSON *j = cJSON_CreateObject();
		char mac[18];

		cJSON_AddStringToObject(j, "iface_id", n->id);
		cJSON_AddStringToObject(j, "host_dev_name", n->host_dev_name);
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2], n->mac[3],
			 n->mac[4], n->mac[5]);
		cJSON_AddItemToObject(j, "guest_mac", str_or_null(n->has_mac ? mac : NULL));
		cJSON_AddItemToObject(j, "rx_rate_limiter", limiter_json(&n->rx_rate_limiter));
		cJSON_AddItemToObject(j, "tx_rate_limiter", limiter_json(&n->tx_rate_limiter));
		cJSON_AddItemToArray(nets, j);
	}
	for (const char *const *k = (const char *const[]){ "vsock", "logger", "metrics", "mmds-config", "entropy", NULL };
	     *k; k++)
		cJSON_AddNullToObject(o, *k);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

enum section { S_LOGGER, S_METRICS, S_MACHINE, S_BOOT, S_DRIVE, S_NET };

/* One object of the file (text[0..len)): the route's body check, then its apply. */
static int apply_one(struct api *a, enum section sec, const char *text, size_t len, char *err, size_t errlen)
{
	cJSON *o;
	bool deprecated = false;
	int r;

	switch (sec) {
	case S_LOGGER: o = api_logger_body(text, len, err, errlen); break;
	case S_METRICS: o = api_metrics_body(text, len, err, errlen); break;
	case S_MACHINE: o = api_machine_config_body(text, len, false, err, errlen); break;
	case S_BOOT: o = api_boot_source_body(text, len, err, errlen); break;
	case S_DRIVE: o = api_drive_body(text, len, err, errlen); break;
	default: o = api_net_body(text, len, err, errlen); break;
	}
	if (!o)
		return -EINVAL;
	switch (sec) {
	case S_LOGGER: r = api_logger_apply(a, o, err, errlen); break;
	case S_METRICS: r = api_metrics_apply(a, o, err, errlen); break;
	case S_MACHINE: r = api_machine_config_apply(a, o, false, &deprecated, err, errlen); break;
	case S_BOOT: r = api_boot_source_apply(a, o, err, errlen); break;
	case S_DRIVE: r = api_drive_apply(a, o, err, errlen); break;
	default: r = api_net_apply(a, o, err, errlen); break;
	}
	cJSON_Delete(o);
	return r;
}

static const struct {
	const char *key;
	enum section sec;
	bool array;
} sections[] = {
	/* Logger and metrics first, so that what follows is logged; then the VM itself. */
	{ "logger", S_LOGGER, false },
	{ "metrics", S_METRICS, false },
	{ "machine-config", S_MACHINE, false },
	{ "boot-source", S_BOOT, false },
	{ "drives", S_DRIVE, true },
	{ "network-interfaces", S_NET, true },
};

static int apply_section(struct api *a, const char *json, size_t len, const cJSON *item, size_t k, char *err,
			 size_t errlen)
{
	size_t n;
	const char *text = body_member_text(json, len, sections[k].key, &n);
	int r;

	if (!text)
		return errorf(err, errlen, -EINVAL, "cannot find the text of \"%s\"", sections[k].key);
	if (!sections[k].array) {
		r = apply_one(a, sections[k].sec, text, n, err, errlen);
		return r ? errwrap(err, errlen, r, "/%s", sections[k].key) : 0;
	}
	if (!cJSON_IsArray(item))
		return errorf(err, errlen, -EINVAL, "\"%s\" must be an array", sections[k].key);
	for (int i = 0; i < cJSON_GetArraySize(item); i++) {
		size_t en;
		const char *el = body_element_text(text, n, i, &en);
		const char *id = api_get_str(cJSON_GetArrayItem(item, i), sections[k].sec == S_DRIVE ? "drive_id" : "iface_id");

		if (!el)
			return errorf(err, errlen, -EINVAL, "cannot find the text of \"%s\"[%d]", sections[k].key, i);
		r = apply_one(a, sections[k].sec, el, en, err, errlen);
		if (r)
			return errwrap(err, errlen, r, "/%s/%.64s", sections[k].key, id ? id : "");
	}
	return 0;
}

int api_apply_config(struct api *a, const char *json, size_t len, char *err, size_t errlen)
{
	static const char *const unsupported_sections[] = { "balloon", "vsock", "mmds-config", "entropy",
							     "cpu-config" };
	cJSON *o = cJSON_ParseWithLength(json, len), *m;
	int r = 0;

	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return errorf(err, errlen, -EINVAL, "the config file is not a JSON object");
	}
	cJSON_ArrayForEach(m, o) {
		bool known = false;

		for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
			known |= !strcmp(m->string, sections[i].key);
		for (size_t i = 0; i < ARRAY_SIZE(unsupported_sections); i++) {
			if (strcmp(m->string, unsupported_sections[i]))
				continue;
			known = true;
			if (!cJSON_IsNull(m)) {
				r = errorf(err, errlen, -EINVAL, "'%s' is not supported by kindling", m->string);
				goto out;
			}
		}
		/* As Firecracker does: files written for later versions still load. */
		if (!known)
			log_warn("config file: ignoring the unknown section '%s'", m->string);
	}
	for (size_t k = 0; k < ARRAY_SIZE(sections); k++) {
		m = cJSON_GetObjectItemCaseSensitive(o, sections[k].key);
		if (sections[k].sec == S_BOOT && (!m || cJSON_IsNull(m))) {
			r = errorf(err, errlen, -EINVAL, "the config file has no \"boot-source\"");
			goto out;
		}
		if (m && !cJSON_IsNull(m) && (r = apply_section(a, json, len, m, k, err, errlen)))
			goto out;
	}
out:
	cJSON_Delete(o);
	return r;
}
