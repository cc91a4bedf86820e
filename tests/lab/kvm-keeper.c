/* kvm-keeper: holds one idle KVM VM open in the lab's L1 for the whole run.
 *
 * Why (tests/lab/README.md, "The L1 lockup"): creating the first KVM VM in L1 and destroying
 * the last one flips static keys (preempt notifiers; the LAPIC's deferred keys), and L1's
 * kernel live-patches those branch sites with text_poke_bp (a temporary int3). QEMU 7.2's
 * multi-threaded TCG now and then keeps running a stale translation that still holds the
 * int3, and both L1 CPUs trap there forever. With a VM (irqchip + one vCPU that never runs)
 * held from before the first test to the end, the keys never flip back and forth.
 *
 * Built static by prepare.sh into the L1 initramfs; run by the lab's init before the command.
 * It creates the VM, then forks: the child keeps the fds (and so the VM) until L1 powers off,
 * and the parent exits 0 only once the VM exists, so that init knows it is in place before
 * the first test. Silent unless something fails. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "kvm-keeper: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	int kvm, vm, vcpu;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		return fail("KVM_SET_TSS_ADDR");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail("KVM_CREATE_IRQCHIP");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	switch (fork()) {
	case -1:
		return fail("fork");
	case 0:
		setsid();
		for (;;)
			pause();
	default:
		return 0;
	}
}
