/* VM configuration: defaults, the setters and config_validate() that every front end (flags,
 * config file, API) goes through, and the --drive/--net flag syntax. The refusals are
 * Firecracker's fault messages, so an API client sees exactly what Firecracker would say. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "log.h"
#include "vm.h"

/* Rust's rendering of an io::Error. */
#define OS_ERR_FMT "%s (os error %d)"
#define OS_ERR(e) strerror(e), (e)

#define ERR_OOM "Out of memory."
#define ERR_ID "API Resource IDs can only contain alphanumeric characters and underscores."

void config_init(struct vmm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->vcpu_count = 1;
	c->mem_size_mib = DEFAULT_MEM_MIB;
}

void config_free(struct vmm_config *c)
{
	free(c->kernel_path);
	free(c->initrd_path);
	free(c->boot_args);
	for (int i = 0; i < c->nr_drives; i++) {
		free(c->drives[i].path);
		free(c->drives[i].partuuid);
	}
	memset(c, 0, sizeof(*c));
}

bool config_valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > CONFIG_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
	}
	return true;
}

int config_check_path(const char *path, bool writable)
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

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return -ENOMEM;
	return 0;
}

/* ---- boot source ---- */

int config_set_boot_source(struct vmm_config *c, const char *kernel, const char *initrd, const char *boot_args,
			   char *err, size_t errlen)
{
	char *k, *i, *b;
	int r;

	if ((r = config_check_path(kernel, false)))
		return errorf(err, errlen, -EINVAL, "Boot source error: The kernel file cannot be opened: " OS_ERR_FMT,
			      OS_ERR(-r));
	if (initrd && (r = config_check_path(initrd, false)))
		return errorf(err, errlen, -EINVAL,
			      "Boot source error: The initrd file cannot be opened due to invalid path or invalid "
			      "permissions. " OS_ERR_FMT,
			      OS_ERR(-r));
	if (boot_args && strlen(boot_args) > CONFIG_BOOT_ARGS_MAX)
		return errorf(err, errlen, -EINVAL,
			      "Boot source error: The kernel command line is invalid: it is %zu bytes; at most %d.",
			      strlen(boot_args), CONFIG_BOOT_ARGS_MAX);
	if (dup_str(&k, kernel) | dup_str(&i, initrd) | dup_str(&b, boot_args)) {
		free(k), free(i), free(b);
		return errorf(err, errlen, -ENOMEM, ERR_OOM);
	}
	free(c->kernel_path), free(c->initrd_path), free(c->boot_args);
	c->kernel_path = k, c->initrd_path = i, c->boot_args = b;
	return 0;
}

/* ---- machine config ---- */

static uint64_t host_mem_mib(const struct vmm_config *c)
{
	struct sysinfo si;

	if (c->host_mem_mib)
		return c->host_mem_mib;
	if (sysinfo(&si) < 0)
		return CONFIG_MEM_MIB_MAX;
	return ((uint64_t)si.totalram + si.totalswap) * si.mem_unit >> 20;
}

#define ERR_VCPUS                                                                               \
	"Machine config error: The number of vCPUs must be greater than 0, less than %d and must be 1 " \
	"or an even number if SMT is enabled."

static int check_vcpus(uint64_t n, char *err, size_t errlen)
{
	if (n < 1 || n > VM_MAX_VCPUS)
		return errorf(err, errlen, -EINVAL, ERR_VCPUS, VM_MAX_VCPUS);
	return 0;
}

