/* Attaches the virtio devices of a vmm_config to the VM being built: the root drive first
 * (so the guest sees it as /dev/vda), then the other drives, then network interfaces, each
 * on its own virtio-mmio window. Each device and then its transport go on the device list,
 * so the transport is destroyed (detached) before the device it carries. */
#include "vmm_attach.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ratelimit.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/net.h"

/* Puts the device (d is its struct device) on the list, then its transport. Either way
 * the device belongs to the list afterwards. */
static int attach(struct vmm *v, struct virtio_device *dev, struct device *d, char *err, size_t errlen)
{
	struct virtio_mmio *t;
	int r = device_add(&v->devices, d);

	if (r) {
		d->ops->destroy(d);
		return errorf(err, errlen, r, "%s: too many devices", dev->name);
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return errorf(err, errlen, -ENOMEM, "%s: out of memory", dev->name);
	virtio_mmio_init(t, dev);
	memcpy(t->device.id, d->id, sizeof(t->device.id));
	r = virtio_mmio_attach(t, &v->vm, &v->loop, err, errlen);
	if (r) {
		free(t);
		return r;
	}
	dev->transport = t;
	r = device_add(&v->devices, &t->device);
	if (r) {
		t->device.ops->destroy(&t->device);
		return errorf(err, errlen, r, "%s: too many devices", dev->name);
	}
	/* The saved device names where the guest finds it, as its transport does. */
	d->addr = t->base;
	d->irq = t->irq;
	return 0;
}

/* The limiter a device starts with, if one is configured. */
static int set_limiter(struct vmm *v, unsigned kind, const char *id, enum device_limiter which,
		       const struct rl_config *c, char *err, size_t errlen)
{
	struct rl_update u = rate_limiter_config_as_update(c);
	int r;

	if (!rate_limiter_config_enabled(c))
		return 0;
	r = vmm_set_rate_limiter(v, kind, id, which, &u, err, errlen);
	return r ? errwrap(err, errlen, r, "%s %s", kind == DEVICE_VIRTIO_BLK ? "drive" : "network interface", id) : 0;
}

static int attach_drive(struct vmm *v, const struct drive_config *d, char *err, size_t errlen)
{
	struct virtio_blk *b;
	int r;

	r = virtio_blk_create(d->path, d->read_only, d->id, &v->vm.mem, &b, err, errlen);
	if (!r && (r = virtio_blk_watch_timer(b, &v->loop, err, errlen)))
		b->dev.ops->destroy(&b->dev);
	if (!r) {
		virtio_blk_set_writeback(b, d->cache_writeback);
		r = attach(v, &b->dev, &b->device, err, errlen);
	}
	if (!r)
		v->io_fds.blk[v->io_fds.nr_blk++] = b->fd;
	if (!r)
		r = set_limiter(v, DEVICE_VIRTIO_BLK, d->id, DEVICE_LIMITER_DRIVE, &d->rate_limiter, err, errlen);
	return r;
}

static int attach_root_args(struct vmm *v, const struct drive_config *d, char *err, size_t errlen)
{
	int r;

	if (d->partuuid)
		r = vm_cmdline_append(&v->vm, "root=PARTUUID=%s %s", d->partuuid, d->read_only ? "ro" : "rw");
	else
		r = vm_cmdline_append(&v->vm, "root=/dev/vda %s", d->read_only ? "ro" : "rw");
	return r ? errorf(err, errlen, r, "kernel command line too long for the root device") : 0;
}

int vmm_attach_devices(struct vmm *v, const struct vmm_config *cfg, char *err, size_t errlen)
{
	int root = -1, r = 0;

	for (int i = 0; i < cfg->nr_drives; i++) {
		if (!cfg->drives[i].is_root)
			continue;
		if (root >= 0)
			return errorf(err, errlen, -EINVAL, "drives %s and %s are both marked as the root device",
				      cfg->drives[root].id, cfg->drives[i].id);
		root = i;
	}
	if (root >= 0) {
		r = attach_drive(v, &cfg->drives[root], err, errlen);
		if (!r)
			r = attach_root_args(v, &cfg->drives[root], err, errlen);
	}
	for (int i = 0; i < cfg->nr_drives && !r; i++) {
		if (i != root)
			r = attach_drive(v, &cfg->drives[i], err, errlen);
	}
	for (int i = 0; i < cfg->nr_nets && !r; i++) {
		struct virtio_net *n;

		r = virtio_net_create(&cfg->nets[i], &v->vm.mem, &v->loop, &n, err, errlen);
		if (!r)
			r = attach(v, &n->dev, &n->device, err, errlen);
		if (!r)
			v->io_fds.tap[v->io_fds.nr_tap++] = n->tap;
		if (!r)
			r = set_limiter(v, DEVICE_VIRTIO_NET, cfg->nets[i].id, DEVICE_LIMITER_RX,
					&cfg->nets[i].rx_rate_limiter, err, errlen);
		if (!r)
			r = set_limiter(v, DEVICE_VIRTIO_NET, cfg->nets[i].id, DEVICE_LIMITER_TX,
					&cfg->nets[i].tx_rate_limiter, err, errlen);
	}
	if (r)
		vmm_detach_devices(v);
	return r;
}

void vmm_detach_devices(struct vmm *v)
{
	device_list_destroy(&v->devices);
	v->io_fds.nr_blk = v->io_fds.nr_tap = 0;
}
