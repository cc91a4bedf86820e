/* The device model's save/restore: for every device, save -> restore into a fresh device
 * -> save again gives the same bytes, mid-state included; and blobs that are corrupt (wrong
 * kind, version, length, out-of-range fields) are refused with a reason, never trusted. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices.h"
#include "log.h"
#include "test.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio_fake.h"
#include "vm.h"

#define HDR sizeof(struct device_state_hdr)

/* Saves d into a new buffer of *n bytes (NULL on failure). */
static uint8_t *save(struct device *d, size_t *n)
{
	uint8_t *buf;

	*n = device_save_size(d);
	buf = calloc(1, *n);
	if (buf && device_save(d, buf, *n)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* save(d) -> restore into fresh -> save(fresh): identical bytes. Returns the first blob
 * (the caller frees it), NULL on any difference. */
static uint8_t *roundtrip(struct device *d, struct device *fresh, size_t *n)
{
	char err[256] = "";
	size_t n2;
	uint8_t *a = save(d, n), *b;
	int same;

	if (!a)
		return NULL;
	if (device_restore(fresh, a, *n, err, sizeof(err))) {
		printf("  restore refused: %s\n", err);
		free(a);
		return NULL;
	}
	b = save(fresh, &n2);
	same = b && n2 == *n && !memcmp(a, b, *n);
	free(b);
	if (!same) {
		free(a);
		return NULL;
	}
	return a;
}

/* Restores a copy of blob with byte `off` replaced by v (or length len); returns the code
 * and insists that a refusal comes with a reason. */
static int restore_patched(struct device *d, const uint8_t *blob, size_t len, size_t off, uint8_t v)
{
	char err[256] = "";
	uint8_t *c = malloc(len ? len : 1);
	int r;

	memcpy(c, blob, len);
	if (off < len)
		c[off] = v;
	r = device_restore(d, c, len, err, sizeof(err));
	free(c);
	if (r && (!err[0] || strstr(err, "rootfs: virtio-blk")))
		return -1000; /* refused without saying why, or saying it twice */
	return r;
}

/* Every single-byte corruption of blob is either accepted or refused: never a crash
 * (the unit binary runs under ASan/UBSan). */
static void flip_every_byte(struct device *d, const uint8_t *blob, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		(void)restore_patched(d, blob, len, i, (uint8_t)(blob[i] ^ 0xff));
		(void)restore_patched(d, blob, len, i, (uint8_t)(blob[i] + 1));
	}
}

static uint8_t sio(struct serial *s, int reg, int write, uint8_t v)
{
	serial_io(s, (uint64_t)reg, &v, 1, write);
	return v;
}

static uint8_t kio(struct i8042 *k, int port, int write, uint8_t v)
{
	i8042_io(k, (uint64_t)(port - I8042_DATA_PORT), &v, 1, write);
	return v;
}

TEST(device_uart_roundtrip_mid_state)
{
	struct serial *s, *fresh;
	uint8_t *blob;
	size_t n;

	CHECK(serial_create(NULL, NULL, NULL, &s) == 0 && serial_create(NULL, NULL, NULL, &fresh) == 0);
	sio(s, 3, 1, 0x80);  /* DLAB */
	sio(s, 0, 1, 0x0c);  /* divisor 12 */
	sio(s, 1, 1, 0x00);
	sio(s, 3, 1, 0x03);  /* 8N1 */
	sio(s, 2, 1, 0x07);  /* FIFO on, cleared */
	sio(s, 4, 1, 0x0b);  /* DTR, RTS, OUT2 */
	sio(s, 7, 1, 0x5a);  /* scratch */
	sio(s, 1, 1, 0x03);  /* RDI and THRI: THR empty, so a THR interrupt is pending */
	CHECK(serial_input(s, (const uint8_t *)"hello", 5) == 5);
	CHECK(sio(s, 0, 0, 0) == 'h'); /* FIFO head moves off 0 */
	sio(s, 3, 1, 0x83);  /* and the divisor latch left open */
	CHECK(s->st.rx_len == 4 && s->st.rx_head == 1 && s->st.thr_pending && s->st.irq_level);

	blob = roundtrip(&s->device, &fresh->device, &n);
	CHECK(blob);
	free(blob);
	CHECK(n == HDR + sizeof(struct serial_state));
	/* The fresh UART carries on where the first one was. */
	CHECK(sio(fresh, 0, 0, 0) == 0x0c); /* DLL, DLAB still set */
	sio(fresh, 3, 1, 0x03);
	CHECK(sio(fresh, 7, 0, 0) == 0x5a);
	CHECK((sio(fresh, 2, 0, 0) & 0x0f) == 0x04); /* received data first */
	CHECK(sio(fresh, 0, 0, 0) == 'e' && sio(fresh, 0, 0, 0) == 'l');
	CHECK(serial_rx_free(fresh) == SERIAL_FIFO - 2);
	s->device.ops->destroy(&s->device);
	fresh->device.ops->destroy(&fresh->device);
}

TEST(device_uart_refuses_corrupt_blobs)
{
	struct serial *s, *fresh;
	uint8_t *blob, *after;
	size_t n, n2;
	const size_t st = HDR;

	CHECK(serial_create(NULL, NULL, NULL, &s) == 0 && serial_create(NULL, NULL, NULL, &fresh) == 0);
	CHECK(serial_input(s, (const uint8_t *)"xy", 2) == 2);
	blob = save(&s->device, &n);
	CHECK(blob);
	CHECK(restore_patched(&fresh->device, blob, n, n, 0) == 0);
	CHECK(restore_patched(&fresh->device, blob, n - 1, n, 0) == -EINVAL);     /* short */
	CHECK(restore_patched(&fresh->device, blob, 10, n, 0) == -EINVAL);        /* shorter than the header */
	CHECK(restore_patched(&fresh->device, blob, 0, n, 0) == -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, 0, 0) == -EINVAL);         /* magic */
	CHECK(restore_patched(&fresh->device, blob, n, 4, DEVICE_I8042) == -EINVAL); /* kind */
	CHECK(restore_patched(&fresh->device, blob, n, 6, 2) == -EINVAL);         /* version */
	CHECK(restore_patched(&fresh->device, blob, n, 8, 0) == -EINVAL);         /* length field */
	CHECK(restore_patched(&fresh->device, blob, n, 12, 5) == -EINVAL);        /* IRQ */
	CHECK(restore_patched(&fresh->device, blob, n, 16, 0) == -EINVAL);        /* address */
	CHECK(restore_patched(&fresh->device, blob, n, 24, 'X') == -EINVAL);      /* id */
	CHECK(restore_patched(&fresh->device, blob, n, HDR - 1, 'X') == -EINVAL); /* id not terminated */
	CHECK(restore_patched(&fresh->device, blob, n, st + offsetof(struct serial_state, rx_len), 65) == -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, st + offsetof(struct serial_state, rx_len), 0) == -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, st + offsetof(struct serial_state, rx_head), 64) == -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, st + offsetof(struct serial_state, ier), 0x10) == -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, st + offsetof(struct serial_state, iir), 0x08) == -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, st + offsetof(struct serial_state, thr_pending), 2) ==
	      -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, st + offsetof(struct serial_state, pad), 1) == -EINVAL);
	/* A blob of another kind of device, whole. */
	{
		struct i8042 *k;
		uint8_t *kb;
		size_t kn;

		CHECK(i8042_create(NULL, NULL, NULL, NULL, &k) == 0);
		kb = save(&k->device, &kn);
		CHECK(kb && restore_patched(&fresh->device, kb, kn, kn, 0) == -EINVAL);
		CHECK(restore_patched(&k->device, blob, n, n, 0) == -EINVAL);
		free(kb);
		k->device.ops->destroy(&k->device);
	}
	/* Refusals left the last good state alone. */
	after = save(&fresh->device, &n2);
	CHECK(after && n2 == n && !memcmp(after, blob, n));
	free(after);
	flip_every_byte(&fresh->device, blob, n);
	free(blob);
	s->device.ops->destroy(&s->device);
	fresh->device.ops->destroy(&fresh->device);
}

