/* Test guest for the interrupt acknowledgement: virtio-mmio InterruptStatus is taken by the
 * driver's read, and InterruptACK writes end in KVM (an ioeventfd), not in the VMM. It sets
 * up the first device (0xd0000000, virtio-blk), makes a read of sector 0 available and
 * notifies it, waits for the used index to move (interrupts stay off: it polls), then reads
 * InterruptStatus twice: "ISR-TAKEN" when the first read saw bit 0 and the second saw
 * nothing, else "ISR-BAD". It then writes InterruptACK 100000 times, prints "ACKED" and
 * spins, so that the test can ask the VMM (SIGUSR1) how many MMIO exits it took. */
	.code64

#include "virtio_mmio.inc"

	VIRTIO_GUEST_START DEV, RINGS
	VIRTIO_DEV_INIT 0

	VIRTIO_BLK_READ0 HDR, BUF, STS
	movl	$0, QNOTIFY(%rbx)

1:	pause
	cmpw	$0, 0x2002(%r12)
	je	1b
	/* The device raises the interrupt after it publishes the used index: wait for it. */
2:	pause
	mov	INT_STATUS(%rbx), %eax
	test	$1, %eax
	jz	2b
	mov	INT_STATUS(%rbx), %eax
	test	%eax, %eax
	jnz	bad
	lea	m_taken(%rip), %rsi
	mov	$(m_taken_end - m_taken), %ecx
	call	print

	mov	$100000, %ecx
3:	movl	$1, INT_ACK(%rbx)
	dec	%ecx
	jnz	3b
	lea	m_acked(%rip), %rsi
	mov	$(m_acked_end - m_acked), %ecx
	call	print
4:	pause
	jmp	4b

bad:	lea	m_bad(%rip), %rsi
	mov	$(m_bad_end - m_bad), %ecx
	call	print
5:	hlt
	jmp	5b

print:
	mov	$0x3f8, %dx
	rep outsb
	ret

	.section .rodata
m_taken: .ascii "ISR-TAKEN\n"
m_taken_end:
m_acked: .ascii "ACKED\n"
m_acked_end:
m_bad:	.ascii "ISR-BAD\n"
m_bad_end:
