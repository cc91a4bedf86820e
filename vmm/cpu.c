/* x86 vCPU state at boot: CPUID (topology, hypervisor leaf, unemulated features removed),
 * MSRs, LAPIC LINT pins, FPU, and the registers of the boot vCPU for long mode or PVH. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "boot.h"
#include "log.h"
#include "util.h"
#include "vm.h"

/* CPUID.1:ECX features we do not offer: monitor/mwait, debug store, VMX/SMX, thermal and
 * perf capabilities, xTPR. */
#define CPUID1_ECX_DROP ((1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | \
			 (1u << 8) | (1u << 14) | (1u << 15))
#define CPUID1_EDX_HTT (1u << 28)
#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define CPUID81_ECX_SVM (1u << 2)

static int bits_for(int n)
{
	int b = 0;

	while ((1 << b) < n)
		b++;
	return b;
}

int cpu_filter_cpuid(struct kvm_cpuid2 *c, int vcpu_id, int nr_vcpus)
{
	bool have_hv = false;

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 0x1:
			e->ebx = (e->ebx & 0x0000ffffu) | (uint32_t)vcpu_id << 24 | (uint32_t)nr_vcpus << 16;
			e->ecx &= ~CPUID1_ECX_DROP;
			e->ecx |= CPUID1_ECX_HYPERVISOR;
			if (nr_vcpus > 1)
				e->edx |= CPUID1_EDX_HTT;
			else
				e->edx &= ~CPUID1_EDX_HTT;
			break;
		case 0x4:
			/* Cores per package - 1, in bits 31:26. */
			e->eax = (e->eax & 0x03ffffffu) | (uint32_t)(nr_vcpus - 1) << 26;
			break;
		case 0x6:
			e->ecx &= ~(1u << 3); /* energy performance bias */
			break;
		case 0xa:
			/* No architectural PMU: guests must not program counters we do not virtualize. */
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0xb:
			/* Topology: one thread per core, nr_vcpus cores in one package. */
			e->edx = (uint32_t)vcpu_id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 1u << 8 | 0;
			} else if (e->index == 1) {
				e->eax = (uint32_t)bits_for(nr_vcpus);
				e->ebx = (uint32_t)nr_vcpus;
				e->ecx = 2u << 8 | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x40000000:
			have_hv = true;
			break;
		case 0x80000001:
			e->ecx &= ~CPUID81_ECX_SVM;
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xffu) | (uint32_t)(nr_vcpus - 1);
			break;
		default:
			break;
		}
	}
	/* KVM's supported list carries its own signature leaf; without it Linux would not use
	 * kvmclock and would fall back to slow, unemulated time sources. */
	return have_hv ? 0 : -ENOENT;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool l, bool db)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
		.dpl = 0, .db = db, .s = 1, .l = l, .g = 1,
	};
}

static void common_sregs(struct kvm_sregs *s, uint16_t cs, bool long_mode)
{
	seg(&s->cs, cs, 0xb, long_mode, !long_mode);
	seg(&s->ds, GDT_DATA, 0x3, false, true);
	s->es = s->fs = s->gs = s->ss = s->ds;
	s->tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .selector = GDT_TSS, .type = 0xb,
				      .present = 1, .s = 0 };
	s->gdt.base = BOOT_GDT_ADDR;
	s->gdt.limit = GDT_ENTRIES * 8 - 1;
	s->idt.base = 0;
	s->idt.limit = 0;
}

void cpu_long_mode_sregs(struct kvm_sregs *s)
{
	common_sregs(s, GDT_CODE64, true);
	s->cr3 = BOOT_PML4_ADDR;
	s->cr4 |= 1u << 5;                  /* PAE */
	s->cr0 |= 1u << 0 | 1u << 31;       /* PE, PG */
	s->cr0 &= ~(1u << 30 | 1u << 29);   /* caches on */
	s->efer |= 1u << 8 | 1u << 10;      /* LME, LMA */
}

/* PVH: 32-bit protected mode, paging off, flat segments (xen/include/public/arch-x86/hvm/start_info.h). */
void cpu_pvh_sregs(struct kvm_sregs *s)
{
	common_sregs(s, GDT_CODE32, false);
	s->cr0 = (s->cr0 | 1u << 0) & ~(1u << 31 | 1u << 30 | 1u << 29);
	s->cr4 = 0;
	s->efer = 0;
}

/* Every MSR kindling sets at boot or carries in a snapshot, in the order KVM_SET_MSRS must
 * apply them: the TSC before TSC_DEADLINE (a deadline is relative to the TSC it is set
 * against) and before the kvmclock MSRs. Restoring accepts only these indices. */
