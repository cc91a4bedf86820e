/* VM configuration: defaults and the interim --drive/--net flag syntax. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

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
		c->d->path = strdup(val);
	} else if (!strcmp(key, "ro") && !val) {
		c->d->read_only = true;
	} else if (!strcmp(key, "root") && !val) {
		c->d->is_root = true;
	} else if (!strcmp(key, "writeback") && !val) {
		c->d->cache_writeback = true; /* cache_type Writeback: the guest's flushes reach the disk */
	} else if (!strcmp(key, "id") && val) {
		if (!config_valid_id(val))
			return fail(c->err, c->errlen, "drive id '%s' must be 1-64 characters of [A-Za-z0-9_]", val);
		snprintf(c->d->id, sizeof(c->d->id), "%s", val);
	} else {
		return fail(c->err, c->errlen, "unknown drive option '%s'", key);
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
		return -ENOMEM;
	r = each_item(s, drive_item, &c);
	free(s);
	if (!r && !d->path)
		r = fail(err, errlen, "--drive needs path=FILE");
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
		if (strlen(val) == 0 || strlen(val) >= IFNAMSIZ)
			return fail(c->err, c->errlen, "tap name '%s' must be 1-%d characters", val, IFNAMSIZ - 1);
		snprintf(c->n->host_dev_name, sizeof(c->n->host_dev_name), "%s", val);
	} else if (!strcmp(key, "mac") && val) {
		if (config_parse_mac(val, c->n->mac))
			return fail(c->err, c->errlen, "bad MAC address '%s' (want xx:xx:xx:xx:xx:xx)", val);
		c->n->has_mac = true;
	} else if (!strcmp(key, "id") && val) {
		if (!config_valid_id(val))
			return fail(c->err, c->errlen, "interface id '%s' must be 1-64 characters of [A-Za-z0-9_]", val);
		snprintf(c->n->id, sizeof(c->n->id), "%s", val);
	} else {
		return fail(c->err, c->errlen, "unknown net option '%s'", key);
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
		return -ENOMEM;
	r = each_item(s, net_item, &c);
	free(s);
	if (!r && !n->host_dev_name[0])
		r = fail(err, errlen, "--net needs tap=NAME");
	return r;
}
