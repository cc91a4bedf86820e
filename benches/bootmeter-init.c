/*
 * bootmeter-init.c - /init of the boot meter's initramfs (benches/bootmeter.sh).
 *
 * One responsibility: read the TSC as the very first instruction of user space, mark that
 * moment for the VMM, print the value and end the VM. Under QEMU TCG with
 * `-icount shift=0,sleep=off` the TSC is the guest's instructions executed plus the idle time
 * skipped, so the value printed is the cost of everything before /init.
 *
 * In order:
 *   1. rdtsc (in _start, before any C code or stack set-up);
 *   2. ioperm + one byte written to port 0x3f0 (the boot-timer port of tests/guests/boot-init.c,
 *      unclaimed on QEMU microvm): the meter counts the device accesses traced before it;
 *   3. prints `BOOTMETER-TSC <decimal>` on fd 1 (the kernel's /dev/console);
 *   4. mounts proc and prints `BOOTMETER-UPTIME <its /proc/uptime>`: the second number is the
 *      time the CPU was idle (10 ms resolution), which the TSC figure includes;
 *   5. reboot(RESTART): with `reboot=t` the kernel triple-faults, and QEMU's -no-reboot ends.
 *      Should that return, PID 1 exits and the kernel panics (panic=-1 reboots at once).
 *
 * Freestanding (no libc): nothing runs before the rdtsc, the binary is a few hundred bytes,
 * and the same file works under any x86-64 Linux kernel (raw syscalls only).
 * Build: cc -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie -O2
 */
#include <stdint.h>

#define MARK_PORT 0x3f0
#define MARK_VALUE 0x4d /* 'M' */

#define SYS_read 0
#define SYS_write 1
#define SYS_open 2
#define SYS_mount 165
#define SYS_exit 60
#define SYS_reboot 169
#define SYS_ioperm 173
#define REBOOT_MAGIC1 0xfee1dead
#define REBOOT_MAGIC2 672274793
#define REBOOT_CMD_RESTART 0x01234567

void meter_main(uint64_t tsc) __attribute__((noreturn, used));

/* rdtsc first; then a 16-byte-aligned stack for the C code. */
__asm__(".globl _start\n"
	"_start:\n"
	"	rdtsc\n"
	"	shl $32, %rdx\n"
	"	or %rdx, %rax\n"
	"	mov %rax, %rdi\n"
	"	and $-16, %rsp\n"
	"	call meter_main\n"
	"	ud2\n");

static long sys3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}

static long sys5(long nr, long a, long b, long c, long d, long e)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
	return ret;
}

static long sys4(long nr, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

void meter_main(uint64_t tsc)
{
	static const char prefix[] = "BOOTMETER-TSC ";
	char line[64];
	char digits[24];
	unsigned n = 0, len = 0;

	/* No port access without the permission: a kernel lacking ioperm() leaves no mark,
	 * and the meter says so. */
	if (sys3(SYS_ioperm, MARK_PORT, 1, 1) == 0)
		__asm__ volatile("outb %b0, %w1" : : "a"((uint8_t)MARK_VALUE), "Nd"((uint16_t)MARK_PORT));

	do {
		digits[n++] = (char)('0' + tsc % 10);
		tsc /= 10;
	} while (tsc);
	for (unsigned i = 0; i < sizeof(prefix) - 1; i++)
		line[len++] = prefix[i];
	while (n)
		line[len++] = digits[--n];
	line[len++] = '\n';
	sys3(SYS_write, 1, (long)line, len);

	static const char uptime[] = "BOOTMETER-UPTIME ";
	char buf[96];
	long fd, got = 0;
	sys5(SYS_mount, (long)"proc", (long)"/proc", (long)"proc", 0, 0);
	fd = sys3(SYS_open, (long)"/proc/uptime", 0, 0);
	if (fd >= 0)
		got = sys3(SYS_read, fd, (long)buf, sizeof(buf));
	if (got > 0) {
		sys3(SYS_write, 1, (long)uptime, sizeof(uptime) - 1);
		sys3(SYS_write, 1, (long)buf, got);
	}

	sys4(SYS_reboot, REBOOT_MAGIC1, REBOOT_MAGIC2, REBOOT_CMD_RESTART, 0);
	for (;;)
		sys3(SYS_exit, 1, 0, 0);
}
