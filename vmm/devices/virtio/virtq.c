/* Split virtqueue, device side. Guest memory is shared with a driver that may be hostile
 * and running concurrently on another CPU: every descriptor and ring entry is copied out
 * once and only the copy is checked and used. */
#include "virtq.h"

#include <errno.h>
#include <string.h>

/* After this, the compiler cannot re-load a value it already copied out of guest memory. */
#define barrier() __asm__ __volatile__("" ::: "memory")

/* Ring fields are naturally aligned (checked in virtq_enable). */
static inline uint16_t rd16(const uint8_t *p)
{
	return *(const volatile uint16_t *)(const void *)p;
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	*(volatile uint16_t *)(void *)p = v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	*(volatile uint32_t *)(void *)p = v;
}

static int fail(struct virtq *q, int code, const char *why)
{
	q->error = why;
	return code;
}

/* The used ring (with avail_event) was written: for diff snapshots. */
static void mark_used(const struct virtq *q)
{
	mem_mark_dirty(q->mem, q->st.used_gpa, 4 + 8 * (uint64_t)q->st.size + (q->event_idx ? 2 : 0));
}

void virtq_reset(struct virtq *q)
{
	uint16_t max = q->max_size;

	memset(q, 0, sizeof(*q));
	q->max_size = max;
}

int virtq_enable(struct virtq *q, const struct guest_mem *mem, bool event_idx, bool indirect)
{
	uint64_t n = q->st.size, event = event_idx ? 2 : 0;

	q->st.ready = false;
	if (n == 0)
		return fail(q, -EINVAL, "queue size is 0");
	if (n > q->max_size)
		return fail(q, -EINVAL, "queue size is larger than the maximum");
	if (n & (n - 1))
		return fail(q, -EINVAL, "queue size is not a power of 2");
	if ((q->st.desc_gpa & 15) || (q->st.avail_gpa & 1) || (q->st.used_gpa & 3))
		return fail(q, -EINVAL, "ring address is misaligned");
	q->desc = mem_ptr(mem, q->st.desc_gpa, 16 * n);
	q->avail = mem_ptr(mem, q->st.avail_gpa, 4 + 2 * n + event);
	q->used = mem_ptr(mem, q->st.used_gpa, 4 + 8 * n + event);
	if (!q->desc || !q->avail || !q->used)
		return fail(q, -EFAULT, "ring lies outside guest RAM");
	q->mem = mem;
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->st.last_avail = q->st.used_idx = q->st.signalled_used = q->st.inflight = 0;
	q->st.signalled_valid = false;
	q->st.ready = true;
	return 0;
}

bool virtq_has_avail(const struct virtq *q)
{
	return q->st.ready && rd16(q->avail + 2) != q->st.last_avail;
}

/* Follows the chain starting at `head` into c. The walk is bounded: a table of n entries is
 * visited at most n times, so a loop ends as an error rather than spinning. */
