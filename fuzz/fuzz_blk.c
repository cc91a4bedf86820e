/* libFuzzer target: virtio-block requests. The input is a queue configuration, a flags
 * byte and guest RAM; every chain the queue yields is run as a block request against a
 * small scratch image. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_ram.h"
#include "virtio/blk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct virtio_blk *blk;

static struct virtio_blk *device(void)
{
	char path[] = "/tmp/kindling-fuzz-blk-XXXXXX", err[256];
	struct guest_mem none = { 0 };
	int fd;

	if (blk)
		return blk;
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 64 * 512) < 0)
		abort();
	close(fd);
	if (virtio_blk_create(path, false, "fuzz", &none, &blk, err, sizeof(err)))
		abort();
	unlink(path);
	return blk;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_blk *b = device();
	struct virtq *q = &b->dev.queues[0];
	struct fuzz_ram ram;

	if (size < 8)
		return 0;
	if (fuzz_ram_init(&ram, data + 8, size - 8))
		return 0;
	b->dev.mem = &ram.mem;
	b->st.read_only = !!(data[1] & 4);
	virtq_reset(q);
	q->st.size = (uint16_t)(1u << (data[0] & 7));
	q->st.desc_gpa = (uint64_t)fuzz_u16(data + 2) << 4;
	q->st.avail_gpa = (uint64_t)fuzz_u16(data + 4) << 1;
	q->st.used_gpa = (uint64_t)fuzz_u16(data + 6) << 2;
	if (virtq_enable(q, &ram.mem, data[1] & 1, data[1] & 2) == 0) {
		for (int i = 0; i < 64; i++) {
			if (virtq_pop(q, &b->chain) <= 0)
				break;
			virtq_push(q, b->chain.head, virtio_blk_request(b, &b->chain));
		}
		virtq_publish(q);
	}
	virtq_reset(q);
	fuzz_ram_free(&ram);
	return 0;
}
