/* The host side of a boot's set-up, without KVM (benches/setup.sh):
 *   setupbench KERNEL INITRD MIB N [VMM]
 * N times, each in a fresh process (page faults and THP behave as in a starting VMM): the
 * boot files opened and checked (vmm_open_boot_files), MIB MiB of guest RAM mapped as
 * vm_create does (mem_create), the kernel, initrd and boot structures loaded (vmm_load_guest,
 * the path vmm_boot takes). With VMM, also exec of `VMM --version` to its exit: what the
 * VMM's own vmm_setup_ms, counted from main(), leaves out. Prints the medians as
 * "<name> <value> <unit>" lines. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "vmm.h"

extern char **environ;

enum { T_FILES, T_MEM, T_KERNEL, T_BOOT, T_TOTAL, T_FAULTS, T_N };
static const char *const names[T_N] = { "files", "mem", "kernel", "boot", "nokvm", "faults" };

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* One set-up in this (fresh) process: the phases' ms and the page faults into out. */
static int one_run(const struct vmm_config *cfg, double *out)
{
	struct setup_times st = { 0 };
	struct vmm_boot_files f;
	struct guest_mem mem;
	struct boot_entry entry;
	char err[600];
	long flt0 = minflt();
	int r;

	st.t0 = now_ns();
	r = vmm_open_boot_files(cfg, &f, err, sizeof(err));
	if (r)
		goto fail;
	setuptime_mark(&st, SETUP_FILES);
	r = mem_create(&mem, cfg->mem_size_mib << 20);
	if (r) {
		snprintf(err, sizeof(err), "mem_create: %s", strerror(-r));
		goto fail;
	}
	setuptime_mark(&st, SETUP_MEM);
	r = vmm_load_guest(&mem, cfg, &f, "", &st, &entry, err, sizeof(err));
	if (r)
		goto fail;
	out[T_FILES] = (double)(st.end[SETUP_FILES] - st.t0) / 1e6;
	out[T_MEM] = (double)(st.end[SETUP_MEM] - st.end[SETUP_FILES]) / 1e6;
	out[T_KERNEL] = (double)(st.end[SETUP_KERNEL] - st.end[SETUP_MEM]) / 1e6;
	out[T_BOOT] = (double)(st.end[SETUP_BOOT] - st.end[SETUP_KERNEL]) / 1e6;
	out[T_TOTAL] = (double)(st.end[SETUP_BOOT] - st.t0) / 1e6;
	out[T_FAULTS] = (double)(minflt() - flt0);
	/* Left mapped: the VMM keeps RAM, and unmaps the files only once the vCPUs run. */
	return 0;
fail:
	fprintf(stderr, "setupbench: %s\n", err);
	return -1;
}

/* fork + exec of `vmm --version` to its exit, in ms; -1 on failure. */
static double exec_ms(const char *vmm)
{
	char *argv[] = { (char *)vmm, "--version", NULL };
	posix_spawn_file_actions_t fa;
	uint64_t t0 = now_ns();
	int status;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, vmm, &fa, NULL, argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return (double)(now_ns() - t0) / 1e6;
}

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	char err[600];
	double *v[T_N], *ex = NULL;
	int n;

	if (argc != 5 && argc != 6)
		return fprintf(stderr, "usage: setupbench KERNEL INITRD MIB N [VMM]\n"), 2;
	n = atoi(argv[4]);
	if (n < 1)
		return fprintf(stderr, "setupbench: N must be at least 1\n"), 2;
	config_init(&cfg);
	cfg.mem_size_mib = strtoull(argv[3], NULL, 10);
	if (config_set_boot_source(&cfg, argv[1], argv[2], NULL, err, sizeof(err)))
		return fprintf(stderr, "setupbench: %s\n", err), 1;
	for (int k = 0; k < T_N; k++)
		v[k] = calloc((size_t)n, sizeof(double));
	ex = calloc((size_t)n, sizeof(double));
	for (int i = 0; i < n; i++) {
		double out[T_N];
		int fds[2], status;
		pid_t pid;

		if (pipe(fds))
			return perror("pipe"), 1;
		pid = fork();
		if (pid < 0)
			return perror("fork"), 1;
		if (pid == 0) {
			close(fds[0]);
			if (one_run(&cfg, out) || write(fds[1], out, sizeof(out)) != sizeof(out))
				_exit(1);
			_exit(0);
		}
		close(fds[1]);
		if (read(fds[0], out, sizeof(out)) != sizeof(out) || waitpid(pid, &status, 0) != pid ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			return fprintf(stderr, "setupbench: run %d failed\n", i), 1;
		close(fds[0]);
		for (int k = 0; k < T_N; k++)
			v[k][i] = out[k];
		if (argc == 6 && (ex[i] = exec_ms(argv[5])) < 0)
			return fprintf(stderr, "setupbench: %s --version failed\n", argv[5]), 1;
	}
	for (int k = 0; k < T_FAULTS; k++)
		printf("kindling.host_setup_%s_ms %.3f ms\n", names[k], median(v[k], n));
	printf("kindling.host_setup_faults %.0f faults\n", median(v[T_FAULTS], n));
	if (argc == 6)
		printf("kindling.host_exec_ms %.3f ms\n", median(ex, n));
	config_free(&cfg);
	return 0;
}