TEST(device_i8042_roundtrip_keys_and_pending_command)
{
	struct i8042 *k, *fresh;
	uint8_t *blob;
	size_t n;

	CHECK(i8042_create(NULL, NULL, NULL, NULL, &k) == 0 && i8042_create(NULL, NULL, NULL, NULL, &fresh) == 0);
	CHECK(i8042_ctrl_alt_del(k) == 0); /* one scancode in the output buffer, seven queued */
	kio(k, I8042_CMD_PORT, 1, 0x60);   /* write the controller byte: its data byte comes next */
	CHECK(k->st.nr_keys == 7 && k->st.pending_cmd == 0x60);

	blob = roundtrip(&k->device, &fresh->device, &n);
	CHECK(blob);
	CHECK(n == HDR + sizeof(struct i8042_state));
	CHECK(kio(fresh, I8042_CMD_PORT, 0, 0) & 0x01); /* output buffer full */
	kio(fresh, I8042_DATA_PORT, 1, 0x45);           /* the pending command's data */
	kio(fresh, I8042_CMD_PORT, 1, 0x20);
	CHECK(kio(fresh, I8042_DATA_PORT, 0, 0) == 0x45);
	CHECK(kio(fresh, I8042_DATA_PORT, 0, 0) == 0x38); /* the queued keys go on: Alt */

	CHECK(restore_patched(&fresh->device, blob, n, HDR + offsetof(struct i8042_state, nr_keys), 17) == -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, HDR + offsetof(struct i8042_state, pending_cmd), 0x20) ==
	      -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, HDR + offsetof(struct i8042_state, status), 0x80) == -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, HDR + offsetof(struct i8042_state, pad) + 1, 1) == -EINVAL);
	CHECK(restore_patched(&fresh->device, blob, n, 6, 0) == -EINVAL); /* version 0 */
	CHECK(restore_patched(&fresh->device, blob, n, n, 0) == 0);
	flip_every_byte(&fresh->device, blob, n);
	free(blob);
	k->device.ops->destroy(&k->device);
	fresh->device.ops->destroy(&fresh->device);
}

TEST(device_boot_timer_roundtrip)
{
	struct boot_timer *t, *fresh, *idle;
	uint8_t *blob, one = 1;
	size_t n;
	cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
	char *ja, *jb;

	CHECK(boot_timer_create(now_ns(), cpu_now_ns(), &t) == 0 && boot_timer_create(0, 0, &fresh) == 0 &&
	      boot_timer_create(0, 0, &idle) == 0);
	/* Not fired: saves as not fired. */
	blob = roundtrip(&idle->device, &fresh->device, &n);
	CHECK(blob);
	free(blob);
	boot_timer_io(t, 0, &one, 1, true);
	boot_timer_io(t, 0, &one, 1, true); /* only the first write counts */
	CHECK(t->st.fired == 1);
	blob = roundtrip(&t->device, &fresh->device, &n);
	CHECK(blob);
	CHECK(n == HDR + sizeof(struct boot_timer_state));
	/* The restored timer reports what the first one measured, and fires no more. */
	cJSON_AddObjectToObject(a, "boot");
	cJSON_AddObjectToObject(b, "boot");
	t->device.ops->metrics(&t->device, a);
	fresh->device.ops->metrics(&fresh->device, b);
	ja = cJSON_PrintUnformatted(a);
	jb = cJSON_PrintUnformatted(b);
	CHECK(ja && jb && !strcmp(ja, jb) && strstr(ja, "\"boot\":{\"boot_to_init_ms\":"));
	free(ja);
	free(jb);
	cJSON_Delete(a);
	cJSON_Delete(b);
	boot_timer_io(fresh, 0, &one, 1, true);
	CHECK(fresh->st.boot_to_init_ns == t->st.boot_to_init_ns);
	CHECK(restore_patched(&idle->device, blob, n, HDR + offsetof(struct boot_timer_state, fired), 2) == -EINVAL);
	CHECK(restore_patched(&idle->device, blob, n, HDR + offsetof(struct boot_timer_state, pad), 1) == -EINVAL);
	CHECK(restore_patched(&idle->device, blob, n - 8, n, 0) == -EINVAL);
	flip_every_byte(&idle->device, blob, n);
	free(blob);
	t->device.ops->destroy(&t->device);
	fresh->device.ops->destroy(&fresh->device);
	idle->device.ops->destroy(&idle->device);
}

