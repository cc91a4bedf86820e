/* vmm-threads: the VMM's own event loop, console, signal, logger, metrics and API code, each
 * thread under its production seccomp filter, with no KVM: a "vCPU" thread makes the port
 * accesses a tiny guest would (through the same port bus and devices) instead of KVM_RUN.
 * It finds what a host with /dev/kvm would find with the tiny guests of tests/guests, on hosts without one.
 *   vmm-threads [--api-sock PATH] [--log-path PATH] [--metrics-path PATH] [--prefetch WSET] GUEST
 * --prefetch: 16 MiB of "guest RAM" mapped MAP_PRIVATE over a memfd (as a restore maps its
 * memory file), and the working set WSET (vmm/wsetfile.h) populated in it by the restore's
 * prefetch thread under its filter (vmm/prefetch.c), started where vmm_snapshot_load starts
 * it: before the vCPUs; joined by vmm_run at the end. It logs "prefetch: N pages in R ranges".
 * GUEST:
 *   echo      as tests/guests/serial_echo.S: one byte through the 8250 in loopback mode,
 *             "LOOPBACK-OK", "READY", then echoes what the host types until a 'q',
 *             "ECHO-END" and an i8042 reset (exit 0).
 *   spin      prints "KINDLING-SPIN" and waits to be stopped (SIGTERM, API), pausing and
 *             answering diagnostics (SIGUSR1) as a vCPU does between two KVM_RUNs.
 *   logflood  prints "FLOOD", then logs warnings as fast as it can, each with the serial
 *             device's lock held, as a device handler on a vCPU does; until stopped.
 *   uffd      with --uffd SOCK: 16 pages of RAM served by a page-fault handler on SOCK (the
 *             Uffd snapshot backend, vmm/snapuffd.c, watched by the VMM thread with a
 *             deadline of --uffd-deadline-ms, 10000 by default); reads every page, expecting
 *             page i to hold i+1 (examples/uffd serving such a file), prints "UFFD-OK" (or
 *             "UFFD-BAD", or "UFFD-FENCED" when the VMM gave up on the handler) and waits to
 *             be stopped.
 * The exit status is the VMM's; SIGSYS (159) means a thread broke its filter. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "prefetch.h"
#include "snapuffd.h"
#include "vmm.h"
#include "vmm_seccomp.h"
#include "wsetfile.h"

#define PREFETCH_RAM (16u << 20)

static struct vmm vmm;
static struct control ctl;
static const char *guest;
static struct snapuffd uffd;
static struct prefetch prefetch;
static struct wsetfile wset;

/* As vmm/snapshot.c's, on the uffd monitor thread: the handler went away or went silent. */
static void on_uffd_fail(void *opaque, const char *why)
{
	(void)opaque;
	vm_stop(&vmm.vm, 1, "%s", why);
}


static bool stopping(void)
{
	return __atomic_load_n(&vmm.vm.stopping, __ATOMIC_SEQ_CST);
}

static void outb(uint16_t port, uint8_t v)
{
	bus_access(&vmm.vm.pio, port, &v, 1, true);
}

static uint8_t inb(uint16_t port)
{
	uint8_t v = 0xff;

	bus_access(&vmm.vm.pio, port, &v, 1, false);
	return v;
}

static void print(const char *s)
{
	while (*s)
		outb(SERIAL_PORT, (uint8_t)*s++);
}

/* What vcpu_thread does between two KVM_RUNs, called with pause_lock held: answer a
 * diagnostic request (SIGUSR1), park while a pause is requested (vcpu.c's park()). */
static void between_runs(bool *paused)
{
	struct vm *vm = &vmm.vm;

	vcpu_diag_answer(&vm->vcpus[0]);
	if (vm->pause_requested != *paused && !stopping()) {
		*paused = vm->pause_requested;
		vm->nr_paused += *paused ? 1 : -1;
		pthread_cond_broadcast(&vm->pause_cond);
	}
}

/* Parks the "vCPU" until a resume (or a stop); serves diagnostics meanwhile. */
static void maybe_park(void)
{
	struct vm *vm = &vmm.vm;
	bool paused = false;

	pthread_mutex_lock(&vm->pause_lock);
	between_runs(&paused);
	while (paused && !stopping()) {
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
		between_runs(&paused);
	}
	if (paused)
		vm->nr_paused--;
	pthread_mutex_unlock(&vm->pause_lock);
}

/* Waits for a stop as a halted guest does. vm_stop() and vm_diag_collect() broadcast the
 * pause condition; vm_pause() only kicks (a real vCPU leaves KVM_RUN with EINTR, a condition
 * wait just resumes), hence the 10 ms wake-ups. */
