/* The device list and the header every saved device starts with. */
#include "device.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *const kind_names[] = {
	[DEVICE_UART] = "uart",
	[DEVICE_I8042] = "i8042",
	[DEVICE_BOOT_TIMER] = "boot-timer",
	[DEVICE_VIRTIO_MMIO] = "virtio-mmio",
	[DEVICE_VIRTIO_BLK] = "virtio-blk",
	[DEVICE_VIRTIO_NET] = "virtio-net",
	[DEVICE_RTC] = "rtc",
};

const char *device_kind_name(unsigned kind)
{
	return kind < ARRAY_SIZE(kind_names) && kind_names[kind] ? kind_names[kind] : "unknown";
}

void device_init(struct device *d, const struct device_ops *ops, const char *id, uint64_t addr, int32_t irq)
{
	memset(d, 0, sizeof(*d));
	d->ops = ops;
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->addr = addr;
	d->irq = irq;
}

int device_add(struct device_list *l, struct device *d)
{
	if (l->n >= DEVICE_LIST_MAX)
		return -ENOSPC;
	l->items[l->n++] = d;
	return 0;
}

struct device *device_find(const struct device_list *l, unsigned kind, const char *id)
{
	for (int i = 0; i < l->n; i++) {
		struct device *d = l->items[i];

		if (d->ops->kind == kind && (!id || !strcmp(d->id, id)))
			return d;
	}
	return NULL;
}

void device_list_destroy(struct device_list *l)
{
	while (l->n > 0) {
		struct device *d = l->items[--l->n];

		l->items[l->n] = NULL;
		d->ops->destroy(d);
	}
}

void device_list_metrics(const struct device_list *l, struct cJSON *out)
{
	for (int i = 0; i < l->n; i++) {
		if (l->items[i]->ops->metrics)
			l->items[i]->ops->metrics(l->items[i], out);
	}
}

void device_list_diag(const struct device_list *l, int fd)
{
	for (int i = 0; i < l->n; i++) {
		if (l->items[i]->ops->diag)
			l->items[i]->ops->diag(l->items[i], fd);
	}
}

struct cJSON *device_metrics_object(struct cJSON *out, const char *group, const char *name)
{
	cJSON *g = cJSON_GetObjectItemCaseSensitive(out, group);

	if (!g)
		g = cJSON_AddObjectToObject(out, group);
	return cJSON_AddObjectToObject(g, name);
}

void device_metric(struct cJSON *o, const char *name, uint64_t v)
{
	cJSON_AddNumberToObject(o, name, (double)v);
}

size_t device_save_size(const struct device *d)
{
	return sizeof(struct device_state_hdr) + d->ops->save_size(d);
}

int device_save(struct device *d, void *buf, size_t len)
{
	struct device_state_hdr h;
	size_t n = device_save_size(d);

	if (len < n || n > UINT32_MAX)
		return -ENOSPC;
	memset(&h, 0, sizeof(h));
	h.magic = DEVICE_STATE_MAGIC;
	h.kind = d->ops->kind;
	h.version = d->ops->version;
	h.len = (uint32_t)n;
	h.irq = d->irq;
	h.addr = d->addr;
	memcpy(h.id, d->id, sizeof(h.id));
	memcpy(buf, &h, sizeof(h));
	d->ops->save(d, (uint8_t *)buf + sizeof(h));
	return 0;
}