static int check_mem(const struct vmm_config *c, uint64_t mib, char *err, size_t errlen)
{
	uint64_t limit;

	if (mib == 0)
		return errorf(err, errlen, -EINVAL,
			      "Machine config error: The memory size (MiB) is either 0, or not a multiple of the "
			      "configured page size.");
	if (mib < CONFIG_MEM_MIB_MIN || mib > CONFIG_MEM_MIB_MAX)
		return errorf(err, errlen, -EINVAL, "Invalid mem_size_mib %llu: must be between %d and %u.",
			      (unsigned long long)mib, CONFIG_MEM_MIB_MIN, CONFIG_MEM_MIB_MAX);
	limit = host_mem_mib(c);
	if (mib > limit)
		return errorf(err, errlen, -EINVAL, "Invalid mem_size_mib %llu: more than the host's %llu MiB.",
			      (unsigned long long)mib, (unsigned long long)limit);
	return 0;
}

int config_set_machine(struct vmm_config *c, const struct machine_update *u, char *err, size_t errlen)
{
	int r;

	if (u->has_smt && u->smt)
		return errorf(err, errlen, -EINVAL, "smt=true is not supported by kindling: each vCPU is a core.");
	if (u->has_vcpu_count && (r = check_vcpus(u->vcpu_count, err, errlen)))
		return r;
	if (u->has_mem_size_mib && (r = check_mem(c, u->mem_size_mib, err, errlen)))
		return r;
	if (u->has_smt)
		c->smt = u->smt;
	if (u->has_track_dirty_pages)
		c->track_dirty_pages = u->track_dirty_pages;
	if (u->has_vcpu_count)
		c->vcpu_count = (int)u->vcpu_count;
	if (u->has_mem_size_mib)
		c->mem_size_mib = u->mem_size_mib;
	return 0;
}

/* ---- drives ---- */

int config_find_drive(const struct vmm_config *c, const char *id)
{
	for (int i = 0; i < c->nr_drives; i++)
		if (!strcmp(c->drives[i].id, id))
			return i;
	return -1;
}

/* How Firecracker reports a backing file it cannot open: the Debug form of its error. */
#define ERR_BACKING_FILE                                                                        \
	"Drive config error: Unable to create the virtio block device: VirtioBackend(BackingFile(Os { " \
	"code: %d, message: \"%s\" }, \"%s\"))"

static int check_root(const struct vmm_config *c, int skip, char *err, size_t errlen)
{
	for (int i = 0; i < c->nr_drives; i++)
		if (i != skip && c->drives[i].is_root)
			return errorf(err, errlen, -EINVAL, "Drive config error: A root block device already exists!");
	return 0;
}

int config_set_drive(struct vmm_config *c, const struct drive_config *d, char *err, size_t errlen)
{
	struct drive_config n = *d;
	int idx, r;

	if (!config_valid_id(d->id))
		return errorf(err, errlen, -EINVAL, ERR_ID);
	if ((r = config_check_path(d->path, !d->read_only)))
		return errorf(err, errlen, -EINVAL, ERR_BACKING_FILE, -r, strerror(-r), d->path);
	idx = config_find_drive(c, d->id);
	if (d->is_root && (r = check_root(c, idx, err, errlen)))
		return r;
	if (idx < 0 && c->nr_drives == CONFIG_MAX_DRIVES)
		return errorf(err, errlen, -EINVAL, "Too many drives: at most %d.", CONFIG_MAX_DRIVES);
	if (dup_str(&n.path, d->path) | dup_str(&n.partuuid, d->partuuid)) {
		free(n.path), free(n.partuuid);
		return errorf(err, errlen, -ENOMEM, ERR_OOM);
	}
	if (idx < 0) {
		idx = c->nr_drives++;
	} else {
		free(c->drives[idx].path);
		free(c->drives[idx].partuuid);
	}
	c->drives[idx] = n;
	return 0;
}

/* ---- network interfaces ---- */

int config_find_net(const struct vmm_config *c, const char *id)
{
	for (int i = 0; i < c->nr_nets; i++)
		if (!strcmp(c->nets[i].id, id))
			return i;
	return -1;
}

