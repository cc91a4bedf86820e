/* VM lifetime: /dev/kvm and its capabilities, the VM fd, irqchip, PIT, RAM slots, vCPUs. */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_HLT, "KVM_CAP_HLT" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_PIT_STATE2, "KVM_CAP_PIT_STATE2" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
	{ KVM_CAP_XSAVE, "KVM_CAP_XSAVE" },
	{ KVM_CAP_XCRS, "KVM_CAP_XCRS" },
	{ KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK" },
};


/* vm_prepare's VM: its thread, then the fds it made (-1: none). Taken once, under lock. */
static struct {
	pthread_mutex_t lock;
	pthread_t thread;
	bool started;
	int kvm_fd, vm_fd;
	struct kvm_cpuid2 *cpuid; /* for KVM_GET_SUPPORTED_CPUID's answer, or NULL */
	bool cpuid_failed;
	uint8_t *regs; /* map_regs' pages, or NULL */
	uint64_t took_ns;
} prepared = { .lock = PTHREAD_MUTEX_INITIALIZER, .kvm_fd = -1, .vm_fd = -1 };

#define PREPARED_CPUID_ENTRIES 128

static uint8_t *map_regs(int vm_fd);

static void *prepare_thread(void *arg)
{
	uint64_t t0 = now_ns();

	(void)arg;
	prepared.kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (prepared.kvm_fd >= 0 && ioctl(prepared.kvm_fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION) {
		prepared.vm_fd = ioctl(prepared.kvm_fd, KVM_CREATE_VM, 0);
		/* Into vm_prepare's buffer: a thread's first malloc would give the process another
		 * arena. Too small (E2BIG) or failed: vm_create asks again. */
		if (prepared.vm_fd >= 0 && prepared.cpuid &&
		    ioctl(prepared.kvm_fd, KVM_GET_SUPPORTED_CPUID, prepared.cpuid) < 0)
			prepared.cpuid_failed = true;
		if (prepared.vm_fd >= 0)
			prepared.regs = map_regs(prepared.vm_fd);
	}
	prepared.took_ns = now_ns() - t0;
	return NULL;
}

void vm_prepare(void)
{
	sigset_t all, old;
	pthread_attr_t a;

	pthread_mutex_lock(&prepared.lock);
	if (!prepared.started && !pthread_attr_init(&a)) {
		/* A few system calls: a small stack does. */
		pthread_attr_setstacksize(&a, 64 * 1024);
		prepared.cpuid = calloc(1, sizeof(*prepared.cpuid) +
						   PREPARED_CPUID_ENTRIES * sizeof(prepared.cpuid->entries[0]));
		if (prepared.cpuid)
			prepared.cpuid->nent = PREPARED_CPUID_ENTRIES;
		prepared.cpuid_failed = false;
		/* Every signal blocked in it: one sent to the VMM (SIGTERM, SIGUSR1) must reach the
		 * signalfd the main thread sets up next, never this thread's default action. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		prepared.started = !pthread_create(&prepared.thread, &a, prepare_thread, NULL);
		if (!prepared.started) {
			free(prepared.cpuid);
			prepared.cpuid = NULL;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&a);
	}
	pthread_mutex_unlock(&prepared.lock);
}

/* vm_prepare's VM, waited for: 0 with both fds and *cpuid KVM's supported CPUID (NULL when
 * it could not be had ahead), or -1 (none made, or already taken; what it did make is
 * closed and freed). */
static int take_prepared(int *kvm_fd, int *vm_fd, struct kvm_cpuid2 **cpuid, uint8_t **regs)
{
	int r = -1;

	pthread_mutex_lock(&prepared.lock);
	if (prepared.started) {
		pthread_join(prepared.thread, NULL);
		prepared.started = false;
		if (prepared.vm_fd >= 0) {
			*kvm_fd = prepared.kvm_fd;
			*vm_fd = prepared.vm_fd;
			*regs = prepared.regs;
			if (prepared.cpuid_failed)
				free(prepared.cpuid);
			else
				*cpuid = prepared.cpuid;
			log_debug("kvm: the VM made ahead took %.3f ms", (double)prepared.took_ns / 1e6);
			r = 0;
		} else {
			if (prepared.kvm_fd >= 0)
				close(prepared.kvm_fd);
			free(prepared.cpuid);
		}
		prepared.kvm_fd = prepared.vm_fd = -1;
		prepared.cpuid = NULL;
		prepared.regs = NULL;
	}
	pthread_mutex_unlock(&prepared.lock);
	return r;
}

static int get_supported_cpuid(struct vm *vm)
{
	for (uint32_t n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			vm->cpuid = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return -errno;
	}
	return -E2BIG;
}

/* The device windows as one read-only slot (vm.h), made before the irqchip: a memory slot
 * made after it takes milliseconds on this project's host (vm_create says more), and made
 * with the VM ahead (vm_prepare) it is not on a restore's path at all. Without it every
 * register access exits, as before: slower, not wrong, so a failure only costs that. */
static uint8_t *map_regs(int vm_fd)
{
	size_t size = VM_DEVICE_REGS_SIZE;
	struct kvm_userspace_memory_region region = {
		.slot = VM_REGS_SLOT,
		.flags = KVM_MEM_READONLY,
		.guest_phys_addr = VM_MMIO_BASE,
		.memory_size = size,
	};
	void *p;

	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	region.userspace_addr = (uint64_t)(uintptr_t)p;
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		munmap(p, size);
		return NULL;
	}
	return p;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int r, max_vcpus;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = -1;
	vm->cfg = *cfg;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");

	if (cfg->nr_vcpus < 1 || cfg->nr_vcpus > VM_MAX_VCPUS)
		return errorf(err, errlen, -EINVAL, "vCPU count %d is outside 1..%d", cfg->nr_vcpus, VM_MAX_VCPUS);
	if (take_prepared(&vm->kvm_fd, &vm->vm_fd, &vm->cpuid, &vm->regs))
		vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return errorf(err, errlen, -errno, "cannot open /dev/kvm: %s", strerror(errno));
	r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION)
		return errorf(err, errlen, -ENOTSUP, "KVM API version %d, need %d", r, KVM_API_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0)
			return errorf(err, errlen, -ENOTSUP, "KVM lacks a capability kindling needs: %s",
				    required_caps[i].name);
	}
	max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus > 0 && cfg->nr_vcpus > max_vcpus)
		return errorf(err, errlen, -EINVAL, "KVM allows at most %d vCPUs", max_vcpus);
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size < (int)sizeof(struct kvm_run))
		return errorf(err, errlen, -EINVAL, "KVM_GET_VCPU_MMAP_SIZE failed");
	r = vm->cpuid ? 0 : get_supported_cpuid(vm);
	if (r)
		return errorf(err, errlen, r, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
	/* KVM emulates the LAPIC's TSC-deadline mode but leaves the CPUID bit (1:ECX[24]) out of
	 * its supported list (Documentation/virt/kvm/api.rst). Without it Linux spends 100 ms
	 * of boot calibrating the LAPIC timer against PIT ticks (calibrate_APIC_clock). */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0) {
		for (uint32_t i = 0; i < vm->cpuid->nent; i++) {
			if (vm->cpuid->entries[i].function == 1)
				vm->cpuid->entries[i].ecx |= 1u << 24;
		}
	}

	if (vm->vm_fd < 0) {
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
		if (vm->vm_fd >= 0)
			vm->regs = map_regs(vm->vm_fd);
	}
	if (vm->vm_fd < 0)
		return errorf(err, errlen, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	setuptime_mark(cfg->setup, SETUP_KVM);
	if (cfg->mem_from_fd) {
		r = mem_map_fd(&vm->mem, cfg->mem_size, cfg->mem_fd, cfg->mem_private, cfg->mem_zero,
			       cfg->mem_nr_zero);
		if (!r && cfg->mem_small_pages)
			mem_small_pages(&vm->mem, cfg->mem_zero, cfg->mem_nr_zero);
	} else {
		r = mem_create(&vm->mem, cfg->mem_size);
	}
	if (r)
		return errorf(err, errlen, r, "cannot allocate %llu MiB of guest RAM: %s",
			    (unsigned long long)(cfg->mem_size >> 20), strerror(-r));
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		struct kvm_userspace_memory_region region = {
			.slot = (uint32_t)i,
			.guest_phys_addr = vm->mem.region[i].gpa,
			.memory_size = vm->mem.region[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)vm->mem.region[i].host,
			.flags = cfg->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			return errorf(err, errlen, -errno, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	}
	if (cfg->dirty_log && (r = mem_track_dirty(&vm->mem)))
		return errorf(err, errlen, r, "out of memory");
	setuptime_mark(cfg->setup, SETUP_MEM);
	/* The RAM first: KVM_SET_USER_MEMORY_REGION made after KVM_CREATE_IRQCHIP and
	 * KVM_CREATE_PIT2 (which add devices to the VM's I/O buses) took 4.7-6.4 ms on this
	 * project's host (Linux 6.18, a nested PVM), against 0.1 ms before them: a restore's
	 * time went from 8 ms to 1.1. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, VM_TSS_ADDR) < 0)
		return errorf(err, errlen, -errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	{
		uint64_t idmap = VM_IDENTITY_MAP_ADDR;

		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
			return errorf(err, errlen, -errno, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return errorf(err, errlen, -errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return errorf(err, errlen, -errno, "KVM_CREATE_PIT2: %s", strerror(errno));
	setuptime_mark(cfg->setup, SETUP_IRQCHIP);
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return errorf(err, errlen, -errno, "eventfd: %s", strerror(errno));
	return 0;
}

uint8_t *vm_device_regs(struct vm *vm, uint64_t gpa)
{
	if (!vm->regs || gpa < VM_MMIO_BASE || gpa >= VM_MMIO_BASE + VM_DEVICE_REGS_SIZE || gpa % VM_DEVICE_WINDOW)
		return NULL;
	return vm->regs + (gpa - VM_MMIO_BASE);
}

int vm_create_vcpus(struct vm *vm, char *err, size_t errlen)
{
	vm->nr_vcpus = vm->cfg.nr_vcpus;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		int r;

		v->vm = vm;
		v->id = i;
		v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, i);
		if (v->fd < 0) {
			v->fd = -1;
			return errorf(err, errlen, -errno, "KVM_CREATE_VCPU %d: %s", i, strerror(errno));
		}
		v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			return errorf(err, errlen, -errno, "mmap of vCPU %d run area: %s", i, strerror(errno));
		}
		r = cpu_set_cpuid(v, vm->cpuid);
		if (r)
			return errorf(err, errlen, r, "vCPU %d: KVM_SET_CPUID2: %s", i, strerror(-r));
	}
	return 0;
}

int vm_boot_vcpus(struct vm *vm, const struct boot_entry *entry, char *err, size_t errlen)
{
	for (int i = 0; i < vm->nr_vcpus; i++) {
		int r = cpu_boot(&vm->vcpus[i], entry);

		if (r)
			return errorf(err, errlen, r, "setting up vCPU %d: %s", i, strerror(-r));
	}
	return 0;
}

int vm_take_dirty(struct vm *vm, uint64_t *bitmap, char *err, size_t errlen)
{
	size_t first = 0; /* the region's first page in mapping order */

	if (!vm->cfg.dirty_log)
		return errorf(err, errlen, -EINVAL, "dirty pages are not tracked");
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		/* Regions are MiB multiples, so each starts on a 64-page word of bitmap. */
		struct kvm_dirty_log log = { .slot = (uint32_t)i };
		size_t words = (size_t)(vm->mem.region[i].size / 4096 + 63) / 64;
		uint64_t *tmp = calloc(words, sizeof(uint64_t));

		if (!tmp)
			return errorf(err, errlen, -ENOMEM, "out of memory");
		log.dirty_bitmap = tmp;
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
			int e = errno;

			free(tmp);
			return errorf_errno(err, errlen, e, "KVM_GET_DIRTY_LOG");
		}
		for (size_t w = 0; w < words; w++)
			bitmap[first / 64 + w] |= tmp[w];
		free(tmp);
		first += vm->mem.region[i].size / 4096;
	}
	mem_take_dirty(&vm->mem, bitmap);
	return 0;
}

