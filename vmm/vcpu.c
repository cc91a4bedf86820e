/* The vCPU threads: one run loop each, one switch on the exit reason. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "log.h"
#include "util.h"
#include "vm.h"
#include "vmm_seccomp.h"

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* String I/O (rep ins/outs) arrives as `count` back-to-back accesses. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		bus_access(&v->vm->pio, run->io.port, data, run->io.size, is_write);
}

/* Waits while the VM is paused. The vCPU's state stays in KVM, untouched. */
static void park(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_paused++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (vm->pause_requested && !__atomic_load_n(&vm->stopping, __ATOMIC_SEQ_CST)) {
		vcpu_diag_answer(v);
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	}
	vm->nr_paused--;
	pthread_cond_broadcast(&vm->pause_cond);
	if (!__atomic_load_n(&vm->stopping, __ATOMIC_SEQ_CST))
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->pause_lock);
}

int vm_pause(struct vm *vm, bool pause)
{
	struct timespec deadline;
	int r = 0;

	deadline_after_ms(&deadline, 5000);
	pthread_mutex_lock(&vm->pause_lock);
	__atomic_store_n(&vm->pause_requested, pause, __ATOMIC_SEQ_CST);
	if (pause) {
		for (int i = 0; i < vm->nr_vcpus; i++) {
			__atomic_store_n(&vm->vcpus[i].run->immediate_exit, 1, __ATOMIC_SEQ_CST);
			vcpu_kick(&vm->vcpus[i]);
		}
		while (vm->nr_paused < vm->nr_vcpus && !vm->stopping && !r)
			r = pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &deadline);
	} else {
		pthread_cond_broadcast(&vm->pause_cond);
		while (vm->nr_paused > 0 && !vm->stopping && !r)
			r = pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &deadline);
	}
	pthread_mutex_unlock(&vm->pause_lock);
	if (vm->stopping)
		return -ESHUTDOWN;
	return r ? -ETIMEDOUT : 0;
}

/* Answers a diagnostic request, if one is pending, between two KVM_RUNs, then lets KVM_RUN
 * run again unless a pause or a stop wants it out. */
static void answer_diag(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->pause_lock);
	vcpu_diag_answer(v);
	if (!vm->pause_requested && !__atomic_load_n(&vm->stopping, __ATOMIC_SEQ_CST))
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->pause_lock);
}

/* Notes when this vCPU first enters KVM_RUN; after a restore that resumed at once, the last
 * vCPU to get there logs restore_ms: from the load request (or process start, for
 * --restore) to every vCPU running, as benches/snapshot.sh reads it. */
static void first_run(struct vcpu *v)
{
	struct vm *vm = v->vm;
	uint64_t t = now_ns();

	__atomic_store_n(&v->t_first_run_ns, t, __ATOMIC_RELEASE);
	if (vm->time_restore && vm->cfg.t_main_ns &&
	    __atomic_add_fetch(&vm->first_runs, 1, __ATOMIC_SEQ_CST) == vm->nr_vcpus) {
		char phases[400];

		/* With where it went, as vmm_setup_ms says it (the phases a restore runs; "rest":
		 * the vCPU threads' start and filters; with --boot-timer, "seccomp" is the boot
		 * vCPU's filter, when it came first). */
		if (vm->cfg.setup)
			setuptime_format(vm->cfg.setup, t, phases, sizeof(phases));
		else
			snprintf(phases, sizeof(phases), "%.3f", (double)(t - vm->cfg.t_main_ns) / 1e6);
		log_info("restore_ms %s, every vCPU in KVM_RUN", phases);
	}
}

/* KVM_EXIT_INTERNAL_ERROR: stops the VM saying which error, KVM's words about it (for an
 * emulation failure the exit's details, and the instruction's bytes where KVM gives them)
 * and where the vCPU was, so that a guest that jumped into memory no slot backs (or a KVM
 * bug) can be told apart afterwards. */
