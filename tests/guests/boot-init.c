/*
 * boot-init.c - /init of the Kindling test initramfs.
 *
 * One responsibility: prove that a guest booted all the way to userspace,
 * say so on the console in a machine-checkable way, and end the VM.
 *
 * What it does, in order:
 *   1. mounts devtmpfs on /dev, proc on /proc, sysfs on /sys (failures ignored);
 *   2. counts the online CPUs;
 *   3. writes one byte to I/O port 0x3f0, the VMM's "boot timer" port (the
 *      first byte written there makes the VMM log boot_to_init_ms);
 *   4. prints `cmdline: <contents of /proc/cmdline>`, `clock: <seconds since 1970>`
 *      (the guest's wall clock, CLOCK_REALTIME: what the kernel got from kvmclock or
 *      the RTC at boot, moved on since) and `KINDLING-BOOT-OK cpus=N` on stdout
 *      (/dev/console);
 *   5. syncs and reboots. With `reboot=k` on the kernel command line the
 *      kernel resets through the keyboard controller, which the VMM turns
 *      into a clean exit with status 0.
 *
 * With the word `kindling.test=hold`, step 5 waits 10 s first, so that a test can still
 * talk to the VMM about a running guest (e.g. an API call after InstanceStart).
 *
 * Negative tests: if the command line contains the word `kindling.test=panic`,
 * step 4 prints `KINDLING-TEST-PANIC` instead of the OK line and PID 1 exits
 * with status 1, which makes the kernel panic (and, with panic=1, reboot).
 *
 * Build: gcc -static -O2 -o init boot-init.c  (see mkinitramfs.sh)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BOOT_TIMER_PORT 0x3f0
#define BOOT_TIMER_MAGIC 123

/* Mount a pseudo file system, ignoring every error (e.g. already mounted). */
static void try_mount(const char *src, const char *dir, const char *type)
{
	mkdir(dir, 0755);
	mount(src, dir, type, MS_NOSUID | MS_NOEXEC, NULL);
}

/* If the kernel could not give us a console on fds 0-2, open one ourselves. */
static void ensure_console(void)
{
	if (fcntl(STDOUT_FILENO, F_GETFD) != -1)
		return;
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return; /* nowhere to print; carry on so the VMM still sees the port write */
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Read /proc/cmdline into buf without its trailing newline; "" on failure. */
static void read_cmdline(char *buf, size_t size)
{
	buf[0] = '\0';
	int fd = open("/proc/cmdline", O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* Does the space-separated command line contain exactly this word? */
static int has_word(const char *cmdline, const char *word)
{
	size_t len = strlen(word);
	for (const char *p = cmdline; (p = strstr(p, word)) != NULL; p += len) {
		int starts = p == cmdline || p[-1] == ' ';
		int ends = p[len] == '\0' || p[len] == ' ';
		if (starts && ends)
			return 1;
	}
	return 0;
}

/* Tell the VMM that userspace has started (first write wins). */
static void signal_boot_timer(void)
{
	if (ioperm(BOOT_TIMER_PORT, 1, 1) != 0) {
		fprintf(stderr, "boot-init: ioperm(0x%x): %s\n", BOOT_TIMER_PORT,
			strerror(errno));
		return;
	}
	outb(BOOT_TIMER_MAGIC, BOOT_TIMER_PORT);
}

int main(void)
{
	static char cmdline[4096];

	try_mount("devtmpfs", "/dev", "devtmpfs");
	ensure_console();
	try_mount("proc", "/proc", "proc");
	try_mount("sysfs", "/sys", "sysfs");

	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	signal_boot_timer();
	read_cmdline(cmdline, sizeof(cmdline));

	printf("cmdline: %s\n", cmdline);
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		printf("clock: %lld\n", (long long)ts.tv_sec);
	}
	if (has_word(cmdline, "kindling.test=panic")) {
		printf("KINDLING-TEST-PANIC: PID 1 exits with status 1\n");
		fflush(stdout);
		exit(1);
	}
	printf("KINDLING-BOOT-OK cpus=%ld\n", cpus);
	fflush(stdout);
	if (has_word(cmdline, "kindling.test=hold"))
		sleep(10);

	sync();
	reboot(RB_AUTOBOOT);
	/* Only reached if reboot() failed: PID 1 exiting panics the kernel. */
	fprintf(stderr, "boot-init: reboot: %s\n", strerror(errno));
	return 1;
}
