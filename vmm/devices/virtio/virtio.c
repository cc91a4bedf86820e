/* Transport-independent virtio device core: the status state machine, feature negotiation,
 * queue enabling, interrupts, NEEDS_RESET, and save/restore of the common state. */
#include "virtio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "device.h"

int virtio_init(struct virtio_device *dev, const struct virtio_dev_ops *ops, uint32_t device_id, const char *name,
		const struct guest_mem *mem, int nr_queues)
{
	int r;

	dev->ops = ops;
	dev->device_id = device_id;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->mem = mem;
	dev->nr_queues = nr_queues;
	dev->rl = (struct ratelimit)RATELIMIT_INIT(5, 1000);
	dev->irq_fd = -1;
	dev->isr = &dev->isr_word;
	for (int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		dev->notify_fd[i] = -1;
	if (nr_queues < 1 || nr_queues > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	r = pthread_mutex_init(&dev->lock, NULL);
	if (r)
		return -r;
	dev->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->irq_fd < 0)
		return -errno;
	for (int i = 0; i < nr_queues; i++) {
		dev->notify_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (dev->notify_fd[i] < 0)
			return -errno;
	}
	return 0;
}

void virtio_cleanup(struct virtio_device *dev)
{
	for (int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (dev->notify_fd[i] >= 0)
			close(dev->notify_fd[i]);
		dev->notify_fd[i] = -1;
	}
	if (dev->irq_fd >= 0) {
		close(dev->irq_fd);
		pthread_mutex_destroy(&dev->lock);
	}
	dev->irq_fd = -1;
}

/* The device's interrupt line, edge: its irqfd. */
static void signal_irq(struct virtio_device *dev)
{
	uint64_t one = 1;

	/* A full eventfd counter still means "interrupt pending"; nothing is lost. */
	if (write(dev->irq_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("%s: interrupt eventfd: %s", dev->name, strerror(errno));
}

static void regs_changed(struct virtio_device *dev)
{
	if (dev->regs_changed)
		dev->regs_changed(dev->regs_opaque);
}

static void raise_irq(struct virtio_device *dev, uint32_t bits)
{
	__atomic_fetch_or(dev->isr, bits, __ATOMIC_SEQ_CST);
	signal_irq(dev);
}

void virtio_fail(struct virtio_device *dev, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	dev->errors++;
	if (dev->st.status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dev->st.status |= VIRTIO_STATUS_NEEDS_RESET;
	regs_changed(dev);
	log_ratelimited(&dev->rl, LOG_ERROR, "%s: %s; device needs a reset", dev->name, why);
	/* Only a driver that completed negotiation listens for configuration changes. */
	if (dev->st.status & VIRTIO_STATUS_DRIVER_OK)
		raise_irq(dev, VIRTIO_INT_CONFIG);
}

bool virtio_active(const struct virtio_device *dev)
{
	return (dev->st.status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) == VIRTIO_STATUS_DRIVER_OK;
}

static void reset(struct virtio_device *dev)
{
	if (dev->ops->reset)
		dev->ops->reset(dev);
	for (int i = 0; i < dev->nr_queues; i++)
		virtq_reset(&dev->queues[i]);
	dev->st.driver_features = 0;
	dev->st.status = 0;
	__atomic_store_n(dev->isr, 0, __ATOMIC_SEQ_CST);
}

void virtio_set_status(struct virtio_device *dev, uint32_t status)
{
	uint32_t old = dev->st.status & ~VIRTIO_STATUS_NEEDS_RESET, added;

	if (status == 0) {
		reset(dev);
		return;
	}
	/* NEEDS_RESET is the device's bit, not the driver's; bits 4 and 5 mean nothing. */
	status &= VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |
		  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_FAILED;
	if (old & ~status) {
		log_ratelimited(&dev->rl, LOG_WARN, "%s: driver tried to clear status bits 0x%x; ignored", dev->name,
				old & ~status);
		return;
	}
	added = status & ~old;
	if (((added & VIRTIO_STATUS_DRIVER) && !(status & VIRTIO_STATUS_ACKNOWLEDGE)) ||
	    ((added & VIRTIO_STATUS_FEATURES_OK) && !(status & VIRTIO_STATUS_DRIVER)) ||
	    ((added & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_FEATURES_OK))) {
		log_ratelimited(&dev->rl, LOG_WARN, "%s: status 0x%x skips a step of initialisation; ignored",
				dev->name, status);
		return;
	}
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		/* Refusing leaves FEATURES_OK clear, which is how the driver learns of it. */
		if ((dev->st.driver_features & ~dev->st.device_features) || !virtio_has_feature(dev, VIRTIO_F_VERSION_1)) {
			log_ratelimited(&dev->rl, LOG_WARN, "%s: driver features 0x%llx refused (offered 0x%llx)",
					dev->name, (unsigned long long)dev->st.driver_features,
					(unsigned long long)dev->st.device_features);
			/* DRIVER_OK in the same write goes too: a device never runs without
			 * FEATURES_OK (and a saved state that did would not restore). */
			status &= ~(VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
			added &= status;
		}
	}
	dev->st.status = status | (dev->st.status & VIRTIO_STATUS_NEEDS_RESET);
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(dev->st.status & VIRTIO_STATUS_NEEDS_RESET)) {
		int r = dev->ops->activate ? dev->ops->activate(dev) : 0;

		if (r)
			virtio_fail(dev, "cannot start the device: %s", strerror(-r));
	}
}

void virtio_set_driver_features(struct virtio_device *dev, uint32_t word, uint32_t value)
{
	if ((dev->st.status & (VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK)) != VIRTIO_STATUS_DRIVER) {
		log_ratelimited(&dev->rl, LOG_WARN, "%s: driver features written outside negotiation; ignored",
				dev->name);
		return;
	}
	if (word > 1)
		return; /* no feature bits above 63 exist here */
	dev->st.driver_features &= ~(0xffffffffull << (32 * word));
	dev->st.driver_features |= (uint64_t)value << (32 * word);
}

bool virtio_queue_writable(struct virtio_device *dev, int q, bool ready_reg)
{
	if (q < 0 || q >= dev->nr_queues) {
		log_ratelimited(&dev->rl, LOG_WARN, "%s: write to queue %d, which does not exist; ignored", dev->name,
				q);
		return false;
	}
	if (dev->st.status & VIRTIO_STATUS_DRIVER_OK) {
		virtio_fail(dev, "queue %d register written after DRIVER_OK", q);
		return false;
	}
	if (!ready_reg && dev->queues[q].st.ready) {
		virtio_fail(dev, "queue %d size or address written while the queue is ready", q);
		return false;
	}
	return true;
}

void virtio_queue_set_ready(struct virtio_device *dev, int q, bool ready)
{
	struct virtq *vq = &dev->queues[q];

	if (!ready) {
		vq->st.ready = false;
		return;
	}
	/* The ring layout depends on the features (EVENT_IDX), so they must be settled. */
	if (!(dev->st.status & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_fail(dev, "queue %d enabled before feature negotiation finished", q);
		return;
	}
	if (virtq_enable(vq, dev->mem, virtio_has_feature(dev, VIRTIO_F_EVENT_IDX),
			 virtio_has_feature(dev, VIRTIO_F_INDIRECT_DESC)))
		virtio_fail(dev, "queue %d: %s", q, vq->error);
}

void virtio_kick(struct virtio_device *dev, int q)
{
	uint64_t one = 1;

	if (q >= 0 && q < dev->nr_queues && write(dev->notify_fd[q], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("%s: notify eventfd: %s", dev->name, strerror(errno));
}

/* The yield re-kicks the queue's own notify eventfd rather than queueing a callback on the
 * event loop: the queue comes back through virtio_process, which takes the lock and checks
 * the device is still active and the queue ready (a reset or restore in between needs no
 * cancelling, a destroyed device's fd leaves the loop with it); it works from every caller
 * (a kick, a rate limiter's timer); and epoll serves level-triggered fds in turn (one
 * that stays ready goes to the back of the ready list), so every fd ready meanwhile (the
 * API's, the signalfd, other queues) is served before this queue's next batch. The
 * notifications stay off: the guest need not kick a queue the device will come back to.
 * The VMM thread may write eventfds (it raises interrupts through irqfds the same way). */
void virtio_yield(struct virtio_device *dev, int q)
{
	virtio_kick(dev, q);
}

uint32_t virtio_interrupt_status(struct virtio_device *dev)
{
	return __atomic_load_n(dev->isr, __ATOMIC_SEQ_CST);
}

void virtio_interrupt_ack(struct virtio_device *dev, uint32_t bits)
{
	__atomic_fetch_and(dev->isr, ~bits, __ATOMIC_SEQ_CST);
}

void virtio_set_isr_home(struct virtio_device *dev, uint32_t *home)
{
	uint32_t v = virtio_interrupt_status(dev);

	dev->isr = home ? home : &dev->isr_word;
	__atomic_store_n(dev->isr, v, __ATOMIC_SEQ_CST);
}

void virtio_process(struct virtio_device *dev, int q)
{
	uint64_t n;

	if (read(dev->notify_fd[q], &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("%s: notify eventfd read: %s", dev->name, strerror(errno));
	pthread_mutex_lock(&dev->lock);
	if (virtio_active(dev) && dev->queues[q].st.ready)
		dev->ops->queue_notify(dev, q);
	pthread_mutex_unlock(&dev->lock);
}

void virtio_signal_queue(struct virtio_device *dev, int q)
{
	if (virtq_should_signal(&dev->queues[q]))
		raise_irq(dev, VIRTIO_INT_VRING);
}

void virtio_config_changed(struct virtio_device *dev)
{
	dev->st.config_generation++;
	regs_changed(dev);
	if (dev->st.status & VIRTIO_STATUS_DRIVER_OK)
		raise_irq(dev, VIRTIO_INT_CONFIG);
}

size_t virtio_save_size(const struct virtio_device *dev)
{
	return sizeof(struct virtio_state) + dev->save_size;
}

void virtio_save(struct virtio_device *dev, void *buf)
{
	struct virtio_state s;

	memset(&s, 0, sizeof(s));
	pthread_mutex_lock(&dev->lock);
	s.magic = VIRTIO_STATE_MAGIC;
	s.device_id = dev->device_id;
	s.nr_queues = (uint32_t)dev->nr_queues;
	s.dev = dev->st;
	s.dev.interrupt_status = virtio_interrupt_status(dev);
	for (int i = 0; i < dev->nr_queues; i++)
		virtq_save(&dev->queues[i], &s.queues[i]);
	memcpy(buf, &s, sizeof(s));
	if (dev->ops->save)
		dev->ops->save(dev, (uint8_t *)buf + sizeof(s));
	pthread_mutex_unlock(&dev->lock);
}

/* Checks the common state against this device before any of it is used. */
static int check_state(const struct virtio_device *dev, const struct virtio_state *s, char *err, size_t errlen)
{
	const uint32_t status_bits = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |
				     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED;

	const struct virtio_dev_state *d = &s->dev;

	if (s->magic != VIRTIO_STATE_MAGIC)
		return errorf(err, errlen, -EINVAL, "not a saved virtio device (magic 0x%08x)", s->magic);
	if (s->device_id != dev->device_id || s->nr_queues != (uint32_t)dev->nr_queues || s->pad)
		return errorf(err, errlen, -EINVAL, "saved virtio device %u with %u queues (padding %u), this is device %u with %d",
			      s->device_id, s->nr_queues, s->pad, dev->device_id, dev->nr_queues);
	if (d->device_features != dev->st.device_features)
		return errorf(err, errlen, -EINVAL, "saved device features 0x%llx, this device offers 0x%llx",
			      (unsigned long long)d->device_features, (unsigned long long)dev->st.device_features);
	if ((d->status & VIRTIO_STATUS_FEATURES_OK) && (d->driver_features & ~d->device_features))
		return errorf(err, errlen, -EINVAL, "driver features 0x%llx were never offered",
			      (unsigned long long)d->driver_features);
	if ((d->status & ~status_bits) || (d->interrupt_status & ~3u) || d->pad)
		return errorf(err, errlen, -EINVAL, "status 0x%x, interrupt status 0x%x or padding has unknown bits",
			      d->status, d->interrupt_status);
	if ((d->status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK))
		return errorf(err, errlen, -EINVAL, "status 0x%x: DRIVER_OK without FEATURES_OK", d->status);
	for (uint32_t i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		const struct virtq_state *q = &s->queues[i];

		if (i >= s->nr_queues) {
			if (!device_zeroed(q, sizeof(*q)))
				return errorf(err, errlen, -EINVAL, "queue %u does not exist but has state", i);
			continue;
		}
		if (q->ready > 1 || q->signalled_valid > 1 || q->pad)
			return errorf(err, errlen, -EINVAL, "queue %u: flags %u/%u are not booleans or padding is set", i,
				      q->ready, q->signalled_valid);
		/* A queue makes progress only once ready, and only a reset (which zeroes it)
		 * takes readiness away after DRIVER_OK: progress without readiness is forged. */
		if (!q->ready && (q->last_avail || q->used_idx || q->signalled_used || q->inflight || q->signalled_valid))
			return errorf(err, errlen, -EINVAL, "queue %u is not ready but has made progress", i);
		if (q->ready && !(d->status & VIRTIO_STATUS_FEATURES_OK))
			return errorf(err, errlen, -EINVAL, "queue %u is ready before feature negotiation finished", i);
		if (q->ready && q->size > dev->queues[i].max_size)
			return errorf(err, errlen, -EINVAL, "queue %u: size %u above its maximum %u", i, q->size,
				      dev->queues[i].max_size);
	}
	return 0;
}

int virtio_restore(struct virtio_device *dev, const void *buf, size_t len, char *err, size_t errlen)
{
	struct virtio_state s;
	int r = 0;

	if (len != virtio_save_size(dev))
		return errorf(err, errlen, -EINVAL, "saved state of %zu bytes, expected %zu", len, virtio_save_size(dev));
	memcpy(&s, buf, sizeof(s));
	r = check_state(dev, &s, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&dev->lock);
	reset(dev);
	dev->st.driver_features = s.dev.driver_features;
	dev->st.config_generation = s.dev.config_generation;
	for (int i = 0; i < dev->nr_queues && !r; i++) {
		r = virtq_restore(&dev->queues[i], &s.queues[i], dev->mem, virtio_has_feature(dev, VIRTIO_F_EVENT_IDX),
				  virtio_has_feature(dev, VIRTIO_F_INDIRECT_DESC));
		if (r)
			errorf(err, errlen, r, "queue %d: %s", i, dev->queues[i].error);
	}
	if (!r && dev->ops->restore)
		r = dev->ops->restore(dev, (const uint8_t *)buf + sizeof(s), err, errlen);
	if (!r) {
		dev->st.status = s.dev.status;
		__atomic_store_n(dev->isr, s.dev.interrupt_status, __ATOMIC_SEQ_CST);
		if (virtio_active(dev) && dev->ops->activate && (r = dev->ops->activate(dev)))
			errorf(err, errlen, r, "cannot start the restored device: %s", strerror(-r));
	}
	/* Every ready queue is looked at once. A kick the saved VMM had not served yet (the
	 * guest's last notification, or a yield's re-kick, which lives in an eventfd and not in
	 * the state) is not in the snapshot, and with notifications suppressed the guest will not
	 * send another: descriptors it made available stay untaken for good, unless the device
	 * goes to look. Looking at a queue with nothing new in it costs a lock and two loads. */
	if (!r && virtio_active(dev))
		for (int i = 0; i < dev->nr_queues; i++)
			if (dev->queues[i].st.ready)
				virtio_kick(dev, i);
	/* An interrupt the driver had not acknowledged is raised again. KVM injects an irqfd's
	 * interrupt into the IOAPIC from a work item, so one raised just before the pause can be
	 * missing from the saved irqchip; and with EVENT_IDX the device would not signal that
	 * queue again until the driver has seen it: the queue would wait for good. An extra one
	 * the driver already had costs it a read of InterruptStatus. (The VM's irqchip is
	 * restored before the devices: vmm_restore.) */
	if (!r && virtio_active(dev) && virtio_interrupt_status(dev))
		signal_irq(dev);
	if (r)
		reset(dev);
	regs_changed(dev);
	pthread_mutex_unlock(&dev->lock);
	return r;
}

/* The ring's 16-bit idx field (offset 2 in the available and used rings), as the guest sees it. */
static unsigned ring_idx(const uint8_t *ring)
{
	return ring ? __atomic_load_n((const uint16_t *)(ring + 2), __ATOMIC_RELAXED) : 0;
}

void virtio_diag_print(const struct virtio_device *dev, int fd)
{
	for (int i = 0; i < dev->nr_queues; i++) {
		const struct virtq *q = &dev->queues[i];
		char line[256];
		int n;

		n = snprintf(line, sizeof(line),
			     "kindling: diag: %s q%d: status=0x%x isr=0x%x ready=%d size=%u avail.idx=%u next_avail=%u "
			     "used.idx=%u inflight=%u errors=%llu\n",
			     dev->name, i, dev->st.status, __atomic_load_n(dev->isr, __ATOMIC_RELAXED),
			     q->st.ready, q->st.size, q->st.ready ? ring_idx(q->avail) : 0, q->st.last_avail,
			     q->st.ready ? ring_idx(q->used) : 0, q->st.inflight, (unsigned long long)dev->errors);
		if (n > (int)sizeof(line) - 1)
			n = (int)sizeof(line) - 1;
		if (write(fd, line, (size_t)n) < 0)
			return;
	}
}
