/* kindling: boot a Linux kernel in a KVM microVM. Start-up is one straight line:
 * parse -> build VM -> load kernel -> devices -> vCPUs -> run -> report. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "boot.h"
#include "devices.h"
#include "evloop.h"
#include "loader.h"
#include "log.h"
#include "vm.h"

#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd quiet"
#define MAX_KERNEL_SIZE (512u << 20)
#define MAX_INITRD_SIZE (1024u << 20)
#define DEFAULT_MEM_MIB 128

struct options {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	int vcpus;
	uint64_t mem_mib;
	bool boot_timer;
	enum boot_protocol protocol;
};

struct runtime {
	struct vm vm;
	struct evloop loop;
	struct serial serial;
	struct i8042 i8042;
	struct outbuf out;
	int sig_fd;
	bool stdin_watched;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kindling --kernel PATH [--initrd PATH] [--cmdline STR] [--vcpus N] [--mem-mib N]\n"
		"                [--boot-timer] [--boot-protocol auto|linux|pvh] [--level LEVEL]\n"
		"\n"
		"Boots PATH (ELF vmlinux or bzImage) in a KVM microVM with the serial console on\n"
		"stdin/stdout. Exits with 0 when the guest resets or powers off.\n"
		"Default command line: \"" DEFAULT_CMDLINE "\"\n");
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "vcpus", required_argument, NULL, 'n' },
		{ "mem-mib", required_argument, NULL, 'm' },
		{ "boot-timer", no_argument, NULL, 't' },
		{ "boot-protocol", required_argument, NULL, 'p' },
		{ "level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	*o = (struct options){ .vcpus = 1, .mem_mib = DEFAULT_MEM_MIB, .cmdline = DEFAULT_CMDLINE };
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'c':
			o->cmdline = optarg;
			break;
		case 'n':
			if (parse_uint(optarg, VM_MAX_VCPUS, &v) || v < 1) {
				log_error("--vcpus must be a number from 1 to %d, not '%s'", VM_MAX_VCPUS, optarg);
				return -EINVAL;
			}
			o->vcpus = (int)v;
			break;
		case 'm':
			/* Bounded so that MiB -> bytes cannot overflow and the mapping is plausible. */
			if (parse_uint(optarg, 1u << 20, &v) || v < 8) {
				log_error("--mem-mib must be a number from 8 to %u, not '%s'", 1u << 20, optarg);
				return -EINVAL;
			}
			o->mem_mib = v;
			break;
		case 't':
			o->boot_timer = true;
			break;
		case 'p':
			if (!strcmp(optarg, "auto"))
				o->protocol = BOOT_AUTO;
			else if (!strcmp(optarg, "linux"))
				o->protocol = BOOT_LINUX64;
			else if (!strcmp(optarg, "pvh"))
				o->protocol = BOOT_PVH;
			else {
				log_error("--boot-protocol must be auto, linux or pvh, not '%s'", optarg);
				return -EINVAL;
			}
			break;
		case 'l': {
			enum log_level lvl;

			if (log_parse_level(optarg, &lvl)) {
				log_error("--level must be error, warn, info or debug, not '%s'", optarg);
				return -EINVAL;
			}
			log_set_level(lvl);
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->kernel) {
		log_error("--kernel is required (see kindling --help)");
		return -EINVAL;
	}
	return 0;
}

static void on_stop(void *opaque, uint32_t events)
{
	struct runtime *rt = opaque;
	uint64_t v;

	(void)events;
	if (read(rt->vm.stop_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("stop eventfd read: %s", strerror(errno));
	evloop_quit(&rt->loop);
}

static void on_signal(void *opaque, uint32_t events)
{
	struct runtime *rt = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(rt->sig_fd, &si, sizeof(si)) == sizeof(si))
		vm_stop(&rt->vm, 128 + (int)si.ssi_signo, "stopped by signal %u", si.ssi_signo);
}

static void on_stdin(void *opaque, uint32_t events)
{
	struct runtime *rt = opaque;
	uint8_t buf[SERIAL_FIFO];
	size_t room = serial_rx_free(&rt->serial);
	ssize_t n;

	(void)events;
	if (room == 0)
		return; /* stays disarmed until the guest drains the FIFO */
	n = read(STDIN_FILENO, buf, room);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			goto rearm;
		evloop_del(&rt->loop, STDIN_FILENO); /* EOF: no more input */
		rt->stdin_watched = false;
		return;
	}
	serial_input(&rt->serial, buf, (size_t)n);
	if (serial_rx_free(&rt->serial) == 0)
		return;
rearm:
	if (evloop_rearm(&rt->loop, STDIN_FILENO, EPOLLIN | EPOLLONESHOT))
		log_debug("stdin rearm failed");
}

/* From a vCPU thread: the guest emptied the RX FIFO, so take more input. */
static void on_rx_space(void *opaque)
{
	struct runtime *rt = opaque;

	if (rt->stdin_watched && evloop_rearm(&rt->loop, STDIN_FILENO, EPOLLIN | EPOLLONESHOT))
		log_debug("stdin rearm failed");
}

/* Blocked before any thread starts, so every thread inherits the mask and the signals
 * arrive only through the signalfd on the event loop. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	/* A closed stdout pipe must not kill us; the writer counts the bytes as dropped. */
	signal(SIGPIPE, SIG_IGN);
}

