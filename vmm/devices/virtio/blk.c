/* virtio-block device: request validation and raw-file I/O straight into guest memory. */
#include "blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "evloop.h"

struct blk_req_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

static struct virtio_blk *to_blk(struct virtio_device *dev)
{
	return container_of(dev, struct virtio_blk, dev);
}

/* Copies the byte range [skip, skip+len) of an iovec run into dst; returns the count. */
static unsigned slice(const struct iovec *src, unsigned n, size_t skip, size_t len, struct iovec *dst)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len; i++) {
		size_t seg = src[i].iov_len;

		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		seg -= skip;
		if (seg > len)
			seg = len;
		dst[k].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[k].iov_len = seg;
		k++;
		len -= seg;
		skip = 0;
	}
	return k;
}

/* Moves len bytes between the file at sector and the data segments; a short transfer is
 * continued, an error or end of file is an I/O error. */
static uint8_t transfer(struct virtio_blk *b, struct iovec *iov, unsigned n, uint64_t sector, uint64_t len,
			bool write)
{
	off_t off = (off_t)(sector * VIRTIO_BLK_SECTOR);

	if (len % VIRTIO_BLK_SECTOR || sector > b->st.capacity || len / VIRTIO_BLK_SECTOR > b->st.capacity - sector) {
		log_ratelimited(&b->rl, LOG_WARN, "%s: %s of %llu bytes at sector %llu is outside the %llu-sector disk",
				b->dev.name, write ? "write" : "read", (unsigned long long)len,
				(unsigned long long)sector, (unsigned long long)b->st.capacity);
		return VIRTIO_BLK_S_IOERR;
	}
	while (len) {
		ssize_t r = write ? pwritev(b->fd, iov, (int)n, off) : preadv(b->fd, iov, (int)n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = errno; /* the rate limiter reads the clock first */

			log_ratelimited(&b->rl, LOG_ERROR, "%s: %s at byte %lld: %s", b->dev.name, write ? "write" : "read",
					(long long)off, r < 0 ? strerror(e) : "unexpected end of file");
			return VIRTIO_BLK_S_IOERR;
		}
		len -= (uint64_t)r;
		off += r;
		/* Drop what was transferred from the front of the iovec. */
		while (r > 0 && n) {
			if ((size_t)r >= iov->iov_len) {
				r -= (ssize_t)iov->iov_len;
				iov++;
				n--;
			} else {
				iov->iov_base = (uint8_t *)iov->iov_base + r;
				iov->iov_len -= (size_t)r;
				r = 0;
			}
		}
	}
	return VIRTIO_BLK_S_OK;
}

uint32_t virtio_blk_request(struct virtio_blk *b, const struct virtq_chain *c)
{
	struct blk_req_header h;
	uint32_t data_in, data_out, written = 0;
	uint8_t status = VIRTIO_BLK_S_IOERR;
	unsigned n;

	if (c->in_len == 0) {
		/* Nowhere to put a status: hand the buffers back untouched. */
		b->stats.no_status++;
		log_ratelimited(&b->rl, LOG_WARN, "%s: request without a device-writable status byte", b->dev.name);
		return 0;
	}
	data_in = c->in_len - 1;
	if (virtq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h)) {
		log_ratelimited(&b->rl, LOG_WARN, "%s: request header shorter than 16 bytes", b->dev.name);
		goto done;
	}
	data_out = c->out_len - (uint32_t)sizeof(h);
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		if (data_out) {
			log_ratelimited(&b->rl, LOG_WARN, "%s: read with device-readable data buffers", b->dev.name);
			break;
		}
		n = slice(c->iov + c->nout, c->nin, 0, data_in, b->data);
		status = transfer(b, b->data, n, h.sector, data_in, false);
		if (status == VIRTIO_BLK_S_OK) {
			written = data_in;
			b->stats.reads++;
			b->stats.read_bytes += data_in;
		}
		break;
	case VIRTIO_BLK_T_OUT:
		if (data_in) {
			log_ratelimited(&b->rl, LOG_WARN, "%s: write with device-writable data buffers", b->dev.name);
			break;
		}
		if (b->st.read_only) {
			log_ratelimited(&b->rl, LOG_WARN, "%s: write to a read-only drive refused", b->dev.name);
			break;
		}
		n = slice(c->iov, c->nout, sizeof(h), data_out, b->data);
		status = transfer(b, b->data, n, h.sector, data_out, true);
		if (status == VIRTIO_BLK_S_OK) {
			b->stats.writes++;
			b->stats.write_bytes += data_out;
		}
		break;
	case VIRTIO_BLK_T_FLUSH:
		b->stats.flushes++;
		if (b->st.read_only || fdatasync(b->fd) == 0) {
			status = VIRTIO_BLK_S_OK;
		} else {
			int e = errno;

			log_ratelimited(&b->rl, LOG_ERROR, "%s: fdatasync: %s", b->dev.name, strerror(e));
		}
		break;
	case VIRTIO_BLK_T_GET_ID:
		if (data_out)
			break;
		written = data_in < VIRTIO_BLK_ID_BYTES ? data_in : VIRTIO_BLK_ID_BYTES;
		virtq_chain_write(c, 0, b->id, written);
		status = VIRTIO_BLK_S_OK;
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
done:
	if (status != VIRTIO_BLK_S_OK)
		b->stats.io_errors++;
	virtq_chain_write(c, c->in_len - 1, &status, 1);
	return written + 1;
}

