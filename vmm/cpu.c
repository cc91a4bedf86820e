/* x86 vCPU state at boot: CPUID (topology, hypervisor leaf, unemulated features removed),
 * MSRs, LAPIC LINT pins, FPU, and the registers of the boot vCPU for long mode or PVH. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "boot.h"
#include "log.h"
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

static int set_msrs(int fd)
{
	static const uint32_t zeroed[] = {
		0x174, 0x175, 0x176,             /* SYSENTER_CS/ESP/EIP */
		0xc0000081, 0xc0000082,          /* STAR, LSTAR */
		0xc0000083, 0xc0000084,          /* CSTAR, SYSCALL_MASK */
		0xc0000102,                      /* KERNEL_GS_BASE */
		0x10,                            /* TSC */
	};
	const size_t n = sizeof(zeroed) / sizeof(zeroed[0]) + 1;
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(struct kvm_msr_entry));
	int r;

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < n - 1; i++)
		m->entries[i].index = zeroed[i];
	m->entries[n - 1].index = 0x1a0; /* MISC_ENABLE */
	m->entries[n - 1].data = 1;      /* fast strings */
	m->nmsrs = (uint32_t)n;
	r = ioctl(fd, KVM_SET_MSRS, m);
	free(m);
	if (r < 0)
		return -errno;
	return r == (int)n ? 0 : -EINVAL;
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

int cpu_setup(struct vcpu *v, const struct kvm_cpuid2 *supported, const struct boot_entry *entry)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	struct kvm_sregs s;
	struct kvm_regs regs = { .rflags = 2 };
	int r;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, sz);
	r = cpu_filter_cpuid(c, v->id, v->vm->nr_vcpus);
	if (r == -ENOENT)
		log_warn("KVM offers no hypervisor CPUID leaf; the guest will not find kvmclock");
	r = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	if (r)
		return r;
	if ((r = set_msrs(v->fd)) || (r = set_lapic(v->fd)))
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
