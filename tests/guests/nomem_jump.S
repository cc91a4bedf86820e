/* Test guest: jumps to a guest-physical address that neither RAM nor a device backs
 * (0xe0000000: above the RAM of the tests, below the LAPIC, past the virtio-mmio windows at
 * 0xd0000000; the boot page tables map it). KVM cannot fetch the instruction there and
 * stops with an internal error (emulation failure), which the VMM must report with where
 * the vCPU was. */
	.code64
	.text
	.globl _start
_start:
	mov	$0xe0000000, %eax
	jmp	*%rax