/* ---- the rate limiter ---- */

static void arm_timer(struct virtio_blk *b, uint64_t ns)
{
	struct itimerspec its = { .it_value = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) } };

	b->throttled = true;
	if (timerfd_settime(b->timer_fd, 0, &its, NULL) < 0) {
		int e = errno;

		log_ratelimited(&b->rl, LOG_ERROR, "%s: cannot arm the rate limiter's timer: %s", b->dev.name, strerror(e));
	}
}

static void disarm_timer(struct virtio_blk *b)
{
	struct itimerspec off = { 0 };

	b->throttled = false;
	if (b->timer_fd >= 0 && timerfd_settime(b->timer_fd, 0, &off, NULL) < 0)
		log_debug("%s: cannot disarm the rate limiter's timer: %s", b->dev.name, strerror(errno));
}

/* What the limiter charges a request, as Firecracker's block device does: one op, and the
 * data length of a read or a write. false for a chain without a header or a status byte,
 * which is answered at once (Firecracker does not charge a request it cannot parse). */
static bool request_cost(const struct virtq_chain *c, uint64_t *bytes)
{
	struct blk_req_header h;

	if (c->in_len == 0 || virtq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h))
		return false;
	*bytes = h.type == VIRTIO_BLK_T_IN ? c->in_len - 1 : h.type == VIRTIO_BLK_T_OUT ? c->out_len - sizeof(h) : 0;
	return true;
}

/* The limiter's word on the chain just popped: true to serve it; false when it must wait,
 * the chain given back to the ring and the timer armed for when it may go. */
static bool admit(struct virtio_blk *b, struct virtq *q)
{
	uint64_t bytes, wait;

	if (!b->limiter.bandwidth.enabled && !b->limiter.ops.enabled && !b->limiter.blocked_until_ns)
		return true;
	if (!request_cost(&b->chain, &bytes))
		return true;
	wait = rate_limiter_consume(&b->limiter, bytes, 1, b->clock());
	if (!wait)
		return true;
	virtq_unpop(q);
	b->stats.rate_limiter_throttled_events++;
	arm_timer(b, wait);
	return false;
}

/* Besides VIRTIO_QUEUE_BUDGET chains, a batch stops after this many bytes: a chain may
 * carry up to a MiB of data (254 segments), so chains alone would let one batch read
 * 128 MiB; 8 MiB is what 128 chains of 64 KiB (a TX frame's most) move. */
#define BLK_BUDGET_BYTES (8u << 20)

