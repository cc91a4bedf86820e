/* virtio-mmio version 2 register interface and its KVM/event loop wiring. */
#include "mmio.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#include <stdlib.h>

#include "evloop.h"
#include "vm.h"

static const struct device_ops mmio_device_ops;

/* vm_device_regs hands out one page per window of this size. */
_Static_assert(VIRTIO_MMIO_SIZE == VM_DEVICE_WINDOW, "a transport window is a VM device window");

void virtio_mmio_init(struct virtio_mmio *t, struct virtio_device *dev)
{
	memset(t, 0, sizeof(*t));
	device_init(&t->device, &mmio_device_ops, dev->name, 0, DEVICE_NO_IRQ);
	t->dev = dev;
	t->irq = -1;
	t->rl = (struct ratelimit)RATELIMIT_INIT(5, 1000);
}

static struct virtq *selected(struct virtio_mmio *t)
{
	return t->st.queue_sel < (uint32_t)t->dev->nr_queues ? &t->dev->queues[t->st.queue_sel] : NULL;
}

/* Every register but the interrupt status, which virtio_mmio_access reads without the lock. */
static uint32_t read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtio_device *dev = t->dev;
	struct virtq *q = selected(t);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return t->st.device_features_sel < 2 ? (uint32_t)(dev->st.device_features >> (32 * t->st.device_features_sel))
						  : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? q->max_size : 0;
	case VIRTIO_MMIO_QUEUE_NUM:
		return q ? q->st.size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->st.ready : 0;
	case VIRTIO_MMIO_STATUS:
		return dev->st.status;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		return q ? (uint32_t)q->st.desc_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return q ? (uint32_t)(q->st.desc_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
		return q ? (uint32_t)q->st.avail_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		return q ? (uint32_t)(q->st.avail_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
		return q ? (uint32_t)q->st.used_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		return q ? (uint32_t)(q->st.used_gpa >> 32) : 0;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return dev->st.config_generation;
	default:
		return 0;
	}
}

/* The registers a driver reads, but the interrupt status (live in the page). */
static const uint16_t readable[] = {
	VIRTIO_MMIO_MAGIC_VALUE, VIRTIO_MMIO_VERSION, VIRTIO_MMIO_DEVICE_ID, VIRTIO_MMIO_VENDOR_ID,
	VIRTIO_MMIO_DEVICE_FEATURES, VIRTIO_MMIO_QUEUE_NUM_MAX, VIRTIO_MMIO_QUEUE_NUM, VIRTIO_MMIO_QUEUE_READY,
	VIRTIO_MMIO_STATUS, VIRTIO_MMIO_QUEUE_DESC_LOW, VIRTIO_MMIO_QUEUE_DESC_HIGH, VIRTIO_MMIO_QUEUE_DRIVER_LOW,
	VIRTIO_MMIO_QUEUE_DRIVER_HIGH, VIRTIO_MMIO_QUEUE_DEVICE_LOW, VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
	VIRTIO_MMIO_CONFIG_GENERATION,
};

/* Rewrites the window's page from the state (dev->lock held). Every change a driver can
 * read comes from one of its own register writes, which exit and end here before the vCPU
 * goes on, or from the device's side (regs_changed). Word stores: a vCPU reading meanwhile
 * sees the old or the new value of a register, never half of each. */
static void regs_sync(struct virtio_mmio *t)
{
	struct virtio_device *dev = t->dev;
	uint8_t cfg[VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG] = { 0 };

	if (!t->regs)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(readable); i++)
		__atomic_store_n((uint32_t *)(t->regs + readable[i]), read_reg(t, readable[i]), __ATOMIC_RELAXED);
	if (dev->config_size && dev->config_size <= sizeof(cfg) && dev->ops->config_read) {
		dev->ops->config_read(dev, 0, cfg, dev->config_size);
		for (uint32_t off = 0; off < dev->config_size; off += 4) {
			uint32_t w;

			memcpy(&w, cfg + off, 4);
			__atomic_store_n((uint32_t *)(t->regs + VIRTIO_MMIO_CONFIG + off), w, __ATOMIC_RELAXED);
		}
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void regs_changed(void *opaque)
{
	regs_sync(opaque);
}

static void set_low(uint64_t *v, uint32_t x)
{
	*v = (*v & ~0xffffffffull) | x;
}

static void set_high(uint64_t *v, uint32_t x)
{
	*v = (*v & 0xffffffffull) | ((uint64_t)x << 32);
}

static void write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtio_device *dev = t->dev;
	int qi = t->st.queue_sel < (uint32_t)dev->nr_queues ? (int)t->st.queue_sel : -1;
	struct virtq *q = qi >= 0 ? &dev->queues[qi] : NULL;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->st.device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		virtio_set_driver_features(dev, t->st.driver_features_sel, v);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->st.driver_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		/* Selecting is harmless at any time; using a bad selection is refused below. */
		t->st.queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (virtio_queue_writable(dev, qi, false))
			q->st.size = v > 0xffff ? 0xffff : (uint16_t)v; /* too big: refused when made ready */
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (virtio_queue_writable(dev, qi, true))
			virtio_queue_set_ready(dev, qi, v & 1);
		break;
	case VIRTIO_MMIO_STATUS:
		virtio_set_status(dev, v & 0xff);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: {
		uint64_t *addr;

		if (!virtio_queue_writable(dev, qi, false))
			break;
		addr = off < VIRTIO_MMIO_QUEUE_DRIVER_LOW ? &q->st.desc_gpa
		       : off < VIRTIO_MMIO_QUEUE_DEVICE_LOW ? &q->st.avail_gpa
							   : &q->st.used_gpa;
		(off & 4 ? set_high : set_low)(addr, v);
		break;
	}
	default:
		log_ratelimited(&t->rl, LOG_WARN, "%s: write of 0x%x to register 0x%llx ignored", dev->name, v,
				(unsigned long long)off);
		break;
	}
}

