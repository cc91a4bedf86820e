/* The VM lifecycle on a real /dev/kvm (run by tests/kvm/host.sh, so in the lab as well):
 *   kvm-state create                  vmm_create() with no boot: a VM ready for a restore
 *   kvm-state roundtrip KERNEL        boot, save; restore into a fresh VM, save again: the same state
 *   kvm-state restore-run KERNEL N    boot with N vCPUs, save before running; restore into a fresh
 *                                     VM over the same RAM and run it: the guest's output on stdout
 *   kvm-state snap-create KERNEL N MS STATE MEM
 *                                     boot, run MS milliseconds, pause, snapshot to STATE and MEM
 *   kvm-state snap-chain KERNEL N MS FULL_STATE FULL_MEM DIFF_STATE DIFF_MEM
 *                                     the same with dirty pages tracked: a Full snapshot after MS,
 *                                     then it runs on MS more and a Diff goes on top of it
 *   kvm-state snap-load STATE MEM [paused]
 *                                     load the snapshot and run it to its end (paused: load it
 *                                     paused, check it stays so for 200 ms, then resume)
 * Exit status 0 when the checks pass; the reason on stderr otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "snapshot.h"
#include "vmm.h"

static struct vmm vmm;
static char err[512];
/* The devices' state (device_list_save), saved with the KVM state. */
static uint8_t *dev_blob;
static size_t dev_len;

static int fail(const char *what)
{
	fprintf(stderr, "kvm-state: %s: %s\n", what, err);
	return 1;
}

static void config(struct vmm_config *c, const char *kernel, int vcpus)
{
	config_init(c);
	c->kernel_path = kernel ? strdup(kernel) : NULL;
	c->vcpu_count = vcpus;
	c->mem_size_mib = 64;
}

static int init(void)
{
	memset(&vmm, 0, sizeof(vmm));
	vmm.seccomp = false;
	return vmm_init(&vmm, err, sizeof(err));
}

/* Boots kernel over RAM in memfd ram and saves the state before any vCPU ran. */
static int boot_and_save(const struct vmm_config *c, int ram, struct vmm_kvm_state *st)
{
	struct vmm_ram r = { .fd = ram, .private = false };
	struct vmm_boot_files f;

	if (init())
		return fail("vmm_init");
	if (vmm_open_boot_files(c, &f, err, sizeof(err)))
		return fail("open");
	if (vmm_create(&vmm, c, &r, err, sizeof(err)) || vmm_boot(&vmm, c, &f, err, sizeof(err)))
		return fail("create and boot");
	vmm_close_boot_files(&f);
	if (vmm_save(&vmm, st, err, sizeof(err)))
		return fail("save");
	dev_len = device_list_save_size(&vmm.devices);
	dev_blob = malloc(dev_len);
	if (!dev_blob || device_list_save(&vmm.devices, dev_blob, dev_len)) {
		snprintf(err, sizeof(err), "%zu bytes", dev_len);
		return fail("device_list_save");
	}
	vmm_destroy(&vmm);
	return 0;
}

static int restore(const struct vmm_config *c, int ram, const struct vmm_kvm_state *st)
{
	struct vmm_ram r = { .fd = ram, .private = true };

	if (init())
		return fail("vmm_init");
	if (vmm_create(&vmm, c, &r, err, sizeof(err)))
		return fail("create");
	if (vmm_restore(&vmm, st, dev_blob, dev_len, err, sizeof(err)))
		return fail("restore");
	return 0;
}