static void blk_notify(struct virtio_device *dev, int qi)
{
	struct virtio_blk *b = to_blk(dev);
	struct virtq *q = &dev->queues[qi];
	unsigned done = 0;
	uint64_t bytes = 0;
	bool spent = false;
	int r = 0;

	/* Held back: the timer resumes the queue (a kick meanwhile only counts, as in
	 * Firecracker). Notifications stay off until then: the guest need not kick. */
	if (b->throttled) {
		b->stats.rate_limiter_throttled_events++;
		return;
	}
	for (;;) {
		virtq_disable_notify(q);
		while (!(spent = done >= VIRTIO_QUEUE_BUDGET || bytes >= BLK_BUDGET_BYTES) &&
		       (r = virtq_pop(q, &b->chain)) > 0) {
			if (!admit(b, q))
				break;
			bytes += (uint64_t)b->chain.in_len + b->chain.out_len;
			virtq_push(q, b->chain.head, virtio_blk_request(b, &b->chain));
			virtq_publish(q);
			/* Let the driver start on completions while a long batch goes on. */
			if (++done % 32 == 0)
				virtio_signal_queue(dev, qi);
		}
		if (r < 0) {
			virtio_fail(dev, "queue %d: %s", qi, q->error);
			break;
		}
		/* A throttled queue is not yielded: its timer brings it back. */
		if (b->throttled)
			break;
		if (spent) {
			/* Work left, or added as we looked: the others' turn first. */
			if (virtq_has_avail(q) || virtq_enable_notify(q)) {
				b->stats.budget_yields++;
				virtio_yield(dev, qi);
			}
			break;
		}
		if (!virtq_enable_notify(q))
			break;
	}
	virtio_signal_queue(dev, qi);
}

void virtio_blk_timer_fired(struct virtio_blk *b)
{
	pthread_mutex_lock(&b->dev.lock);
	b->stats.rate_limiter_event_count++;
	b->throttled = false;
	if (virtio_active(&b->dev) && b->dev.queues[0].st.ready)
		blk_notify(&b->dev, 0);
	pthread_mutex_unlock(&b->dev.lock);
}

static void on_timer(void *opaque, uint32_t events)
{
	struct virtio_blk *b = opaque;
	uint64_t n;

	(void)events;
	if (read(b->timer_fd, &n, sizeof(n)) != sizeof(n))
		return; /* disarmed since it fired: nothing to resume */
	virtio_blk_timer_fired(b);
}

int virtio_blk_watch_timer(struct virtio_blk *b, struct evloop *loop, char *err, size_t errlen)
{
	int r = evloop_add(loop, b->timer_fd, EPOLLIN, on_timer, b);

	if (r)
		return errorf(err, errlen, r, "%s: cannot watch the rate limiter's timer: %s", b->dev.name, strerror(-r));
	b->loop = loop;
	return 0;
}

static void blk_config_read(struct virtio_device *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_blk *b = to_blk(dev);
	uint8_t cfg[24] = { 0 };
	uint32_t seg_max = VIRTIO_BLK_QUEUE_SIZE - 2, blk_size = VIRTIO_BLK_SECTOR;

	memcpy(cfg, &b->st.capacity, 8);
	memcpy(cfg + 12, &seg_max, 4);
	memcpy(cfg + 20, &blk_size, 4);
	memcpy(data, cfg + off, len);
}

static int blk_activate(struct virtio_device *dev)
{
	(void)dev;
	return 0;
}

static void blk_reset(struct virtio_device *dev)
{
	/* Every request completes before the lock is released: nothing in flight. A request the
	 * limiter held back is the old driver's: no timer for it. */
	disarm_timer(to_blk(dev));
}

static void blk_save(const struct virtio_device *dev, void *buf)
{
	const struct virtio_blk *b = container_of(dev, struct virtio_blk, dev);

	memcpy(buf, &b->st, sizeof(b->st));
}

/* The path names the disk for whoever reads the snapshot; the disk restored onto may live
 * elsewhere, but must have the size and mode the guest saw. */
static int blk_restore(struct virtio_device *dev, const void *buf, char *err, size_t errlen)
{
	struct virtio_blk *b = to_blk(dev);
	const struct virtio_blk_state *s = buf;

	if (s->read_only > 1 || s->pad || !device_str_ok(s->path, sizeof(s->path)))
		return errorf(err, errlen, -EINVAL, "read-only flag %u, padding or backing path is malformed",
			      s->read_only);
	if (s->capacity != b->st.capacity || s->read_only != b->st.read_only)
		return errorf(err, errlen, -EINVAL, "saved with a %s disk of %llu sectors, this one is %s with %llu",
			      s->read_only ? "read-only" : "writable", (unsigned long long)s->capacity,
			      b->st.read_only ? "read-only" : "writable", (unsigned long long)b->st.capacity);
	return 0;
}