/* A disk image and fake guest RAM shared by two block devices: the one saved and the fresh
 * one restored into (a snapshot is restored onto the same disk and the same memory). */
struct blk_pair {
	struct fake f;
	struct virtio_blk *b, *fresh;
	char path[64];
};

static int blk_pair_setup(struct blk_pair *p)
{
	char err[256];
	int fd;

	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "/tmp/kindling-devstate-XXXXXX");
	fd = mkstemp(p->path);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return -1;
	close(fd);
	if (fake_init(&p->f, 8) || virtio_blk_create(p->path, false, "rootfs", &p->f.mem, &p->b, err, sizeof(err)) ||
	    virtio_blk_create(p->path, false, "rootfs", &p->f.mem, &p->fresh, err, sizeof(err)))
		return -1;
	return 0;
}

static void blk_pair_done(struct blk_pair *p)
{
	if (p->b)
		p->b->device.ops->destroy(&p->b->device);
	if (p->fresh)
		p->fresh->device.ops->destroy(&p->fresh->device);
	fake_free(&p->f);
	unlink(p->path);
}

/* The driver's sequence up to DRIVER_OK with the queue on the fake rings, then one read. */
static int blk_activate_and_read(struct blk_pair *p)
{
	struct virtio_device *dev = &p->b->dev;
	uint32_t h[4] = { VIRTIO_BLK_T_IN, 0, 1, 0 };

	pthread_mutex_lock(&dev->lock);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(dev, 1, 1);
	virtio_set_driver_features(dev, 0, 1u << VIRTIO_F_EVENT_IDX);
	virtio_set_status(dev, 11);
	fake_queue(&p->f, &dev->queues[0]);
	dev->queues[0].max_size = VIRTIO_BLK_QUEUE_SIZE;
	virtio_queue_set_ready(dev, 0, true);
	virtio_set_status(dev, 15);
	pthread_mutex_unlock(&dev->lock);
	memcpy(p->f.ram + FAKE_DATA, h, sizeof(h));
	fake_desc(&p->f, 0, FAKE_DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	fake_desc(&p->f, 1, FAKE_DATA + 0x1000, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	fake_desc(&p->f, 2, FAKE_DATA + 0x800, 1, VIRTQ_DESC_F_WRITE, 0);
	fake_avail(&p->f, 0);
	virtio_kick(dev, 0);
	virtio_process(dev, 0);
	return dev->st.status == 15 && fake_used_idx(&p->f) == 1 ? 0 : -1;
}

TEST(device_virtio_blk_roundtrip_active_queue)
{
	struct blk_pair p;
	uint8_t *blob;
	size_t n;
	const struct virtio_blk_state *bs;

	CHECK(blk_pair_setup(&p) == 0);
	CHECK(blk_activate_and_read(&p) == 0);
	p.b->device.addr = p.fresh->device.addr = 0xd0000000;
	p.b->device.irq = p.fresh->device.irq = 5;
	blob = roundtrip(&p.b->device, &p.fresh->device, &n);
	CHECK(blob);
	/* The blob names the drive: id, address, IRQ and backing file. */
	CHECK(!strcmp(((const struct device_state_hdr *)blob)->id, "rootfs"));
	CHECK(((const struct device_state_hdr *)blob)->irq == 5);
	bs = (const struct virtio_blk_state *)(blob + HDR + sizeof(struct virtio_state));
	CHECK(!strcmp(bs->path, p.path) && bs->capacity == 2048);
	CHECK(p.fresh->dev.st.status == 15 && p.fresh->dev.queues[0].st.ready && p.fresh->dev.queues[0].st.last_avail == 1);
	/* The fresh device serves the next request. */
	fake_avail(&p.f, 0);
	virtio_process(&p.fresh->dev, 0);
	CHECK(fake_used_idx(&p.f) == 2);
	free(blob);
	blk_pair_done(&p);
}

TEST(device_virtio_blk_refuses_corrupt_blobs)
{
	struct blk_pair p;
	uint8_t *blob;
	size_t n, vs = HDR, q0 = HDR + offsetof(struct virtio_state, queues), bs;

	CHECK(blk_pair_setup(&p) == 0);
	CHECK(blk_activate_and_read(&p) == 0);
	blob = save(&p.b->device, &n);
	CHECK(blob);
	bs = HDR + sizeof(struct virtio_state);
	CHECK(restore_patched(&p.fresh->device, blob, n, n, 0) == 0);
	CHECK(restore_patched(&p.fresh->device, blob, n - 1, n, 0) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, 4, DEVICE_VIRTIO_NET) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, vs + offsetof(struct virtio_state, dev.status), 0x07) ==
	      -EINVAL); /* DRIVER_OK without FEATURES_OK */
	CHECK(restore_patched(&p.fresh->device, blob, n, vs + offsetof(struct virtio_state, dev.status), 0x3f) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, vs + offsetof(struct virtio_state, nr_queues), 2) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, vs + offsetof(struct virtio_state, pad), 1) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, vs + offsetof(struct virtio_state, dev.pad), 1) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, vs + offsetof(struct virtio_state, dev.interrupt_status), 4) ==
	      -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, q0 + offsetof(struct virtq_state, ready), 2) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, q0 + offsetof(struct virtq_state, pad), 1) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, q0 + offsetof(struct virtq_state, size) + 1, 2) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, q0 + offsetof(struct virtq_state, inflight), 3) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, q0 + offsetof(struct virtq_state, used_gpa) + 4, 1) ==
	      -EFAULT); /* rings outside guest memory */
	CHECK(restore_patched(&p.fresh->device, blob, n, q0 + sizeof(struct virtq_state), 1) == -EINVAL);
	{
		/* A queue that is not ready cannot have made progress. */
		struct virtq_state q;
		uint8_t *c = malloc(n);

		CHECK(c);
		memcpy(c, blob, n);
		memcpy(&q, c + q0, sizeof(q));
		q.ready = 0;
		memcpy(c + q0, &q, sizeof(q));
		CHECK(restore_patched(&p.fresh->device, c, n, n, 0) == -EINVAL);
		free(c);
	}
	CHECK(restore_patched(&p.fresh->device, blob, n, bs + offsetof(struct virtio_blk_state, capacity), 1) ==
	      -EINVAL); /* another disk */
	CHECK(restore_patched(&p.fresh->device, blob, n, bs + offsetof(struct virtio_blk_state, read_only), 2) ==
	      -EINVAL);
	/* path not terminated (the limiter's state follows it) */
	CHECK(restore_patched(&p.fresh->device, blob, n, n - 1 - sizeof(struct rate_limiter_state), 'x') == -EINVAL);
	/* After the refusals the device is reset, and a good blob brings it back. */
	CHECK(p.fresh->dev.st.status == 0);
	CHECK(restore_patched(&p.fresh->device, blob, n, n, 0) == 0 && p.fresh->dev.st.status == 15);
	/* The path part is 4 KiB of zeros: flip the rest, and the path's first bytes. */
	flip_every_byte(&p.fresh->device, blob, bs + offsetof(struct virtio_blk_state, path) + 8);
	free(blob);
	blk_pair_done(&p);
}