static const struct cpu_msr {
	uint32_t index;
	bool at_boot;  /* written at boot, with `boot` */
	uint64_t boot;
} cpu_msrs[] = {
	{ 0x10, true, 0 },                 /* TSC */
	{ 0x174, true, 0 },                /* SYSENTER_CS */
	{ 0x175, true, 0 },                /* SYSENTER_ESP */
	{ 0x176, true, 0 },                /* SYSENTER_EIP */
	{ 0xc0000081, true, 0 },           /* STAR */
	{ 0xc0000082, true, 0 },           /* LSTAR */
	{ 0xc0000083, true, 0 },           /* CSTAR */
	{ 0xc0000084, true, 0 },           /* SYSCALL_MASK */
	{ 0xc0000102, true, 0 },           /* KERNEL_GS_BASE */
	{ 0x1a0, true, 1 },                /* MISC_ENABLE: fast strings */
	{ 0xc0000103, false, 0 },          /* TSC_AUX */
	{ 0x277, false, 0 },               /* PAT */
	{ 0x2ff, false, 0 },               /* MTRR default type */
	{ 0x200, false, 0 }, { 0x201, false, 0 }, { 0x202, false, 0 }, { 0x203, false, 0 }, /* MTRR variable */
	{ 0x204, false, 0 }, { 0x205, false, 0 }, { 0x206, false, 0 }, { 0x207, false, 0 },
	{ 0x208, false, 0 }, { 0x209, false, 0 }, { 0x20a, false, 0 }, { 0x20b, false, 0 },
	{ 0x20c, false, 0 }, { 0x20d, false, 0 }, { 0x20e, false, 0 }, { 0x20f, false, 0 },
	{ 0x250, false, 0 }, { 0x258, false, 0 }, { 0x259, false, 0 }, /* MTRR fixed */
	{ 0x268, false, 0 }, { 0x269, false, 0 }, { 0x26a, false, 0 }, { 0x26b, false, 0 },
	{ 0x26c, false, 0 }, { 0x26d, false, 0 }, { 0x26e, false, 0 }, { 0x26f, false, 0 },
	{ 0x48, false, 0 },                /* SPEC_CTRL */
	{ 0x6e0, false, 0 },               /* TSC_DEADLINE: after the TSC */
	{ 0x4b564d00, false, 0 },          /* KVM wall clock */
	{ 0x4b564d01, false, 0 },          /* KVM system time (kvmclock) */
	{ 0x4b564d02, false, 0 },          /* KVM async page faults */
	{ 0x4b564d03, false, 0 },          /* KVM steal time */
	{ 0x4b564d04, false, 0 },          /* KVM PV EOI */
	{ 0x4b564d05, false, 0 },          /* KVM poll control */
	{ 0x4b564d06, false, 0 },          /* KVM async page fault vector */
};
_Static_assert(ARRAY_SIZE(cpu_msrs) <= CPU_MAX_MSRS, "the MSR table fits a saved vCPU");

static int set_msrs(int fd, const struct kvm_msr_entry *e, uint32_t n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(*e));
	int r;

	if (!m)
		return -ENOMEM;
	memcpy(m->entries, e, n * sizeof(*e));
	m->nmsrs = n;
	r = ioctl(fd, KVM_SET_MSRS, m);
	r = r < 0 ? -errno : r == (int)n ? 0 : -EINVAL;
	free(m);
	return r;
}

static int set_boot_msrs(int fd)
{
	struct kvm_msr_entry e[ARRAY_SIZE(cpu_msrs)];
	uint32_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(cpu_msrs); i++) {
		if (cpu_msrs[i].at_boot)
			e[n++] = (struct kvm_msr_entry){ .index = cpu_msrs[i].index, .data = cpu_msrs[i].boot };
	}
	return set_msrs(fd, e, n);
}

static int set_lapic(int fd)
{
	struct kvm_lapic_state l;
	uint32_t v;

	if (ioctl(fd, KVM_GET_LAPIC, &l) < 0)
		return -errno;
	/* LINT0: ExtINT (the 8259 PIC's output), LINT1: NMI; as a BIOS leaves them. */
	memcpy(&v, &l.regs[0x350], 4);
	v = (v & ~0x700u) | 0x700u;
	memcpy(&l.regs[0x350], &v, 4);
	memcpy(&v, &l.regs[0x360], 4);
	v = (v & ~0x700u) | 0x400u;
	memcpy(&l.regs[0x360], &v, 4);
	return ioctl(fd, KVM_SET_LAPIC, &l) < 0 ? -errno : 0;
}

int cpu_set_cpuid(struct vcpu *v, const struct kvm_cpuid2 *supported)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	int r;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, sz);
	r = cpu_filter_cpuid(c, v->id, v->vm->nr_vcpus);
	if (r == -ENOENT && v->id == 0)
		log_warn("KVM offers no hypervisor CPUID leaf; the guest will not find kvmclock");
	r = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	return r;
}

