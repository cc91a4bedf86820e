/* libFuzzer target: the virtio-mmio register interface of a block device. The input is a
 * count of register accesses, the accesses (8 bytes each: offset, width, flags, value) and
 * then guest RAM. Flags also let the queue run, and save/restore the device mid-sequence
 * (virtio_save/restore, or the transport's or the device's struct device blob), restoring
 * a state with one byte changed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_ram.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char image[] = "/tmp/kindling-fuzz-mmio-XXXXXX";

static int make_image(void)
{
	int fd = mkstemp(image);

	if (fd < 0 || ftruncate(fd, 64 * 512) < 0)
		return -1;
	close(fd);
	return 0;
}

static void drop_image(void)
{
	unlink(image);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t state[8192], again[8192];
	static int ready;
	struct virtio_mmio t;
	struct virtio_blk *b;
	struct fuzz_ram ram;
	char err[256];
	size_t nops, n;

	if (!ready) {
		if (make_image())
			abort();
		atexit(drop_image);
		ready = 1;
	}
	if (size < 1)
		return 0;
	nops = data[0];
	if (size < 1 + 8 * nops)
		nops = (size - 1) / 8;
	if (fuzz_ram_init(&ram, data + 1 + 8 * nops, size - 1 - 8 * nops))
		return 0;
	if (virtio_blk_create(image, false, "fuzz", &ram.mem, &b, err, sizeof(err)))
		abort();
	virtio_mmio_init(&t, &b->dev);
	n = virtio_save_size(&b->dev);
	for (size_t i = 0; i < nops; i++) {
		const uint8_t *op = data + 1 + 8 * i;
		static const uint32_t widths[4] = { 1, 2, 4, 8 };
		uint64_t off = fuzz_u16(op) & 0x1ff;
		uint32_t len = widths[op[2] & 3];
		uint8_t buf[8] = { op[4], op[5], op[6], op[7], 0, 0, 0, 0 };

		virtio_mmio_access(&t, off, buf, len, op[3] & 1);
		if (op[3] & 2)
			virtio_process(&b->dev, 0);
		if ((op[3] & 4) && n <= sizeof(state)) {
			virtio_save(&b->dev, state);
			if (virtio_restore(&b->dev, state, n, err, sizeof(err)))
				abort(); /* a state just saved must restore */
			state[op[4] % n] ^= op[5];
			(void)virtio_restore(&b->dev, state, n, err, sizeof(err));
		}
		/* The same through the device model: the transport's and the device's blobs. */
		if (op[3] & 8) {
			struct device *d = (op[3] & 16) ? &t.device : &b->device;
			size_t dn = device_save_size(d);

			if (dn <= sizeof(state) && !device_save(d, state, dn)) {
				/* A state just saved restores, and saves again to the same bytes. */
				if (device_restore(d, state, dn, err, sizeof(err)) || device_save(d, again, dn) ||
				    memcmp(state, again, dn))
					abort();
				state[fuzz_u16(op + 4) % dn] ^= op[6] | 1;
				(void)device_restore(d, state, dn, err, sizeof(err));
			}
		}
	}
	b->dev.ops->destroy(&b->dev);
	fuzz_ram_free(&ram);
	return 0;
}
