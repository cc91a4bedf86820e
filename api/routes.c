/* Control API: the route table and dispatch, and what every route shares (responses, body
 * checks). The endpoints themselves are in routes_vm.c and routes_devices.c. A refused
 * request changes nothing: the config setters check everything before they commit. */
#include "routes.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "routes_impl.h"

const char *const api_endpoint_names[EP_COUNT] = {
	"root", "version", "boot_source", "machine_config", "drives", "network_interfaces", "actions", "vm",
	"vm_config", "logger", "metrics", "snapshot", "unsupported", "other",
};

/* ---- responses ---- */

void api_respond_json(struct api_response *r, int status, cJSON *obj)
{
	r->status = status;
	r->body = cJSON_PrintUnformatted(obj);
	r->body_len = r->body ? strlen(r->body) : 0;
	cJSON_Delete(obj);
}

void api_fault(struct api_response *r, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	cJSON *o = cJSON_CreateObject();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddStringToObject(o, "fault_message", msg);
	api_respond_json(r, status, o);
}

void api_fault_err(struct api_response *r, int code, const char *err)
{
	api_fault(r, code == -ENOMEM ? 500 : 400, "%s", err);
}

void api_no_content(struct api_response *r)
{
	r->status = 204;
	r->body = NULL;
	r->body_len = 0;
}

/* ---- bodies (api/body.c checks them as Firecracker's serde structs would) ---- */

cJSON *api_body(const char *body, size_t len, const struct field *fields, int n, char *err, size_t errlen)
{
	char why[700];
	bool serde;
	cJSON *o = body_parse(body, len, fields, n, why, sizeof(why), &serde);

	if (!o)
		snprintf(err, errlen, "%s%s%s", serde ? BODY_ERR : "", why, serde ? "." : "");
	return o;
}

int api_variant(const char *v, const char *const *variants, int n, char *err, size_t errlen)
{
	char list[256];
	size_t k = 0;

	for (int i = 0; i < n; i++)
		if (!strcmp(v, variants[i]))
			return 0;
	for (int i = 0; i < n && k < sizeof(list); i++)
		k += (size_t)snprintf(list + k, sizeof(list) - k, "%s`%s`", !i ? "" : n == 2 ? " or " : ", ",
				      variants[i]);
	return errorf(err, errlen, -EINVAL, BODY_ERR "unknown variant `%.64s`, expected %s%s.", v,
		      n > 2 ? "one of " : "", list);
}

const char *api_get_str(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(m) ? m->valuestring : NULL;
}

bool api_get_bool(const cJSON *o, const char *name, bool *out)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsBool(m))
		return false;
	*out = cJSON_IsTrue(m);
	return true;
}

bool api_get_num(const cJSON *o, const char *name, double *out)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(m))
		return false;
	*out = m->valuedouble;
	return true;
}

enum vmm_state api_state(const struct api *a)
{
	return a->ops->state(a->opaque);
}

bool route_pre_boot(struct route_ctx *c)
{
	if (api_state(c->a) == VMM_NOT_STARTED)
		return true;
	api_fault(c->resp, 400, ERR_AFTER_BOOT);
	return false;
}

bool route_boot_specific(struct route_ctx *c)
{
	if (!route_pre_boot(c))
		return false;
	c->a->boot_path = true;
	return true;
}

/* ---- routing ---- */

static void empty_id(struct route_ctx *c)
{
	api_fault(c->resp, 400, "The ID cannot be empty.");
}

/* A pattern ending in "/{id}" matches the prefix and a slash, and names the rest (a resource
 * id, checked); "/{op}" is the same for a handler that reads the rest itself. */
struct route {
	const char *pattern;
	enum http_method method;
	enum api_endpoint ep;
	void (*handler)(struct route_ctx *c);
};

