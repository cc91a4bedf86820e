/* Snapshot figures on a real /dev/kvm (benches/snapshot.sh), with a tiny guest:
 *   snapbench MIB VCPUS N DIR [--keep]
 * boots build/guests/spin.elf with MIB MiB and VCPUS vCPUs, takes a Full snapshot, then a
 * Diff after 1% of the pages were written (by the VMM, marked as it marks virtio buffers),
 * and restores the Full one N times, each time from the load call (with vm_prepare, as
 * main() calls it, just before) to every vCPU inside KVM_RUN. Prints "<name> <value> ms"
 * lines. --keep leaves DIR/bench.{state,mem} (the Full one) for benches/snapshot.sh to
 * restore from a fresh process and through the API. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "vmm.h"

static struct vmm vmm;
static char err[512];

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int die(const char *what)
{
	fprintf(stderr, "snapbench: %s: %s\n", what, err);
	return 1;
}

int main(int argc, char **argv)
{
	char state[512], mem[512], dstate[512], dmem[512];
	struct vmm_config c;
	int mib, vcpus, n;
	double *ms, create_ms, diff_ms;
	uint64_t t0;

	bool keep = argc == 6 && !strcmp(argv[5], "--keep");

	if (argc != 5 && !keep)
		return fprintf(stderr, "usage: snapbench MIB VCPUS N DIR [--keep]\n"), 2;
	mib = atoi(argv[1]);
	vcpus = atoi(argv[2]);
	n = atoi(argv[3]);
	ms = calloc((size_t)n, sizeof(*ms));
	snprintf(state, sizeof(state), "%s/bench.state", argv[4]);
	snprintf(mem, sizeof(mem), "%s/bench.mem", argv[4]);
	snprintf(dstate, sizeof(dstate), "%s/bench-diff.state", argv[4]);
	snprintf(dmem, sizeof(dmem), "%s/bench-diff.mem", argv[4]);
	log_set_level(LOG_WARN);

	config_init(&c);
	c.kernel_path = strdup("build/guests/spin.elf");
	c.vcpu_count = vcpus;
	c.mem_size_mib = (uint64_t)mib;
	c.track_dirty_pages = true;
	if (vmm_init(&vmm, err, sizeof(err)) || vmm_build(&vmm, &c, err, sizeof(err)))
		return die("build");
	usleep(100000);
	if (vmm_pause(&vmm, true, err, sizeof(err)))
		return die("pause");
	struct snapshot_create_params p = { .type = SNAPSHOT_FULL, .state_path = state, .mem_path = mem };
	t0 = now_ns();
	if (vmm_snapshot_create(&vmm, &p, err, sizeof(err)))
		return die("create");
	create_ms = (double)(now_ns() - t0) / 1e6;
	/* 1% of the pages written, as device buffers are. */
	for (uint64_t pg = 0; pg < vmm.vm.mem.ram_size / 4096; pg += 100) {
		vmm.vm.mem.map[pg * 4096] ^= 1;
		mem_mark_dirty(&vmm.vm.mem, pg < (3ull << 18) ? pg * 4096 : (1ull << 32) + pg * 4096 - (3ull << 30), 1);
	}
	p = (struct snapshot_create_params){ .type = SNAPSHOT_DIFF, .state_path = dstate, .mem_path = dmem };
	t0 = now_ns();
	if (vmm_snapshot_create(&vmm, &p, err, sizeof(err)))
		return die("diff create");
	diff_ms = (double)(now_ns() - t0) / 1e6;
	vm_stop(&vmm.vm, 0, "bench");
	vmm_run(&vmm);
	vmm_destroy(&vmm);

	for (int i = 0; i < n; i++) {
		struct snapshot_load_params l = { .state_path = state, .backend = SNAPSHOT_MEM_FILE, .backend_path = mem,
						  .resume = true };
		uint64_t last = 0;

		memset(&vmm, 0, sizeof(vmm));
		if (vmm_init(&vmm, err, sizeof(err)))
			return die("init");
		/* As main() does at start, but timed and with no head start: the load waits for
		 * the VM made ahead (the API's load request comes later than main's start). */
		t0 = now_ns();
		vm_prepare();
		if (vmm_snapshot_load(&vmm, &l, err, sizeof(err)))
			return die("load");
		for (int spins = 0; spins < 1000000; spins++) {
			last = 0;
			for (int v = 0; v < vmm.vm.nr_vcpus; v++) {
				uint64_t t = __atomic_load_n(&vmm.vm.vcpus[v].t_first_run_ns, __ATOMIC_ACQUIRE);

				if (!t) {
					last = 0;
					break;
				}
				last = t > last ? t : last;
			}
			if (last)
				break;
			usleep(10);
		}
		if (!last)
			return fprintf(stderr, "snapbench: restore %d: the vCPUs never ran\n", i), 1;
		ms[i] = (double)(last - t0) / 1e6;
		vm_stop(&vmm.vm, 0, "bench");
		vmm_run(&vmm);
		vmm_destroy(&vmm);
	}
	qsort(ms, (size_t)n, sizeof(*ms), cmp);
	printf("kindling.restore_ms_p50_%dm_%dvcpu %.3f ms\n", mib, vcpus, ms[n / 2]);
	printf("kindling.restore_ms_p99_%dm_%dvcpu %.3f ms\n", mib, vcpus, ms[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
	printf("kindling.snapshot_create_full_ms_%dm %.3f ms\n", mib, create_ms);
	printf("kindling.snapshot_create_diff1pct_ms_%dm %.3f ms\n", mib, diff_ms);
	if (!keep) {
		unlink(state);
		unlink(mem);
	}
	unlink(dstate);
	unlink(dmem);
	config_free(&c);
	return 0;
}
