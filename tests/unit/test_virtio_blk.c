/* virtio-block request parsing and I/O over fake guest memory and a temporary image. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "util.h"
#include "virtio/blk.h"
#include "virtio_fake.h"

#define R VIRTQ_DESC_F_NEXT
#define W VIRTQ_DESC_F_WRITE
#define SECTORS 64
#define HDR FAKE_DATA
#define BUF (FAKE_DATA + 0x1000)
#define ST (FAKE_DATA + 0x800)

struct bt {
	struct fake f;
	struct virtio_blk *b;
	char path[64];
	uint32_t used;
	uint8_t status;
};

static struct virtq_chain chain;

static int bt_setup(struct bt *t, bool ro)
{
	char err[256];
	uint8_t sector[512];
	int fd;

	snprintf(t->path, sizeof(t->path), "/tmp/kindling-blk-XXXXXX");
	fd = mkstemp(t->path);
	if (fd < 0)
		return -1;
	for (int i = 0; i < SECTORS; i++) {
		memset(sector, 'a' + i % 26, sizeof(sector));
		if (write(fd, sector, sizeof(sector)) != (ssize_t)sizeof(sector))
			return -1;
	}
	close(fd);
	if (fake_init(&t->f, 16))
		return -1;
	if (virtio_blk_create(t->path, ro, "disk_id_0123456789abcdef", &t->f.mem, &t->b, err, sizeof(err)))
		return -1;
	fake_queue(&t->f, &t->b->dev.queues[0]);
	return virtq_enable(&t->b->dev.queues[0], &t->f.mem, false, false);
}

static void bt_done(struct bt *t)
{
	t->b->dev.ops->destroy(&t->b->dev);
	fake_free(&t->f);
	unlink(t->path);
}

static void header(struct bt *t, uint32_t type, uint64_t sector)
{
	uint32_t h[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };

	memcpy(t->f.ram + HDR, h, sizeof(h));
	t->f.ram[ST] = 0xaa;
}

/* Pops the chain at head 0 and runs it. */
static int run(struct bt *t)
{
	struct virtq *q = &t->b->dev.queues[0];

	fake_avail(&t->f, 0);
	if (virtq_pop(q, &chain) != 1)
		return -1;
	t->used = virtio_blk_request(t->b, &chain);
	t->status = t->f.ram[ST];
	return 0;
}

/* hdr (readable) -> data (dir) -> status (writable) */
static void chain3(struct bt *t, uint32_t len, uint16_t data_dir)
{
	fake_desc(&t->f, 0, HDR, 16, R, 1);
	fake_desc(&t->f, 1, BUF, len, data_dir | R, 2);
	fake_desc(&t->f, 2, ST, 1, W, 0);
}

TEST(blk_read_write_flush)
{
	struct bt t;
	char buf[1024];
	int fd;

	CHECK(bt_setup(&t, false) == 0);
	CHECK(t.b->st.capacity == SECTORS);
	header(&t, VIRTIO_BLK_T_IN, 2);
	chain3(&t, 1024, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK && t.used == 1025);
	CHECK(t.f.ram[BUF] == 'c' && t.f.ram[BUF + 511] == 'c' && t.f.ram[BUF + 512] == 'd');

	memset(t.f.ram + BUF, 'Z', 512);
	header(&t, VIRTIO_BLK_T_OUT, 5);
	chain3(&t, 512, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK && t.used == 1);
	fd = open(t.path, O_RDONLY);
	CHECK(pread(fd, buf, 1024, 5 * 512) == 1024);
	close(fd);
	CHECK(buf[0] == 'Z' && buf[511] == 'Z' && buf[512] == 'g');

	header(&t, VIRTIO_BLK_T_FLUSH, 0);
	fake_desc(&t.f, 0, HDR, 16, R, 2);
	fake_desc(&t.f, 2, ST, 1, W, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK && t.b->stats.flushes == 1);
	bt_done(&t);
}

TEST(blk_status_shares_a_descriptor)
{
	struct bt t;

	/* One writable descriptor holding both data and the status byte. */
	CHECK(bt_setup(&t, false) == 0);
	header(&t, VIRTIO_BLK_T_IN, 0);
	fake_desc(&t.f, 0, HDR, 16, R, 1);
	fake_desc(&t.f, 1, BUF, 513, W, 0);
	t.f.ram[BUF + 512] = 0x55;
	CHECK(run(&t) == 0);
	CHECK(t.used == 513 && t.f.ram[BUF + 512] == VIRTIO_BLK_S_OK && t.f.ram[BUF] == 'a');
	bt_done(&t);
}