TEST(device_virtio_mmio_roundtrip_registers)
{
	struct blk_pair p;
	struct virtio_mmio t, fresh;
	uint8_t *blob;
	uint32_t v;
	size_t n;

	CHECK(blk_pair_setup(&p) == 0);
	virtio_mmio_init(&t, &p.b->dev);
	virtio_mmio_init(&fresh, &p.fresh->dev);
	t.device.addr = fresh.device.addr = 0xd0001000;
	t.device.irq = fresh.device.irq = 6;
	v = 1;
	virtio_mmio_access(&t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, (uint8_t *)&v, 4, true);
	v = 1;
	virtio_mmio_access(&t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, (uint8_t *)&v, 4, true);
	v = 3;
	virtio_mmio_access(&t, VIRTIO_MMIO_QUEUE_SEL, (uint8_t *)&v, 4, true);
	blob = roundtrip(&t.device, &fresh.device, &n);
	CHECK(blob);
	CHECK(n == HDR + sizeof(struct virtio_mmio_state));
	CHECK(fresh.st.device_features_sel == 1 && fresh.st.driver_features_sel == 1 && fresh.st.queue_sel == 3);
	virtio_mmio_access(&fresh, VIRTIO_MMIO_DEVICE_FEATURES, (uint8_t *)&v, 4, false);
	CHECK(v == 1); /* VERSION_1, in the high word the selector points at */
	CHECK(restore_patched(&fresh.device, blob, n, n - 1, 1) == -EINVAL); /* padding */
	CHECK(restore_patched(&fresh.device, blob, n, 17, 0) == -EINVAL);    /* another window */
	CHECK(restore_patched(&fresh.device, blob, n, 4, DEVICE_VIRTIO_BLK) == -EINVAL);
	flip_every_byte(&fresh.device, blob, n);
	free(blob);
	blk_pair_done(&p);
}

struct net_pair {
	struct fake rx, tx;
	struct virtio_net *n, *fresh;
	int peer, peer2;
};

static int net_make(struct net_pair *p, struct virtio_net **out, int *peer)
{
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 7 };
	char err[256];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) < 0)
		return -1;
	*peer = sv[1];
	return virtio_net_create_fd(sv[0], "eth0", mac, false, &p->rx.mem, NULL, out, err, sizeof(err));
}

static int net_pair_setup(struct net_pair *p)
{
	struct virtio_device *dev;
	uint8_t frame[12 + 60] = { 0 };

	memset(p, 0, sizeof(*p));
	p->peer = p->peer2 = -1;
	if (fake_init(&p->rx, 8))
		return -1;
	fake_share(&p->tx, &p->rx, 8, 0x8000);
	if (net_make(p, &p->n, &p->peer) || net_make(p, &p->fresh, &p->peer2))
		return -1;
	dev = &p->n->dev;
	pthread_mutex_lock(&dev->lock);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(dev, 1, 1);
	virtio_set_driver_features(dev, 0, (1u << VIRTIO_F_EVENT_IDX) | (1u << VIRTIO_NET_F_MAC));
	virtio_set_status(dev, 11);
	fake_queue(&p->rx, &dev->queues[VIRTIO_NET_RXQ]);
	fake_queue(&p->tx, &dev->queues[VIRTIO_NET_TXQ]);
	dev->queues[0].max_size = dev->queues[1].max_size = VIRTIO_NET_QUEUE_SIZE;
	virtio_queue_set_ready(dev, VIRTIO_NET_RXQ, true);
	virtio_queue_set_ready(dev, VIRTIO_NET_TXQ, true);
	virtio_set_status(dev, 15);
	pthread_mutex_unlock(&dev->lock);
	virtio_process(dev, VIRTIO_NET_RXQ);
	/* One frame sent, so the TX queue's indices move. */
	memcpy(p->rx.ram + 0x20000, frame, sizeof(frame));
	fake_desc(&p->tx, 0, 0x20000, sizeof(frame), 0, 0);
	fake_avail(&p->tx, 0);
	virtio_kick(dev, VIRTIO_NET_TXQ);
	virtio_process(dev, VIRTIO_NET_TXQ);
	return dev->st.status == 15 && fake_used_idx(&p->tx) == 1 ? 0 : -1;
}

