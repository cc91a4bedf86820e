/* VMM runtime: event loop wiring (signals, stdin, stop) and building a VM from a config. */
#include "vmm.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "loader.h"
#include "log.h"
#include "prefetch.h"
#include "snaplazy.h"
#include "snapuffd.h"
#include "vmm_attach.h"
#include "vmm_seccomp.h"
#include "virtio/virtio.h"

#define MAX_KERNEL_SIZE (512u << 20)
#define MAX_INITRD_SIZE (1024u << 20)

static void on_stop(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	uint64_t x;

	(void)events;
	if (read(v->vm.stop_efd, &x, sizeof(x)) < 0 && errno != EAGAIN)
		log_debug("stop eventfd read: %s", strerror(errno));
	vmm_quit(v);
}

/* SIGUSR1: what every vCPU and virtqueue is doing, on stderr; the VM goes on. */
static void diagnose(struct vmm *v)
{
	static const char none[] = "kindling: diag: no microVM is running\n";
	/* Non-blocking, as log lines: a stalled stderr reader costs lines, not the event loop. */
	int fd = log_stderr_fd();

	if (!v->built) {
		if (write(fd, none, sizeof(none) - 1) < 0)
			log_debug("diagnostics not written: %s", strerror(errno));
		return;
	}
	vm_diag_collect(&v->vm, 1000);
	vm_diag_print(&v->vm, fd);
	device_list_diag(&v->devices, fd);
}

static void on_signal(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(v->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR1) {
		diagnose(v);
		return;
	}
	if (v->built) {
		vm_stop(&v->vm, 128 + (int)si.ssi_signo, "stopped by signal %u", si.ssi_signo);
	} else {
		v->vm.exit_status = 128 + (int)si.ssi_signo;
		snprintf(v->vm.exit_reason, sizeof(v->vm.exit_reason), "stopped by signal %u", si.ssi_signo);
		vmm_quit(v);
	}
}

static void on_stdin(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	uint8_t buf[SERIAL_FIFO];
	struct serial *s = devices_serial(&v->devices);
	size_t room = s ? serial_rx_free(s) : 0;
	ssize_t n;

	(void)events;
	if (room == 0)
		return; /* stays disarmed until the guest drains the FIFO */
	n = read(STDIN_FILENO, buf, room);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			goto rearm;
		evloop_del(&v->loop, STDIN_FILENO); /* EOF: no more input */
		v->stdin_watched = false;
		return;
	}
	serial_input(s, buf, (size_t)n);
	if (serial_rx_free(s) == 0)
		return;
rearm:
	if (evloop_rearm(&v->loop, STDIN_FILENO, EPOLLIN | EPOLLONESHOT))
		log_debug("stdin rearm failed");
}

/* From a vCPU thread: the guest emptied the RX FIFO, so stdin may be read again. Only the
 * event loop touches the epoll set (the vCPU filter has no epoll_ctl): wake it up. */