static int walk(struct virtq *q, uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = q->desc;
	uint32_t table_size = q->st.size, i = head, visits = 0;
	uint64_t out = 0, in = 0;
	bool in_indirect = false, seen_write = false;
	unsigned n = 0;

	c->head = head;
	c->nout = c->nin = 0;
	for (;;) {
		struct virtq_desc d;

		memcpy(&d, table + 16 * (size_t)i, sizeof(d));
		barrier();
		if (++visits > table_size)
			return fail(q, -ELOOP, "descriptor loop (chain longer than its table)");
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!q->indirect)
				return fail(q, -EINVAL, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
			if (in_indirect)
				return fail(q, -EINVAL, "indirect descriptor inside an indirect table");
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return fail(q, -EINVAL, "indirect descriptor with the NEXT flag");
			if (d.len == 0 || d.len % 16)
				return fail(q, -EINVAL, "indirect table length is not a multiple of 16");
			if (d.len / 16 > VIRTQ_MAX_CHAIN)
				return fail(q, -E2BIG, "indirect table longer than the queue");
			table = mem_ptr(q->mem, d.addr, d.len);
			if (!table)
				return fail(q, -EFAULT, "indirect table lies outside guest RAM");
			table_size = d.len / 16;
			in_indirect = true;
			i = 0;
			visits = 0;
			continue;
		}
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			seen_write = true;
		} else if (seen_write) {
			return fail(q, -EINVAL, "device-readable descriptor after a device-writable one");
		}
		if (d.len) {
			/* mem_ptr refuses wrapping sums and ranges across two RAM regions. */
			void *p = mem_ptr(q->mem, d.addr, d.len);

			if (!p)
				return fail(q, -EFAULT, "buffer lies outside guest RAM (or addr+len overflows)");
			if (n == VIRTQ_MAX_CHAIN)
				return fail(q, -E2BIG, "chain has more segments than the queue size");
			c->iov[n].iov_base = p;
			c->iov[n].iov_len = d.len;
			n++;
			if (d.flags & VIRTQ_DESC_F_WRITE) {
				/* The device may write all of it: a diff snapshot must carry it. */
				mem_mark_dirty(q->mem, d.addr, d.len);
				c->nin++;
				in += d.len;
			} else {
				c->nout++;
				out += d.len;
			}
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= table_size)
			return fail(q, -ERANGE, "next descriptor index is out of range");
		i = d.next;
	}
	if (out > UINT32_MAX || in > UINT32_MAX)
		return fail(q, -E2BIG, "chain is longer than 4 GiB");
	c->out_len = (uint32_t)out;
	c->in_len = (uint32_t)in;
	return 0;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t avail_idx, pending, head;
	int r;

	if (!q->st.ready)
		return 0;
	avail_idx = rd16(q->avail + 2);
	pending = (uint16_t)(avail_idx - q->st.last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->st.size)
		return fail(q, -EINVAL, "available index moved more than the queue size ahead");
	if (q->st.inflight >= q->st.size)
		return fail(q, -EBUSY, "more chains in flight than the queue size");
	/* Ring entries are read only after the index that published them. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = rd16(q->avail + 4 + 2 * (size_t)(q->st.last_avail & (q->st.size - 1)));
	if (head >= q->st.size)
		return fail(q, -ERANGE, "available ring names a descriptor out of range");
	r = walk(q, head, c);
	if (r)
		return r;
	q->st.last_avail++;
	q->st.inflight++;
	return 1;
}

void virtq_unpop(struct virtq *q)
{
	q->st.last_avail--;
	q->st.inflight--;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	uint8_t *e = q->used + 4 + 8 * (size_t)(q->st.used_idx & (q->st.size - 1));

	wr32(e, head);
	wr32(e + 4, len);
	q->st.used_idx++;
	if (q->st.inflight)
		q->st.inflight--;
}

void virtq_publish(struct virtq *q)
{
	/* The entries must be visible before the index that hands them over. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	wr16(q->used + 2, q->st.used_idx);
	mark_used(q);
}

bool virtq_should_signal(struct virtq *q)
{
	uint16_t old = q->st.signalled_used, now = q->st.used_idx, event;
	bool valid = q->st.signalled_valid;

	if (!q->st.ready || (valid && old == now))
		return false;
	/* Our used index store must be visible before we read the driver's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->st.signalled_used = now;
	q->st.signalled_valid = true;
	if (!q->event_idx)
		return !(rd16(q->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	event = rd16(q->avail + 4 + 2 * (size_t)q->st.size);
	/* Interrupt if the driver's used_event lies in (old, now]. */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

bool virtq_enable_notify(struct virtq *q)
{
	if (!q->st.ready)
		return false;
	if (q->event_idx)
		wr16(q->used + 4 + 8 * (size_t)q->st.size, q->st.last_avail);
	else
		wr16(q->used, 0);
	mark_used(q);
	/* Our request must be visible before we look for buffers added meanwhile. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return rd16(q->avail + 2) != q->st.last_avail;
}

void virtq_disable_notify(struct virtq *q)
{
	/* With EVENT_IDX an avail_event left behind already suppresses notifications. */
	if (q->st.ready && !q->event_idx) {
		wr16(q->used, VIRTQ_USED_F_NO_NOTIFY);
		mark_used(q);
	}
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *dst, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < c->nout && done < len; i++) {
		size_t seg = c->iov[i].iov_len, k;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		k = seg - off < len - done ? seg - off : len - done;
		memcpy((uint8_t *)dst + done, (uint8_t *)c->iov[i].iov_base + off, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *src, size_t len)
{
	size_t done = 0;

	for (unsigned i = c->nout; i < (unsigned)c->nout + c->nin && done < len; i++) {
		size_t seg = c->iov[i].iov_len, k;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		k = seg - off < len - done ? seg - off : len - done;
		memcpy((uint8_t *)c->iov[i].iov_base + off, (const uint8_t *)src + done, k);
		done += k;
		off = 0;
	}
	return done;
}

void virtq_save(const struct virtq *q, struct virtq_state *s)
{
	*s = q->st;
}

int virtq_restore(struct virtq *q, const struct virtq_state *s, const struct guest_mem *mem, bool event_idx,
		  bool indirect)
{
	int r;

	virtq_reset(q);
	q->st.size = s->size;
	q->st.desc_gpa = s->desc_gpa;
	q->st.avail_gpa = s->avail_gpa;
	q->st.used_gpa = s->used_gpa;
	if (!s->ready)
		return 0;
	r = virtq_enable(q, mem, event_idx, indirect);
	if (r)
		return r;
	if (s->inflight > q->st.size || (uint16_t)(s->last_avail - s->used_idx) != s->inflight) {
		q->st.ready = false;
		return fail(q, -EINVAL, "saved queue indices are inconsistent");
	}
	q->st.last_avail = s->last_avail;
	q->st.used_idx = s->used_idx;
	q->st.signalled_used = s->signalled_used;
	q->st.signalled_valid = s->signalled_valid;
	q->st.inflight = s->inflight;
	return 0;
}
