/* vCPU diagnostics for a VM that seems stuck: each vCPU reports its own registers (KVM only
 * lets the thread in KVM_RUN give them up), the VMM thread prints them. Nothing is changed:
 * the VM keeps running. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "vm.h"

void vcpu_diag_answer(struct vcpu *v)
{
	struct vcpu_diag *d = &v->diag;

	if (!v->diag_requested)
		return;
	memset(d, 0, sizeof(*d));
	if (ioctl(v->fd, KVM_GET_REGS, &d->regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &d->sregs) < 0 ||
	    ioctl(v->fd, KVM_GET_MP_STATE, &d->mp) < 0)
		d->err = -errno;
	d->valid = true;
	__atomic_store_n(&v->diag_requested, false, __ATOMIC_SEQ_CST);
	v->vm->diag_answers++;
	pthread_cond_broadcast(&v->vm->pause_cond);
}

void vm_diag_collect(struct vm *vm, int timeout_ms)
{
	struct timespec deadline;
	int asked = 0, r = 0;

	deadline_after_ms(&deadline, timeout_ms);
	pthread_mutex_lock(&vm->pause_lock);
	vm->diag_answers = 0;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->diag.valid = false;
		__atomic_store_n(&v->diag_requested, v->started, __ATOMIC_SEQ_CST);
		if (!v->started)
			continue;
		asked++;
		/* immediate_exit covers a kick that lands just before KVM_RUN is entered. */
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		vcpu_kick(v);
	}
	pthread_cond_broadcast(&vm->pause_cond); /* parked vCPUs answer from park() */
	while (vm->diag_answers < asked && !r)
		r = pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &deadline);
	for (int i = 0; i < vm->nr_vcpus; i++)
		__atomic_store_n(&vm->vcpus[i].diag_requested, false, __ATOMIC_SEQ_CST); /* no late answer */
	pthread_mutex_unlock(&vm->pause_lock);
}

static const char *exit_name(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN",       [KVM_EXIT_IO] = "IO",
		[KVM_EXIT_HLT] = "HLT",               [KVM_EXIT_MMIO] = "MMIO",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",     [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[KVM_EXIT_INTR] = "INTR",             [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	};

	if (reason < ARRAY_SIZE(names) && names[reason])
		return names[reason];
	return "other";
}

static const char *mp_name(uint32_t state)
{
	static const char *const names[] = { "RUNNABLE", "UNINITIALIZED", "INIT_RECEIVED", "HALTED",
					     "SIPI_RECEIVED", "STOPPED", "CHECK_STOP", "OPERATING", "LOAD" };

	return state < ARRAY_SIZE(names) ? names[state] : "?";
}

/* The registers both reports give, as "rip=... rflags=... cr0=... cr3=... cr4=... efer=...";
 * snprintf's count. */
static int format_regs(char *buf, size_t len, const struct kvm_regs *regs, const struct kvm_sregs *sregs)
{
	return snprintf(buf, len, "rip=0x%llx rflags=0x%llx cr0=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx",
			(unsigned long long)regs->rip, (unsigned long long)regs->rflags,
			(unsigned long long)sregs->cr0, (unsigned long long)sregs->cr3,
			(unsigned long long)sregs->cr4, (unsigned long long)sregs->efer);
}

void vcpu_describe_stop(struct vcpu *v, char *buf, size_t len)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int n;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(buf, len, "registers unreadable: %s", strerror(errno));
		return;
	}
	n = format_regs(buf, len, &regs, &sregs);
	if (n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " cs.base=0x%llx", (unsigned long long)sregs.cs.base);
}

void vm_diag_print(const struct vm *vm, int fd)
{
	for (int i = 0; i < vm->nr_vcpus; i++) {
		const struct vcpu *v = &vm->vcpus[i];
		const struct vcpu_diag *d = &v->diag;
		char line[512];
		int n;

		n = snprintf(line, sizeof(line), "kindling: diag: vcpu%d: ", v->id);
		if (!v->started)
			n += snprintf(line + n, sizeof(line) - (size_t)n, "not started");
		else if (!d->valid)
			n += snprintf(line + n, sizeof(line) - (size_t)n, "no answer (still in KVM_RUN?)");
		else if (d->err)
			n += snprintf(line + n, sizeof(line) - (size_t)n, "registers unreadable: %s", strerror(-d->err));
		else {
			n += format_regs(line + n, sizeof(line) - (size_t)n, &d->regs, &d->sregs);
			n += snprintf(line + n, sizeof(line) - (size_t)n, " mp_state=%s", mp_name(d->mp.mp_state));
		}
		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      "; exits io=%llu mmio=%llu intr=%llu other=%llu last=%s(%u)\n",
			      (unsigned long long)v->exits[EXIT_IO], (unsigned long long)v->exits[EXIT_MMIO],
			      (unsigned long long)v->exits[EXIT_INTR], (unsigned long long)v->exits[EXIT_OTHER],
			      exit_name(v->last_exit), v->last_exit);
		if (n > (int)sizeof(line) - 1)
			n = (int)sizeof(line) - 1;
		if (write(fd, line, (size_t)n) < 0)
			return;
	}
}
