/* Control API endpoints. A refused request changes nothing: every handler validates the
 * whole body into a scratch copy first and commits only when everything is valid. */
#include "routes.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "body.h"
#include "log.h"
#include "vm.h"

const char *const api_endpoint_names[EP_COUNT] = {
	"root", "version", "boot_source", "machine_config", "drives", "network_interfaces", "actions", "vm",
	"vm_config", "logger", "metrics", "unsupported", "other",
};

#define ERR_AFTER_BOOT "The requested operation is not supported after starting the microVM."
#define ERR_BEFORE_BOOT "The requested operation is not supported before starting the microVM."

struct ctx {
	struct api *a;
	struct api_response *resp;
};

/* ---- responses ---- */

static void respond_json(struct api_response *r, int status, cJSON *obj)
{
	r->status = status;
	r->body = cJSON_PrintUnformatted(obj);
	r->body_len = r->body ? strlen(r->body) : 0;
	cJSON_Delete(obj);
}

static void fault(struct api_response *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fault(struct api_response *r, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	cJSON *o = cJSON_CreateObject();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddStringToObject(o, "fault_message", msg);
	respond_json(r, status, o);
}

static void no_content(struct api_response *r)
{
	r->status = 204;
	r->body = NULL;
	r->body_len = 0;
}

/* ---- bodies (api/body.c checks them as Firecracker's serde structs would) ---- */

static cJSON *parse_body(struct ctx *c, const char *body, size_t len, const struct field *fields, int n)
{
	char why[700];
	bool serde;
	cJSON *o = body_parse(body, len, fields, n, why, sizeof(why), &serde);

	if (!o)
		fault(c->resp, 400, "%s%s%s", serde ? BODY_ERR : "", why, serde ? "." : "");
	return o;
}

/* A string member that must be one of Firecracker's enum variants; faults otherwise. */
static bool check_variant(struct ctx *c, const char *v, const char *const *variants, int n)
{
	char list[256];
	size_t k = 0;

	for (int i = 0; i < n; i++)
		if (!strcmp(v, variants[i]))
			return true;
	for (int i = 0; i < n && k < sizeof(list); i++)
		k += (size_t)snprintf(list + k, sizeof(list) - k, "%s`%s`", !i ? "" : n == 2 ? " or " : ", ",
				      variants[i]);
	fault(c->resp, 400, BODY_ERR "unknown variant `%.64s`, expected %s%s.", v, n > 2 ? "one of " : "", list);
	return false;
}

static const char *get_str(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(m) ? m->valuestring : NULL;
}

static int get_bool(const cJSON *o, const char *name, bool *out)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsBool(m))
		return 0;
	*out = cJSON_IsTrue(m);
	return 1;
}

static int get_int(const cJSON *o, const char *name, double *out)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(m))
		return 0;
	*out = m->valuedouble;
	return 1;
}

/* A host file the VMM will open: it must exist, be a file (or block device) and be
 * readable, and writable unless read_only. Returns 0 or -errno. */
static int check_path(const char *path, bool writable)
{
	struct stat st;

	if (!*path || stat(path, &st) < 0)
		return *path ? -errno : -ENOENT;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return -EINVAL;
	if (access(path, writable ? R_OK | W_OK : R_OK) < 0)
		return -errno;
	return 0;
}

/* Rust's rendering of an io::Error. */
#define OS_ERR_FMT "%s (os error %d)"
#define OS_ERR(e) strerror(e), (e)

/* Firecracker requires the id in the path and the one in the body to agree. */
static bool body_id_matches(struct ctx *c, const cJSON *o, const char *key, const char *id)
{
	const char *body_id = get_str(o, key);

	if (!strcmp(body_id, id))
		return true;
	if (!strcmp(key, "drive_id"))
		fault(c->resp, 400, "The id from the path does not match the id from the body!");
	else
		fault(c->resp, 400, "The id from the path [%s] does not match the id from the body [%s]!", id, body_id);
	return false;
}

static bool pre_boot(struct ctx *c)
{
	if (c->a->state == VM_NOT_STARTED)
		return true;
	fault(c->resp, 400, ERR_AFTER_BOOT);
	return false;
}