static void net_pair_done(struct net_pair *p)
{
	if (p->n)
		p->n->device.ops->destroy(&p->n->device);
	if (p->fresh)
		p->fresh->device.ops->destroy(&p->fresh->device);
	if (p->peer >= 0)
		close(p->peer);
	if (p->peer2 >= 0)
		close(p->peer2);
	fake_free(&p->rx);
}

TEST(device_virtio_net_roundtrip_active_queues)
{
	struct net_pair p;
	uint8_t *blob;
	size_t n, ns;
	const struct virtio_net_state *s;

	CHECK(net_pair_setup(&p) == 0);
	blob = roundtrip(&p.n->device, &p.fresh->device, &n);
	CHECK(blob);
	ns = HDR + sizeof(struct virtio_state);
	s = (const struct virtio_net_state *)(blob + ns);
	CHECK(s->mac[5] == 7 && !strcmp(((const struct device_state_hdr *)blob)->id, "eth0"));
	CHECK(p.fresh->dev.st.status == 15 && p.fresh->dev.queues[VIRTIO_NET_TXQ].st.last_avail == 1);
	CHECK(restore_patched(&p.fresh->device, blob, n, ns + offsetof(struct virtio_net_state, pad), 1) == -EINVAL);
	/* tap name not terminated (the limiters' state follows it) */
	CHECK(restore_patched(&p.fresh->device, blob, n, n - 1 - 2 * sizeof(struct rate_limiter_state), 'x') == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, 4, DEVICE_VIRTIO_BLK) == -EINVAL);
	flip_every_byte(&p.fresh->device, blob, n);
	free(blob);
	net_pair_done(&p);
}

/* ---- the rate limiters' state (virtio-blk and virtio-net state version 2) ---- */

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

/* blob (version 2, `ls` limiter states at its end) as version 1 wrote it: without them. */
static void as_version_1(uint8_t *blob, size_t *n, int ls)
{
	struct device_state_hdr h;

	memcpy(&h, blob, sizeof(h));
	*n -= (size_t)ls * sizeof(struct rate_limiter_state);
	h.version = 1;
	h.len = (uint32_t)*n;
	memcpy(blob, &h, sizeof(h));
}

/* The drive's limiter travels in its state, budget and burst left included, re-based on the
 * restoring clock; a version 1 blob (a 1.0 snapshot) restores and keeps the drive's
 * limiter as built; a limiter state out of range is refused. */
TEST(device_virtio_blk_limiter_roundtrip_and_version_1)
{
	struct blk_pair p;
	struct rl_update u = { true, true, { 1000, 500, 100 }, { 10, 0, 1000 } };
	struct rate_limiter_state ls;
	char err[128];
	uint8_t *blob;
	size_t n;

	CHECK(blk_pair_setup(&p) == 0);
	CHECK(blk_activate_and_read(&p) == 0);
	p.b->clock = p.fresh->clock = fake_clock;
	fake_now = 5000000000ull;
	CHECK(p.b->device.ops->set_rate_limiter(&p.b->device, DEVICE_LIMITER_DRIVE, &u, err, sizeof(err)) == 0);
	CHECK(rate_limiter_consume(&p.b->limiter, 700, 3, fake_now) == 0);
	blob = save(&p.b->device, &n);
	CHECK(blob && ((const struct device_state_hdr *)blob)->version == 2);
	CHECK(n == HDR + virtio_save_size(&p.b->dev) + sizeof(ls));
	memcpy(&ls, blob + n - sizeof(ls), sizeof(ls));
	CHECK(ls.bandwidth.size == 1000 && ls.bandwidth.one_time_burst == 0 && ls.bandwidth.budget == 800 &&
	      ls.bandwidth.initial_burst == 500 && ls.ops.size == 10 && ls.ops.budget == 7);
	fake_now = 1000;
	CHECK(device_restore(&p.fresh->device, blob, n, err, sizeof(err)) == 0);
	CHECK(p.fresh->limiter.bandwidth.enabled && p.fresh->limiter.bandwidth.budget == 800 &&
	      p.fresh->limiter.ops.budget == 7 && p.fresh->limiter.bandwidth.initial_burst == 500);
	CHECK(p.fresh->dev.queues[0].st.last_avail == 1);
	/* Out of range: a budget over the bucket's size. */
	CHECK(restore_patched(&p.fresh->device, blob, n, n - sizeof(ls) + offsetof(struct rate_limiter_state, ops) +
				  offsetof(struct token_bucket_state, budget), 11) == -EINVAL);
	/* Version 1: no limiter in the blob; the fresh drive's (none) stays. */
	rate_limiter_init(&p.fresh->limiter, NULL, 0);
	as_version_1(blob, &n, 1);
	CHECK(device_restore(&p.fresh->device, blob, n, err, sizeof(err)) == 0);
	CHECK(!p.fresh->limiter.bandwidth.enabled && !p.fresh->limiter.ops.enabled);
	CHECK(p.fresh->dev.st.status == 15 && p.fresh->dev.queues[0].st.last_avail == 1);
	/* Version 1 at version 2's length, and version 3: refused. */
	CHECK(device_restore(&p.fresh->device, blob, n + sizeof(ls), err, sizeof(err)) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, offsetof(struct device_state_hdr, version), 3) == -EINVAL);
	CHECK(restore_patched(&p.fresh->device, blob, n, offsetof(struct device_state_hdr, version), 0) == -EINVAL);
	free(blob);
	blk_pair_done(&p);
}