static int setup_loop(struct runtime *rt, const sigset_t *set)
{
	int r;

	r = evloop_init(&rt->loop);
	if (r)
		return r;
	rt->sig_fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (rt->sig_fd < 0)
		return -errno;
	r = evloop_add(&rt->loop, rt->sig_fd, EPOLLIN, on_signal, rt);
	if (!r)
		r = evloop_add(&rt->loop, rt->vm.stop_efd, EPOLLIN, on_stop, rt);
	if (r)
		return r;
	/* stdin may be a file or /dev/null, which epoll refuses: then there is no input. */
	if (evloop_add(&rt->loop, STDIN_FILENO, EPOLLIN | EPOLLONESHOT, on_stdin, rt) == 0) {
		rt->stdin_watched = true;
		rt->serial.rx_space = on_rx_space;
		rt->serial.rx_space_opaque = rt;
	}
	return 0;
}

static void report(struct runtime *rt)
{
	struct vm *vm = &rt->vm;
	uint64_t io = 0, mmio = 0;

	for (int i = 0; i < vm->nr_vcpus; i++) {
		io += vm->vcpus[i].exits[EXIT_IO];
		mmio += vm->vcpus[i].exits[EXIT_MMIO];
	}
	log_info("VM stopped: %s (exit status %d)", vm->exit_reason, vm->exit_status);
	log_debug("exits: io %llu, mmio %llu; unclaimed pio reads %llu, writes %llu; serial bytes dropped %llu",
		  (unsigned long long)io, (unsigned long long)mmio, (unsigned long long)vm->pio.unclaimed_reads,
		  (unsigned long long)vm->pio.unclaimed_writes, (unsigned long long)rt->out.dropped);
	if (rt->out.dropped)
		log_warn("serial output stalled: %llu bytes dropped", (unsigned long long)rt->out.dropped);
}

int main(int argc, char **argv)
{
	static struct runtime rt; /* large (VM context, output buffer): keep off the stack */
	struct options o;
	struct vm_config cfg;
	struct kernel_info ki;
	struct boot_config bc;
	struct boot_entry entry;
	uint8_t *kernel = NULL, *initrd = NULL;
	size_t kernel_size = 0, initrd_size = 0;
	char err[256];
	sigset_t sigs;
	int status = 1;

	rt.vm.t_main_ns = now_ns();
	if (parse_args(argc, argv, &o))
		return 2;
	block_signals(&sigs);
	rt.sig_fd = -1;
	rt.loop.epfd = -1;
	if (loader_read_file(o.kernel, MAX_KERNEL_SIZE, &kernel, &kernel_size, err, sizeof(err)) ||
	    (o.initrd && loader_read_file(o.initrd, MAX_INITRD_SIZE, &initrd, &initrd_size, err, sizeof(err)))) {
		log_error("%s", err);
		goto out;
	}

	cfg = (struct vm_config){ .nr_vcpus = o.vcpus, .mem_size = o.mem_mib << 20, .boot_timer = o.boot_timer };
	if (vm_create(&rt.vm, &cfg, err, sizeof(err))) {
		log_error("%s", err);
		goto out_vm;
	}
	if (loader_load_kernel(&rt.vm.mem, kernel, kernel_size, &ki, err, sizeof(err))) {
		log_error("%s: %s", o.kernel, err);
		goto out_vm;
	}
	bc = (struct boot_config){ .cmdline = o.cmdline, .initrd = initrd, .initrd_size = initrd_size,
				   .nr_vcpus = o.vcpus, .protocol = o.protocol };
	if (boot_setup(&rt.vm.mem, &ki, &bc, &entry, err, sizeof(err))) {
		log_error("%s", err);
		goto out_vm;
	}
	free(kernel);
	free(initrd);
	kernel = initrd = NULL;

	if (outbuf_start(&rt.out, STDOUT_FILENO) || devices_setup(&rt.vm, &rt.serial, &rt.out, &rt.i8042)) {
		log_error("cannot set up the console devices");
		goto out_vm;
	}
	if (vm_setup_vcpus(&rt.vm, &entry, err, sizeof(err))) {
		log_error("%s", err);
		goto out_vm;
	}
	if (setup_loop(&rt, &sigs)) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		goto out_vm;
	}
	log_debug("booting %s via %s entry at 0x%llx, %d vCPU(s), %llu MiB", o.kernel,
		  entry.protocol == BOOT_PVH ? "PVH" : "64-bit Linux", (unsigned long long)entry.rip, o.vcpus,
		  (unsigned long long)o.mem_mib);
	if (vm_start(&rt.vm) == 0 && evloop_run(&rt.loop))
		vm_stop(&rt.vm, 1, "event loop failed: %s", strerror(errno));
	if (!rt.vm.stopping)
		vm_stop(&rt.vm, 1, "could not start the vCPUs");
	vm_join(&rt.vm);
	outbuf_stop(&rt.out, 2000);
	report(&rt);
	status = rt.vm.exit_status;
out_vm:
	outbuf_stop(&rt.out, 2000);
	if (rt.sig_fd >= 0)
		close(rt.sig_fd);
	evloop_destroy(&rt.loop);
	vm_destroy(&rt.vm);
out:
	free(kernel);
	free(initrd);
	return status;
}