int vm_save_kvm(struct vm *vm, struct vm_kvm_state *st, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	st->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	st->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &st->pic_master) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &st->pic_slave) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &st->ioapic) < 0)
		return errorf(err, errlen, -errno, "KVM_GET_IRQCHIP: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &st->pit) < 0)
		return errorf(err, errlen, -errno, "KVM_GET_PIT2: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &st->clock) < 0)
		return errorf(err, errlen, -errno, "KVM_GET_CLOCK: %s", strerror(errno));
	return 0;
}

int vm_restore_kvm(struct vm *vm, const struct vm_kvm_state *st, char *err, size_t errlen)
{
	struct kvm_clock_data clock = st->clock;
	struct kvm_irqchip chip;

	if (st->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER || st->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    st->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return errorf(err, errlen, -EINVAL, "the saved interrupt controllers are not a PIC pair and an IOAPIC");
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &st->pit) < 0)
		return errorf(err, errlen, -errno, "KVM_SET_PIT2: %s", strerror(errno));
	/* Only the clock value goes back: the flags describe the saving host's clock, and
	 * KVM_SET_CLOCK refuses TSC_STABLE (as Firecracker clears it). */
	clock.flags = 0;
	clock.realtime = clock.host_tsc = 0;
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return errorf(err, errlen, -errno, "KVM_SET_CLOCK: %s", strerror(errno));
	chip = st->pic_master;
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return errorf(err, errlen, -errno, "KVM_SET_IRQCHIP (PIC master): %s", strerror(errno));
	chip = st->pic_slave;
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return errorf(err, errlen, -errno, "KVM_SET_IRQCHIP (PIC slave): %s", strerror(errno));
	chip = st->ioapic;
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return errorf(err, errlen, -errno, "KVM_SET_IRQCHIP (IOAPIC): %s", strerror(errno));
	return 0;
}

