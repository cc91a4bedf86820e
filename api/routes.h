/* The control API's endpoints, with Firecracker's paths, fields, status codes and error
 * bodies. Runs on the VMM thread. A route turns JSON into a struct and hands it to the
 * config setters (vmm/config.h) or to the VMM; side effects (starting the VM, pausing,
 * logging, metrics) and the VM's state go through api_ops, so tests and the fuzzer can
 * drive every route without KVM. */
#ifndef KINDLING_ROUTES_H
#define KINDLING_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "snapshot.h"
#include "vmm.h"

#define API_COMPAT_VERSION "1.7.0"
#define KINDLING_VERSION "0.1.0"

struct logger_config {
	char *log_path;
	enum log_level level;
	bool show_level;
	bool show_log_origin;
	char *module;
};

struct api_ops {
	/* The VMM owns the state: start and pause change it, the API only asks. */
	enum vmm_state (*state)(void *opaque);
	int (*start)(void *opaque, const struct vmm_config *cfg, char *err, size_t errlen);
	int (*pause)(void *opaque, bool pause, char *err, size_t errlen);
	int (*ctrl_alt_del)(void *opaque, char *err, size_t errlen);
	int (*flush_metrics)(void *opaque, char *err, size_t errlen);
	int (*logger)(void *opaque, const struct logger_config *lc, char *err, size_t errlen);
	int (*metrics)(void *opaque, const char *path, char *err, size_t errlen);
	int (*patch_drive)(void *opaque, const struct drive_config *d, char *err, size_t errlen);
	/* PATCH /drives (net false, which 0) and /network-interfaces (net true, which 0 for RX,
	 * 1 for TX) after boot: the running device's limiter changes as u says (struct
	 * rl_update). The route merges u into the API's config once this succeeded. */
	int (*patch_rate_limiter)(void *opaque, bool net, const char *id, int which, const struct rl_update *u,
				  char *err, size_t errlen);
	/* vmm_snapshot_create / vmm_snapshot_load (vmm/snapshot.h); the routes check the
	 * order (state, boot-specific configuration) first. A failed load leaves the VMM as it
	 * was (not started). */
	int (*snapshot_create)(void *opaque, const struct snapshot_create_params *p, char *err, size_t errlen);
	int (*snapshot_load)(void *opaque, const struct snapshot_load_params *p, char *err, size_t errlen);
};

enum api_endpoint {
	EP_ROOT, EP_VERSION, EP_BOOT_SOURCE, EP_MACHINE_CONFIG, EP_DRIVES, EP_NETWORK, EP_ACTIONS, EP_VM,
	EP_VM_CONFIG, EP_LOGGER, EP_METRICS, EP_SNAPSHOT, EP_UNSUPPORTED, EP_OTHER, EP_COUNT,
};

extern const char *const api_endpoint_names[EP_COUNT];

struct api {
	struct vmm_config cfg;
	char id[CONFIG_ID_MAX + 1];
	const struct api_ops *ops;
	void *opaque;
	/* A boot-specific resource (boot source, machine config, drive, network interface) was
	 * configured: as in Firecracker, a snapshot can no longer be loaded. */
	bool boot_path;
	bool has_logger;
	struct logger_config logger;
	char *metrics_path;
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

/* InstanceStart: checks the pending config (config_validate) and starts the VM through
 * api_ops. For the API's PUT /actions and for main() alike; err gets the fault message. */
int api_instance_start(struct api *a, char *err, size_t errlen) __attribute__((warn_unused_result));

/* PUT /snapshot/load's checks and work, for the API and `kindling --restore` alike: only
 * before boot and before any boot-specific configuration; then the VMM's load, and the
 * loaded VM's configuration becomes the API's. On failure nothing changed (Firecracker
 * would exit); err gets the fault message. p->config is the function's to set. */
int api_snapshot_load(struct api *a, struct snapshot_load_params *p, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Applies a Firecracker-layout JSON config file ("boot-source", "drives", ...). Does not
 * start the VM. */
int api_apply_config(struct api *a, const char *json, size_t len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The full configuration, as GET /vm/config returns it (malloc'd JSON). */
char *api_vm_config_json(const struct api *a);

#endif