static int create_only(void)
{
	struct vmm_config c;

	config(&c, NULL, 2);
	if (init() || vmm_create(&vmm, &c, NULL, err, sizeof(err)))
		return fail("create");
	if (!vmm.created || vmm.built || vmm.vm.nr_vcpus != 2 || vmm.vm.vcpus[1].fd < 0 ||
	    vmm.vm.mem.ram_size != 64u << 20) {
		fprintf(stderr, "kvm-state: created=%d built=%d vcpus=%d\n", vmm.created, vmm.built, vmm.vm.nr_vcpus);
		return 1;
	}
	/* Created, not booted: the BSP's registers are KVM's reset state, not a boot entry. */
	struct kvm_regs regs;
	if (ioctl(vmm.vm.vcpus[0].fd, KVM_GET_REGS, &regs) < 0 || regs.rip != 0xfff0) {
		fprintf(stderr, "kvm-state: rip 0x%llx, want the reset vector 0xfff0\n", (unsigned long long)regs.rip);
		return 1;
	}
	/* A second create on the same VMM is refused. */
	if (vmm_create(&vmm, &c, NULL, err, sizeof(err)) != -EBUSY) {
		fprintf(stderr, "kvm-state: a second vmm_create was not refused\n");
		return 1;
	}
	vmm_destroy(&vmm);
	config_free(&c);
	return 0;
}

#define SAME(field) (memcmp(&a->field, &b->field, sizeof(a->field)) == 0)

/* Everything that does not move with time must come back exactly. */
static int compare(const struct vmm_kvm_state *a, const struct vmm_kvm_state *b)
{
	const char *diff = NULL;

	if (a->nr_cpus != b->nr_cpus)
		diff = "vCPU count";
	else if (!SAME(kvm.pic_master) || !SAME(kvm.pic_slave))
		diff = "PIC";
	else if (!SAME(kvm.ioapic))
		diff = "IOAPIC";
	else if (b->kvm.clock.clock < a->kvm.clock.clock)
		diff = "kvmclock went backwards";
	for (int i = 0; !diff && i < a->nr_cpus; i++) {
		const struct cpu_state *x = &a->cpus[i], *y = &b->cpus[i];

		if (memcmp(&x->regs, &y->regs, sizeof(x->regs)))
			diff = "regs";
		else if (memcmp(&x->sregs, &y->sregs, sizeof(x->sregs)))
			diff = "sregs";
		else if (memcmp(&x->xsave, &y->xsave, sizeof(x->xsave)))
			diff = "xsave";
		else if (memcmp(&x->xcrs, &y->xcrs, sizeof(x->xcrs)))
			diff = "xcrs";
		else if (memcmp(&x->debugregs, &y->debugregs, sizeof(x->debugregs)))
			diff = "debug registers";
		else if (memcmp(&x->lapic, &y->lapic, sizeof(x->lapic)))
			diff = "LAPIC";
		else if (memcmp(&x->mp_state, &y->mp_state, sizeof(x->mp_state)))
			diff = "mp_state";
		else if (memcmp(&x->events, &y->events, sizeof(x->events)))
			diff = "events";
		else if (x->nr_msrs != y->nr_msrs || x->nr_msrs < 10 || x->tsc_khz != y->tsc_khz)
			diff = "MSR count or TSC frequency";
		for (uint32_t m = 0; !diff && m < x->nr_msrs; m++) {
			if (x->msrs[m].index != y->msrs[m].index)
				diff = "MSR list";
			else if (x->msrs[m].index == 0x10 ? y->msrs[m].data < x->msrs[m].data
							  : x->msrs[m].data != y->msrs[m].data) {
				fprintf(stderr, "kvm-state: MSR 0x%x: 0x%llx, then 0x%llx\n", x->msrs[m].index,
					(unsigned long long)x->msrs[m].data, (unsigned long long)y->msrs[m].data);
				diff = "MSRs";
			}
		}
		if (diff)
			fprintf(stderr, "kvm-state: vCPU %d differs\n", i);
	}
	if (diff) {
		fprintf(stderr, "kvm-state: not the same after the restore: %s\n", diff);
		return 1;
	}
	return 0;
}

/* The guest runs on its vCPU threads and writes through the console thread: no event loop
 * is needed until it has to end. */