void vm_stop(struct vm *vm, int status, const char *fmt, ...)
{
	int expected = 0;
	uint64_t one = 1;
	va_list ap;

	if (!__atomic_compare_exchange_n(&vm->stopping, &expected, 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	vm->exit_status = status;
	va_start(ap, fmt);
	vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
	va_end(ap);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->run)
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		vcpu_kick(v);
	}
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	if (write(vm->stop_efd, &one, sizeof(one)) < 0)
		log_debug("stop eventfd write failed: %s", strerror(errno));
}

void vm_join(struct vm *vm)
{
	for (int i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].started) {
			__atomic_store_n(&vm->vcpus[i].kickable, false, __ATOMIC_SEQ_CST);
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].started = false;
		}
	}
}

/* Lines 0-4 belong to the timer, keyboard, cascade and COM ports; 5-23 are Firecracker's
 * 19 device lines (there is no RTC on 8). */
static const int device_irqs[] = { 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23 };
_Static_assert(ARRAY_SIZE(device_irqs) == VM_DEVICE_WINDOWS, "a register window per device line");
_Static_assert(MEM_MAX_REGIONS <= VM_REGS_SLOT, "the register slot is not a RAM slot");

int vm_alloc_device(struct vm *vm, uint64_t size, uint64_t *addr, int *irq)
{
	uint64_t base = vm->next_mmio ? vm->next_mmio : VM_MMIO_BASE;

	size = (size + 0xfff) & ~0xfffull;
	if (vm->next_irq_index >= (int)(ARRAY_SIZE(device_irqs)))
		return -ENOSPC;
	if (size == 0 || size > VM_MMIO_END - base)
		return -ENOSPC;
	*addr = base;
	*irq = device_irqs[vm->next_irq_index++];
	vm->next_mmio = base + size;
	return 0;
}