static void blk_destroy(struct virtio_device *dev)
{
	struct virtio_blk *b = to_blk(dev);

	if (b->fd >= 0)
		close(b->fd);
	if (b->loop)
		evloop_del(b->loop, b->timer_fd);
	if (b->timer_fd >= 0)
		close(b->timer_fd);
	virtio_cleanup(dev);
	free(b);
}

static struct virtio_blk *device_to_blk(const struct device *d)
{
	return container_of(d, struct virtio_blk, device);
}

/* The saved state: the virtio device's, then (version 2) the limiter's. */
static size_t blk_device_save_size(const struct device *d)
{
	return virtio_save_size(&device_to_blk(d)->dev) + sizeof(struct rate_limiter_state);
}

static void blk_device_save(struct device *d, void *buf)
{
	struct virtio_blk *b = device_to_blk(d);
	struct rate_limiter_state ls;

	virtio_save(&b->dev, buf);
	rate_limiter_save(&b->limiter, b->clock(), &ls);
	memcpy((uint8_t *)buf + virtio_save_size(&b->dev), &ls, sizeof(ls));
}

static int blk_device_restore(struct device *d, const void *buf, char *err, size_t errlen)
{
	struct virtio_blk *b = device_to_blk(d);
	struct rate_limiter_state ls;
	struct rate_limiter lim;
	int r;

	disarm_timer(b);
	memcpy(&ls, (const uint8_t *)buf + virtio_save_size(&b->dev), sizeof(ls));
	r = rate_limiter_restore(&lim, &ls, b->clock(), err, errlen);
	if (r)
		return errwrap(err, errlen, r, "rate limiter");
	r = virtio_restore(&b->dev, buf, virtio_save_size(&b->dev), err, errlen);
	if (!r)
		b->limiter = lim;
	return r;
}

/* Version 1: no limiter saved; the one the drive was built with (none, from a 1.0
 * snapshot's config) stays. */
static size_t blk_device_old_save_size(const struct device *d, uint16_t v)
{
	(void)v;
	return virtio_save_size(&device_to_blk(d)->dev);
}

static int blk_device_restore_old(struct device *d, uint16_t v, const void *buf, char *err, size_t errlen)
{
	struct virtio_blk *b = device_to_blk(d);

	(void)v;
	disarm_timer(b);
	return virtio_restore(&b->dev, buf, virtio_save_size(&b->dev), err, errlen);
}

static int blk_set_rate_limiter(struct device *d, enum device_limiter which, const struct rl_update *u, char *err,
				size_t errlen)
{
	struct virtio_blk *b = device_to_blk(d);

	if (which != DEVICE_LIMITER_DRIVE)
		return errorf(err, errlen, -EINVAL, "a drive has one rate limiter");
	pthread_mutex_lock(&b->dev.lock);
	rate_limiter_update(&b->limiter, u, b->clock());
	pthread_mutex_unlock(&b->dev.lock);
	return 0;
}

static void blk_metrics(struct device *d, struct cJSON *out)
{
	struct virtio_blk *b = device_to_blk(d);
	struct cJSON *o = device_metrics_object(out, "block", b->dev.name);

	device_metric(o, "read_count", b->stats.reads);
	device_metric(o, "write_count", b->stats.writes);
	device_metric(o, "flush_count", b->stats.flushes);
	device_metric(o, "read_bytes", b->stats.read_bytes);
	device_metric(o, "write_bytes", b->stats.write_bytes);
	device_metric(o, "io_errors", b->stats.io_errors);
	device_metric(o, "no_status", b->stats.no_status);
	device_metric(o, "rate_limiter_event_count", b->stats.rate_limiter_event_count);
	device_metric(o, "rate_limiter_throttled_events", b->stats.rate_limiter_throttled_events);
	device_metric(o, "budget_yields", b->stats.budget_yields);
	device_metric(o, "device_errors", b->dev.errors);
}

static void blk_diag(struct device *d, int fd)
{
	virtio_diag_print(&device_to_blk(d)->dev, fd);
}