static int replace_str(char **dst, const char *src)
{
	char *s = src ? strdup(src) : NULL;

	if (src && !s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* ---- endpoints ---- */

static void get_root(struct ctx *c)
{
	static const char *const states[] = { "Not started", "Running", "Paused" };
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", c->a->id);
	cJSON_AddStringToObject(o, "state", states[c->a->state]);
	cJSON_AddStringToObject(o, "vmm_version", KINDLING_VERSION);
	cJSON_AddStringToObject(o, "app_name", "kindling");
	respond_json(c->resp, 200, o);
}

static void get_version(struct ctx *c)
{
	cJSON *o = cJSON_CreateObject();

	/* The Firecracker API version we are compatible with, then our own. */
	cJSON_AddStringToObject(o, "firecracker_version", API_COMPAT_VERSION);
	cJSON_AddStringToObject(o, "kindling_version", KINDLING_VERSION);
	respond_json(c->resp, 200, o);
}

static void put_boot_source(struct ctx *c, const char *body, size_t len)
{
	static const struct field f[] = {
		{ "kernel_image_path", F_STR, true, false },
		{ "initrd_path", F_STR, false, true },
		{ "boot_args", F_STR, false, true },
	};
	struct vmm_config *cfg = &c->a->cfg;
	const char *kernel, *initrd, *args;
	char *k = NULL, *i = NULL, *b = NULL;
	cJSON *o;
	int r;

	if (!(o = parse_body(c, body, len, f, 3)) || !pre_boot(c))
		goto out;
	kernel = get_str(o, "kernel_image_path");
	initrd = get_str(o, "initrd_path");
	args = get_str(o, "boot_args");
	if ((r = check_path(kernel, false))) {
		fault(c->resp, 400, "Boot source error: The kernel file cannot be opened: " OS_ERR_FMT, OS_ERR(-r));
		goto out;
	}
	if (initrd && (r = check_path(initrd, false))) {
		fault(c->resp, 400,
		      "Boot source error: The initrd file cannot be opened due to invalid path or invalid "
		      "permissions. " OS_ERR_FMT,
		      OS_ERR(-r));
		goto out;
	}
	if (args && strlen(args) >= 4096) {
		fault(c->resp, 400, "Boot source error: The kernel command line is invalid: it is %zu bytes; at most 4095.",
		      strlen(args));
		goto out;
	}
	if (replace_str(&k, kernel) || replace_str(&i, initrd) || replace_str(&b, args)) {
		fault(c->resp, 500, "Out of memory.");
		free(k), free(i), free(b);
		goto out;
	}
	free(cfg->kernel_path), free(cfg->initrd_path), free(cfg->boot_args);
	cfg->kernel_path = k, cfg->initrd_path = i, cfg->boot_args = b;
	no_content(c->resp);
out:
	cJSON_Delete(o);
}

static uint64_t host_mem_mib(const struct api *a)
{
	struct sysinfo si;

	if (a->host_mem_mib)
		return a->host_mem_mib;
	if (sysinfo(&si) < 0)
		return 1u << 20;
	return ((uint64_t)si.totalram + si.totalswap) * si.mem_unit >> 20;
}

#define ERR_VCPUS                                                                               \
	"Machine config error: The number of vCPUs must be greater than 0, less than %d and must be 1 " \
	"or an even number if SMT is enabled."

static void machine_config(struct ctx *c, const char *body, size_t len, bool patch)
{
	/* PUT is Firecracker's MachineConfig, PATCH its MachineConfigUpdate (all Options). */
	static const struct field f[] = {
		{ "vcpu_count", F_U8, true, false },	    { "mem_size_mib", F_USIZE, true, false },
		{ "smt", F_BOOL, false, false },	    { "track_dirty_pages", F_BOOL, false, false },
		{ "cpu_template", F_STR, false, true }, { "huge_pages", F_STR, false, false },
	};
	static const char *const templates[] = { "C3", "T2", "T2S", "None", "T2CL", "T2A" };
	static const char *const huge[] = { "None", "2M" };
	struct field pf[6];
	struct vmm_config next = c->a->cfg;
	const char *s;
	double v;
	cJSON *o;

	memcpy(pf, f, sizeof(f));
	for (int i = 0; i < 6; i++) {
		pf[i].required = !patch && f[i].required;
		pf[i].nullable = patch || f[i].nullable;
	}
	if (!(o = parse_body(c, body, len, pf, 6)))
		return;
	if (patch) {
		const cJSON *m;
		bool any = false;

		cJSON_ArrayForEach(m, o) any |= !cJSON_IsNull(m);
		if (!any) {
			fault(c->resp, 400, "Empty PATCH request.");
			goto out;
		}
	}
	if (!pre_boot(c))
		goto out;
	if (!patch) {
		/* PUT resets the optional fields to their defaults. */
		next.smt = false;
		next.track_dirty_pages = false;
	}
	if ((s = get_str(o, "cpu_template"))) {
		if (!check_variant(c, s, templates, 6))
			goto out;
		/* Firecracker answers with a Deprecation header and logs this line. */
		log_warn("%s /machine-config: cpu_template field is deprecated.", patch ? "PATCH" : "PUT");
		c->resp->deprecated = true;
		if (strcmp(s, "None")) {
			fault(c->resp, 400, "cpu_template '%s' is not supported by kindling; use \"None\".", s);
			goto out;
		}
	}
	if ((s = get_str(o, "huge_pages"))) {
		if (!check_variant(c, s, huge, 2))
			goto out;
		if (strcmp(s, "None")) {
			fault(c->resp, 400, "huge_pages '%s' is not supported by kindling; use \"None\".", s);
			goto out;
		}
	}
	get_bool(o, "track_dirty_pages", &next.track_dirty_pages);
	if (get_bool(o, "smt", &next.smt) && next.smt) {
		fault(c->resp, 400, "smt=true is not supported by kindling: each vCPU is a core.");
		goto out;
	}
	if (get_int(o, "vcpu_count", &v)) {
		if (v < 1 || v > VM_MAX_VCPUS) {
			fault(c->resp, 400, ERR_VCPUS, VM_MAX_VCPUS);
			goto out;
		}
		next.vcpu_count = (int)v;
	}
	if (get_int(o, "mem_size_mib", &v)) {
		uint64_t limit = host_mem_mib(c->a);

		if (v == 0) {
			fault(c->resp, 400,
			      "Machine config error: The memory size (MiB) is either 0, or not a multiple of the "
			      "configured page size.");
			goto out;
		}
		if (v < 8 || v > (double)(1u << 20)) {
			fault(c->resp, 400, "Invalid mem_size_mib %.0f: must be between 8 and %u.", v, 1u << 20);
			goto out;
		}
		if ((uint64_t)v > limit) {
			fault(c->resp, 400, "Invalid mem_size_mib %.0f: more than the host's %llu MiB.", v,
			      (unsigned long long)limit);
			goto out;
		}
		next.mem_size_mib = (uint64_t)v;
	}
	c->a->cfg = next;
	no_content(c->resp);
out:
	cJSON_Delete(o);
}

static void get_machine_config(struct ctx *c)
{
	const struct vmm_config *cfg = &c->a->cfg;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "vcpu_count", cfg->vcpu_count);
	cJSON_AddNumberToObject(o, "mem_size_mib", (double)cfg->mem_size_mib);
	cJSON_AddBoolToObject(o, "smt", cfg->smt);
	cJSON_AddBoolToObject(o, "track_dirty_pages", cfg->track_dirty_pages);
	cJSON_AddStringToObject(o, "huge_pages", "None");
	respond_json(c->resp, 200, o);
}

static int find_drive(const struct vmm_config *cfg, const char *id)
{
	for (int i = 0; i < cfg->nr_drives; i++)
		if (!strcmp(cfg->drives[i].id, id))
			return i;
	return -1;
}

/* How Firecracker reports a backing file it cannot open: the Debug form of its error. */
#define ERR_BACKING_FILE                                                                        \
	"Drive config error: Unable to create the virtio block device: VirtioBackend(BackingFile(Os { " \
	"code: %d, message: \"%s\" }, \"%s\"))"

static void put_drive(struct ctx *c, const char *id, const char *body, size_t len)
{
	static const struct field f[] = {
		{ "drive_id", F_STR, true, false },	  { "path_on_host", F_STR, true, false },
		{ "is_root_device", F_BOOL, true, false }, { "is_read_only", F_BOOL, false, true },
		{ "partuuid", F_STR, false, true },	  { "cache_type", F_STR, false, false },
		{ "io_engine", F_STR, false, true },	  { "rate_limiter", F_RATE_LIMITER, false, true },
		{ "socket", F_UNSUPPORTED, false, true },
	};
	static const char *const caches[] = { "Unsafe", "Writeback" };
	static const char *const engines[] = { "Sync", "Async" };
	struct vmm_config *cfg = &c->a->cfg;
	struct drive_config d = { 0 };
	const char *s, *path;
	int idx, r;
	cJSON *o;

	if (!(o = parse_body(c, body, len, f, 9)))
		return;
	if (!body_id_matches(c, o, "drive_id", id) || !pre_boot(c))
		goto out;
	snprintf(d.id, sizeof(d.id), "%.*s", CONFIG_ID_MAX, id);
	get_bool(o, "is_root_device", &d.is_root);
	get_bool(o, "is_read_only", &d.read_only);
	if ((s = get_str(o, "cache_type"))) {
		if (!check_variant(c, s, caches, 2))
			goto out;
		d.cache_writeback = !strcmp(s, "Writeback");
	}
	if ((s = get_str(o, "io_engine"))) {
		if (!check_variant(c, s, engines, 2))
			goto out;
		if (strcmp(s, "Sync")) {
			fault(c->resp, 400,
			      "Drive config error: Unable to create the virtio block device: "
			      "VirtioBackend(FileEngine(UnsupportedEngine(%s))): kindling has only the Sync engine.",
			      s);
			goto out;
		}
	}
	path = get_str(o, "path_on_host");
	if ((r = check_path(path, !d.read_only))) {
		fault(c->resp, 400, ERR_BACKING_FILE, -r, strerror(-r), path);
		goto out;
	}
	idx = find_drive(cfg, id);
	if (d.is_root) {
		for (int i = 0; i < cfg->nr_drives; i++) {
			if (i != idx && cfg->drives[i].is_root) {
				fault(c->resp, 400, "Drive config error: A root block device already exists!");
				goto out;
			}
		}
	}
	if (idx < 0 && cfg->nr_drives == CONFIG_MAX_DRIVES) {
		fault(c->resp, 400, "Too many drives: at most %d.", CONFIG_MAX_DRIVES);
		goto out;
	}
	if (replace_str(&d.path, path) || replace_str(&d.partuuid, get_str(o, "partuuid"))) {
		free(d.path), free(d.partuuid);
		fault(c->resp, 500, "Out of memory.");
		goto out;
	}
	if (idx < 0) {
		idx = cfg->nr_drives++;
	} else {
		free(cfg->drives[idx].path);
		free(cfg->drives[idx].partuuid);
	}
	cfg->drives[idx] = d;
	no_content(c->resp);
out:
	cJSON_Delete(o);
}

static void patch_drive(struct ctx *c, const char *id, const char *body, size_t len)
{
	static const struct field f[] = {
		{ "drive_id", F_STR, true, false },
		{ "path_on_host", F_STR, false, true },
		{ "rate_limiter", F_RATE_LIMITER, false, true },
	};
	struct vmm_config *cfg = &c->a->cfg;
	struct drive_config d;
	char err[256] = "";
	const char *path;
	int idx, r;
	cJSON *o;

	if (!(o = parse_body(c, body, len, f, 3)))
		return;
	if (!body_id_matches(c, o, "drive_id", id))
		goto out;
	if (c->a->state == VM_NOT_STARTED) {
		fault(c->resp, 400, ERR_BEFORE_BOOT);
		goto out;
	}
	idx = find_drive(cfg, id);
	if (idx < 0) {
		fault(c->resp, 400, "Drive config error: Unable to patch the block device: no drive with id '%s'. "
				    "Please verify the request arguments.", id);
		goto out;
	}
	path = get_str(o, "path_on_host");
	if (!path) {
		no_content(c->resp); /* nothing to change */
		goto out;
	}
	if ((r = check_path(path, !cfg->drives[idx].read_only))) {
		fault(c->resp, 400,
		      "Drive config error: Unable to patch the block device: Device manager error: Virtio backend "
		      "error: Error manipulating the backing file: " OS_ERR_FMT " %s Please verify the request arguments.",
		      OS_ERR(-r), path);
		goto out;
	}
	d = cfg->drives[idx];
	d.path = (char *)path;
	if (c->a->ops->patch_drive(c->a->opaque, &d, err, sizeof(err))) {
		fault(c->resp, 400, "Drive config error: Unable to patch the block device: %s Please verify the request arguments.", err);
		goto out;
	}
	if (replace_str(&cfg->drives[idx].path, path))
		fault(c->resp, 500, "Out of memory.");
	else
		no_content(c->resp);
out:
	cJSON_Delete(o);
}

static int find_net(const struct vmm_config *cfg, const char *id)
{
	for (int i = 0; i < cfg->nr_nets; i++)
		if (!strcmp(cfg->nets[i].id, id))
			return i;
	return -1;
}

static void put_net(struct ctx *c, const char *id, const char *body, size_t len)
{
	static const struct field f[] = {
		{ "iface_id", F_STR, true, false },
		{ "host_dev_name", F_STR, true, false },
		{ "guest_mac", F_STR, false, true },
		{ "rx_rate_limiter", F_RATE_LIMITER, false, true },
		{ "tx_rate_limiter", F_RATE_LIMITER, false, true },
	};
	struct vmm_config *cfg = &c->a->cfg;
	struct net_config n = { 0 };
	const char *s;
	int idx;
	cJSON *o;

	if (!(o = parse_body(c, body, len, f, 5)))
		return;
	if (!body_id_matches(c, o, "iface_id", id) || !pre_boot(c))
		goto out;
	snprintf(n.id, sizeof(n.id), "%.*s", CONFIG_ID_MAX, id);
	if ((s = get_str(o, "guest_mac"))) {
		if (config_parse_mac(s, n.mac)) {
			fault(c->resp, 400, BODY_ERR "invalid value: string \"%.40s\", expected a MAC address "
						     "(xx:xx:xx:xx:xx:xx).", s);
			goto out;
		}
		n.has_mac = true;
	}
	s = get_str(o, "host_dev_name");
	if (!*s || strlen(s) >= IFNAMSIZ || strchr(s, '/')) {
		fault(c->resp, 400,
		      "Network config error: Could not create the network device: Open tap device failed: Invalid "
		      "TUN/TAP Backend provided by %.40s: a name of 1-%d characters, without '/'.",
		      s, IFNAMSIZ - 1);
		goto out;
	}
	snprintf(n.host_dev_name, sizeof(n.host_dev_name), "%s", s);
	idx = find_net(cfg, id);
	for (int i = 0; i < cfg->nr_nets; i++) {
		if (i == idx)
			continue;
		if (n.has_mac && cfg->nets[i].has_mac && !memcmp(cfg->nets[i].mac, n.mac, 6)) {
			fault(c->resp, 400, "Network config error: The MAC address is already in use: %s",
			      get_str(o, "guest_mac"));
			goto out;
		}
		if (!strcmp(cfg->nets[i].host_dev_name, n.host_dev_name)) {
			fault(c->resp, 400,
			      "Network config error: Could not create the network device: Open tap device failed: "
			      "the tap %s is already used by interface '%s'.",
			      n.host_dev_name, cfg->nets[i].id);
			goto out;
		}
	}
	if (idx < 0 && cfg->nr_nets == CONFIG_MAX_NETS) {
		fault(c->resp, 400, "Too many network interfaces: at most %d.", CONFIG_MAX_NETS);
		goto out;
	}
	if (idx < 0)
		idx = cfg->nr_nets++;
	cfg->nets[idx] = n;
	no_content(c->resp);
out:
	cJSON_Delete(o);
}

static void patch_net(struct ctx *c, const char *id, const char *body, size_t len)
{
	static const struct field f[] = {
		{ "iface_id", F_STR, true, false },
		{ "rx_rate_limiter", F_RATE_LIMITER, false, true },
		{ "tx_rate_limiter", F_RATE_LIMITER, false, true },
	};
	cJSON *o;

	if (!(o = parse_body(c, body, len, f, 3)))
		return;
	if (!body_id_matches(c, o, "iface_id", id))
		goto out;
	if (c->a->state == VM_NOT_STARTED)
		fault(c->resp, 400, ERR_BEFORE_BOOT);
	else if (find_net(&c->a->cfg, id) < 0)
		fault(c->resp, 400, "Network config error: no network interface with id '%s'.", id);
	else
		no_content(c->resp); /* only empty rate limiters get here: nothing to change */
out:
	cJSON_Delete(o);
}

static void put_actions(struct ctx *c, const char *body, size_t len)
{
	static const struct field f[] = { { "action_type", F_STR, true, false } };
	static const char *const actions[] = { "FlushMetrics", "InstanceStart", "SendCtrlAltDel" };
	struct api *a = c->a;
	char err[512] = "";
	const char *t;
	cJSON *o;

	if (!(o = parse_body(c, body, len, f, 1)))
		return;
	t = get_str(o, "action_type");
	if (!check_variant(c, t, actions, 3))
		goto out;
	if (!strcmp(t, "InstanceStart")) {
		if (!pre_boot(c))
			goto out;
		if (!a->cfg.kernel_path) {
			fault(c->resp, 400, "Start microvm error: Cannot start microvm without kernel configuration.");
			goto out;
		}
		if (a->cfg.nr_drives + a->cfg.nr_nets > CONFIG_MAX_DEVICES) {
			fault(c->resp, 400,
			      "Start microvm error: Failed to allocate requested resource: The requested resource is "
			      "not available. (%d devices; at most %d, one per IRQ line 5-23)",
			      a->cfg.nr_drives + a->cfg.nr_nets, CONFIG_MAX_DEVICES);
			goto out;
		}
		if (a->ops->start(a->opaque, &a->cfg, err, sizeof(err))) {
			fault(c->resp, 400, "Start microvm error: %s", err);
			goto out;
		}
		a->state = VM_RUNNING;
		no_content(c->resp);
	} else if (a->state == VM_NOT_STARTED) {
		fault(c->resp, 400, ERR_BEFORE_BOOT);
	} else if (!strcmp(t, "SendCtrlAltDel")) {
		if (a->ops->ctrl_alt_del(a->opaque, err, sizeof(err)))
			fault(c->resp, 400, "Internal VMM error: SendCtrlAltDel failed: %s", err);
		else
			no_content(c->resp);
	} else if (!a->metrics_path) {
		no_content(c->resp); /* as in Firecracker: nothing to flush to */
	} else if (a->ops->flush_metrics(a->opaque, err, sizeof(err))) {
		fault(c->resp, 400, "Internal VMM error: FlushMetrics failed: %s", err);
	} else {
		no_content(c->resp);
	}
out:
	cJSON_Delete(o);
}

static void patch_vm(struct ctx *c, const char *body, size_t len)
{
	static const struct field f[] = { { "state", F_STR, true, false } };
	static const char *const states[] = { "Paused", "Resumed" };
	struct api *a = c->a;
	char err[256] = "";
	const char *s;
	bool pause;
	cJSON *o;

	if (!(o = parse_body(c, body, len, f, 1)))
		return;
	s = get_str(o, "state");
	if (!check_variant(c, s, states, 2))
		goto out;
	if (a->state == VM_NOT_STARTED) {
		fault(c->resp, 400, ERR_BEFORE_BOOT);
		goto out;
	}
	pause = !strcmp(s, "Paused");
	if (pause != (a->state == VM_PAUSED) && a->ops->pause(a->opaque, pause, err, sizeof(err))) {
		fault(c->resp, 400, "Internal VMM error: cannot change the VM state: %s", err);
		goto out;
	}
	a->state = pause ? VM_PAUSED : VM_RUNNING;
	no_content(c->resp);
out:
	cJSON_Delete(o);
}

static void put_logger(struct ctx *c, const char *body, size_t len)
{
	static const struct field f[] = {
		{ "log_path", F_STR, false, true },	   { "level", F_STR, false, true },
		{ "show_level", F_BOOL, false, true },	   { "show_log_origin", F_BOOL, false, true },
		{ "module", F_STR, false, true },
	};
	/* Firecracker's LevelFilter: log's names, any case, and "Warning" from older releases. */
	static const char *const levels[] = { "Off", "Trace", "Debug", "Info", "Warn", "Warning", "Error" };
	static const char *const ours[] = { "Off", "Trace", "Debug", "Info", "Warning", "Warning", "Error" };
	struct api *a = c->a;
	struct logger_config lc = { .level = "Info" };
	char err[256] = "";
	const char *s;
	cJSON *o;

	/* As Firecracker: after boot the VMM thread opens nothing (its filter has no openat). */
	if (!pre_boot(c) || !(o = parse_body(c, body, len, f, 5)))
		return;
	if ((s = get_str(o, "level"))) {
		size_t i;

		for (i = 0; i < 7 && strcasecmp(s, levels[i]); i++)
			;
		if (i == 7) {
			fault(c->resp, 400, BODY_ERR "Failed to parse string to level filter: %.64s.", s);
			goto out;
		}
		snprintf(lc.level, sizeof(lc.level), "%s", ours[i]);
	}
	get_bool(o, "show_level", &lc.show_level);
	get_bool(o, "show_log_origin", &lc.show_log_origin);
	lc.log_path = (char *)get_str(o, "log_path");
	lc.module = (char *)get_str(o, "module");
	if (a->ops->logger(a->opaque, &lc, err, sizeof(err))) {
		fault(c->resp, 400, "Logger error: %s", err);
		goto out;
	}
	free(a->logger.log_path);
	free(a->logger.module);
	a->logger = lc;
	a->logger.log_path = lc.log_path ? strdup(lc.log_path) : NULL;
	a->logger.module = lc.module ? strdup(lc.module) : NULL;
	a->has_logger = true;
	no_content(c->resp);
out:
	cJSON_Delete(o);
}

#define ERR_METRICS "Metrics error: Cannot initialize the metrics system due to bad user input: "

static void put_metrics(struct ctx *c, const char *body, size_t len)
{
	static const struct field f[] = { { "metrics_path", F_STR, true, false } };
	struct api *a = c->a;
	char err[256] = "";
	cJSON *o;

	if (!pre_boot(c) || !(o = parse_body(c, body, len, f, 1)))
		return;
	if (a->metrics_path) {
		fault(c->resp, 400, ERR_METRICS "Reinitialization of metrics not allowed.");
	} else if (a->ops->metrics(a->opaque, get_str(o, "metrics_path"), err, sizeof(err))) {
		fault(c->resp, 400, ERR_METRICS "%s", err);
	} else {
		/* The op may have recorded the path already (control_set_metrics_path does). */
		if (!a->metrics_path)
			a->metrics_path = strdup(get_str(o, "metrics_path"));
		no_content(c->resp);
	}
	cJSON_Delete(o);
}

static void get_vm_config(struct ctx *c)
{
	char *s = api_vm_config_json(c->a);

	c->resp->status = s ? 200 : 500;
	c->resp->body = s;
	c->resp->body_len = s ? strlen(s) : 0;
}

/* ---- routing ---- */

static const char *const unsupported[] = {
	"/balloon", "/mmds", "/vsock", "/entropy", "/pmem", "/hotplug", "/cpu-config", "/snapshot",
	"/memory-hotplug", "/serial",
};

/* "/drives/ID" -> ID, if ID is valid; NULL if the path is not under prefix. */
static const char *path_id(const char *path, const char *prefix, bool *valid)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) || path[n] != '/')
		return NULL;
	*valid = config_valid_id(path + n + 1);
	return path + n + 1;
}