/* The interface's RX and TX limiters travel in its state; version 1 still restores. */
TEST(device_virtio_net_limiters_roundtrip_and_version_1)
{
	struct net_pair p;
	struct rl_update rx = { true, false, { 4096, 0, 100 }, { 0 } }, tx = { false, true, { 0 }, { 100, 20, 1000 } };
	struct rate_limiter_state ls[2];
	char err[128];
	uint8_t *blob;
	size_t n;

	CHECK(net_pair_setup(&p) == 0);
	p.n->clock = p.fresh->clock = fake_clock;
	fake_now = 7000000000ull;
	CHECK(p.n->device.ops->set_rate_limiter(&p.n->device, DEVICE_LIMITER_RX, &rx, err, sizeof(err)) == 0);
	CHECK(p.n->device.ops->set_rate_limiter(&p.n->device, DEVICE_LIMITER_TX, &tx, err, sizeof(err)) == 0);
	CHECK(rate_limiter_consume(&p.n->lim[DEVICE_LIMITER_RX].rl, 96, 1, fake_now) == 0);
	CHECK(rate_limiter_consume(&p.n->lim[DEVICE_LIMITER_TX].rl, 96, 25, fake_now) == 0);
	fake_now += 10 * RATE_LIMITER_NS_PER_MS;
	blob = save(&p.n->device, &n);
	CHECK(blob && ((const struct device_state_hdr *)blob)->version == 2);
	memcpy(ls, blob + n - sizeof(ls), sizeof(ls));
	CHECK(ls[0].bandwidth.size == 4096 && ls[0].bandwidth.budget == 4000 && ls[0].ops.size == 0);
	CHECK(ls[0].bandwidth.elapsed_ns == 10 * RATE_LIMITER_NS_PER_MS);
	CHECK(ls[1].bandwidth.size == 0 && ls[1].ops.size == 100 && ls[1].ops.one_time_burst == 0 &&
	      ls[1].ops.budget == 95 && ls[1].ops.initial_burst == 20);
	fake_now = 3000000000ull; /* another host's clock */
	CHECK(device_restore(&p.fresh->device, blob, n, err, sizeof(err)) == 0);
	CHECK(p.fresh->lim[DEVICE_LIMITER_RX].rl.bandwidth.enabled && !p.fresh->lim[DEVICE_LIMITER_RX].rl.ops.enabled);
	CHECK(p.fresh->lim[DEVICE_LIMITER_TX].rl.ops.enabled && !p.fresh->lim[DEVICE_LIMITER_TX].rl.bandwidth.enabled);
	CHECK(p.fresh->dev.queues[VIRTIO_NET_TXQ].st.last_avail == 1);
	/* The 10 ms before the save count: 409.6 bytes earned back, the 96 taken refilled. */
	CHECK(rate_limiter_consume(&p.fresh->lim[DEVICE_LIMITER_RX].rl, 4096, 0, fake_now) == 0);
	CHECK(rate_limiter_consume(&p.fresh->lim[DEVICE_LIMITER_RX].rl, 1, 0, fake_now) != 0);
	/* Version 1: restores, the fresh interface's limiters (none) stay. */
	rate_limiter_init(&p.fresh->lim[DEVICE_LIMITER_RX].rl, NULL, 0);
	rate_limiter_init(&p.fresh->lim[DEVICE_LIMITER_TX].rl, NULL, 0);
	as_version_1(blob, &n, 2);
	CHECK(device_restore(&p.fresh->device, blob, n, err, sizeof(err)) == 0);
	CHECK(!rate_limiter_active(&p.fresh->lim[DEVICE_LIMITER_RX].rl, fake_now) &&
	      !rate_limiter_active(&p.fresh->lim[DEVICE_LIMITER_TX].rl, fake_now));
	CHECK(p.fresh->dev.st.status == 15 && p.fresh->st.mac[5] == 7);
	free(blob);
	net_pair_done(&p);
}

/* The metrics op of each device gives the objects the metrics line always had. */
TEST(device_list_metrics_shape)
{
	struct blk_pair p;
	struct net_pair q;
	struct device_list l = { .n = 0 };
	cJSON *o = cJSON_CreateObject();
	char *j;

	CHECK(blk_pair_setup(&p) == 0 && net_pair_setup(&q) == 0);
	CHECK(device_add(&l, &p.b->device) == 0 && device_add(&l, &q.n->device) == 0);
	CHECK(device_find(&l, DEVICE_VIRTIO_NET, "eth0") == &q.n->device);
	CHECK(device_find(&l, DEVICE_VIRTIO_BLK, "eth0") == NULL);
	device_list_metrics(&l, o);
	j = cJSON_PrintUnformatted(o);
	CHECK(j);
	CHECK(!strcmp(j, "{\"block\":{\"virtio-blk rootfs\":{\"read_count\":0,\"write_count\":0,\"flush_count\":0,"
			 "\"read_bytes\":0,\"write_bytes\":0,\"io_errors\":0,\"no_status\":0,"
			 "\"rate_limiter_event_count\":0,\"rate_limiter_throttled_events\":0,\"budget_yields\":0,"
			 "\"device_errors\":0}},"
			 "\"net\":{\"virtio-net eth0\":{\"rx_packets_count\":0,\"rx_bytes_count\":0,"
			 "\"tx_packets_count\":1,\"tx_bytes_count\":60,\"rx_stalls\":1,\"rx_dropped\":0,"
			 "\"tx_dropped\":0,\"rx_event_rate_limiter_count\":0,\"rx_rate_limiter_throttled\":0,"
			 "\"tx_rate_limiter_event_count\":0,\"tx_rate_limiter_throttled\":0,\"rx_budget_yields\":0,"
			 "\"tx_budget_yields\":0,\"device_errors\":0}}}"));
	free(j);
	cJSON_Delete(o);
	/* The list owns them now: it destroys both. */
	device_list_destroy(&l);
	CHECK(l.n == 0);
	p.b = NULL;
	q.n = NULL;
	blk_pair_done(&p);
	net_pair_done(&q);
}

/* Found writing the state checks: features refused in the very write that also set
 * DRIVER_OK used to leave DRIVER_OK without FEATURES_OK, a state restore must refuse. */
