/* `kindling check`: is this host ready to run microVMs? Reports /dev/kvm access, which KVM
 * module provides it, the KVM API and capabilities, whether guest ring-0 code runs at
 * hardware speed (timed on a tiny guest), tun, cgroups, seccomp and namespaces, and says when
 * the KVM lab is needed instead. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot.h"
#include "check.h"
#include "log.h"
#include "vm.h"

#define LOOP_ITERATIONS 200000
/* Hardware runs the loop in well under a millisecond; the nested PVM here took ~1 s. */
#define HW_SPEED_LIMIT_MS 20.0

static const uint8_t loop_guest[] = {
	0xb9, LOOP_ITERATIONS & 0xff, (LOOP_ITERATIONS >> 8) & 0xff, (LOOP_ITERATIONS >> 16) & 0xff, 0x00,
	/* mov ecx, N */
	0xff, 0xc9,		/* 1: dec ecx */
	0x75, 0xfc,		/* jnz 1b */
	0xb0, 0xfe, 0xe6, 0x64, /* mov al, 0xfe; out 0x64, al */
	0xf4,			/* hlt */
};

static void line(bool ok, const char *what, const char *detail)
{
	printf("%-5s %-28s %s\n", ok ? "ok" : "FAIL", what, detail);
}

/* Runs loop_guest at CPL 0; returns the milliseconds it took, or -1. */
static double time_ring0_loop(char *err, size_t errlen)
{
	static struct vm vm;
	struct vm_config cfg = { .nr_vcpus = 1, .mem_size = 16u << 20 };
	struct boot_entry entry = { .protocol = BOOT_LINUX64, .rip = HIGHMEM_START, .rsi = BOOT_ZERO_PAGE_ADDR };
	double ms = -1;
	uint64_t t0;

	if (vm_create(&vm, &cfg, err, errlen))
		goto out;
	memcpy(mem_ptr(&vm.mem, HIGHMEM_START, sizeof(loop_guest)), loop_guest, sizeof(loop_guest));
	if (boot_write_gdt(&vm.mem) || boot_write_page_tables(&vm.mem) ||
	    vm_create_vcpus(&vm, err, errlen) || vm_boot_vcpus(&vm, &entry, err, errlen))
		goto out;
	t0 = now_ns();
	for (int exits = 0; exits < 100000; exits++) {
		struct kvm_run *run = vm.vcpus[0].run;

		if (ioctl(vm.vcpus[0].fd, KVM_RUN, 0) < 0 && errno != EINTR) {
			errorf_errno(err, errlen, errno, "KVM_RUN");
			goto out;
		}
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x64) {
			ms = (double)(now_ns() - t0) / 1e6;
			goto out;
		}
		if (run->exit_reason != KVM_EXIT_IO && run->exit_reason != KVM_EXIT_INTR) {
			errorf(err, errlen, -EIO, "unexpected exit %u", run->exit_reason);
			goto out;
		}
	}
	errorf(err, errlen, -ETIMEDOUT, "the test guest did not finish");
out:
	vm_destroy(&vm);
	return ms;
}

const char *check_kvm_flavour(const char *sys_module)
{
	/* PVM first: it may sit beside the vendor module it is built from. */
	static const char *const modules[][2] = {
		{ "kvm_pvm", "pvm" }, { "kvm_intel", "kvm-intel" }, { "kvm_amd", "kvm-amd" } };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", sys_module ? sys_module : "/sys/module", modules[i][0]);
		if (access(path, F_OK) == 0)
			return modules[i][1];
	}
	return "unknown";
}

static const char *cgroup_version(void)
{
	struct statfs sf;

	if (statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == 0x63677270) /* CGROUP2_SUPER_MAGIC */
		return "v2 (unified)";
	if (access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0)
		return "v1 + v2 (hybrid)";
	if (access("/sys/fs/cgroup/cpu", F_OK) == 0 || access("/sys/fs/cgroup/memory", F_OK) == 0)
		return "v1";
	return NULL;
}

static bool can_unshare(int flags)
{
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(unshare(flags) == 0 ? 0 : 1);
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int check_host(void)
{
	char err[256] = "", detail[256];
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), kvm_errno = errno, tun;
	bool kvm_ok = kvm >= 0, hw = false, seccomp;
	const char *cg;
	double ms;

	printf("kindling check: can this host run microVMs?\n");
	/* errno as open() left it: printf may have changed it since. */
	snprintf(detail, sizeof(detail), "%s", kvm_ok ? "read/write" : strerror(kvm_errno));
	line(kvm_ok, "/dev/kvm access", detail);
	if (kvm_ok) {
		int api = ioctl(kvm, KVM_GET_API_VERSION, 0);

		line(true, "KVM module", check_kvm_flavour(NULL));

		snprintf(detail, sizeof(detail), "%d", api);
		line(api == KVM_API_VERSION, "KVM API version", detail);
		close(kvm);
		ms = time_ring0_loop(err, sizeof(err));
		if (ms < 0) {
			/* vm_create's message names the missing capability, if that is what failed. */
			line(false, "KVM capabilities / test VM", err);
		} else {
			line(true, "KVM capabilities", "all present");
			hw = ms < HW_SPEED_LIMIT_MS;
			snprintf(detail, sizeof(detail), "%d iterations in %.2f ms (%s)", LOOP_ITERATIONS, ms,
				 hw ? "hardware speed" : "emulated: Linux guests will not boot here");
			line(hw, "guest ring 0 speed", detail);
		}
	}
	tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	line(tun >= 0, "/dev/net/tun", tun >= 0 ? "available" : strerror(errno));
	if (tun >= 0)
		close(tun);
	cg = cgroup_version();
	line(cg != NULL, "cgroups", cg ? cg : "no cgroup hierarchy mounted");
	{
		FILE *f = fopen("/proc/self/status", "r");
		char l[256];

		seccomp = false;
		while (f && fgets(l, sizeof(l), f))
			seccomp |= !strncmp(l, "Seccomp:", 8);
		if (f)
			fclose(f);
	}
	line(seccomp, "seccomp", seccomp ? "supported" : "not reported by the kernel");
	line(can_unshare(CLONE_NEWNET), "network namespaces", geteuid() ? "(as this user)" : "");
	line(can_unshare(CLONE_NEWNS), "mount namespaces", "");
	line(can_unshare(CLONE_NEWUSER) || can_unshare(CLONE_NEWPID), "user/pid namespaces", "");
	if (kvm_ok && hw) {
		printf("verdict: ready: microVMs run directly on this host\n");
		return 0;
	}
	printf("verdict: use the KVM lab (tests/lab/run): %s\n",
	       kvm_ok ? "this host's KVM emulates guest ring 0" : "this host has no usable /dev/kvm");
	return 1;
}
