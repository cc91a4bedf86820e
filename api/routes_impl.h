/* What the route files (routes.c, routes_vm.c, routes_devices.c) and the config file reader
 * (layout.c) share: the response helpers, and for each resource a pair "JSON body -> checked
 * cJSON object" (api_*_body) and "object -> struct -> config setter or VMM" (api_*_apply). The API
 * and the config file call the same pair, so both give the same answers. Errors are
 * 0/-errno plus the fault message in err; -ENOMEM answers 500, the rest 400. */
#ifndef KINDLING_ROUTES_IMPL_H
#define KINDLING_ROUTES_IMPL_H

#include <cjson/cJSON.h>

#include "body.h"
#include "routes.h"
#include "util.h"

#define ERR_AFTER_BOOT "The requested operation is not supported after starting the microVM."
#define ERR_BEFORE_BOOT "The requested operation is not supported before starting the microVM."

struct route_ctx {
	struct api *a;
	struct api_response *resp;
	const char *id; /* the {id} of the path, or NULL */
	const char *body;
	size_t len;
	bool patch;
};

void api_respond_json(struct api_response *r, int status, cJSON *obj);
void api_fault(struct api_response *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The fault for a section function's -errno and message. */
void api_fault_err(struct api_response *r, int code, const char *err);
void api_no_content(struct api_response *r);

/* body_parse with Firecracker's wording of a refusal in err. */
cJSON *api_body(const char *body, size_t len, const struct field *fields, int n, char *err, size_t errlen);
/* A string that must be one of Firecracker's enum variants: 0, or -EINVAL and serde's words. */
int api_variant(const char *v, const char *const *variants, int n, char *err, size_t errlen);
const char *api_get_str(const cJSON *o, const char *name);
bool api_get_bool(const cJSON *o, const char *name, bool *out);
bool api_get_num(const cJSON *o, const char *name, double *out);
enum vmm_state api_state(const struct api *a);
/* Faults with ERR_AFTER_BOOT unless the VM is not started yet. */
bool route_pre_boot(struct route_ctx *c);
/* route_pre_boot for a boot-specific resource (boot source, machine config, drive, network
 * interface): once one is configured, even if refused, a snapshot can no longer be loaded
 * (Firecracker's boot_path). */
bool route_boot_specific(struct route_ctx *c);

cJSON *api_boot_source_body(const char *body, size_t len, char *err, size_t errlen);
int api_boot_source_apply(struct api *a, const cJSON *o, char *err, size_t errlen);
cJSON *api_machine_config_body(const char *body, size_t len, bool patch, char *err, size_t errlen);
int api_machine_config_apply(struct api *a, const cJSON *o, bool patch, bool *deprecated, char *err, size_t errlen);
cJSON *api_logger_body(const char *body, size_t len, char *err, size_t errlen);
int api_logger_apply(struct api *a, const cJSON *o, char *err, size_t errlen);
cJSON *api_metrics_body(const char *body, size_t len, char *err, size_t errlen);
int api_metrics_apply(struct api *a, const cJSON *o, char *err, size_t errlen);
cJSON *api_drive_body(const char *body, size_t len, char *err, size_t errlen);
int api_drive_apply(struct api *a, const cJSON *o, char *err, size_t errlen);
cJSON *api_net_body(const char *body, size_t len, char *err, size_t errlen);
int api_net_apply(struct api *a, const cJSON *o, char *err, size_t errlen);

/* The handlers of the route table (routes.c); c->patch tells PATCH from PUT. */
void route_get_root(struct route_ctx *c);
void route_get_version(struct route_ctx *c);
void route_put_boot_source(struct route_ctx *c);
void route_get_machine_config(struct route_ctx *c);
void route_put_machine_config(struct route_ctx *c);
void route_put_actions(struct route_ctx *c);
void route_patch_vm(struct route_ctx *c);
void route_get_vm_config(struct route_ctx *c);
void route_put_logger(struct route_ctx *c);
void route_put_metrics(struct route_ctx *c);
void route_put_drive(struct route_ctx *c);
void route_patch_drive(struct route_ctx *c);
void route_put_net(struct route_ctx *c);
void route_patch_net(struct route_ctx *c);
/* PUT /snapshot/create and /snapshot/load (routes_snapshot.c); c->id is "create", "load"... */
void route_put_snapshot(struct route_ctx *c);

#endif