static void blk_device_destroy(struct device *d)
{
	blk_destroy(&device_to_blk(d)->dev);
}

static const struct device_ops blk_device_ops = {
	.kind = DEVICE_VIRTIO_BLK,
	.version = VIRTIO_BLK_STATE_VERSION,
	.save_size = blk_device_save_size,
	.save = blk_device_save,
	.restore = blk_device_restore,
	.min_version = 1,
	.old_save_size = blk_device_old_save_size,
	.restore_old = blk_device_restore_old,
	.metrics = blk_metrics,
	.set_rate_limiter = blk_set_rate_limiter,
	.diag = blk_diag,
	.destroy = blk_device_destroy,
};

static const struct virtio_dev_ops blk_ops = {
	.config_read = blk_config_read,
	.activate = blk_activate,
	.queue_notify = blk_notify,
	.reset = blk_reset,
	.save = blk_save,
	.restore = blk_restore,
	.destroy = blk_destroy,
};

void virtio_blk_set_writeback(struct virtio_blk *b, bool writeback)
{
	if (writeback)
		b->dev.st.device_features |= VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	else
		b->dev.st.device_features &= ~VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
}

int virtio_blk_create(const char *path, bool read_only, const char *id, const struct guest_mem *mem,
		      struct virtio_blk **out, char *err, size_t errlen)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	char name[80];
	struct stat st;
	uint64_t size;
	int r;

	if (!b)
		return errorf(err, errlen, -ENOMEM, "drive %s: out of memory", id);
	b->fd = -1;
	b->clock = now_ns;
	rate_limiter_init(&b->limiter, NULL, 0);
	/* Made now whether or not a limiter is configured: a PATCH after boot may add one, and
	 * the VMM thread's filter has no timerfd_create (as Firecracker). */
	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	device_init(&b->device, &blk_device_ops, id, 0, DEVICE_NO_IRQ);
	snprintf(name, sizeof(name), "virtio-blk %s", id);
	r = virtio_init(&b->dev, &blk_ops, VIRTIO_ID_BLOCK, name, mem, 1);
	if (r) {
		errorf(err, errlen, r, "%s: %s", name, strerror(-r));
		goto fail;
	}
	if (b->timer_fd < 0) {
		r = -errno;
		errorf(err, errlen, r, "%s: timerfd_create: %s", name, strerror(-r));
		goto fail;
	}
	if (strlen(path) >= sizeof(b->st.path)) {
		r = errorf(err, errlen, -ENAMETOOLONG, "drive %s: the path is longer than %zu bytes", id,
			   sizeof(b->st.path) - 1);
		goto fail;
	}
	memcpy(b->st.path, path, strlen(path));
	b->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0 || fstat(b->fd, &st) < 0) {
		r = -errno;
		errorf(err, errlen, r, "drive %s: %s: %s", id, path, strerror(-r));
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &size) < 0) {
			r = -errno;
			errorf(err, errlen, r, "drive %s: %s: BLKGETSIZE64: %s", id, path, strerror(-r));
			goto fail;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		r = errorf(err, errlen, -EINVAL, "drive %s: %s is neither a regular file nor a block device", id,
			   path);
		goto fail;
	}
	if (size % VIRTIO_BLK_SECTOR)
		log_warn("drive %s: %s is not a whole number of 512-byte sectors; the tail is not visible", id, path);
	b->st.capacity = size / VIRTIO_BLK_SECTOR;
	b->st.read_only = read_only;
	/* Zero-padded, and not terminated when 20 bytes long: as the spec says. */
	memcpy(b->id, id, strnlen(id, sizeof(b->id)));
	b->rl = (struct ratelimit)RATELIMIT_INIT(5, 1000);
	b->dev.config_size = 24;
	b->dev.save_size = sizeof(struct virtio_blk_state);
	b->dev.queues[0].max_size = VIRTIO_BLK_QUEUE_SIZE;
	b->dev.st.device_features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
				 VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
				 VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | (read_only ? VIRTIO_BIT(VIRTIO_BLK_F_RO) : 0);
	*out = b;
	return 0;
fail:
	blk_destroy(&b->dev);
	return r;
}