void api_handle(struct api *a, enum http_method m, const char *method_name, const char *path, const char *body,
		size_t body_len, struct api_response *resp)
{
	struct ctx c = { a, resp };
	enum api_endpoint ep = EP_OTHER;
	const char *id;
	bool valid = false;
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
		fault(resp, 400, "GET request cannot have a body.");
		goto done;
	}
	if ((m == HTTP_PUT || m == HTTP_PATCH) && !body_len) {
		fault(resp, 400, "Empty %s request.", method_name);
		goto done;
	}
	if (!strcmp(path, "/")) {
		ep = EP_ROOT;
		if (m == HTTP_GET)
			get_root(&c);
	} else if (!strcmp(path, "/version")) {
		ep = EP_VERSION;
		if (m == HTTP_GET)
			get_version(&c);
	} else if (!strcmp(path, "/boot-source")) {
		ep = EP_BOOT_SOURCE;
		if (m == HTTP_PUT)
			put_boot_source(&c, body, body_len);
	} else if (!strcmp(path, "/machine-config")) {
		ep = EP_MACHINE_CONFIG;
		if (m == HTTP_GET)
			get_machine_config(&c);
		else if (m == HTTP_PUT || m == HTTP_PATCH)
			machine_config(&c, body, body_len, m == HTTP_PATCH);
	} else if (!strcmp(path, "/drives") || !strcmp(path, "/network-interfaces")) {
		ep = path[1] == 'd' ? EP_DRIVES : EP_NETWORK;
		if (m == HTTP_PUT || m == HTTP_PATCH)
			fault(resp, 400, "The ID cannot be empty.");
	} else if ((id = path_id(path, "/drives", &valid))) {
		ep = EP_DRIVES;
		if (!valid && (m == HTTP_PUT || m == HTTP_PATCH))
			fault(resp, 400, "API Resource IDs can only contain alphanumeric characters and underscores.");
		else if (m == HTTP_PUT)
			put_drive(&c, id, body, body_len);
		else if (m == HTTP_PATCH)
			patch_drive(&c, id, body, body_len);
	} else if ((id = path_id(path, "/network-interfaces", &valid))) {
		ep = EP_NETWORK;
		if (!valid && (m == HTTP_PUT || m == HTTP_PATCH))
			fault(resp, 400, "API Resource IDs can only contain alphanumeric characters and underscores.");
		else if (m == HTTP_PUT)
			put_net(&c, id, body, body_len);
		else if (m == HTTP_PATCH)
			patch_net(&c, id, body, body_len);
	} else if (!strcmp(path, "/actions")) {
		ep = EP_ACTIONS;
		if (m == HTTP_PUT)
			put_actions(&c, body, body_len);
	} else if (!strcmp(path, "/vm")) {
		ep = EP_VM;
		if (m == HTTP_PATCH)
			patch_vm(&c, body, body_len);
	} else if (!strcmp(path, "/vm/config")) {
		ep = EP_VM_CONFIG;
		if (m == HTTP_GET)
			get_vm_config(&c);
	} else if (!strcmp(path, "/logger")) {
		ep = EP_LOGGER;
		if (m == HTTP_PUT)
			put_logger(&c, body, body_len);
	} else if (!strcmp(path, "/metrics")) {
		ep = EP_METRICS;
		if (m == HTTP_PUT)
			put_metrics(&c, body, body_len);
	} else {
		for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
			size_t l = strlen(unsupported[i]);

			if (!strncmp(path, unsupported[i], l) && (path[l] == 0 || path[l] == '/')) {
				ep = EP_UNSUPPORTED;
				fault(resp, 400, "'%s' is not supported by kindling.", unsupported[i]);
				break;
			}
		}
	}
	/* Firecracker names the method and the path's first segment. */
	if (!resp->status)
		fault(resp, 400, "Invalid request method and/or path: %s %.*s.", method_name,
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
	snprintf(a->logger.level, sizeof(a->logger.level), "Info");
}

void api_free(struct api *a)
{
	config_free(&a->cfg);
	free(a->logger.log_path);
	free(a->logger.module);
	free(a->metrics_path);
	a->logger.log_path = a->logger.module = a->metrics_path = NULL;
}