int vm_cmdline_append(struct vm *vm, const char *fmt, ...)
{
	size_t used = strlen(vm->cmdline_extra);
	va_list ap;
	int n;

	if (used + 2 > sizeof(vm->cmdline_extra))
		return -E2BIG;
	vm->cmdline_extra[used++] = ' ';
	va_start(ap, fmt);
	n = vsnprintf(vm->cmdline_extra + used, sizeof(vm->cmdline_extra) - used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(vm->cmdline_extra) - used) {
		vm->cmdline_extra[used - 1] = 0;
		return -E2BIG;
	}
	return 0;
}

void vm_irq_line(struct vm *vm, int irq, int level)
{
	struct kvm_irq_level l = { .irq = (uint32_t)irq, .level = (uint32_t)level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		log_debug("KVM_IRQ_LINE %d: %s", irq, strerror(errno));
}

void vm_destroy(struct vm *vm)
{
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->run)
			munmap(v->run, (size_t)vm->run_size);
		if (v->fd >= 0)
			close(v->fd);
	}
	vm->nr_vcpus = 0;
	mem_destroy(&vm->mem);
	if (vm->regs)
		munmap(vm->regs, VM_DEVICE_REGS_SIZE);
	vm->regs = NULL;
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	free(vm->cpuid);
	vm->cpuid = NULL;
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->stop_efd = vm->vm_fd = vm->kvm_fd = -1;
}