static const struct route routes[] = {
	{ "/", HTTP_GET, EP_ROOT, route_get_root },
	{ "/version", HTTP_GET, EP_VERSION, route_get_version },
	{ "/boot-source", HTTP_PUT, EP_BOOT_SOURCE, route_put_boot_source },
	{ "/machine-config", HTTP_GET, EP_MACHINE_CONFIG, route_get_machine_config },
	{ "/machine-config", HTTP_PUT, EP_MACHINE_CONFIG, route_put_machine_config },
	{ "/machine-config", HTTP_PATCH, EP_MACHINE_CONFIG, route_put_machine_config },
	{ "/drives", HTTP_PUT, EP_DRIVES, empty_id },
	{ "/drives", HTTP_PATCH, EP_DRIVES, empty_id },
	{ "/drives/{id}", HTTP_PUT, EP_DRIVES, route_put_drive },
	{ "/drives/{id}", HTTP_PATCH, EP_DRIVES, route_patch_drive },
	{ "/network-interfaces", HTTP_PUT, EP_NETWORK, empty_id },
	{ "/network-interfaces", HTTP_PATCH, EP_NETWORK, empty_id },
	{ "/network-interfaces/{id}", HTTP_PUT, EP_NETWORK, route_put_net },
	{ "/network-interfaces/{id}", HTTP_PATCH, EP_NETWORK, route_patch_net },
	{ "/actions", HTTP_PUT, EP_ACTIONS, route_put_actions },
	{ "/vm", HTTP_PATCH, EP_VM, route_patch_vm },
	{ "/vm/config", HTTP_GET, EP_VM_CONFIG, route_get_vm_config },
	{ "/logger", HTTP_PUT, EP_LOGGER, route_put_logger },
	{ "/metrics", HTTP_PUT, EP_METRICS, route_put_metrics },
	{ "/snapshot", HTTP_PUT, EP_SNAPSHOT, route_put_snapshot },
	{ "/snapshot/{op}", HTTP_PUT, EP_SNAPSHOT, route_put_snapshot },
};

/* Firecracker resources kindling lacks: refused by name. */
static const char *const unsupported[] = {
	"/balloon", "/mmds", "/vsock", "/entropy", "/pmem", "/hotplug", "/cpu-config",
	"/memory-hotplug", "/serial",
};

/* Whether path matches pattern; *id gets what "{id}" or "{op}" matched (else NULL). */
static bool route_match(const char *pattern, const char *path, const char **id)
{
	const char *brace = strstr(pattern, "/{");

	*id = NULL;
	if (!brace)
		return !strcmp(pattern, path);
	if (strncmp(path, pattern, (size_t)(brace - pattern)) || path[brace - pattern] != '/')
		return false;
	*id = path + (brace - pattern) + 1;
	return true;
}

void api_handle(struct api *a, enum http_method m, const char *method_name, const char *path, const char *body,
		size_t body_len, struct api_response *resp)
{
	struct route_ctx c = { a, resp, NULL, body, body_len, m == HTTP_PATCH };
	enum api_endpoint ep = EP_OTHER;
	char clean[HTTP_MAX_PATH];
	size_t n = strcspn(path, "?");

	memset(resp, 0, sizeof(*resp));
	/* Query strings carry nothing in this API; a trailing slash is tolerated. */
	snprintf(clean, sizeof(clean), "%.*s", (int)n, path);
	n = strlen(clean);
	if (n > 1 && clean[n - 1] == '/')
		clean[n - 1] = 0;
	path = clean;

	/* Firecracker refuses these whatever the path. */
	if (m == HTTP_GET && body_len) {
		api_fault(resp, 400, "GET request cannot have a body.");
		goto done;
	}
	if ((m == HTTP_PUT || m == HTTP_PATCH) && !body_len) {
		api_fault(resp, 400, "Empty %s request.", method_name);
		goto done;
	}
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		const struct route *r = &routes[i];
		const char *id;

		if (!route_match(r->pattern, path, &id))
			continue;
		ep = r->ep; /* the path is known: a wrong method still counts for its endpoint */
		if (r->method != m)
			continue;
		if (id && strstr(r->pattern, "{id}") && !config_valid_id(id)) {
			api_fault(resp, 400, "API Resource IDs can only contain alphanumeric characters and underscores.");
			break;
		}
		c.id = id;
		r->handler(&c);
		break;
	}
	for (size_t i = 0; ep == EP_OTHER && i < ARRAY_SIZE(unsupported); i++) {
		size_t l = strlen(unsupported[i]);

		if (!strncmp(path, unsupported[i], l) && (path[l] == 0 || path[l] == '/')) {
			ep = EP_UNSUPPORTED;
			api_fault(resp, 400, "'%s' is not supported by kindling.", unsupported[i]);
		}
	}
	/* Firecracker names the method and the path's first segment. */
	if (!resp->status)
		api_fault(resp, 400, "Invalid request method and/or path: %s %.*s.", method_name,
			  (int)strcspn(path + 1, "/"), path + 1);
done:
	a->requests[ep]++;
	if (resp->status >= 400)
		a->failures[ep]++;
}

void api_init(struct api *a, const char *id, const struct api_ops *ops, void *opaque)
{
	memset(a, 0, sizeof(*a));
	config_init(&a->cfg);
	snprintf(a->id, sizeof(a->id), "%s", id ? id : "anonymous-instance");
	a->ops = ops;
	a->opaque = opaque;
	a->logger.level = LOG_INFO;
}

void api_free(struct api *a)
{
	config_free(&a->cfg);
	free(a->logger.log_path);
	free(a->logger.module);
	free(a->metrics_path);
	a->logger.log_path = a->logger.module = a->metrics_path = NULL;
}
