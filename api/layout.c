/* Firecracker's JSON layout of a whole microVM (its VmmConfig), both ways: GET /vm/config's
 * output, and --config-file's input, applied through the API's own routes so that a file
 * gets exactly the API's validation. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "routes.h"

static const char *get_str(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(m) ? m->valuestring : NULL;
}

static cJSON *str_or_null(const char *v)
{
	return v ? cJSON_CreateString(v) : cJSON_CreateNull();
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
		cJSON_AddNullToObject(j, "rate_limiter");
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
		cJSON_AddNullToObject(j, "rx_rate_limiter");
		cJSON_AddNullToObject(j, "tx_rate_limiter");
		cJSON_AddItemToArray(nets, j);
	}
	for (const char *const *k = (const char *const[]){ "vsock", "logger", "metrics", "mmds-config", "entropy", NULL };
	     *k; k++)
		cJSON_AddNullToObject(o, *k);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static int apply_section(struct api *a, enum http_method m, const char *path, const cJSON *item, char *err,
			 size_t errlen)
{
	struct api_response r;
	char *body = cJSON_PrintUnformatted(item);

	if (!body)
		return errorf(err, errlen, -ENOMEM, "out of memory");
	api_handle(a, m, m == HTTP_PUT ? "PUT" : "PATCH", path, body, strlen(body), &r);
	free(body);
	if (r.status >= 400) {
		cJSON *e = cJSON_ParseWithLength(r.body, r.body_len);
		const char *msg = e ? get_str(e, "fault_message") : NULL;

		snprintf(err, errlen, "%s: %s", path, msg ? msg : "invalid");
		cJSON_Delete(e);
		free(r.body);
		return -EINVAL;
	}
	free(r.body);
	return 0;
}

int api_apply_config(struct api *a, const char *json, size_t len, char *err, size_t errlen)
{
	static const char *const known[] = { "boot-source", "drives", "machine-config", "network-interfaces", "logger",
					     "metrics", "balloon", "vsock", "mmds-config", "entropy", "cpu-config" };
	cJSON *o = cJSON_ParseWithLength(json, len), *m;
	int r = 0;

	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return errorf(err, errlen, -EINVAL, "the config file is not a JSON object");
	}
	cJSON_ArrayForEach(m, o) {
		size_t i;

		for (i = 0; i < sizeof(known) / sizeof(known[0]) && strcmp(m->string, known[i]); i++)
			;
		if (i == sizeof(known) / sizeof(known[0])) {
			/* As Firecracker does: files written for later versions still load. */
			log_warn("config file: ignoring the unknown section '%s'", m->string);
			continue;
		}
		if (i >= 6 && !cJSON_IsNull(m)) {
			r = -EINVAL;
			snprintf(err, errlen, "'%s' is not supported by kindling", m->string);
			goto out;
		}
	}
	/* Logger and metrics first, so that what follows is logged; then the VM itself. */
	if ((m = cJSON_GetObjectItemCaseSensitive(o, "logger")) && !cJSON_IsNull(m) &&
	    (r = apply_section(a, HTTP_PUT, "/logger", m, err, errlen)))
		goto out;
	if ((m = cJSON_GetObjectItemCaseSensitive(o, "metrics")) && !cJSON_IsNull(m) &&
	    (r = apply_section(a, HTTP_PUT, "/metrics", m, err, errlen)))
		goto out;
	if ((m = cJSON_GetObjectItemCaseSensitive(o, "machine-config")) && !cJSON_IsNull(m) &&
	    (r = apply_section(a, HTTP_PUT, "/machine-config", m, err, errlen)))
		goto out;
	m = cJSON_GetObjectItemCaseSensitive(o, "boot-source");
	if (!m || cJSON_IsNull(m)) {
		r = -EINVAL;
		snprintf(err, errlen, "the config file has no \"boot-source\"");
		goto out;
	}
	if ((r = apply_section(a, HTTP_PUT, "/boot-source", m, err, errlen)))
		goto out;
	for (int pass = 0; pass < 2; pass++) {
		const char *key = pass ? "network-interfaces" : "drives";
		const char *idkey = pass ? "iface_id" : "drive_id";
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key), *it;

		if (!arr || cJSON_IsNull(arr))
			continue;
		if (!cJSON_IsArray(arr)) {
			r = -EINVAL;
			snprintf(err, errlen, "\"%s\" must be an array", key);
			goto out;
		}
		cJSON_ArrayForEach(it, arr) {
			const char *id = get_str(it, idkey);
			char path[128];

			if (!id || !config_valid_id(id)) {
				r = -EINVAL;
				snprintf(err, errlen, "an entry of \"%s\" has a missing or invalid %s", key, idkey);
				goto out;
			}
			snprintf(path, sizeof(path), "/%s/%s", key, id);
			if ((r = apply_section(a, HTTP_PUT, path, it, err, errlen)))
				goto out;
		}
	}
out:
	cJSON_Delete(o);
	return r;
}