/* n against every interface but the one at skip: Firecracker refuses a MAC or a tap twice. */
static int check_net_unique(const struct vmm_config *c, const struct net_config *n, int skip, char *err,
			    size_t errlen)
{
	for (int i = 0; i < c->nr_nets; i++) {
		const struct net_config *o = &c->nets[i];

		if (i == skip)
			continue;
		if (n->has_mac && o->has_mac && !memcmp(o->mac, n->mac, 6))
			return errorf(err, errlen, -EINVAL,
				      "Network config error: The MAC address is already in use: "
				      "%02x:%02x:%02x:%02x:%02x:%02x",
				      n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		if (!strcmp(o->host_dev_name, n->host_dev_name))
			return errorf(err, errlen, -EINVAL,
				      "Network config error: Could not create the network device: Open tap device "
				      "failed: the tap %s is already used by interface '%s'.",
				      n->host_dev_name, o->id);
	}
	return 0;
}

int config_check_tap_name(const char *s, char *err, size_t errlen)
{
	if (!*s || strlen(s) >= IFNAMSIZ || strchr(s, '/'))
		return errorf(err, errlen, -EINVAL,
			      "Network config error: Could not create the network device: Open tap device failed: "
			      "Invalid TUN/TAP Backend provided by %.40s: a name of 1-%d characters, without '/'.",
			      s, IFNAMSIZ - 1);
	return 0;
}

int config_set_net(struct vmm_config *c, const struct net_config *n, char *err, size_t errlen)
{
	int idx, r;

	if (!config_valid_id(n->id))
		return errorf(err, errlen, -EINVAL, ERR_ID);
	/* A caller may have filled host_dev_name to the brim, without a NUL. */
	if (strnlen(n->host_dev_name, IFNAMSIZ) == IFNAMSIZ) {
		char name[IFNAMSIZ + 1];

		snprintf(name, sizeof(name), "%.*s", IFNAMSIZ, n->host_dev_name);
		return config_check_tap_name(name, err, errlen);
	}
	if ((r = config_check_tap_name(n->host_dev_name, err, errlen)))
		return r;
	idx = config_find_net(c, n->id);
	if ((r = check_net_unique(c, n, idx, err, errlen)))
		return r;
	if (idx < 0 && c->nr_nets == CONFIG_MAX_NETS)
		return errorf(err, errlen, -EINVAL, "Too many network interfaces: at most %d.", CONFIG_MAX_NETS);
	if (idx < 0)
		idx = c->nr_nets++;
	c->nets[idx] = *n;
	return 0;
}

/* ---- the whole ---- */

int config_validate(const struct vmm_config *c, char *err, size_t errlen)
{
	int r;

	if (!c->kernel_path)
		return errorf(err, errlen, -EINVAL, "Cannot start microvm without kernel configuration.");
	if ((r = check_vcpus((uint64_t)(c->vcpu_count < 0 ? 0 : c->vcpu_count), err, errlen)))
		return r;
	if (c->mem_size_mib < CONFIG_MEM_MIB_MIN || c->mem_size_mib > CONFIG_MEM_MIB_MAX)
		return check_mem(c, c->mem_size_mib, err, errlen);
	if (c->nr_drives + c->nr_nets > CONFIG_MAX_DEVICES)
		return errorf(err, errlen, -EINVAL,
			      "Failed to allocate requested resource: The requested resource is not available. "
			      "(%d devices; at most %d, one per IRQ line 5-23)",
			      c->nr_drives + c->nr_nets, CONFIG_MAX_DEVICES);
	/* The setters keep these true; a config assembled by hand (tests, harnesses) may not. */
	for (int i = 0; i < c->nr_drives; i++)
		if (c->drives[i].is_root && (r = check_root(c, i, err, errlen)))
			return r;
	for (int i = 0; i < c->nr_nets; i++)
		if ((r = check_net_unique(c, &c->nets[i], i, err, errlen)))
			return r;
	return 0;
}

/* ---- the --drive and --net flags ---- */

int config_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
				      &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* Splits "k=v,flag,k=v" in place; calls fn for each item. */
static int each_item(char *s, int (*fn)(void *ctx, const char *key, const char *val), void *ctx)
{
	for (char *save = NULL, *item = strtok_r(s, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		int r;

		if (eq)
			*eq = 0;
		r = fn(ctx, item, eq ? eq + 1 : NULL);
		if (r)
			return r;
	}
	return 0;
}

struct drive_ctx {
	struct drive_config *d;
	char *err;
	size_t errlen;
};

static int drive_item(void *opaque, const char *key, const char *val)
{
	struct drive_ctx *c = opaque;

	if (!strcmp(key, "path") && val && *val) {
		free(c->d->path);
		if (!(c->d->path = strdup(val)))
			return errorf(c->err, c->errlen, -ENOMEM, ERR_OOM);
	} else if (!strcmp(key, "ro") && !val) {
		c->d->read_only = true;
	} else if (!strcmp(key, "root") && !val) {
		c->d->is_root = true;
	} else if (!strcmp(key, "writeback") && !val) {
		c->d->cache_writeback = true; /* cache_type Writeback: the guest's flushes reach the disk */
	} else if (!strcmp(key, "id") && val) {
		/* Kept whole (up to the array's size) for config_set_drive to judge. */
		if (strlen(val) > CONFIG_ID_MAX)
			return errorf(c->err, c->errlen, -EINVAL, ERR_ID);
		snprintf(c->d->id, sizeof(c->d->id), "%s", val);
	} else {
		return errorf(c->err, c->errlen, -EINVAL, "unknown drive option '%s'", key);
	}
	return 0;
}

int config_parse_drive(const char *spec, struct drive_config *d, char *err, size_t errlen)
{
	struct drive_ctx c = { d, err, errlen };
	char *s = strdup(spec);
	int r;

	memset(d, 0, sizeof(*d));
	if (!s)
		return errorf(err, errlen, -ENOMEM, ERR_OOM);
	r = each_item(s, drive_item, &c);
	free(s);
	if (!r && !d->path)
		r = errorf(err, errlen, -EINVAL, "--drive needs path=FILE");
	if (r) {
		free(d->path);
		d->path = NULL;
	}
	return r;
}

struct net_ctx {
	struct net_config *n;
	char *err;
	size_t errlen;
};

static int net_item(void *opaque, const char *key, const char *val)
{
	struct net_ctx *c = opaque;

	if (!strcmp(key, "tap") && val) {
		int r = config_check_tap_name(val, c->err, c->errlen);

		if (r)
			return r;
		snprintf(c->n->host_dev_name, sizeof(c->n->host_dev_name), "%s", val);
	} else if (!strcmp(key, "mac") && val) {
		if (config_parse_mac(val, c->n->mac))
			return errorf(c->err, c->errlen, -EINVAL, "bad MAC address '%s' (want xx:xx:xx:xx:xx:xx)", val);
		c->n->has_mac = true;
	} else if (!strcmp(key, "id") && val) {
		if (strlen(val) > CONFIG_ID_MAX)
			return errorf(c->err, c->errlen, -EINVAL, ERR_ID);
		snprintf(c->n->id, sizeof(c->n->id), "%s", val);
	} else {
		return errorf(c->err, c->errlen, -EINVAL, "unknown net option '%s'", key);
	}
	return 0;
}

int config_parse_net(const char *spec, struct net_config *n, char *err, size_t errlen)
{
	struct net_ctx c = { n, err, errlen };
	char *s = strdup(spec);
	int r;

	memset(n, 0, sizeof(*n));
	if (!s)
		return errorf(err, errlen, -ENOMEM, ERR_OOM);
	r = each_item(s, net_item, &c);
	free(s);
	if (!r && !n->host_dev_name[0])
		r = errorf(err, errlen, -EINVAL, "--net needs tap=NAME");
	return r;
}
