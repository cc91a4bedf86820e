/* The control API's endpoints, with Firecracker's paths, fields, status codes and error
 * bodies. Runs on the VMM thread. Side effects (starting the VM, pausing, logging, metrics)
 * go through api_ops, so tests and the fuzzer can drive every route without KVM. */
#ifndef KINDLING_ROUTES_H
#define KINDLING_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"

#define API_COMPAT_VERSION "1.7.0"
#define KINDLING_VERSION "0.1.0"

enum vm_state { VM_NOT_STARTED, VM_RUNNING, VM_PAUSED };

struct logger_config {
	char *log_path;
	char level[16];
	bool show_level;
	bool show_log_origin;
	char *module;
};

struct api_ops {
	int (*start)(void *opaque, const struct vmm_config *cfg, char *err, size_t errlen);
	int (*pause)(void *opaque, bool pause, char *err, size_t errlen);
	int (*ctrl_alt_del)(void *opaque, char *err, size_t errlen);
	int (*flush_metrics)(void *opaque, char *err, size_t errlen);
	int (*logger)(void *opaque, const struct logger_config *lc, char *err, size_t errlen);
	int (*metrics)(void *opaque, const char *path, char *err, size_t errlen);
	int (*patch_drive)(void *opaque, const struct drive_config *d, char *err, size_t errlen);
};

enum api_endpoint {
	EP_ROOT, EP_VERSION, EP_BOOT_SOURCE, EP_MACHINE_CONFIG, EP_DRIVES, EP_NETWORK, EP_ACTIONS, EP_VM,
	EP_VM_CONFIG, EP_LOGGER, EP_METRICS, EP_UNSUPPORTED, EP_OTHER, EP_COUNT,
};

extern const char *const api_endpoint_names[EP_COUNT];

struct api {
	struct vmm_config cfg;
	enum vm_state state;
	char id[CONFIG_ID_MAX + 1];
	const struct api_ops *ops;
	void *opaque;
	bool has_logger;
	struct logger_config logger;
	char *metrics_path;
	uint64_t host_mem_mib; /* upper bound for mem_size_mib; 0 = read from the host */
	uint64_t requests[EP_COUNT];
	uint64_t failures[EP_COUNT];
};

struct api_response {
	int status;
	char *body; /* malloc'd, or NULL */
	size_t body_len;
	bool deprecated; /* the request used a deprecated field: a Deprecation header */
};

void api_init(struct api *a, const char *id, const struct api_ops *ops, void *opaque);
void api_free(struct api *a);

/* Handles one request; fills resp (free resp->body with free()). */
void api_handle(struct api *a, enum http_method method, const char *method_name, const char *path,
		const char *body, size_t body_len, struct api_response *resp);

/* api_handle for a client of the API socket: the request and its outcome are logged, in
 * Firecracker's words. */
void api_serve(struct api *a, enum http_method method, const char *method_name, const char *path,
	       const char *body, size_t body_len, struct api_response *resp);

/* Applies a Firecracker-layout JSON config file ("boot-source", "drives", ...). Does not
 * start the VM. */
int api_apply_config(struct api *a, const char *json, size_t len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The full configuration, as GET /vm/config returns it (malloc'd JSON). */
char *api_vm_config_json(const struct api *a);

#endif
