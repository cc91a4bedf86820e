/* The state file's encoder and decoder (the format is described in snapfile.h), and the one
 * set of checks both apply to a struct snapfile. The file comes from an untrusted place: the
 * CRC before anything else, every count and size bounded before it is used, every value
 * checked before it is handed on. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snapfile.h"
#include "util.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "raw KVM structures are stored as x86-64's bytes");

#define CRC_SIZE 8
#define MAC_SIZE SNAPAUTH_DIGEST
#define PAGE_SIZE_4K 4096u

/* ---- Little-endian writer: a growing buffer; an allocation failure is reported at the end. */

struct wr {
	uint8_t *buf;
	size_t len, cap;
	bool oom;
};

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
	if (w->oom)
		return;
	if (w->cap - w->len < n) {
		size_t cap = w->cap ? w->cap : 64 * 1024;
		uint8_t *b;

		while (cap - w->len < n)
			cap *= 2;
		b = realloc(w->buf, cap);
		if (!b) {
			w->oom = true;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_le(uint8_t *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void wr_uint(struct wr *w, uint64_t v, int n)
{
	uint8_t b[8];

	put_le(b, v, n);
	wr_bytes(w, b, (size_t)n);
}

#define wr_u8(w, v) wr_uint(w, v, 1)
#define wr_u16(w, v) wr_uint(w, v, 2)
#define wr_u32(w, v) wr_uint(w, v, 4)
#define wr_u64(w, v) wr_uint(w, v, 8)

static void wr_str(struct wr *w, const char *s)
{
	size_t n = strlen(s) + 1;

	wr_u32(w, n);
	wr_bytes(w, s, n);
}

/* A raw KVM structure: its size, then its bytes. */
static void wr_raw(struct wr *w, const void *p, size_t n)
{
	wr_u32(w, n);
	wr_bytes(w, p, n);
}

/* ---- Reader over one section: every read is bounded by the section's end. */

struct rd {
	const uint8_t *p;
	size_t len, off;
	const char *name; /* the section, for messages */
	char *err;
	size_t errlen;
};

static int rd_short(struct rd *r)
{
	return errorf(r->err, r->errlen, -EINVAL, "%s section ends early (at byte %zu of %zu)", r->name, r->off,
		      r->len);
}

static int rd_bytes(struct rd *r, void *out, size_t n)
{
	if (r->len - r->off < n)
		return rd_short(r);
	memcpy(out, r->p + r->off, n);
	r->off += n;
	return 0;
}

static int rd_uint(struct rd *r, uint64_t *v, int n)
{
	if (r->len - r->off < (size_t)n)
		return rd_short(r);
	*v = get_le(r->p + r->off, n);
	r->off += (size_t)n;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	uint64_t x = 0;
	int e = rd_uint(r, &x, 4);

	*v = (uint32_t)x;
	return e;
}

/* A flag byte: 0 or 1, nothing else. */
static int rd_bool(struct rd *r, bool *b, const char *what)
{
	uint64_t x = 0;
	int e = rd_uint(r, &x, 1);

	if (e)
		return e;
	if (x > 1)
		return errorf(r->err, r->errlen, -EINVAL, "%s section: %s is %u, not 0 or 1", r->name, what, (unsigned)x);
	*b = x;
	return 0;
}

static int rd_zero(struct rd *r, size_t n)
{
	uint8_t z[8] = { 0 }, b[8];
	int e;

	if (n > sizeof(b))
		return -EINVAL;
	e = rd_bytes(r, b, n);
	if (!e && memcmp(b, z, n))
		return errorf(r->err, r->errlen, -EINVAL, "%s section: reserved bytes are not zero", r->name);
	return e;
}

/* A string of at most max bytes (its NUL included), non-empty, NUL-terminated, no NUL inside.
 * Into out (max bytes) or, with out NULL, into a new buffer *dup. */
static int rd_str(struct rd *r, char *out, size_t max, char **dup, const char *what)
{
	uint32_t n = 0;
	int e = rd_u32(r, &n);

	if (e)
		return e;
	if (n <= 1)
		return errorf(r->err, r->errlen, -EINVAL, "%s section: %s is empty", r->name, what);
	if (n > max)
		return errorf(r->err, r->errlen, -EINVAL, "%s section: %s is %u bytes long, the limit is %zu", r->name,
			      what, n, max);
	if (r->len - r->off < n)
		return rd_short(r);
	if (r->p[r->off + n - 1] || memchr(r->p + r->off, 0, n - 1))
		return errorf(r->err, r->errlen, -EINVAL, "%s section: %s is not one NUL-terminated string", r->name,
			      what);
	if (!out) {
		out = malloc(n);
		if (!out)
			return errorf(r->err, r->errlen, -ENOMEM, "out of memory");
		*dup = out;
	}
	return rd_bytes(r, out, n);
}

/* A raw KVM structure: refused unless its recorded size is this build's. */
static int rd_raw(struct rd *r, void *out, size_t size, const char *what)
{
	uint32_t n = 0;
	int e = rd_u32(r, &n);

	if (e)
		return e;
	if (n != size)
		return errorf(r->err, r->errlen, -EINVAL, "%s size mismatch: %u bytes in the file, %zu in this build",
			      what, n, size);
	return rd_bytes(r, out, size);
}

/* ---- The checks of a decoded (or about to be encoded) snapfile. */

static int check_config(const struct snap_config *c, char *err, size_t errlen)
{
	int roots = 0;

	if (c->vcpu_count < 1 || c->vcpu_count > VM_MAX_VCPUS)
		return errorf(err, errlen, -EINVAL, "vcpu_count %d is outside 1..%d", c->vcpu_count, VM_MAX_VCPUS);
	if (c->mem_size_mib < CONFIG_MEM_MIB_MIN || c->mem_size_mib > CONFIG_MEM_MIB_MAX)
		return errorf(err, errlen, -EINVAL, "mem_size_mib %llu is outside %u..%u",
			      (unsigned long long)c->mem_size_mib, CONFIG_MEM_MIB_MIN, CONFIG_MEM_MIB_MAX);
	if (c->nr_drives < 0 || c->nr_drives > CONFIG_MAX_DRIVES)
		return errorf(err, errlen, -EINVAL, "%d drives, the limit is %d", c->nr_drives, CONFIG_MAX_DRIVES);
	if (c->nr_nets < 0 || c->nr_nets > CONFIG_MAX_NETS)
		return errorf(err, errlen, -EINVAL, "%d network interfaces, the limit is %d", c->nr_nets,
			      CONFIG_MAX_NETS);
	for (int i = 0; i < c->nr_drives; i++) {
		const struct drive_config *d = &c->drives[i];

		if (!memchr(d->id, 0, sizeof(d->id)) || !config_valid_id(d->id))
			return errorf(err, errlen, -EINVAL, "drive %d: invalid id", i);
		if (!d->path || !d->path[0] || strnlen(d->path, SNAPFILE_PATH_MAX) >= SNAPFILE_PATH_MAX)
			return errorf(err, errlen, -EINVAL, "drive %s: empty or overlong path", d->id);
		for (int j = 0; j < i; j++) {
			if (!strcmp(c->drives[j].id, d->id))
				return errorf(err, errlen, -EINVAL, "duplicate drive id %s", d->id);
		}
		roots += d->is_root;
	}
	if (roots > 1)
		return errorf(err, errlen, -EINVAL, "%d root drives", roots);
	for (int i = 0; i < c->nr_nets; i++) {
		const struct net_config *n = &c->nets[i];
		char e2[128];

		if (!memchr(n->id, 0, sizeof(n->id)) || !config_valid_id(n->id))
			return errorf(err, errlen, -EINVAL, "network interface %d: invalid id", i);
		if (!memchr(n->host_dev_name, 0, sizeof(n->host_dev_name)) ||
		    config_check_tap_name(n->host_dev_name, e2, sizeof(e2)))
			return errorf(err, errlen, -EINVAL, "network interface %s: invalid tap name", n->id);
		for (int j = 0; j < i; j++) {
			if (!strcmp(c->nets[j].id, n->id))
				return errorf(err, errlen, -EINVAL, "duplicate network interface id %s", n->id);
		}
	}
	return 0;
}

static int check_mem(const struct snap_mem *m, const struct snap_config *c, char *err, size_t errlen)
{
	if (!m->ram_size)
		return errorf(err, errlen, -EINVAL, "memory size 0");
	if (m->ram_size % PAGE_SIZE_4K)
		return errorf(err, errlen, -EINVAL, "memory size %llu is not a multiple of the page size",
			      (unsigned long long)m->ram_size);
	if (m->ram_size > (uint64_t)CONFIG_MEM_MIB_MAX << 20)
		return errorf(err, errlen, -EINVAL, "memory size %llu is over the limit of %u MiB",
			      (unsigned long long)m->ram_size, CONFIG_MEM_MIB_MAX);
	if (m->ram_size != c->mem_size_mib << 20)
		return errorf(err, errlen, -EINVAL, "memory size %llu is not the configured %llu MiB",
			      (unsigned long long)m->ram_size, (unsigned long long)c->mem_size_mib);
	if (m->diff != SNAP_MEM_FULL && m->diff != SNAP_MEM_DIFF)
		return errorf(err, errlen, -EINVAL, "memory type %u is neither Full nor Diff", m->diff);
	return 0;
}

/* A restore maps each hole over the file without reading it: one outside RAM would map over
 * whatever follows the guest's memory, so every bound here is a safety check. */
static int check_holes(const struct snapfile *s, char *err, size_t errlen)
{
	uint64_t end = 0;

	if (s->nr_holes > SNAPFILE_MAX_HOLES)
		return errorf(err, errlen, -EINVAL, "%u holes, the limit is %d", s->nr_holes, SNAPFILE_MAX_HOLES);
	if (s->nr_holes && s->mem.diff)
		return errorf(err, errlen, -EINVAL, "a hole table in a Diff snapshot");
	for (uint32_t i = 0; i < s->nr_holes; i++) {
		const struct mem_range *h = &s->holes[i];

		if (h->off % PAGE_SIZE_4K || h->len % PAGE_SIZE_4K || !h->len)
			return errorf(err, errlen, -EINVAL, "hole %u (offset %llu, %llu bytes) is not whole pages", i,
				      (unsigned long long)h->off, (unsigned long long)h->len);
		if (h->off >= s->mem.ram_size || h->len > s->mem.ram_size - h->off)
			return errorf(err, errlen, -EINVAL, "hole %u (offset %llu, %llu bytes) lies outside the %llu bytes of RAM",
				      i, (unsigned long long)h->off, (unsigned long long)h->len,
				      (unsigned long long)s->mem.ram_size);
		if (h->off < end)
			return errorf(err, errlen, -EINVAL, "hole %u (offset %llu) is out of order or overlaps hole %u", i,
				      (unsigned long long)h->off, i - 1);
		end = h->off + h->len;
	}
	return 0;
}

static int check_cpu(const struct cpu_state *st, int i, char *err, size_t errlen)
{
	switch (st->mp_state.mp_state) {
	case KVM_MP_STATE_RUNNABLE:
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_INIT_RECEIVED:
	case KVM_MP_STATE_HALTED:
	case KVM_MP_STATE_SIPI_RECEIVED:
		break;
	default:
		return errorf(err, errlen, -EINVAL, "vCPU %d: mp_state %u is not one of KVM's x86 states", i,
			      st->mp_state.mp_state);
	}
	if (st->xcrs.nr_xcrs > KVM_MAX_XCRS)
		return errorf(err, errlen, -EINVAL, "vCPU %d: %u XCRs, KVM has at most %d", i, st->xcrs.nr_xcrs,
			      KVM_MAX_XCRS);
	if (st->nr_msrs > CPU_MAX_MSRS)
		return errorf(err, errlen, -EINVAL, "vCPU %d: %u MSRs, the limit is %d", i, st->nr_msrs, CPU_MAX_MSRS);
	for (uint32_t m = 0; m < st->nr_msrs; m++) {
		if (!cpu_msr_known(st->msrs[m].index))
			return errorf(err, errlen, -EINVAL, "vCPU %d: MSR 0x%x is not one a snapshot carries", i,
				      st->msrs[m].index);
		for (uint32_t k = 0; k < m; k++) {
			if (st->msrs[k].index == st->msrs[m].index)
				return errorf(err, errlen, -EINVAL, "vCPU %d: MSR 0x%x appears twice", i,
					      st->msrs[m].index);
		}
	}
	return 0;
}

static int check_kvm(const struct vmm_kvm_state *k, const struct snap_config *c, char *err, size_t errlen)
{
	if (!k)
		return errorf(err, errlen, -EINVAL, "no KVM state");
	if (k->kvm.pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER || k->kvm.pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    k->kvm.ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return errorf(err, errlen, -EINVAL, "interrupt controller state for the wrong chip");
	if (k->nr_cpus < 1 || k->nr_cpus > VM_MAX_VCPUS)
		return errorf(err, errlen, -EINVAL, "%d vCPUs, outside 1..%d", k->nr_cpus, VM_MAX_VCPUS);
	if (k->nr_cpus != c->vcpu_count)
		return errorf(err, errlen, -EINVAL, "%d vCPUs saved, but vcpu_count is %d", k->nr_cpus, c->vcpu_count);
	for (int i = 0; i < k->nr_cpus; i++) {
		int e = check_cpu(&k->cpus[i], i, err, errlen);

		if (e)
			return e;
	}
	return 0;
}

static int check_all(const struct snapfile *s, char *err, size_t errlen)
{
	int e = check_config(&s->config, err, errlen);

	if (!e)
		e = check_mem(&s->mem, &s->config, err, errlen);
	if (!e)
		e = check_holes(s, err, errlen);
	if (!e)
		e = check_kvm(s->kvm, &s->config, err, errlen);
	if (!e && (s->devices_len > SNAPFILE_MAX_DEVICES || (s->devices_len && !s->devices)))
		e = errorf(err, errlen, -EINVAL, "device state of %zu bytes, the limit is %u", s->devices_len,
			   SNAPFILE_MAX_DEVICES);
	if (!e && s->is_signed && (!s->digests || s->nr_chunks != snapauth_nr_chunks(s->mem.ram_size)))
		e = errorf(err, errlen, -EINVAL, "%u memory digests for %llu bytes of RAM (in chunks of %u)",
			   s->nr_chunks, (unsigned long long)s->mem.ram_size, SNAPAUTH_CHUNK);
	return e;
}

/* ---- Encoding. */

static void enc_limiter(struct wr *w, const struct rl_config *c)
{
	const struct rl_bucket_config *b[2] = { &c->bandwidth, &c->ops };

	for (int i = 0; i < 2; i++) {
		wr_u64(w, b[i]->size);
		wr_u64(w, b[i]->one_time_burst);
		wr_u64(w, b[i]->refill_time);
	}
}

static void enc_config(struct wr *w, const struct snap_config *c)
{
	wr_u32(w, (uint32_t)c->vcpu_count);
	wr_u64(w, c->mem_size_mib);
	wr_u8(w, c->smt);
	wr_u8(w, c->track_dirty_pages);
	wr_u8(w, c->boot_timer);
	wr_u8(w, 0);
	wr_u32(w, (uint32_t)c->nr_drives);
	wr_u32(w, (uint32_t)c->nr_nets);
	for (int i = 0; i < c->nr_drives; i++) {
		const struct drive_config *d = &c->drives[i];

		wr_str(w, d->id);
		wr_str(w, d->path);
		wr_u8(w, d->read_only);
		wr_u8(w, d->is_root);
		wr_u8(w, d->cache_writeback);
		wr_u8(w, 0);
	}
	for (int i = 0; i < c->nr_nets; i++) {
		const struct net_config *n = &c->nets[i];

		wr_str(w, n->id);
		wr_str(w, n->host_dev_name);
		wr_u8(w, n->has_mac);
		wr_bytes(w, n->mac, 6);
		wr_u8(w, 0);
	}
	/* 1.1: the rate limiters. */
	for (int i = 0; i < c->nr_drives; i++)
		enc_limiter(w, &c->drives[i].rate_limiter);
	for (int i = 0; i < c->nr_nets; i++) {
		enc_limiter(w, &c->nets[i].rx_rate_limiter);
		enc_limiter(w, &c->nets[i].tx_rate_limiter);
	}
}

static void enc_vm(struct wr *w, const struct vm_kvm_state *k)
{
	wr_raw(w, &k->pic_master, sizeof(k->pic_master));
	wr_raw(w, &k->pic_slave, sizeof(k->pic_slave));
	wr_raw(w, &k->ioapic, sizeof(k->ioapic));
	wr_raw(w, &k->pit, sizeof(k->pit));
	wr_raw(w, &k->clock, sizeof(k->clock));
}

static void enc_vcpus(struct wr *w, const struct vmm_kvm_state *k)
{
	wr_u32(w, (uint32_t)k->nr_cpus);
	for (int i = 0; i < k->nr_cpus; i++) {
		const struct cpu_state *c = &k->cpus[i];

		wr_raw(w, &c->regs, sizeof(c->regs));
		wr_raw(w, &c->sregs, sizeof(c->sregs));
		wr_raw(w, &c->xsave, sizeof(c->xsave));
		wr_raw(w, &c->xcrs, sizeof(c->xcrs));
		wr_raw(w, &c->debugregs, sizeof(c->debugregs));
		wr_raw(w, &c->lapic, sizeof(c->lapic));
		wr_raw(w, &c->mp_state, sizeof(c->mp_state));
		wr_raw(w, &c->events, sizeof(c->events));
		wr_u32(w, c->tsc_khz);
		wr_u32(w, c->nr_msrs);
		for (uint32_t m = 0; m < c->nr_msrs; m++) {
			wr_u32(w, c->msrs[m].index);
			wr_u32(w, 0);
			wr_u64(w, c->msrs[m].data);
		}
	}
}

static void enc_header(uint8_t *h, const struct snapfile *s, uint32_t nr_sections)
{
	memcpy(h, SNAPFILE_MAGIC, 8);
	put_le(h + 8, SNAPFILE_MAJOR, 2);
	put_le(h + 10, SNAPFILE_MINOR, 2);
	put_le(h + 12, SNAPFILE_ARCH_X86_64, 4);
	memcpy(h + 16, s->id, 16);
	memcpy(h + 32, s->cpu.vendor, 12);
	put_le(h + 44, s->cpu.family, 4);
	put_le(h + 48, s->cpu.model, 4);
	put_le(h + 52, s->cpu.stepping, 4);
	for (int i = 0; i < SNAP_CPU_WORDS; i++)
		put_le(h + 56 + 4 * i, s->cpu.words[i], 4);
	put_le(h + 92, nr_sections, 4);
	put_le(h + 96, s->is_signed ? SNAPFILE_F_SIGNED : 0, 4);
	/* 100..127 reserved: zero. */
}

int snapfile_encode(const struct snapfile *s, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	uint8_t hdr[SNAPFILE_HDR_SIZE] = { 0 }, table[SNAP_SEC_MAX * SNAPFILE_SECTION_ENTRY] = { 0 };
	int types[SNAP_SEC_MAX], nr = 0;
	struct wr w = { 0 };
	int e;

	*buf = NULL;
	*len = 0;
	e = check_all(s, err, errlen);
	if (e)
		return errwrap(err, errlen, e, "cannot save this state");
	if (s->sign_key && !s->is_signed)
		return errorf(err, errlen, -EINVAL, "cannot sign a state file not marked signed");
	for (int t = 1; t <= SNAP_SEC_COUNT; t++)
		types[nr++] = t;
	if (s->nr_holes)
		types[nr++] = SNAP_SEC_HOLES;
	if (s->is_signed)
		types[nr++] = SNAP_SEC_AUTH;
	enc_header(hdr, s, (uint32_t)nr);
	wr_bytes(&w, hdr, sizeof(hdr));
	wr_bytes(&w, table, (size_t)nr * SNAPFILE_SECTION_ENTRY);
	for (int i = 0; i < nr; i++) {
		int t = types[i];
		size_t start = w.len;
		uint8_t *ent;

		switch (t) {
		case SNAP_SEC_CONFIG:
			enc_config(&w, &s->config);
			break;
		case SNAP_SEC_VM:
			enc_vm(&w, &s->kvm->kvm);
			break;
		case SNAP_SEC_VCPUS:
			enc_vcpus(&w, s->kvm);
			break;
		case SNAP_SEC_DEVICES:
			if (s->devices_len)
				wr_bytes(&w, s->devices, s->devices_len);
			break;
		case SNAP_SEC_MEMORY:
			wr_u64(&w, s->mem.ram_size);
			wr_u8(&w, s->mem.diff);
			wr_bytes(&w, (uint8_t[7]){ 0 }, 7);
			break;
		case SNAP_SEC_HOLES:
			wr_u32(&w, s->nr_holes);
			wr_u32(&w, 0);
			for (uint32_t h = 0; h < s->nr_holes; h++) {
				wr_u64(&w, s->holes[h].off);
				wr_u64(&w, s->holes[h].len);
			}
			break;
		case SNAP_SEC_AUTH:
			/* Last: its MAC ends up right before the CRC (snapfile.h). */
			wr_u32(&w, SNAPAUTH_CHUNK);
			wr_u32(&w, s->nr_chunks);
			wr_bytes(&w, s->digests, (size_t)s->nr_chunks * SNAPAUTH_DIGEST);
			wr_bytes(&w, s->mac, MAC_SIZE);
			break;
		}
		if (w.oom)
			break;
		ent = w.buf + SNAPFILE_HDR_SIZE + (size_t)i * SNAPFILE_SECTION_ENTRY;
		put_le(ent, (uint64_t)t, 4);
		put_le(ent + 4, 0, 4);
		put_le(ent + 8, start, 8);
		put_le(ent + 16, w.len - start, 8);
	}
	if (!w.oom && s->sign_key)
		snapauth_hmac(s->sign_key, w.buf, w.len - MAC_SIZE, w.buf + w.len - MAC_SIZE);
	if (!w.oom)
		wr_u64(&w, snap_crc64(0, w.buf, w.len));
	if (w.oom) {
		free(w.buf);
		return errorf(err, errlen, -ENOMEM, "out of memory encoding the state file");
	}
	if (w.len > SNAPFILE_MAX_SIZE) {
		free(w.buf);
		return errorf(err, errlen, -EFBIG, "the state file would be %zu bytes, over the limit of %u", w.len,
			      SNAPFILE_MAX_SIZE);
	}
	*buf = w.buf;
	*len = w.len;
	return 0;
}

/* ---- Decoding. */

static int dec_limiter(struct rd *r, struct rl_config *c)
{
	struct rl_bucket_config *b[2] = { &c->bandwidth, &c->ops };
	int e;

	for (int i = 0; i < 2; i++) {
		if ((e = rd_uint(r, &b[i]->size, 8)) || (e = rd_uint(r, &b[i]->one_time_burst, 8)) ||
		    (e = rd_uint(r, &b[i]->refill_time, 8)))
			return e;
	}
	return 0;
}

/* minor: the file's; a 1.0 config has no rate limiters (none configured). */
static int dec_config(struct rd *r, struct snap_config *c, uint16_t minor)
{
	uint64_t x = 0;
	uint32_t n = 0;
	int e;

	if ((e = rd_u32(r, &n)))
		return e;
	if (n < 1 || n > VM_MAX_VCPUS)
		return errorf(r->err, r->errlen, -EINVAL, "vcpu_count %u is outside 1..%d", n, VM_MAX_VCPUS);
	c->vcpu_count = (int)n;
	if ((e = rd_uint(r, &x, 8)))
		return e;
	c->mem_size_mib = x;
	if ((e = rd_bool(r, &c->smt, "smt")) || (e = rd_bool(r, &c->track_dirty_pages, "track_dirty_pages")) ||
	    (e = rd_bool(r, &c->boot_timer, "boot_timer")) || (e = rd_zero(r, 1)))
		return e;
	if ((e = rd_u32(r, &n)))
		return e;
	if (n > CONFIG_MAX_DRIVES)
		return errorf(r->err, r->errlen, -EINVAL, "%u drives, the limit is %d", n, CONFIG_MAX_DRIVES);
	c->nr_drives = (int)n;
	if ((e = rd_u32(r, &n)))
		return e;
	if (n > CONFIG_MAX_NETS)
		return errorf(r->err, r->errlen, -EINVAL, "%u network interfaces, the limit is %d", n, CONFIG_MAX_NETS);
	c->nr_nets = (int)n;
	for (int i = 0; i < c->nr_drives; i++) {
		struct drive_config *d = &c->drives[i];

		if ((e = rd_str(r, d->id, sizeof(d->id), NULL, "a drive id")) ||
		    (e = rd_str(r, NULL, SNAPFILE_PATH_MAX, &d->path, "a drive path")) ||
		    (e = rd_bool(r, &d->read_only, "read_only")) || (e = rd_bool(r, &d->is_root, "is_root")) ||
		    (e = rd_bool(r, &d->cache_writeback, "cache_writeback")) || (e = rd_zero(r, 1)))
			return e;
	}
	for (int i = 0; i < c->nr_nets; i++) {
		struct net_config *nc = &c->nets[i];

		if ((e = rd_str(r, nc->id, sizeof(nc->id), NULL, "a network interface id")) ||
		    (e = rd_str(r, nc->host_dev_name, sizeof(nc->host_dev_name), NULL, "a tap name")) ||
		    (e = rd_bool(r, &nc->has_mac, "has_mac")) || (e = rd_bytes(r, nc->mac, 6)) || (e = rd_zero(r, 1)))
			return e;
	}
	if (minor < 1)
		return 0;
	for (int i = 0; i < c->nr_drives; i++) {
		if ((e = dec_limiter(r, &c->drives[i].rate_limiter)))
			return e;
	}
	for (int i = 0; i < c->nr_nets; i++) {
		if ((e = dec_limiter(r, &c->nets[i].rx_rate_limiter)) || (e = dec_limiter(r, &c->nets[i].tx_rate_limiter)))
			return e;
	}
	return 0;
}

static int dec_vm(struct rd *r, struct vm_kvm_state *k)
{
	int e;

	if ((e = rd_raw(r, &k->pic_master, sizeof(k->pic_master), "PIC master state")) ||
	    (e = rd_raw(r, &k->pic_slave, sizeof(k->pic_slave), "PIC slave state")) ||
	    (e = rd_raw(r, &k->ioapic, sizeof(k->ioapic), "IOAPIC state")) ||
	    (e = rd_raw(r, &k->pit, sizeof(k->pit), "PIT state")) ||
	    (e = rd_raw(r, &k->clock, sizeof(k->clock), "KVM clock state")))
		return e;
	return 0;
}

static int dec_vcpu(struct rd *r, struct cpu_state *c)
{
	uint64_t x = 0;
	uint32_t n = 0;
	int e;

	if ((e = rd_raw(r, &c->regs, sizeof(c->regs), "registers")) ||
	    (e = rd_raw(r, &c->sregs, sizeof(c->sregs), "special registers")) ||
	    (e = rd_raw(r, &c->xsave, sizeof(c->xsave), "XSAVE")) || (e = rd_raw(r, &c->xcrs, sizeof(c->xcrs), "XCRs")) ||
	    (e = rd_raw(r, &c->debugregs, sizeof(c->debugregs), "debug registers")) ||
	    (e = rd_raw(r, &c->lapic, sizeof(c->lapic), "LAPIC")) ||
	    (e = rd_raw(r, &c->mp_state, sizeof(c->mp_state), "mp_state")) ||
	    (e = rd_raw(r, &c->events, sizeof(c->events), "vCPU events")) || (e = rd_u32(r, &c->tsc_khz)) ||
	    (e = rd_u32(r, &n)))
		return e;
	if (n > CPU_MAX_MSRS)
		return errorf(r->err, r->errlen, -EINVAL, "%u MSRs, the limit is %d", n, CPU_MAX_MSRS);
	c->nr_msrs = n;
	for (uint32_t m = 0; m < n; m++) {
		if ((e = rd_u32(r, &c->msrs[m].index)) || (e = rd_zero(r, 4)) || (e = rd_uint(r, &x, 8)))
			return e;
		c->msrs[m].data = x;
	}
	return 0;
}

static int dec_vcpus(struct rd *r, struct vmm_kvm_state *k)
{
	uint32_t n = 0;
	int e = rd_u32(r, &n);

	if (e)
		return e;
	if (n < 1 || n > VM_MAX_VCPUS)
		return errorf(r->err, r->errlen, -EINVAL, "%u vCPUs, outside 1..%d", n, VM_MAX_VCPUS);
	k->nr_cpus = (int)n;
	for (int i = 0; i < k->nr_cpus; i++) {
		e = dec_vcpu(r, &k->cpus[i]);
		if (e)
			return errwrap(r->err, r->errlen, e, "vCPU %d", i);
	}
	return 0;
}

static const char *const section_names[SNAP_SEC_MAX + 1] = {
	[SNAP_SEC_CONFIG] = "config", [SNAP_SEC_VM] = "VM",	      [SNAP_SEC_VCPUS] = "vCPUs",
	[SNAP_SEC_DEVICES] = "devices", [SNAP_SEC_MEMORY] = "memory", [SNAP_SEC_AUTH] = "auth",
	[SNAP_SEC_HOLES] = "holes",
};

struct section {
	uint32_t type;
	uint64_t off, len;
};

/* The section table: known types, each once, inside the body, back to back after the table
 * with no gap and nothing left over. sec[type] gets each section. */
static int dec_table(const uint8_t *buf, size_t body, uint32_t nr, const struct snapfile *h,
		     struct section sec[SNAP_SEC_MAX + 1], char *err, size_t errlen)
{
	struct section order[SNAPFILE_MAX_SECTIONS];
	uint64_t at = SNAPFILE_HDR_SIZE + (uint64_t)nr * SNAPFILE_SECTION_ENTRY;

	if (at > body)
		return errorf(err, errlen, -EINVAL, "the section table (%u entries) runs past the end of the file", nr);
	for (uint32_t i = 0; i < nr; i++) {
		const uint8_t *ent = buf + SNAPFILE_HDR_SIZE + (size_t)i * SNAPFILE_SECTION_ENTRY;
		struct section s = { (uint32_t)get_le(ent, 4), get_le(ent + 8, 8), get_le(ent + 16, 8) };

		if (s.type < 1 || s.type > SNAP_SEC_MAX)
			return errorf(err, errlen, -EINVAL, "unknown section type %u", s.type);
		if (s.type == SNAP_SEC_HOLES && h->minor < 3)
			return errorf(err, errlen, -EINVAL, "holes section in a format %u.%u file (since 1.3)", h->major,
				      h->minor);
		if (get_le(ent + 4, 4))
			return errorf(err, errlen, -EINVAL, "%s section: unknown flags", section_names[s.type]);
		if (sec[s.type].type)
			return errorf(err, errlen, -EINVAL, "%s section appears twice", section_names[s.type]);
		if (s.off > body || s.len > body - s.off)
			return errorf(err, errlen, -EINVAL, "%s section (offset %llu, %llu bytes) lies outside the file",
				      section_names[s.type], (unsigned long long)s.off, (unsigned long long)s.len);
		sec[s.type] = s;
		/* Insertion by offset: the table is at most SNAPFILE_MAX_SECTIONS long. */
		uint32_t j = i;
		while (j > 0 && order[j - 1].off > s.off) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = s;
	}
	for (uint32_t t = 1; t <= SNAP_SEC_COUNT; t++) {
		if (!sec[t].type)
			return errorf(err, errlen, -EINVAL, "%s section missing", section_names[t]);
	}
	if (h->is_signed != !!sec[SNAP_SEC_AUTH].type)
		return errorf(err, errlen, -EINVAL,
			      h->is_signed ? "signed, but no auth section" : "auth section in an unsigned file");
	if (h->is_signed && sec[SNAP_SEC_AUTH].off + sec[SNAP_SEC_AUTH].len != body)
		return errorf(err, errlen, -EINVAL, "the auth section is not the last one");
	for (uint32_t i = 0; i < nr; i++) {
		if (order[i].off < at)
			return errorf(err, errlen, -EINVAL, "%s section overlaps %s", section_names[order[i].type],
				      i ? section_names[order[i - 1].type] : "the section table");
		if (order[i].off > at)
			return errorf(err, errlen, -EINVAL, "%llu bytes before the %s section belong to no section",
				      (unsigned long long)(order[i].off - at), section_names[order[i].type]);
		at = order[i].off + order[i].len;
	}
	if (at != body)
		return errorf(err, errlen, -EINVAL, "%llu bytes after the last section belong to no section",
			      (unsigned long long)(body - at));
	return 0;
}

static int dec_header(const uint8_t *b, struct snapfile *s, uint32_t *nr, char *err, size_t errlen)
{
	static const uint8_t zero[28];
	uint32_t arch, flags;

	if (memcmp(b, SNAPFILE_MAGIC, 8))
		return errorf(err, errlen, -EINVAL, "not a Kindling state file (wrong magic)");
	s->major = (uint16_t)get_le(b + 8, 2);
	s->minor = (uint16_t)get_le(b + 10, 2);
	if (s->major > SNAPFILE_MAJOR || (s->major == SNAPFILE_MAJOR && s->minor > SNAPFILE_MINOR))
		return errorf(err, errlen, -EINVAL, "state file format %u.%u is newer than this build's %u.%u", s->major,
			      s->minor, SNAPFILE_MAJOR, SNAPFILE_MINOR);
	if (s->major < SNAPFILE_MAJOR)
		return errorf(err, errlen, -EINVAL, "state file format %u.%u is older than this build reads (%u.x)",
			      s->major, s->minor, SNAPFILE_MAJOR);
	arch = (uint32_t)get_le(b + 12, 4);
	if (arch != SNAPFILE_ARCH_X86_64)
		return errorf(err, errlen, -EINVAL, "state file is for architecture %u, this host is x86-64 (%u)", arch,
			      SNAPFILE_ARCH_X86_64);
	memcpy(s->id, b + 16, 16);
	memcpy(s->cpu.vendor, b + 32, 12);
	s->cpu.vendor[12] = 0;
	s->cpu.family = (uint32_t)get_le(b + 44, 4);
	s->cpu.model = (uint32_t)get_le(b + 48, 4);
	s->cpu.stepping = (uint32_t)get_le(b + 52, 4);
	for (int i = 0; i < SNAP_CPU_WORDS; i++)
		s->cpu.words[i] = (uint32_t)get_le(b + 56 + 4 * i, 4);
	*nr = (uint32_t)get_le(b + 92, 4);
	if (*nr < 1 || *nr > SNAPFILE_MAX_SECTIONS)
		return errorf(err, errlen, -EINVAL, "%u sections, outside 1..%d", *nr, SNAPFILE_MAX_SECTIONS);
	flags = (uint32_t)get_le(b + 96, 4);
	if ((flags & ~SNAPFILE_F_SIGNED) || (flags && s->minor < 2))
		return errorf(err, errlen, -EINVAL, "unknown header flags 0x%x in format %u.%u", flags, s->major, s->minor);
	s->is_signed = flags & SNAPFILE_F_SIGNED;
	if (memcmp(b + 100, zero, sizeof(zero)))
		return errorf(err, errlen, -EINVAL, "reserved header bytes are not zero");
	return 0;
}

/* The holes section: the count bounded before anything is read; the ranges are checked
 * against RAM by check_all. */
static int dec_holes(struct rd *r, struct snapfile *s)
{
	uint32_t n = 0;
	int e;

	if ((e = rd_u32(r, &n)) || (e = rd_zero(r, 4)))
		return e;
	if (n < 1 || n > SNAPFILE_MAX_HOLES)
		return errorf(r->err, r->errlen, -EINVAL, "holes section: %u holes, outside 1..%d", n, SNAPFILE_MAX_HOLES);
	for (uint32_t i = 0; i < n; i++) {
		if ((e = rd_uint(r, &s->holes[i].off, 8)) || (e = rd_uint(r, &s->holes[i].len, 8)))
			return e;
	}
	s->nr_holes = n;
	return 0;
}

/* The auth section: the digests' count is checked against the RAM size by check_all. */
static int dec_auth(const uint8_t *p, size_t len, struct snapfile *s, char *err, size_t errlen)
{
	struct rd r = { p, len, 0, "auth", err, errlen };
	uint32_t chunk = 0, n = 0;
	size_t bytes;
	int e;

	if ((e = rd_u32(&r, &chunk)) || (e = rd_u32(&r, &n)))
		return e;
	if (chunk != SNAPAUTH_CHUNK)
		return errorf(err, errlen, -EINVAL, "auth section: chunk size %u, this build's is %u", chunk,
			      SNAPAUTH_CHUNK);
	bytes = (size_t)n * SNAPAUTH_DIGEST;
	if (n > snapauth_nr_chunks((uint64_t)CONFIG_MEM_MIB_MAX << 20) || len - r.off != bytes + MAC_SIZE)
		return errorf(err, errlen, -EINVAL, "auth section: %zu bytes for %u digests and a MAC", len - r.off, n);
	s->digests = malloc(bytes ? bytes : 1);
	if (!s->digests)
		return errorf(err, errlen, -ENOMEM, "out of memory");
	s->nr_chunks = n;
	memcpy(s->digests, p + r.off, bytes);
	memcpy(s->mac, p + r.off + bytes, MAC_SIZE);
	return 0;
}

static int dec_body(const uint8_t *buf, size_t body, struct snapfile *s, char *err, size_t errlen)
{
	struct section sec[SNAP_SEC_MAX + 1] = { 0 };
	uint32_t nr = 0;
	int e;

	if ((e = dec_header(buf, s, &nr, err, errlen)) || (e = dec_table(buf, body, nr, s, sec, err, errlen)))
		return e;
	if (s->is_signed && (e = dec_auth(buf + sec[SNAP_SEC_AUTH].off, sec[SNAP_SEC_AUTH].len, s, err, errlen)))
		return e;
	/* In dependency order: the checks of later sections use the config. */
	static const int order[] = { SNAP_SEC_CONFIG, SNAP_SEC_MEMORY, SNAP_SEC_VM,
				     SNAP_SEC_VCPUS,  SNAP_SEC_DEVICES, SNAP_SEC_HOLES };
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		int t = order[i];
		struct rd r = { buf + sec[t].off, sec[t].len, 0, section_names[t], err, errlen };
		uint64_t x = 0;

		if (!sec[t].type)
			continue; /* an optional one (dec_table checked the others are there) */

		switch (t) {
		case SNAP_SEC_HOLES:
			e = dec_holes(&r, s);
			break;
		case SNAP_SEC_CONFIG:
			e = dec_config(&r, &s->config, s->minor);
			break;
		case SNAP_SEC_MEMORY:
			if (!(e = rd_uint(&r, &s->mem.ram_size, 8)) && !(e = rd_uint(&r, &x, 1)))
				s->mem.diff = (uint8_t)x;
			if (!e)
				e = rd_zero(&r, 7);
			break;
		case SNAP_SEC_VM:
			e = dec_vm(&r, &s->kvm->kvm);
			break;
		case SNAP_SEC_VCPUS:
			e = dec_vcpus(&r, s->kvm);
			break;
		case SNAP_SEC_DEVICES:
			if (r.len > SNAPFILE_MAX_DEVICES)
				return errorf(err, errlen, -EINVAL, "device state of %zu bytes, the limit is %u", r.len,
					      SNAPFILE_MAX_DEVICES);
			if (r.len) {
				s->devices = malloc(r.len);
				if (!s->devices)
					return errorf(err, errlen, -ENOMEM, "out of memory");
				memcpy(s->devices, r.p, r.len);
			}
			s->devices_len = r.len;
			r.off = r.len;
			break;
		}
		if (e)
			return e;
		if (r.off != r.len)
			return errorf(err, errlen, -EINVAL, "%s section: %zu bytes left over", r.name, r.len - r.off);
	}
	return check_all(s, err, errlen);
}

int snapfile_decode(const uint8_t *buf, size_t len, struct snapfile *s, char *err, size_t errlen)
{
	size_t body;
	int e;

	memset(s, 0, sizeof(*s));
	if (!len)
		return errorf(err, errlen, -EINVAL, "the state file is empty");
	if (len > SNAPFILE_MAX_SIZE)
		return errorf(err, errlen, -EFBIG, "the state file is %zu bytes, over the limit of %u", len,
			      SNAPFILE_MAX_SIZE);
	if (len < SNAPFILE_HDR_SIZE + CRC_SIZE)
		return errorf(err, errlen, -EINVAL, "the state file is too short (%zu bytes)", len);
	body = len - CRC_SIZE;
	if (snap_crc64(0, buf, body) != get_le(buf + body, 8))
		return errorf(err, errlen, -EINVAL, "state file CRC mismatch: the file is corrupt or truncated");
	s->kvm = calloc(1, sizeof(*s->kvm));
	if (!s->kvm)
		return errorf(err, errlen, -ENOMEM, "out of memory");
	e = dec_body(buf, body, s, err, errlen);
	if (e)
		snapfile_free(s);
	return e;
}

int snapfile_check_auth(const uint8_t *buf, size_t len, const struct snapauth_key *key, bool *is_signed, char *err,
			size_t errlen)
{
	struct snapfile h = { 0 };
	uint8_t mac[MAC_SIZE];
	uint32_t nr = 0;
	size_t body;
	int e;

	if (is_signed)
		*is_signed = false;
	if (len > SNAPFILE_MAX_SIZE)
		return errorf(err, errlen, -EFBIG, "the state file is %zu bytes, over the limit of %u", len,
			      SNAPFILE_MAX_SIZE);
	if (!len)
		return errorf(err, errlen, -EINVAL, "the state file is empty");
	if (len < SNAPFILE_HDR_SIZE + MAC_SIZE + CRC_SIZE)
		return errorf(err, errlen, -EINVAL, "the state file is too short (%zu bytes)", len);
	body = len - CRC_SIZE;
	if (snap_crc64(0, buf, body) != get_le(buf + body, 8))
		return errorf(err, errlen, -EINVAL, "state file CRC mismatch: the file is corrupt or truncated");
	e = dec_header(buf, &h, &nr, err, errlen);
	if (e)
		return e;
	if (is_signed)
		*is_signed = h.is_signed;
	if (!h.is_signed && key)
		return errorf(err, errlen, -EACCES, "the state file is not signed, and this VMM has a --snapshot-key: "
						    "refusing an unsigned snapshot");
	if (h.is_signed && !key)
		return errorf(err, errlen, -EACCES, "the state file is signed: loading it needs its --snapshot-key");
	if (!h.is_signed)
		return 0;
	snapauth_hmac(key, buf, body - MAC_SIZE, mac);
	if (snapauth_digest_cmp(mac, buf + body - MAC_SIZE))
		return errorf(err, errlen, -EACCES, "the state file's MAC does not match: it was modified, or signed "
						    "with another key");
	return 0;
}

size_t snapfile_zero_ranges(const struct snapfile *s, uint64_t zero_from, struct mem_range out[SNAPFILE_MAX_HOLES + 1])
{
	size_t n = s->nr_holes <= SNAPFILE_MAX_HOLES ? s->nr_holes : SNAPFILE_MAX_HOLES;

	memcpy(out, s->holes, n * sizeof(out[0]));
	if (zero_from && zero_from < s->mem.ram_size)
		out[n++] = (struct mem_range){ zero_from, s->mem.ram_size - zero_from };
	return n;
}

void snapfile_free(struct snapfile *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(s->config.drives); i++) {
		free(s->config.drives[i].path);
		free(s->config.drives[i].partuuid);
	}
	free(s->kvm);
	free(s->devices);
	free(s->digests);
	memset(s, 0, sizeof(*s));
}