void virtio_mmio_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_mmio *t = opaque;
	struct virtio_device *dev = t->dev;
	uint32_t v = 0;

	if (offset >= VIRTIO_MMIO_CONFIG) {
		uint64_t off = offset - VIRTIO_MMIO_CONFIG;

		if (!is_write)
			memset(data, 0, len);
		if (off >= dev->config_size || len > dev->config_size - off)
			return;
		pthread_mutex_lock(&dev->lock);
		if (is_write && dev->ops->config_write) {
			dev->ops->config_write(dev, (uint32_t)off, data, len);
			regs_sync(t);
		} else if (!is_write && dev->ops->config_read) {
			dev->ops->config_read(dev, (uint32_t)off, data, len);
		}
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	/* Registers are 32 bits wide and accessed as such; anything else is a driver bug. */
	if (len != 4 || (offset & 3)) {
		if (!is_write)
			memset(data, 0, len);
		log_ratelimited(&t->rl, LOG_WARN, "%s: %u-byte access to register 0x%llx ignored", dev->name, len,
				(unsigned long long)offset);
		return;
	}
	if (is_write)
		memcpy(&v, data, 4);
	/* The hot registers need no lock: notify only signals an eventfd, the interrupt status
	 * is atomic. The driver's interrupt handler reads and acks the status while the event
	 * loop may hold the device lock for a whole batch of frames: it must not wait for it. */
	if (offset == VIRTIO_MMIO_QUEUE_NOTIFY && is_write) {
		if (v < (uint32_t)dev->nr_queues)
			virtio_kick(dev, (int)v);
		else
			log_ratelimited(&t->rl, LOG_WARN, "%s: notify of queue %u, which does not exist", dev->name, v);
		return;
	}
	if (offset == VIRTIO_MMIO_INTERRUPT_ACK && is_write) {
		virtio_interrupt_ack(dev, v);
		return;
	}
	if (offset == VIRTIO_MMIO_INTERRUPT_STATUS && !is_write) {
		v = virtio_interrupt_status(dev);
		memcpy(data, &v, 4);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	if (is_write) {
		write_reg(t, offset, v);
		regs_sync(t);
	} else {
		v = read_reg(t, offset);
	}
	pthread_mutex_unlock(&dev->lock);
	if (!is_write)
		memcpy(data, &v, 4);
}

static void on_notify(void *opaque, uint32_t events)
{
	struct virtio_mmio_queue_ref *ref = opaque;

	(void)events;
	virtio_process(ref->t->dev, ref->q);
}

static int ioeventfd(struct virtio_mmio *t, int q, bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = (uint64_t)q,
		.addr = t->base + VIRTIO_MMIO_QUEUE_NOTIFY,
		.len = 4,
		.fd = t->dev->notify_fd[q],
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return ioctl(t->vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static int irqfd(struct virtio_mmio *t, bool assign)
{
	struct kvm_irqfd f = {
		.fd = (uint32_t)t->dev->irq_fd,
		.gsi = (uint32_t)t->irq,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	return ioctl(t->vm->vm_fd, KVM_IRQFD, &f) < 0 ? -errno : 0;
}

int virtio_mmio_attach(struct virtio_mmio *t, struct vm *vm, struct evloop *loop, char *err, size_t errlen)
{
	struct virtio_device *dev = t->dev;
	const char *what;
	int r;

	t->vm = vm;
	t->loop = loop;
	r = vm_alloc_device(vm, VIRTIO_MMIO_SIZE, &t->base, &t->irq);
	if (r) /* Firecracker's words: 19 devices at most, one per IRQ line 5-23. */
		return errorf(err, errlen, r, "Failed to allocate requested resource: The requested resource is not "
					      "available. (%s: no interrupt line left)", dev->name);
	t->device.addr = t->base;
	t->device.irq = t->irq;
	what = "MMIO bus";
	r = bus_register(&vm->mmio, t->base, VIRTIO_MMIO_SIZE, virtio_mmio_access, t, dev->name);
	if (r)
		goto fail;
	/* Reads without exits where the VM has the page: the interrupt status moves there. */
	t->regs = vm_device_regs(vm, t->base);
	if (t->regs) {
		pthread_mutex_lock(&dev->lock);
		virtio_set_isr_home(dev, (uint32_t *)(t->regs + VIRTIO_MMIO_INTERRUPT_STATUS));
		dev->regs_changed = regs_changed;
		dev->regs_opaque = t;
		regs_sync(t);
		pthread_mutex_unlock(&dev->lock);
	}
	what = "KVM_IOEVENTFD";
	for (; t->nr_ioeventfds < dev->nr_queues; t->nr_ioeventfds++) {
		r = ioeventfd(t, t->nr_ioeventfds, true);
		if (r)
			goto fail;
	}
	what = "event loop";
	for (; t->nr_loop_fds < dev->nr_queues; t->nr_loop_fds++) {
		int q = t->nr_loop_fds;

		t->refs[q] = (struct virtio_mmio_queue_ref){ t, q };
		r = evloop_add(loop, dev->notify_fd[q], EPOLLIN, on_notify, &t->refs[q]);
		if (r)
			goto fail;
	}
	what = "KVM_IRQFD";
	r = irqfd(t, true);
	if (r)
		goto fail;
	t->irqfd = true;
	what = "kernel command line";
	r = vm_cmdline_append(vm, "virtio_mmio.device=4K@0x%llx:%d", (unsigned long long)t->base, t->irq);
	if (r)
		goto fail;
	log_debug("%s: virtio-mmio at 0x%llx, irq %d", dev->name, (unsigned long long)t->base, t->irq);
	return 0;
fail:
	errorf(err, errlen, r, "%s: cannot attach (%s): %s", dev->name, what, strerror(-r));
	virtio_mmio_detach(t);
	return r;
}

void virtio_mmio_detach(struct virtio_mmio *t)
{
	bool have_vm = t->vm && t->vm->vm_fd >= 0;

	while (t->nr_loop_fds > 0)
		evloop_del(t->loop, t->dev->notify_fd[--t->nr_loop_fds]);
	while (t->nr_ioeventfds > 0) {
		t->nr_ioeventfds--;
		if (have_vm && ioeventfd(t, t->nr_ioeventfds, false))
			log_debug("%s: KVM_IOEVENTFD deassign failed", t->dev->name);
	}
	if (t->irqfd && have_vm && irqfd(t, false))
		log_debug("%s: KVM_IRQFD deassign failed", t->dev->name);
	t->irqfd = false;
	/* The page is the VM's (it goes with the VM); the device keeps its own status again. */
	if (t->regs) {
		pthread_mutex_lock(&t->dev->lock);
		virtio_set_isr_home(t->dev, NULL);
		t->dev->regs_changed = NULL;
		t->dev->regs_opaque = NULL;
		pthread_mutex_unlock(&t->dev->lock);
		t->regs = NULL;
	}
}

void virtio_mmio_save(const struct virtio_mmio *t, struct virtio_mmio_state *s)
{
	*s = t->st;
}

void virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *s)
{
	/* Any selector value is safe: every use of a selector is range checked. */
	t->st = *s;
	t->st.pad = 0;
}

static struct virtio_mmio *to_mmio(const struct device *d)
{
	return container_of(d, struct virtio_mmio, device);
}

static size_t mmio_save_size(const struct device *d)
{
	(void)d;
	return sizeof(struct virtio_mmio_state);
}

static void mmio_save(struct device *d, void *buf)
{
	struct virtio_mmio *t = to_mmio(d);
	struct virtio_mmio_state s;

	pthread_mutex_lock(&t->dev->lock);
	virtio_mmio_save(t, &s);
	pthread_mutex_unlock(&t->dev->lock);
	memcpy(buf, &s, sizeof(s));
}

static int mmio_restore(struct device *d, const void *buf, char *err, size_t errlen)
{
	struct virtio_mmio *t = to_mmio(d);
	struct virtio_mmio_state s;

	memcpy(&s, buf, sizeof(s));
	if (s.pad)
		return errorf(err, errlen, -EINVAL, "reserved bytes are not zero");
	pthread_mutex_lock(&t->dev->lock);
	virtio_mmio_restore(t, &s);
	regs_sync(t);
	pthread_mutex_unlock(&t->dev->lock);
	return 0;
}

static void mmio_destroy(struct device *d)
{
	struct virtio_mmio *t = to_mmio(d);

	virtio_mmio_detach(t);
	if (t->dev->transport == t)
		t->dev->transport = NULL;
	free(t);
}

static const struct device_ops mmio_device_ops = {
	.kind = DEVICE_VIRTIO_MMIO,
	.version = VIRTIO_MMIO_STATE_VERSION,
	.save_size = mmio_save_size,
	.save = mmio_save,
	.restore = mmio_restore,
	.destroy = mmio_destroy,
};