int device_restore(struct device *d, const void *buf, size_t len, char *err, size_t errlen)
{
	const char *kind = device_kind_name(d->ops->kind);
	size_t want = device_save_size(d);
	struct device_state_hdr h;
	bool old;
	int r;

	if (len < sizeof(h))
		return errorf(err, errlen, -EINVAL, "%s %s: saved state of %zu bytes is shorter than its header", kind,
			      d->id, len);
	memcpy(&h, buf, sizeof(h));
	if (h.magic != DEVICE_STATE_MAGIC)
		return errorf(err, errlen, -EINVAL, "%s %s: not a saved device (magic 0x%08x)", kind, d->id, h.magic);
	if (h.kind != d->ops->kind)
		return errorf(err, errlen, -EINVAL, "%s %s: saved state is of a %s device", kind, d->id,
			      device_kind_name(h.kind));
	if (h.version != d->ops->version && (!d->ops->restore_old || h.version < d->ops->min_version ||
					      h.version > d->ops->version))
		return errorf(err, errlen, -EINVAL, "%s %s: saved state version %u, this build reads %u", kind, d->id,
			      h.version, d->ops->version);
	old = h.version != d->ops->version;
	if (old)
		want = sizeof(h) + d->ops->old_save_size(d, h.version);
	if (h.len != len || len != want)
		return errorf(err, errlen, -EINVAL, "%s %s: saved state of %u bytes (%zu given), expected %zu", kind,
			      d->id, h.len, len, want);
	if (!device_str_ok(h.id, sizeof(h.id)))
		return errorf(err, errlen, -EINVAL, "%s %s: saved device id is not a terminated string", kind, d->id);
	if (strcmp(h.id, d->id))
		return errorf(err, errlen, -EINVAL, "%s %s: saved state is of device \"%s\"", kind, d->id, h.id);
	if (h.addr != d->addr || h.irq != d->irq)
		return errorf(err, errlen, -EINVAL, "%s %s: saved at 0x%llx irq %d, this device is at 0x%llx irq %d",
			      kind, d->id, (unsigned long long)h.addr, h.irq, (unsigned long long)d->addr, d->irq);
	if (old)
		r = d->ops->restore_old(d, h.version, (const uint8_t *)buf + sizeof(h), err, errlen);
	else
		r = d->ops->restore(d, (const uint8_t *)buf + sizeof(h), err, errlen);
	return r ? errwrap(err, errlen, r, "%s %s", kind, d->id) : 0;
}

size_t device_list_save_size(const struct device_list *l)
{
	size_t n = 0;

	for (int i = 0; i < l->n; i++)
		n += device_save_size(l->items[i]);
	return n;
}

int device_list_save(const struct device_list *l, void *buf, size_t len)
{
	size_t off = 0;

	if (len < device_list_save_size(l))
		return -ENOSPC;
	for (int i = 0; i < l->n; i++) {
		size_t n = device_save_size(l->items[i]);
		int r = device_save(l->items[i], (uint8_t *)buf + off, n);

		if (r)
			return r;
		off += n;
	}
	return 0;
}

/* True if the blobs from off on hold nothing of d: they have ended, or the next one is a
 * well-formed header of another kind (a damaged one is left for device_restore to refuse). */
static bool absent(const struct device *d, const void *buf, size_t len, size_t off)
{
	struct device_state_hdr h;

	if (off == len)
		return true;
	if (len - off < sizeof(h))
		return false;
	memcpy(&h, (const uint8_t *)buf + off, sizeof(h));
	return h.magic == DEVICE_STATE_MAGIC && h.kind != d->ops->kind;
}

int device_list_restore(const struct device_list *l, const void *buf, size_t len, char *err, size_t errlen)
{
	size_t off = 0;

	for (int i = 0; i < l->n; i++) {
		struct device *d = l->items[i];
		struct device_state_hdr h;
		int r;

		if (d->ops->optional_in_snapshot && absent(d, buf, len, off))
			continue;
		if (len - off < sizeof(h))
			return errorf(err, errlen, -EINVAL, "saved devices end before %s %s (device %d of %d)",
				      device_kind_name(d->ops->kind), d->id, i + 1, l->n);
		memcpy(&h, (const uint8_t *)buf + off, sizeof(h));
		if (h.len < sizeof(h) || h.len > len - off)
			return errorf(err, errlen, -EINVAL, "saved device %d of %d claims %u bytes, %zu are left", i + 1,
				      l->n, h.len, len - off);
		r = device_restore(d, (const uint8_t *)buf + off, h.len, err, errlen);
		if (r)
			return r;
		off += h.len;
	}
	if (off != len)
		return errorf(err, errlen, -EINVAL, "%zu bytes after the last saved device", len - off);
	return 0;
}

int device_zeroed(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i])
			return 0;
	}
	return 1;
}

int device_str_ok(const char *s, size_t n)
{
	size_t len = strnlen(s, n);

	return len < n && device_zeroed(s + len, n - len);
}