int cpu_boot(struct vcpu *v, const struct boot_entry *entry)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	struct kvm_sregs s;
	struct kvm_regs regs = { .rflags = 2 };
	int r;

	if ((r = set_boot_msrs(v->fd)) || (r = set_lapic(v->fd)))
		return r;
	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	if (v->id != 0)
		return 0; /* APs wait for INIT/SIPI from the BSP; the in-kernel LAPIC handles it. */

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	if (entry->protocol == BOOT_PVH)
		cpu_pvh_sregs(&s);
	else
		cpu_long_mode_sregs(&s);
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		return -errno;
	regs.rip = entry->rip;
	regs.rsi = entry->rsi;
	regs.rbx = entry->rbx;
	regs.rsp = regs.rbp = BOOT_STACK_ADDR;
	return ioctl(v->fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}

int cpu_msrs_to_save(int kvm_fd, uint32_t *out, uint32_t *nr_out)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	uint32_t n = 0;

	/* The first call fails with E2BIG and says how many there are. */
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	if (!list)
		return -ENOMEM;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		int e = errno;

		free(list);
		return -e;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cpu_msrs); i++) {
		for (uint32_t j = 0; j < list->nmsrs; j++) {
			if (list->indices[j] == cpu_msrs[i].index) {
				out[n++] = cpu_msrs[i].index;
				break;
			}
		}
	}
	free(list);
	*nr_out = n;
	return 0;
}

bool cpu_msr_known(uint32_t index)
{
	for (size_t i = 0; i < ARRAY_SIZE(cpu_msrs); i++) {
		if (cpu_msrs[i].index == index)
			return true;
	}
	return false;
}

/* -EINVAL unless every index is in cpu_msrs, in the table's order, at most once. */
static int check_msr_order(const struct kvm_msr_entry *e, uint32_t n)
{
	size_t t = 0;

	for (uint32_t i = 0; i < n; i++) {
		while (t < ARRAY_SIZE(cpu_msrs) && cpu_msrs[t].index != e[i].index)
			t++;
		if (t == ARRAY_SIZE(cpu_msrs))
			return -EINVAL;
		t++;
	}
	return 0;
}

uint64_t cpu_saved_tsc(const struct cpu_state *st)
{
	for (uint32_t i = 0; i < st->nr_msrs && i < CPU_MAX_MSRS; i++) {
		if (st->msrs[i].index == 0x10)
			return st->msrs[i].data;
	}
	return 0;
}

int cpu_save(struct vcpu *v, const uint32_t *msrs, uint32_t nr_msrs, struct cpu_state *st, char *err, size_t errlen)
{
	struct kvm_msrs *m;
	int fd = v->fd, r;

	memset(st, 0, sizeof(*st));
	if (nr_msrs > CPU_MAX_MSRS)
		return errorf(err, errlen, -EINVAL, "vCPU %d: %u MSRs to save, at most %d", v->id, nr_msrs, CPU_MAX_MSRS);
	/* mp_state first and the events last, as KVM's documentation and Firecracker order
	 * them: the events hold what is pending at the instant of the save. */
	if (ioctl(fd, KVM_GET_MP_STATE, &st->mp_state) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_GET_MP_STATE: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_GET_REGS, &st->regs) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_GET_REGS: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_GET_SREGS, &st->sregs) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_GET_SREGS: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_GET_XSAVE, &st->xsave) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_GET_XSAVE: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_GET_XCRS, &st->xcrs) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_GET_XCRS: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_GET_DEBUGREGS, &st->debugregs) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_GET_DEBUGREGS: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_GET_LAPIC, &st->lapic) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_GET_LAPIC: %s", v->id, strerror(errno));
	r = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	if (r < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_GET_TSC_KHZ: %s", v->id, strerror(errno));
	st->tsc_khz = (uint32_t)r;
	m = calloc(1, sizeof(*m) + nr_msrs * sizeof(m->entries[0]));
	if (!m)
		return errorf(err, errlen, -ENOMEM, "out of memory");
	m->nmsrs = nr_msrs;
	for (uint32_t i = 0; i < nr_msrs; i++)
		m->entries[i].index = msrs[i];
	r = ioctl(fd, KVM_GET_MSRS, m);
	if (r != (int)nr_msrs) {
		int e = r < 0 ? errno : EINVAL;

		free(m);
		return errorf(err, errlen, -e, "vCPU %d: KVM_GET_MSRS read %d of %u: %s", v->id, r, nr_msrs,
			      strerror(e));
	}
	memcpy(st->msrs, m->entries, nr_msrs * sizeof(m->entries[0]));
	st->nr_msrs = nr_msrs;
	free(m);
	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &st->events) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_GET_VCPU_EVENTS: %s", v->id, strerror(errno));
	return 0;
}