static void wait_for_stop(void)
{
	struct vm *vm = &vmm.vm;
	bool paused = false;

	pthread_mutex_lock(&vm->pause_lock);
	between_runs(&paused);
	while (!stopping()) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += 10000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &t);
		between_runs(&paused);
	}
	if (paused)
		vm->nr_paused--;
	pthread_mutex_unlock(&vm->pause_lock);
}

static void guest_echo(void)
{
	uint8_t c;

	outb(SERIAL_PORT + 4, 0x18); /* MCR: loopback | OUT2 */
	outb(SERIAL_PORT, 'L');
	c = inb(SERIAL_PORT); /* drains the receive FIFO */
	outb(SERIAL_PORT + 4, 0x08);
	print(c == 'L' ? "LOOPBACK-OK\n" : "LOOPBACK-BAD\n");
	print("READY\n");
	while (!stopping()) {
		maybe_park();
		if (!(inb(SERIAL_PORT + 5) & 1)) {
			sched_yield();
			continue;
		}
		c = inb(SERIAL_PORT);
		if (c == 'q') {
			print("ECHO-END\n");
			outb(I8042_CMD_PORT, 0xfe);
			break;
		}
		outb(SERIAL_PORT, c);
	}
}

/* Touches each page the way KVM does, from the kernel (a write() from it into a pipe): the
 * fault blocks this thread until the handler serves it, and fails with EFAULT once the VMM
 * has given up on the handler and fenced the RAM, as KVM_RUN would. No syscall of its own
 * beyond write. */
static int uffd_pipe[2] = { -1, -1 };

static void guest_uffd(void)
{
	const volatile uint8_t *ram = vmm.vm.mem.map;
	bool ok = true;

	for (int i = 0; i < 16; i++) {
		if (write(uffd_pipe[1], (const void *)(ram + i * 4096 + 100), 1) != 1) {
			print("UFFD-FENCED\n");
			return;
		}
		ok &= ram[i * 4096 + 100] == i + 1;
	}
	print(ok ? "UFFD-OK\n" : "UFFD-BAD\n");
}

static void guest_logflood(void)
{
	struct serial *s = devices_serial(&vmm.devices);
	uint64_t n = 0;

	print("FLOOD\n");
	while (!stopping()) {
		maybe_park();
		pthread_mutex_lock(&s->lock);
		log_warn("logflood: warning %llu from a device handler", (unsigned long long)++n);
		pthread_mutex_unlock(&s->lock);
	}
}

static void *vcpu_thread(void *arg)
{
	sigset_t kick;

	(void)arg;
	/* As vm_start() arranges: of all signals, a vCPU thread takes only the kick. */
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	pthread_setname_np(pthread_self(), "kindling-vcpu0");
	if (seccomp_install(SECCOMP_VCPU)) {
		vm_stop(&vmm.vm, 1, "cannot install the vCPU filter");
		return NULL;
	}
	if (!strcmp(guest, "echo"))
		guest_echo();
	else if (!strcmp(guest, "logflood"))
		guest_logflood();
	else if (!strcmp(guest, "uffd"))
		guest_uffd();
	else
		print("KINDLING-SPIN\n");
	wait_for_stop();
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig; /* as vcpu.c's: only there to interrupt the vCPU */
}

/* --prefetch: RAM as vmm_snapshot_load maps a memory file (mem_map_fd, private), the working
 * set read and checked as main() and vmm_snapshot_load do, the thread started. */
static int start_prefetch(const char *path, char *err, size_t errlen)
{
	int fd = mem_memfd(PREFETCH_RAM), r;

	if (fd < 0)
		return errorf(err, errlen, fd, "memfd: %s", strerror(-fd));
	r = mem_map_fd(&vmm.vm.mem, PREFETCH_RAM, fd, true, NULL, 0);
	close(fd);
	if (r)
		return errorf(err, errlen, r, "cannot map RAM: %s", strerror(-r));
	r = wsetfile_read(path, &wset, err, errlen);
	if (!r)
		r = wsetfile_check_pages(&wset, PREFETCH_RAM / WSETFILE_PAGE_SIZE, err, errlen);
	if (!r && (r = prefetch_start(&prefetch, &vmm.vm.mem, &wset, true)))
		errorf(err, errlen, r, "cannot start the prefetch thread: %s", strerror(-r));
	if (!r)
		vmm.prefetch = &prefetch;
	return r;
}

/* What vm_create() and vm_setup_vcpus() set up that the devices, the event loop, pausing and
 * diagnostics use, without KVM: one vCPU whose fd is -1 (its KVM ioctls fail with EBADF,
 * after the filter let them through) and whose kvm_run is only for immediate_exit. */