static int snap_create(const char *kernel, int vcpus, int ms, const char *state, const char *mem,
		       const char *diff_state, const char *diff_mem)
{
	struct snapshot_create_params p = { .type = SNAPSHOT_FULL, .state_path = state, .mem_path = mem };
	struct vmm_config c;

	config(&c, kernel, vcpus);
	c.track_dirty_pages = diff_state != NULL;
	if (init() || vmm_build(&vmm, &c, err, sizeof(err)))
		return fail("build");
	usleep((useconds_t)ms * 1000);
	if (vmm_pause(&vmm, true, err, sizeof(err)))
		return fail("pause");
	if (vmm_snapshot_create(&vmm, &p, err, sizeof(err)))
		return fail("snapshot create");
	if (diff_state) {
		p = (struct snapshot_create_params){ .type = SNAPSHOT_DIFF, .state_path = diff_state, .mem_path = diff_mem };
		if (vmm_pause(&vmm, false, err, sizeof(err)))
			return fail("resume");
		usleep((useconds_t)ms * 1000);
		if (vmm_pause(&vmm, true, err, sizeof(err)))
			return fail("pause");
		if (vmm_snapshot_create(&vmm, &p, err, sizeof(err)))
			return fail("diff snapshot create");
	}
	/* Like a killed VMM: nothing of it runs again. */
	vm_stop(&vmm.vm, 0, "snapshot taken");
	vmm_run(&vmm);
	vmm_destroy(&vmm);
	config_free(&c);
	return 0;
}

static int snap_load(const char *state, const char *mem, bool paused)
{
	struct snapshot_load_params p = { .state_path = state, .backend = SNAPSHOT_MEM_FILE, .backend_path = mem,
					  .resume = !paused };
	uint64_t exits = 0;
	int r;

	if (init())
		return fail("vmm_init");
	if (vmm_snapshot_load(&vmm, &p, err, sizeof(err)))
		return fail("snapshot load");
	if (paused) {
		usleep(200000);
		for (int i = 0; i < vmm.vm.nr_vcpus; i++)
			exits += vmm.vm.vcpus[i].exits[EXIT_IO] + vmm.vm.vcpus[i].exits[EXIT_MMIO];
		if (vmm.state != VMM_PAUSED || exits) {
			fprintf(stderr, "kvm-state: loaded paused, yet state %d and %llu exits\n", vmm.state,
				(unsigned long long)exits);
			return 1;
		}
		if (vmm_pause(&vmm, false, err, sizeof(err)))
			return fail("resume");
	}
	r = vmm_run(&vmm);
	vmm_destroy(&vmm);
	return r;
}

int main(int argc, char **argv)
{
	static struct vmm_kvm_state st1, st2;
	struct vmm_config c;
	int ram, r;

	log_set_level(LOG_WARN);
	if (argc == 2 && !strcmp(argv[1], "create"))
		return create_only();
	if (argc == 7 && !strcmp(argv[1], "snap-create"))
		return snap_create(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5], argv[6], NULL, NULL);
	if (argc == 9 && !strcmp(argv[1], "snap-chain"))
		return snap_create(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5], argv[6], argv[7], argv[8]);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "snap-load"))
		return snap_load(argv[2], argv[3], argc == 5);
	if (argc < 3)
		return fprintf(stderr, "usage: kvm-state create | roundtrip KERNEL | restore-run KERNEL VCPUS\n"), 2;
	config(&c, argv[2], argc > 3 ? atoi(argv[3]) : 1);
	ram = mem_memfd(c.mem_size_mib << 20);
	if (ram < 0)
		return fprintf(stderr, "kvm-state: memfd: %s\n", strerror(-ram)), 1;
	if (boot_and_save(&c, ram, &st1))
		return 1;
	if (restore(&c, ram, &st1))
		return 1;
	if (!strcmp(argv[1], "roundtrip")) {
		if (vmm_save(&vmm, &st2, err, sizeof(err)))
			return fail("save after restore");
		r = compare(&st1, &st2);
		/* And the devices come back byte for byte. */
		uint8_t *again = malloc(dev_len);
		if (!r && (!again || device_list_save_size(&vmm.devices) != dev_len ||
			   device_list_save(&vmm.devices, again, dev_len) || memcmp(again, dev_blob, dev_len))) {
			fprintf(stderr, "kvm-state: the devices' state differs after the restore\n");
			r = 1;
		}
		free(again);
		vmm_destroy(&vmm);
	} else {
		if (vmm_start(&vmm, err, sizeof(err)))
			return fail("start");
		r = vmm_run(&vmm);
		vmm_destroy(&vmm);
	}
	close(ram);
	config_free(&c);
	return r;
}