static void internal_error(struct vcpu *v)
{
	static const char *const names[] = {
		[KVM_INTERNAL_ERROR_EMULATION] = "emulation failure",
		[KVM_INTERNAL_ERROR_SIMUL_EX] = "exception while delivering an exception",
		[KVM_INTERNAL_ERROR_DELIVERY_EV] = "failure delivering an event",
		[KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON] = "unexpected exit reason",
	};
	const struct kvm_run *run = v->run;
	uint32_t sub = run->internal.suberror, nd = run->internal.ndata;
	char data[200] = "", where[160];
	size_t n = 0;

	if (nd > ARRAY_SIZE(run->internal.data))
		nd = ARRAY_SIZE(run->internal.data);
	for (uint32_t i = 0; i < nd && n < sizeof(data); i++)
		n += (size_t)snprintf(data + n, sizeof(data) - n, "%s0x%llx", i ? " " : "",
				      (unsigned long long)run->internal.data[i]);
	vcpu_describe_stop(v, where, sizeof(where));
	vm_stop(v->vm, 1, "vCPU %d: KVM internal error, suberror %u (%s), data [%s]; %s", v->id, sub,
		sub < ARRAY_SIZE(names) && names[sub] ? names[sub] : "unknown", data, where);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	bool io_pending = false; /* the last exit was an access KVM completes on re-entry */
	char name[16], where[160];

	v->self = pthread_self();
	__atomic_store_n(&v->kickable, true, __ATOMIC_SEQ_CST);
	snprintf(name, sizeof(name), "kindling-vcpu%d", v->id);
	pthread_setname_np(pthread_self(), name);
	if (vm->cfg.seccomp && seccomp_install(SECCOMP_VCPU)) {
		vm_stop(vm, 1, "vCPU %d: cannot install its seccomp filter", v->id);
		return NULL;
	}
	if (v->id == 0 && vm->cfg.boot_timer && vm->cfg.t_main_ns) {
		char phases[400] = "";

		if (vm->cfg.setup) {
			setuptime_mark(vm->cfg.setup, SETUP_SECCOMP);
			setuptime_format(vm->cfg.setup, now_ns(), phases, sizeof(phases));
			log_info("vmm_setup_ms %s", phases);
		} else {
			log_info("vmm_setup_ms %.3f", (double)(now_ns() - vm->cfg.t_main_ns) / 1e6);
		}
	}

	while (!__atomic_load_n(&vm->stopping, __ATOMIC_SEQ_CST)) {
		if (__atomic_load_n(&vm->pause_requested, __ATOMIC_SEQ_CST)) {
			/* KVM finishes an I/O or MMIO instruction only on the next KVM_RUN, and
			 * keeps that pending state out of what userspace can read or save: run
			 * once with immediate_exit, which completes it and executes nothing
			 * else, so that a paused vCPU's saved state is consistent. */
			if (io_pending) {
				__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
			} else {
				park(v);
				/* park cleared immediate_exit if it saw no stop; a stop that came
				 * after it looked (its kick already spent) is seen here. */
				continue;
			}
		}
		if (!v->t_first_run_ns)
			first_run(v);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			io_pending = false;
			if (errno == EINTR || errno == EAGAIN) {
				v->exits[EXIT_INTR]++;
				/* Also after a request that timed out: immediate_exit must not stay set. */
				if (__atomic_load_n(&v->diag_requested, __ATOMIC_SEQ_CST) ||
				    __atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST))
					answer_diag(v);
				continue;
			}
			vm_stop(vm, 1, "vCPU %d: KVM_RUN failed: %s", v->id, strerror(errno));
			break;
		}
		v->last_exit = run->exit_reason;
		io_pending = run->exit_reason == KVM_EXIT_IO || run->exit_reason == KVM_EXIT_MMIO;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			v->exits[EXIT_IO]++;
			handle_io(v);
			break;
		case KVM_EXIT_MMIO:
			v->exits[EXIT_MMIO]++;
			bus_access(&vm->mmio, run->mmio.phys_addr, run->mmio.data,
				   run->mmio.len <= 8 ? run->mmio.len : 8, run->mmio.is_write);
			break;
		case KVM_EXIT_INTR:
			v->exits[EXIT_INTR]++;
			break;
		case KVM_EXIT_HLT:
			/* Only without an in-kernel LAPIC; kept for completeness. */
			vm_stop(vm, 0, "vCPU %d halted", v->id);
			break;
		case KVM_EXIT_SHUTDOWN:
			/* No registers: on AMD, KVM has reset the vCPU's state by now (they would read
			 * as the reset vector). */
			vm_stop(vm, 1, "vCPU %d: guest triple fault (shutdown exit)", v->id);
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			switch (run->system_event.type) {
			case KVM_SYSTEM_EVENT_SHUTDOWN:
				vm_stop(vm, 0, "guest powered off");
				break;
			case KVM_SYSTEM_EVENT_RESET:
				vm_stop(vm, 0, "guest reset");
				break;
			default:
				vm_stop(vm, 1, "guest system event %u (crash)", run->system_event.type);
				break;
			}
			break;
		case KVM_EXIT_FAIL_ENTRY:
			vcpu_describe_stop(v, where, sizeof(where));
			vm_stop(vm, 1, "vCPU %d: entry failed, hardware reason 0x%llx; %s", v->id,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason, where);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			internal_error(v);
			break;
		default:
			v->exits[EXIT_OTHER]++;
			vm_stop(vm, 1, "vCPU %d: unhandled exit reason %u", v->id, run->exit_reason);
			break;
		}
	}
	return NULL;
}

void vcpu_kick(struct vcpu *v)
{
	if (__atomic_load_n(&v->kickable, __ATOMIC_SEQ_CST))
		pthread_kill(v->self, VCPU_KICK_SIGNAL);
}

static void kick_handler(int sig)
{
	(void)sig; /* only here so that KVM_RUN returns EINTR */
}

int vm_start(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigset_t set;
	int r;

	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	/* The vCPU threads inherit this mask: only the kick reaches them. */
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		r = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
		if (r) {
			vm_stop(vm, 1, "cannot start vCPU thread %d: %s", i, strerror(r));
			return -r;
		}
		vm->vcpus[i].started = true;
	}
	return 0;
}