TEST(device_virtio_driver_ok_needs_accepted_features)
{
	struct blk_pair p;
	struct virtio_device *dev;
	uint8_t *blob;
	size_t n;

	CHECK(blk_pair_setup(&p) == 0);
	dev = &p.b->dev;
	pthread_mutex_lock(&dev->lock);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(dev, 0, 1u << VIRTIO_F_EVENT_IDX); /* no VERSION_1: refused */
	virtio_set_status(dev, 15);
	pthread_mutex_unlock(&dev->lock);
	CHECK(dev->st.status == (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER));
	blob = roundtrip(&p.b->device, &p.fresh->device, &n);
	CHECK(blob);
	free(blob);
	blk_pair_done(&p);
}

/* A microVM's devices as one list: saved as one blob (what a snapshot holds), restored into
 * a list of fresh devices built the same way, saved again: the same bytes. */
TEST(device_list_save_restore_whole_list)
{
	struct blk_pair p;
	struct net_pair q;
	struct serial *s[2];
	struct i8042 *k[2];
	struct boot_timer *bt[2];
	struct rtc *rc[2];
	struct virtio_mmio *tb[2], *tn[2];
	struct device_list l[2] = { { .n = 0 }, { .n = 0 } };
	uint8_t *a = NULL, *b = NULL, one = 1;
	char err[256];
	size_t n;

	CHECK(blk_pair_setup(&p) == 0 && net_pair_setup(&q) == 0 && blk_activate_and_read(&p) == 0);
	for (int i = 0; i < 2; i++) {
		struct virtio_blk *bd = i ? p.fresh : p.b;
		struct virtio_net *nd = i ? q.fresh : q.n;

		CHECK(serial_create(NULL, NULL, NULL, &s[i]) == 0 && device_add(&l[i], &s[i]->device) == 0);
		CHECK(i8042_create(NULL, NULL, NULL, NULL, &k[i]) == 0 && device_add(&l[i], &k[i]->device) == 0);
		CHECK(rtc_create(NULL, NULL, &rc[i]) == 0 && device_add(&l[i], &rc[i]->device) == 0);
		CHECK(boot_timer_create(0, 0, &bt[i]) == 0 && device_add(&l[i], &bt[i]->device) == 0);
		tb[i] = calloc(1, sizeof(*tb[i]));
		tn[i] = calloc(1, sizeof(*tn[i]));
		CHECK(tb[i] && tn[i]);
		virtio_mmio_init(tb[i], &bd->dev);
		virtio_mmio_init(tn[i], &nd->dev);
		CHECK(device_add(&l[i], &bd->device) == 0 && device_add(&l[i], &tb[i]->device) == 0);
		CHECK(device_add(&l[i], &nd->device) == 0 && device_add(&l[i], &tn[i]->device) == 0);
	}
	p.b = p.fresh = NULL; /* the lists own the devices now */
	q.n = q.fresh = NULL;
	CHECK(serial_input(s[0], (const uint8_t *)"abc", 3) == 3);
	CHECK(i8042_ctrl_alt_del(k[0]) == 0);
	boot_timer_io(bt[0], 0, &one, 1, true);
	rtc_io(rc[0], 0, &(uint8_t){ 0x0b }, 1, true);
	tn[0]->st.queue_sel = 1;

	n = device_list_save_size(&l[0]);
	CHECK(n == device_list_save_size(&l[1]));
	a = calloc(1, n + 1);
	b = calloc(1, n);
	CHECK(a && b);
	CHECK(device_list_save(&l[0], a, n - 1) == -ENOSPC);
	CHECK(device_list_save(&l[0], a, n) == 0);
	CHECK(device_list_restore(&l[1], a, n, err, sizeof(err)) == 0);
	CHECK(device_list_save(&l[1], b, n) == 0 && !memcmp(a, b, n));
	CHECK(serial_rx_free(s[1]) == SERIAL_FIFO - 3 && k[1]->st.nr_keys == 7 && bt[1]->st.fired);
	CHECK(rc[1]->st.index == 0x0b);
	/* Cut short, with bytes left over, or with two devices' blobs swapped: refused. */
	CHECK(device_list_restore(&l[1], a, n - 1, err, sizeof(err)) == -EINVAL);
	CHECK(device_list_restore(&l[1], a, n + 1, err, sizeof(err)) == -EINVAL && strstr(err, "after the last"));
	CHECK(device_list_restore(&l[1], a, 50, err, sizeof(err)) == -EINVAL);
	{
		size_t ns = device_save_size(&s[0]->device), nk = device_save_size(&k[0]->device);

		memcpy(b, a + ns, nk);
		memcpy(b + nk, a, ns);
		memcpy(b + nk + ns, a + nk + ns, n - nk - ns);
		CHECK(device_list_restore(&l[1], b, n, err, sizeof(err)) == -EINVAL && strstr(err, "uart ttyS0"));
	}
	free(a);
	free(b);
	device_list_destroy(&l[0]);
	device_list_destroy(&l[1]);
	blk_pair_done(&p);
	net_pair_done(&q);
}

/* A snapshot made before the RTC existed (its blob goes UART, i8042, boot timer, ...)
 * restores into today's list (UART, i8042, RTC, boot timer, ...), the RTC left as created,
 * whether the blob goes on after it or ends there; an RTC blob at its place is restored
 * (and a damaged one refused); an older build's list, without an RTC, refuses a blob with
 * one. */
