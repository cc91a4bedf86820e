/* libFuzzer target: the split-virtqueue walk. The input is a queue configuration followed
 * by guest RAM holding whatever descriptor tables and rings the fuzzer makes up. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_ram.h"
#include "virtio/virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain c;
	struct fuzz_ram ram;
	struct virtq q;
	uint8_t scratch[64];

	if (size < 9)
		return 0;
	if (fuzz_ram_init(&ram, data + 9, size - 9))
		return 0;
	virtq_reset(&q);
	q.max_size = VIRTQ_MAX_SIZE;
	q.st.size = fuzz_u16(data) & 0x1ff;
	/* Ring addresses anywhere in (or just past) the 64 KiB of RAM. */
	q.st.desc_gpa = (uint64_t)fuzz_u16(data + 3) << 1;
	q.st.avail_gpa = (uint64_t)fuzz_u16(data + 5) << 1;
	q.st.used_gpa = (uint64_t)fuzz_u16(data + 7) << 1;
	if (virtq_enable(&q, &ram.mem, data[2] & 1, data[2] & 2) == 0) {
		for (int i = 0; i < 2 * VIRTQ_MAX_SIZE + 2; i++) {
			int r = virtq_pop(&q, &c);

			if (r <= 0)
				break;
			fuzz_touch(&c);
			virtq_chain_read(&c, data[2] >> 2, scratch, sizeof(scratch));
			virtq_chain_write(&c, data[2] >> 4, scratch, sizeof(scratch));
			if (data[2] & 4 && i % 3 == 0) {
				virtq_unpop(&q);
				if (virtq_pop(&q, &c) <= 0)
					break;
			}
			if (!(data[2] & 8) || i % 2)
				virtq_push(&q, c.head, c.in_len);
			if (i % 4 == 0) {
				virtq_publish(&q);
				(void)virtq_should_signal(&q);
				(void)virtq_enable_notify(&q);
			}
		}
		virtq_publish(&q);
		(void)virtq_should_signal(&q);
		virtq_disable_notify(&q);
		(void)virtq_has_avail(&q);
	}
	fuzz_ram_free(&ram);
	return 0;
}