static int fake_vm(struct vm *vm)
{
	static struct kvm_run run;
	struct sigaction sa = { .sa_handler = kick_handler };

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1; /* KVM_IRQ_LINE fails with EBADF: allowed, and harmless */
	vm->cfg.seccomp = true;
	vm->nr_vcpus = 1;
	vm->vcpus[0] = (struct vcpu){ .vm = vm, .id = 0, .fd = -1, .run = &run };
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return vm->stop_efd < 0 ? -errno : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "api-sock", required_argument, NULL, 'a' },
		{ "log-path", required_argument, NULL, 'l' },
		{ "metrics-path", required_argument, NULL, 'm' },
		{ "uffd", required_argument, NULL, 'u' },
		{ "uffd-deadline-ms", required_argument, NULL, 'd' },
		{ "prefetch", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *log_path = NULL, *metrics_path = NULL, *uffd_sock = NULL, *wset_path = NULL;
	unsigned deadline_ms = SNAPUFFD_DEADLINE_MS;
	char err[300] = "cannot map guest RAM";
	int c, status = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a')
			sock = optarg;
		else if (c == 'l')
			log_path = optarg;
		else if (c == 'm')
			metrics_path = optarg;
		else if (c == 'u')
			uffd_sock = optarg;
		else if (c == 'd')
			deadline_ms = (unsigned)atoi(optarg);
		else if (c == 'p')
			wset_path = optarg;
		else
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: vmm-threads [--api-sock P] [--log-path P] [--metrics-path P] [--uffd SOCK "
				"[--uffd-deadline-ms N]] [--prefetch WSET] echo|spin|logflood|uffd\n");
		return 2;
	}
	guest = argv[optind];
	if (vmm_init(&vmm, err, sizeof(err))) {
		fprintf(stderr, "vmm-threads: %s\n", err);
		return 1;
	}
	vmm.seccomp = true;
	control_init(&ctl, &vmm, "vmm-threads");
	if ((log_path && control_set_log_path(&ctl, log_path, false, false, err, sizeof(err))) ||
	    (metrics_path && control_set_metrics_path(&ctl, metrics_path, err, sizeof(err))) ||
	    (sock && control_serve(&ctl, sock, err, sizeof(err)))) {
		fprintf(stderr, "vmm-threads: %s\n", err);
		goto out;
	}
	/* vmm_build's order: devices, event loop wiring, console filter, vCPUs, VMM filter. */
	if (fake_vm(&vmm.vm) ||
	    devices_setup(&vmm.vm, &vmm.devices, &vmm.out, now_ns(), cpu_now_ns(), err, sizeof(err)) ||
	    vmm_watch(&vmm) || outbuf_sandbox(&vmm.out)) {
		fprintf(stderr, "vmm-threads: cannot set up the fake VM\n");
		goto out;
	}
	/* vmm_snapshot_load's order: RAM, the handshake, the watch, then the vCPUs. */
	if (uffd_sock && (pipe2(uffd_pipe, O_CLOEXEC | O_NONBLOCK) || mem_create(&vmm.vm.mem, 16 * 4096) ||
			  snapuffd_attach(&uffd, &vmm.vm.mem, uffd_sock, deadline_ms, err, sizeof(err)) ||
			  snapuffd_watch(&uffd, true, on_uffd_fail, NULL))) {
		fprintf(stderr, "vmm-threads: the Uffd backend: %s\n", err);
		goto out;
	}
	if (uffd_sock)
		vmm.uffd = &uffd;
	if (wset_path && !uffd_sock && start_prefetch(wset_path, err, sizeof(err))) {
		fprintf(stderr, "vmm-threads: --prefetch %s: %s\n", wset_path, err);
		goto out;
	}
	if (pthread_create(&vmm.vm.vcpus[0].thread, NULL, vcpu_thread, NULL)) {
		fprintf(stderr, "vmm-threads: cannot start the vCPU thread\n");
		goto out;
	}
	vmm.vm.vcpus[0].started = true;
	if (seccomp_install(SECCOMP_VMM)) {
		vm_stop(&vmm.vm, 1, "no seccomp filter");
		vm_join(&vmm.vm);
		goto out;
	}
	vmm.built = true;
	vmm.state = VMM_RUNNING;
	ctl.serving = true;
	status = vmm_run(&vmm); /* joins the vCPU thread */
out:
	control_destroy(&ctl);
	vmm.vm.vcpus[0].run = NULL; /* not an mmap'ed kvm_run: nothing for vm_destroy to unmap */
	vmm_destroy(&vmm);
	wsetfile_free(&wset);
	return status;
}