TEST(blk_ranges_checked)
{
	struct bt t;
	struct {
		uint64_t sector;
		uint32_t len;
	} bad[] = {
		{ SECTORS, 512 },                 /* past the end */
		{ SECTORS - 1, 1024 },            /* straddles the end */
		{ UINT64_MAX, 512 },              /* sector * 512 overflows */
		{ UINT64_MAX / 512 + 1, 512 },
		{ 1ull << 62, 512 },
		{ 0, 100 },                       /* not a whole sector */
	};

	CHECK(bt_setup(&t, false) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		header(&t, VIRTIO_BLK_T_IN, bad[i].sector);
		chain3(&t, bad[i].len, W);
		CHECK(run(&t) == 0);
		CHECK(t.status == VIRTIO_BLK_S_IOERR && t.used == 1);
		header(&t, VIRTIO_BLK_T_OUT, bad[i].sector);
		chain3(&t, bad[i].len, 0);
		CHECK(run(&t) == 0);
		CHECK(t.status == VIRTIO_BLK_S_IOERR && t.used == 1);
	}
	/* The last sector itself is fine. */
	header(&t, VIRTIO_BLK_T_IN, SECTORS - 1);
	chain3(&t, 512, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK);
	bt_done(&t);
}

TEST(blk_descriptor_directions)
{
	struct bt t;

	CHECK(bt_setup(&t, false) == 0);
	/* A read whose data buffer is device-readable. */
	header(&t, VIRTIO_BLK_T_IN, 0);
	chain3(&t, 512, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_IOERR && t.used == 1);
	/* A write whose data buffer is device-writable. */
	header(&t, VIRTIO_BLK_T_OUT, 0);
	chain3(&t, 512, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_IOERR && t.used == 1);
	/* A read-only status descriptor: no answer possible, buffers returned with length 0. */
	header(&t, VIRTIO_BLK_T_OUT, 0);
	fake_desc(&t.f, 0, HDR, 16, R, 1);
	fake_desc(&t.f, 1, BUF, 512, R, 2);
	fake_desc(&t.f, 2, ST, 1, 0, 0);
	CHECK(run(&t) == 0);
	CHECK(t.used == 0 && t.status == 0xaa && t.b->stats.no_status == 1);
	/* A header shorter than 16 bytes. */
	header(&t, VIRTIO_BLK_T_IN, 0);
	fake_desc(&t.f, 0, HDR, 8, R, 2);
	fake_desc(&t.f, 2, ST, 1, W, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_IOERR && t.used == 1);
	/* A header split over two descriptors is fine. */
	header(&t, VIRTIO_BLK_T_IN, 1);
	fake_desc(&t.f, 0, HDR, 4, R, 3);
	fake_desc(&t.f, 3, HDR + 4, 12, R, 1);
	fake_desc(&t.f, 1, BUF, 512, W | R, 2);
	fake_desc(&t.f, 2, ST, 1, W, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK && t.f.ram[BUF] == 'b');
	bt_done(&t);
}

TEST(blk_get_id_and_unsupported)
{
	struct bt t;

	CHECK(bt_setup(&t, false) == 0);
	header(&t, VIRTIO_BLK_T_GET_ID, 0);
	chain3(&t, 20, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK && t.used == 21);
	CHECK(!memcmp(t.f.ram + BUF, "disk_id_0123456789ab", 20));
	header(&t, 42, 0);
	chain3(&t, 512, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_UNSUPP && t.used == 1);
	bt_done(&t);
}

TEST(blk_read_only)
{
	struct bt t;
	char buf[512];
	int fd;

	CHECK(bt_setup(&t, true) == 0);
	CHECK(t.b->dev.st.device_features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	memset(t.f.ram + BUF, 'Q', 512);
	header(&t, VIRTIO_BLK_T_OUT, 0);
	chain3(&t, 512, 0);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_IOERR);
	fd = open(t.path, O_RDONLY);
	CHECK(pread(fd, buf, 512, 0) == 512);
	close(fd);
	CHECK(buf[0] == 'a');
	header(&t, VIRTIO_BLK_T_IN, 0);
	chain3(&t, 512, W);
	CHECK(run(&t) == 0);
	CHECK(t.status == VIRTIO_BLK_S_OK);
	bt_done(&t);
}

TEST(blk_create_errors)
{
	struct guest_mem m = { 0 };
	struct virtio_blk *b;
	char err[256];

	CHECK(virtio_blk_create("/nonexistent/disk", false, "x", &m, &b, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "/nonexistent/disk") != NULL);
	CHECK(virtio_blk_create("/tmp", false, "x", &m, &b, err, sizeof(err)) < 0);
	CHECK(virtio_blk_create("/dev/null", false, "x", &m, &b, err, sizeof(err)) < 0);
}

/* Firecracker's cache_type: "Unsafe" (the default) offers no flush, "Writeback" does. */
TEST(blk_cache_type_flush_feature)
{
	struct bt t;

	CHECK(bt_setup(&t, false) == 0);
	CHECK(!(t.b->dev.st.device_features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)));
	virtio_blk_set_writeback(t.b, true);
	CHECK(t.b->dev.st.device_features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	virtio_blk_set_writeback(t.b, false);
	CHECK(!(t.b->dev.st.device_features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)));
	bt_done(&t);
}