TEST(device_list_restore_snapshot_older_than_rtc)
{
	struct serial *s[4];
	struct i8042 *k[4];
	struct rtc *c[4];
	struct boot_timer *bt[4];
	/* 0: a list from before the RTC; 1: today's; 2, 3: the same without the boot timer. */
	struct device_list l[4] = { { .n = 0 }, { .n = 0 }, { .n = 0 }, { .n = 0 } };
	uint8_t *old = NULL, *now = NULL, *cut = NULL, one = 1;
	size_t n_old, n_now, n_cut;
	char err[256];

	for (int i = 0; i < 4; i++) {
		CHECK(serial_create(NULL, NULL, NULL, &s[i]) == 0 && device_add(&l[i], &s[i]->device) == 0);
		CHECK(i8042_create(NULL, NULL, NULL, NULL, &k[i]) == 0 && device_add(&l[i], &k[i]->device) == 0);
		c[i] = NULL;
		if (i != 0) {
			CHECK(rtc_create(NULL, NULL, &c[i]) == 0 && device_add(&l[i], &c[i]->device) == 0);
			rtc_io(c[i], 0, &(uint8_t){ (uint8_t)(0x30 + i) }, 1, true);
		}
		if (i < 2)
			CHECK(boot_timer_create(0, 0, &bt[i]) == 0 && device_add(&l[i], &bt[i]->device) == 0);
	}
	CHECK(serial_input(s[0], (const uint8_t *)"old", 3) == 3);
	boot_timer_io(bt[0], 0, &one, 1, true);
	n_old = device_list_save_size(&l[0]);
	n_now = device_list_save_size(&l[1]);
	CHECK(n_now == n_old + sizeof(struct device_state_hdr) + sizeof(struct rtc_state));
	old = calloc(1, n_old);
	now = calloc(1, n_now);
	CHECK(old && now && device_list_save(&l[0], old, n_old) == 0 && device_list_save(&l[1], now, n_now) == 0);

	/* The old blob: the RTC is passed over, the boot timer after it restored. */
	CHECK(device_list_restore(&l[1], old, n_old, err, sizeof(err)) == 0);
	CHECK(serial_rx_free(s[1]) == SERIAL_FIFO - 3 && bt[1]->st.fired && c[1]->st.index == 0x31);
	/* The old blob without its boot timer, into a list whose RTC is last: blobs end there. */
	n_cut = device_save_size(&s[0]->device) + device_save_size(&k[0]->device);
	CHECK(device_list_restore(&l[2], old, n_cut, err, sizeof(err)) == 0 && c[2]->st.index == 0x32);
	CHECK(serial_rx_free(s[2]) == SERIAL_FIFO - 3);
	/* Today's blob: the RTC's index restored too. */
	CHECK(device_list_restore(&l[3], now, n_cut + device_save_size(&c[1]->device), err, sizeof(err)) == 0);
	CHECK(c[3]->st.index == 0x31);
	/* An RTC blob with a damaged header or state is refused as the RTC's, not passed over. */
	cut = malloc(n_now);
	CHECK(cut);
	memcpy(cut, now, n_now);
	cut[n_cut] ^= 0x01; /* its magic */
	CHECK(device_list_restore(&l[1], cut, n_now, err, sizeof(err)) == -EINVAL && strstr(err, "rtc rtc"));
	memcpy(cut, now, n_now);
	cut[n_cut + sizeof(struct device_state_hdr)] = 0x80; /* its index */
	CHECK(device_list_restore(&l[1], cut, n_now, err, sizeof(err)) == -EINVAL && strstr(err, "NMI"));
	/* Cut inside the RTC's header: refused, not taken for "no RTC". */
	CHECK(device_list_restore(&l[2], now, n_cut + 10, err, sizeof(err)) == -EINVAL);
	/* A list without the RTC (an older build) refuses a blob that has one, naming it. */
	CHECK(device_list_restore(&l[0], now, n_now, err, sizeof(err)) == -EINVAL && strstr(err, "of a rtc device"));
	free(old);
	free(now);
	free(cut);
	for (int i = 0; i < 4; i++)
		device_list_destroy(&l[i]);
}

/* devices_setup puts the legacy devices on the list and on the port bus (no KVM: a VM
 * with only its buses), and the list releases them (ASan checks nothing leaks). */
TEST(device_legacy_setup_on_the_list)
{
	static struct vm vm;
	struct device_list l = { .n = 0 };
	char err[256];
	uint8_t v = 1;

	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	bus_init(&vm.pio, "pio");
	vm.cfg.boot_timer = true;
	CHECK(devices_setup(&vm, &l, NULL, now_ns(), cpu_now_ns(), err, sizeof(err)) == 0);
	CHECK(l.n == 4 && devices_serial(&l) && devices_i8042(&l));
	CHECK(device_find(&l, DEVICE_BOOT_TIMER, "boot-timer"));
	/* The RTC on 0x70/0x71: an index, then its register (D: the time is valid). */
	CHECK(device_find(&l, DEVICE_RTC, "rtc"));
	v = 0x0d;
	CHECK(bus_access(&vm.pio, RTC_INDEX_PORT, &v, 1, true) == 0);
	CHECK(bus_access(&vm.pio, RTC_DATA_PORT, &v, 1, false) == 0 && v == 0x80);
	v = 1;
	CHECK(bus_access(&vm.pio, BOOT_TIMER_PORT, &v, 1, true) == 0);
	CHECK(container_of(device_find(&l, DEVICE_BOOT_TIMER, NULL), struct boot_timer, device)->st.fired == 1);
	v = 0x5a;
	CHECK(bus_access(&vm.pio, SERIAL_PORT + 7, &v, 1, true) == 0);
	CHECK(devices_serial(&l)->st.scr == 0x5a);
	/* Without the boot timer: the other three. */
	{
		struct device_list l3 = { .n = 0 };
		static struct vm vm3;

		memset(&vm3, 0, sizeof(vm3));
		vm3.vm_fd = -1;
		bus_init(&vm3.pio, "pio");
		CHECK(devices_setup(&vm3, &l3, NULL, 0, 0, err, sizeof(err)) == 0);
		CHECK(l3.n == 3 && device_find(&l3, DEVICE_RTC, NULL) && !device_find(&l3, DEVICE_BOOT_TIMER, NULL));
		device_list_destroy(&l3);
		bus_destroy(&vm3.pio);
	}
	/* A second set on the same bus collides, and says where. */
	{
		struct device_list l2 = { .n = 0 };

		CHECK(devices_setup(&vm, &l2, NULL, 0, 0, err, sizeof(err)) == -EEXIST && strstr(err, "0x3f8"));
		device_list_destroy(&l2);
	}
	device_list_destroy(&l);
	CHECK(l.n == 0 && !devices_serial(&l));
	bus_destroy(&vm.pio);
}