static void on_rx_space(void *opaque)
{
	struct vmm *v = opaque;
	uint64_t one = 1;

	/* A full counter (EAGAIN) already means "wake up". */
	if (write(v->rx_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("rx eventfd write: %s", strerror(errno));
}

static void on_rx_wakeup(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	uint64_t x;

	(void)events;
	if (read(v->rx_efd, &x, sizeof(x)) < 0 && errno != EAGAIN)
		log_debug("rx eventfd read: %s", strerror(errno));
	if (v->stdin_watched && evloop_rearm(&v->loop, STDIN_FILENO, EPOLLIN | EPOLLONESHOT))
		log_debug("stdin rearm failed");
}

int vmm_watch(struct vmm *v)
{
	struct serial *s = devices_serial(&v->devices);
	int r = evloop_add(&v->loop, v->vm.stop_efd, EPOLLIN, on_stop, v);

	if (r)
		return r;
	if (!s)
		return 0; /* no console: no input to watch */
	/* stdin may be a file or /dev/null, which epoll refuses: then there is no input. */
	if (evloop_add(&v->loop, STDIN_FILENO, EPOLLIN | EPOLLONESHOT, on_stdin, v))
		return 0;
	v->stdin_watched = true;
	v->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->rx_efd < 0)
		return -errno;
	r = evloop_add(&v->loop, v->rx_efd, EPOLLIN, on_rx_wakeup, v);
	if (r)
		return r;
	s->rx_space = on_rx_space;
	s->rx_space_opaque = v;
	return 0;
}

int vmm_init(struct vmm *v, char *err, size_t errlen)
{
	sigset_t set;
	int r;

	/* The console buffer inside v->out is not cleared here (outbuf_start leaves it alone),
	 * so that its pages are only allocated when the guest writes. */
	memset(&v->vm, 0, sizeof(v->vm));
	memset(&v->loop, 0, sizeof(v->loop));
	v->stdin_watched = v->built = v->exiting = false;
	v->devices.n = 0;
	v->io_fds.nr_blk = v->io_fds.nr_tap = 0;
	v->uffd = NULL;
	v->lazy = NULL;
	v->prefetch = NULL;
	v->snapshot_verify = SNAPSHOT_VERIFY_DEFAULT;
	v->state = VMM_NOT_STARTED;
	v->sig_fd = v->rx_efd = -1;
	v->vm.kvm_fd = v->vm.vm_fd = v->vm.stop_efd = -1;
	/* Blocked before any thread starts, so every thread inherits the mask and the signals
	 * arrive only through the signalfd on the event loop. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1); /* diagnostics */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A closed stdout pipe must not kill us; the console writer counts the bytes as dropped. */
	signal(SIGPIPE, SIG_IGN);
	/* Log lines come from vCPUs too, some under a device lock: a stalled stderr reader
	 * must cost lines, never a blocked thread. */
	log_nonblocking_stderr();

	r = evloop_init(&v->loop);
	if (r)
		goto fail;
	v->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (v->sig_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = evloop_add(&v->loop, v->sig_fd, EPOLLIN, on_signal, v);
	if (r)
		goto fail;
	r = outbuf_start(&v->out, STDOUT_FILENO);
	if (r)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot set up the event loop: %s", strerror(-r));
	return r;
}

int vmm_open_boot_files(const struct vmm_config *cfg, struct vmm_boot_files *f, char *err, size_t errlen)
{
	int r;

	memset(f, 0, sizeof(*f));
	f->kernel_fd = f->initrd_fd = -1;
	if (!cfg->kernel_path)
		return errorf(err, errlen, -EINVAL, "no kernel: set a boot source first");
	r = loader_map_file(cfg->kernel_path, MAX_KERNEL_SIZE, &f->kernel, &f->kernel_size, &f->kernel_fd, err,
			    errlen);
	if (!r && cfg->initrd_path)
		r = loader_map_file(cfg->initrd_path, MAX_INITRD_SIZE, &f->initrd, &f->initrd_size, &f->initrd_fd, err,
				    errlen);
	/* The loader's reason alone does not say which file. */
	if (!r && (r = loader_check_kernel(f->kernel, f->kernel_size, err, errlen)))
		errwrap(err, errlen, r, "%s", cfg->kernel_path);
	if (r)
		vmm_close_boot_files(f);
	return r;
}

void vmm_close_boot_files(struct vmm_boot_files *f)
{
	loader_unmap_file(f->kernel, f->kernel_size);
	loader_unmap_file(f->initrd, f->initrd_size);
	if (f->kernel_fd >= 0)
		close(f->kernel_fd);
	if (f->initrd_fd >= 0)
		close(f->initrd_fd);
	memset(f, 0, sizeof(*f));
	f->kernel_fd = f->initrd_fd = -1;
}

static int check_mem_size(const struct vmm_config *cfg, char *err, size_t errlen)
{
	if (cfg->mem_size_mib == 0 || cfg->mem_size_mib > (1u << 20))
		return errorf(err, errlen, -EINVAL, "memory size %llu MiB is outside 1..%u",
			      (unsigned long long)cfg->mem_size_mib, 1u << 20);
	return 0;
}

/* A VM loaded with the Uffd backend: wake the faults still waiting on its handler (a dead
 * or stuck one would keep the vCPUs from ever being joined) and close the link. */
static void release_uffd(struct vmm *v)
{
	if (v->uffd)
		snapuffd_release(v->uffd);
	v->uffd = NULL;
	/* The same for the lazy verifier, which may have refused a chunk a vCPU waits on. */
	if (v->lazy)
		snaplazy_release(v->lazy);
	v->lazy = NULL;
}

/* A restore's prefetch thread: stopped and joined while guest RAM is still mapped. */
static void release_prefetch(struct vmm *v)
{
	if (v->prefetch)
		prefetch_stop(v->prefetch);
	v->prefetch = NULL;
}

void vmm_uncreate(struct vmm *v)
{
	release_prefetch(v);
	release_uffd(v);
	vmm_detach_devices(v);
	if (v->vm.stop_efd >= 0)
		evloop_del(&v->loop, v->vm.stop_efd);
	if (v->stdin_watched)
		evloop_del(&v->loop, STDIN_FILENO);
	v->stdin_watched = false;
	if (v->rx_efd >= 0) {
		evloop_del(&v->loop, v->rx_efd);
		close(v->rx_efd);
	}
	v->rx_efd = -1;
	vm_destroy(&v->vm);
	v->vm.kvm_fd = v->vm.vm_fd = v->vm.stop_efd = -1;
	v->created = false;
	v->restored = false;
	v->cfg = NULL;
}

int vmm_create(struct vmm *v, const struct vmm_config *cfg, const struct vmm_ram *ram, char *err, size_t errlen)
{
	struct vm_config vc = { .nr_vcpus = cfg->vcpu_count, .mem_size = cfg->mem_size_mib << 20,
				.boot_timer = cfg->boot_timer, .seccomp = v->seccomp, .t_main_ns = v->t_main_ns,
				.setup = &v->setup, .dirty_log = cfg->track_dirty_pages };
	uint64_t t0_wall, t0_cpu;
	int r;

	if (v->built || v->created)
		return errorf(err, errlen, -EBUSY, "the microVM is already running");
	if ((r = check_mem_size(cfg, err, errlen)))
		return r;
	if (ram) {
		vc.mem_from_fd = true;
		vc.mem_fd = ram->fd;
		vc.mem_private = ram->private;
		vc.mem_zero = ram->zero;
		vc.mem_nr_zero = ram->nr_zero;
		vc.mem_small_pages = ram->small_pages;
	}
	/* A restore times its phases from its own start too (vmm_build already began). */
	setuptime_begin(&v->setup, v->t_main_ns);
	/* The console writer compiles and loads its filter on its own core while this thread
	 * builds the VM; vmm_start only checks that it is on. */
	if (v->seccomp)
		outbuf_sandbox_request(&v->out);
	/* The boot timer counts from here, as it did before the VM was created. */
	t0_wall = now_ns();
	t0_cpu = cpu_now_ns();
	r = vm_create(&v->vm, &vc, err, errlen);
	if (r)
		goto fail;
	r = devices_setup(&v->vm, &v->devices, &v->out, t0_wall, t0_cpu, err, errlen);
	if (r) {
		errwrap(err, errlen, r, "cannot set up the console devices");
		goto fail;
	}
	r = vmm_attach_devices(v, cfg, err, errlen);
	if (r)
		goto fail;
	setuptime_mark(&v->setup, SETUP_DEVICES);
	r = vm_create_vcpus(&v->vm, err, errlen);
	if (r)
		goto fail;
	setuptime_mark(&v->setup, SETUP_VCPUS);
	v->created = true;
	v->cfg = cfg;
	return 0;
fail:
	vmm_uncreate(v);
	return r;
}

static char *full_cmdline(const struct vmm_config *cfg, const char *extra)
{
	const char *base = cfg->boot_args ? cfg->boot_args : DEFAULT_BOOT_ARGS;
	size_t n = strlen(base) + strlen(extra) + 1;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s%s", base, extra);
	return s;
}

int vmm_load_guest(struct guest_mem *m, const struct vmm_config *cfg, const struct vmm_boot_files *f,
		   const char *cmdline_extra, struct setup_times *st, struct boot_entry *entry, char *err,
		   size_t errlen)
{
	struct kernel_info ki;
	struct boot_config bc;
	char *cmdline = NULL;
	int r;

	mem_use_hugepages(m);
	r = loader_load_kernel_fd(m, f->kernel, f->kernel_size, f->kernel_fd, &ki, err, errlen);
	if (r) {
		errwrap(err, errlen, r, "%s", cfg->kernel_path);
		goto out;
	}
	setuptime_mark(st, SETUP_KERNEL);
	cmdline = full_cmdline(cfg, cmdline_extra);
	if (!cmdline) {
		r = errorf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	bc = (struct boot_config){ .cmdline = cmdline, .initrd = f->initrd_fd >= 0 ? NULL : f->initrd,
				   .initrd_fd = f->initrd_fd, .initrd_size = f->initrd_size,
				   .nr_vcpus = cfg->vcpu_count, .protocol = cfg->protocol };
	r = boot_setup(m, &ki, &bc, entry, err, errlen);
	if (r)
		goto out;
	setuptime_mark(st, SETUP_BOOT);
	log_debug("booting %s via %s entry at 0x%llx, %d vCPU(s), %llu MiB, cmdline \"%s\"", cfg->kernel_path,
		  entry->protocol == BOOT_PVH ? "PVH" : "64-bit Linux", (unsigned long long)entry->rip,
		  cfg->vcpu_count, (unsigned long long)cfg->mem_size_mib, cmdline);
out:
	mem_end_hugepages(m);
	free(cmdline);
	return r;
}

int vmm_boot(struct vmm *v, const struct vmm_config *cfg, const struct vmm_boot_files *f, char *err, size_t errlen)
{
	struct boot_entry entry;
	int r;

	if (!v->created || v->built)
		return errorf(err, errlen, -EINVAL, "boot needs a created microVM that has not started");
	r = vmm_load_guest(&v->vm.mem, cfg, f, v->vm.cmdline_extra, &v->setup, &entry, err, errlen);
	if (r)
		return r;
	r = vm_boot_vcpus(&v->vm, &entry, err, errlen);
	if (r)
		return r;
	setuptime_mark(&v->setup, SETUP_REGS);
	return 0;
}

int vmm_save(struct vmm *v, struct vmm_kvm_state *st, char *err, size_t errlen)
{
	struct vm *vm = &v->vm;
	uint32_t msrs[CPU_MAX_MSRS], nr_msrs;
	int r;

	memset(st, 0, sizeof(*st));
	if (!v->created)
		return errorf(err, errlen, -EINVAL, "no microVM to save");
	r = cpu_msrs_to_save(vm->kvm_fd, msrs, &nr_msrs);
	if (r)
		return errorf(err, errlen, r, "KVM_GET_MSR_INDEX_LIST: %s", strerror(-r));
	r = vm_save_kvm(vm, &st->kvm, err, errlen);
	if (r)
		return r;
	st->nr_cpus = vm->nr_vcpus;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		r = cpu_save(&vm->vcpus[i], msrs, nr_msrs, &st->cpus[i], err, errlen);
		if (r)
			return r;
	}
	return 0;
}

int vmm_restore(struct vmm *v, const struct vmm_kvm_state *st, const void *devices, size_t devices_len, char *err,
		size_t errlen)
{
	struct vm *vm = &v->vm;
	struct cpu_tsc tsc = { 0 };
	int r;

	if (!v->created || v->built)
		return errorf(err, errlen, -EINVAL, "restore needs a created microVM that has not started");
	if (st->nr_cpus != vm->nr_vcpus)
		return errorf(err, errlen, -EINVAL, "the state has %d vCPUs, the microVM %d", st->nr_cpus, vm->nr_vcpus);
	/* The VM's clock, PIT and interrupt controllers before the vCPUs: a LAPIC restored
	 * first could deliver into a PIC still in its reset state. */
	r = vm_restore_kvm(vm, &st->kvm, err, errlen);
	if (r)
		return r;
	/* Every vCPU restarts from the largest TSC saved: they were read one after the other,
	 * each later one ahead by the time between the reads, and restarting them all from
	 * vCPU 0's took a later vCPU's TSC backwards (lab.kvm.state_roundtrip_smp2: 0.74 M
	 * cycles). */
	for (int i = 0; i < vm->nr_vcpus; i++)
		if (cpu_saved_tsc(&st->cpus[i]) > tsc.value)
			tsc.value = cpu_saved_tsc(&st->cpus[i]);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		r = cpu_restore(&vm->vcpus[i], &st->cpus[i], &tsc, err, errlen);
		if (r)
			return r;
	}
	/* The devices last: an activated virtio queue registers its ioeventfd and irqfd with
	 * the VM, and a restored UART may raise its line into the restored irqchip. */
	r = device_list_restore(&v->devices, devices, devices_len, err, errlen);
	v->restored = !r;
	if (!r) /* the saved vCPUs, VM and devices: a restore's "regs" */
		setuptime_mark(&v->setup, SETUP_REGS);
	return r;
}

int vmm_start(struct vmm *v, char *err, size_t errlen)
{
	return vmm_start_paused(v, false, err, errlen);
}

int vmm_start_paused(struct vmm *v, bool paused, char *err, size_t errlen)
{
	int r;

	if (!v->created || v->built)
		return errorf(err, errlen, -EINVAL, "start needs a created microVM that has not started");
	r = vmm_watch(v);
	if (r) {
		errorf(err, errlen, r, "event loop: %s", strerror(-r));
		goto fail;
	}
	/* The console writer's filter (asked for by vmm_create) is on before the guest runs. */
	if (v->seccomp && (r = outbuf_sandbox(&v->out))) {
		errorf(err, errlen, r, "cannot install the console thread's seccomp filter: %s", strerror(-r));
		goto fail;
	}
	/* Paused: each vCPU parks before its first KVM_RUN, until vmm_pause(v, false). */
	v->vm.pause_requested = paused;
	v->vm.time_restore = v->restored && !paused;
	setuptime_mark(&v->setup, SETUP_START);
	r = vm_start(&v->vm);
	if (r) {
		errorf(err, errlen, r, "cannot start the vCPUs: %s", strerror(-r));
		vm_join(&v->vm);
		goto fail;
	}
	/* As Firecracker: the VMM thread's filter goes on once the vCPUs run, before the event
	 * loop handles anything the guest did. */
	if (v->seccomp && (r = seccomp_install_io(SECCOMP_VMM, SECCOMP_KILL, &v->io_fds))) {
		errorf(err, errlen, r, "cannot install the VMM thread's seccomp filter: %s", strerror(-r));
		vm_stop(&v->vm, 1, "no seccomp filter");
		vm_join(&v->vm);
		goto fail;
	}
	v->built = true;
	v->state = paused ? VMM_PAUSED : VMM_RUNNING;
	/* Building allocated and freed scratch (JSON, loader, device set-up): hand it back so
	 * the running VMM's footprint is what it uses, not what start-up needed. */
	malloc_trim(0);
	return 0;
fail:
	vmm_uncreate(v);
	return r;
}

int vmm_build(struct vmm *v, const struct vmm_config *cfg, char *err, size_t errlen)
{
	struct vmm_boot_files f;
	int r;

	if (v->built || v->created)
		return errorf(err, errlen, -EBUSY, "the microVM is already running");
	setuptime_begin(&v->setup, v->t_main_ns);
	r = config_validate(cfg, err, errlen);
	if (r)
		return r;
	/* The files first: a wrong path is reported as such even on a host without KVM. */
	r = vmm_open_boot_files(cfg, &f, err, errlen);
	if (r)
		return r;
	setuptime_mark(&v->setup, SETUP_FILES);
	r = vmm_create(v, cfg, NULL, err, errlen);
	if (!r && (r = vmm_boot(v, cfg, &f, err, errlen)))
		vmm_uncreate(v);
	if (!r)
		r = vmm_start(v, err, errlen);
	vmm_close_boot_files(&f);
	return r;
}

int vmm_pause(struct vmm *v, bool pause, char *err, size_t errlen)
{
	int r;

	if (v->state == VMM_NOT_STARTED)
		return errorf(err, errlen, -EINVAL, "the microVM is not started");
	if (pause == (v->state == VMM_PAUSED))
		return 0;
	r = vm_pause(&v->vm, pause);
	if (r)
		return errorf(err, errlen, r, "%s", r == -ESHUTDOWN ? "the VM is shutting down" : "vCPUs did not respond");
	v->state = pause ? VMM_PAUSED : VMM_RUNNING;
	return 0;
}

void vmm_quit(struct vmm *v)
{
	v->exiting = true;
	evloop_quit(&v->loop);
}

static void report(struct vmm *v)
{
	struct vm *vm = &v->vm;
	uint64_t io = 0, mmio = 0;

	for (int i = 0; i < vm->nr_vcpus; i++) {
		io += vm->vcpus[i].exits[EXIT_IO];
		mmio += vm->vcpus[i].exits[EXIT_MMIO];
	}
	log_info("VM stopped: %s (exit status %d)", vm->exit_reason, vm->exit_status);
	log_debug("exits: io %llu, mmio %llu; unclaimed pio reads %llu, writes %llu; serial bytes dropped %llu",
		  (unsigned long long)io, (unsigned long long)mmio, (unsigned long long)vm->pio.unclaimed_reads,
		  (unsigned long long)vm->pio.unclaimed_writes, (unsigned long long)v->out.dropped);
	if (v->out.dropped)
		log_warn("serial output stalled: %llu bytes dropped", (unsigned long long)v->out.dropped);
}

int vmm_run(struct vmm *v)
{
	if (evloop_run(&v->loop) && v->built)
		vm_stop(&v->vm, 1, "event loop failed: %s", strerror(errno));
	if (v->built) {
		if (!v->vm.stopping)
			vm_stop(&v->vm, v->vm.exit_status, "VMM shutting down");
		release_uffd(v);
		vm_join(&v->vm);
		release_prefetch(v);
		outbuf_stop(&v->out, 2000);
		report(v);
	}
	return v->vm.exit_status;
}

void vmm_destroy(struct vmm *v)
{
	outbuf_stop(&v->out, 2000);
	release_uffd(v);
	if (v->built)
		vm_join(&v->vm);
	release_prefetch(v);
	vmm_detach_devices(v);
	vm_destroy(&v->vm);
	if (v->sig_fd >= 0)
		close(v->sig_fd);
	if (v->rx_efd >= 0)
		close(v->rx_efd);
	v->sig_fd = v->rx_efd = -1;
	evloop_destroy(&v->loop);
}