static int read_tsc(int fd, uint64_t *tsc)
{
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e;
	} q = { .m.nmsrs = 1, .e.index = 0x10 };

	if (ioctl(fd, KVM_GET_MSRS, &q) != 1)
		return -EIO;
	*tsc = q.e.data;
	return 0;
}

/* Gives the vCPU the guest TSC t->value through its TSC offset (KVM_VCPU_TSC_OFFSET, Linux
 * 5.16+): the TSC MSR alone is not enough, as KVM takes a host write close to what it
 * expects (within a second of the TSC's last write, so a snapshot taken early) as an
 * attempt to synchronize vCPUs and keeps the old offset, and the guest's TSC would jump
 * backwards. The first vCPU finds the offset; the others take the same one, so every vCPU
 * counts from the same instant (an offset found anew for each would put each later vCPU
 * behind by the time between the two). Returns -ENOTTY when KVM lacks the attribute. */
static int set_tsc(int fd, struct cpu_tsc *t)
{
	uint64_t off = 0, now;
	struct kvm_device_attr a = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
				     .addr = (uint64_t)(uintptr_t)&off };
	int r;

	if (ioctl(fd, KVM_HAS_DEVICE_ATTR, &a) < 0)
		return -ENOTTY;
	if (!t->have_offset) {
		/* With offset 0 the TSC reads the host's (scaled to the guest's frequency). */
		if (ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0)
			return -errno;
		if ((r = read_tsc(fd, &now)))
			return r;
		t->offset = t->value - now;
		t->have_offset = true;
	}
	off = t->offset;
	return ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

int cpu_restore(struct vcpu *v, const struct cpu_state *st, struct cpu_tsc *tsc, char *err, size_t errlen)
{
	struct kvm_msr_entry msrs[CPU_MAX_MSRS];
	uint32_t nr_msrs = 0;
	bool tsc_set;
	int fd = v->fd, r;

	if (st->nr_msrs > CPU_MAX_MSRS || check_msr_order(st->msrs, st->nr_msrs))
		return errorf(err, errlen, -EINVAL, "vCPU %d: the saved MSR list is not one kindling writes", v->id);
	/* The TSC frequency first: the saved TSC values count at it. */
	if (st->tsc_khz) {
		r = ioctl(fd, KVM_GET_TSC_KHZ, 0);
		if (r != (int)st->tsc_khz && ioctl(fd, KVM_SET_TSC_KHZ, st->tsc_khz) < 0)
			return errorf(err, errlen, -errno, "vCPU %d: cannot set the TSC to the saved %u kHz: %s", v->id,
				      st->tsc_khz, strerror(errno));
	}
	/* KVM's order (as Firecracker restores): mp_state, regs, sregs (APIC base), xsave, xcrs,
	 * debug registers, LAPIC, MSRs (TSC_DEADLINE needs the LAPIC in deadline mode), events
	 * last. */
	if (ioctl(fd, KVM_SET_MP_STATE, &st->mp_state) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_SET_MP_STATE: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_SET_REGS, &st->regs) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_SET_REGS: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_SET_SREGS, &st->sregs) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_SET_SREGS: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_SET_XSAVE, &st->xsave) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_SET_XSAVE: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_SET_XCRS, &st->xcrs) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_SET_XCRS: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_SET_DEBUGREGS, &st->debugregs) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_SET_DEBUGREGS: %s", v->id, strerror(errno));
	if (ioctl(fd, KVM_SET_LAPIC, &st->lapic) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_SET_LAPIC: %s", v->id, strerror(errno));
	/* The TSC before the MSRs that count in it (TSC_DEADLINE). */
	r = set_tsc(fd, tsc);
	if (r && r != -ENOTTY)
		return errorf(err, errlen, r, "vCPU %d: KVM_VCPU_TSC_OFFSET: %s", v->id, strerror(-r));
	tsc_set = !r;
	for (uint32_t i = 0; i < st->nr_msrs; i++) {
		if (st->msrs[i].index != 0x10 || !tsc_set)
			msrs[nr_msrs++] = st->msrs[i];
	}
	r = set_msrs(fd, msrs, nr_msrs);
	if (r)
		return errorf(err, errlen, r, "vCPU %d: KVM_SET_MSRS: %s", v->id, strerror(-r));
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &st->events) < 0)
		return errorf(err, errlen, -errno, "vCPU %d: KVM_SET_VCPU_EVENTS: %s", v->id, strerror(errno));
	/* Tell the guest's kvmclock it was paused, so its watchdogs do not fire (ignored
	 * when the guest does not use kvmclock). */
	if (ioctl(fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		log_debug("vCPU %d: KVM_KVMCLOCK_CTRL: %s", v->id, strerror(errno));
	return 0;
}
