/* Test guest for the interrupt acknowledgement: virtio-mmio InterruptStatus is taken by the
 * driver's read, and InterruptACK writes end in KVM (an ioeventfd), not in the VMM. It sets
 * up the first device (0xd0000000, virtio-blk), makes a read of sector 0 available and
 * notifies it, waits for the used index to move (interrupts stay off: it polls), then reads
 * InterruptStatus twice: "ISR-TAKEN" when the first read saw bit 0 and the second saw
 * nothing, else "ISR-BAD". It then writes InterruptACK 100000 times, prints "ACKED" and
 * spins, so that the test can ask the VMM (SIGUSR1) how many MMIO exits it took. */
	.code64

	.set DEV, 0xd0000000
#include "virtio_mmio.inc"

	.set RINGS, 0x400000	/* desc at +0, avail at +0x1000, used at +0x2000 */
	.set HDR, 0x300000
	.set BUF, 0x301000
	.set STS, 0x302000
	.set ISR, 0x60
	.set ACK, 0x64

	VIRTIO_GUEST_START DEV, RINGS
	VIRTIO_DEV_INIT 0

	/* A read of sector 0: header, 512 bytes, status. */
	movl	$0, HDR
	movl	$0, HDR + 4
	movq	$0, HDR + 8
	movb	$0xff, STS
	movq	$HDR, (%r12)
	movl	$16, 8(%r12)
	movw	$NEXT, 12(%r12)
	movw	$1, 14(%r12)
	movq	$BUF, 16(%r12)
	movl	$512, 24(%r12)
	movw	$(WRITE | NEXT), 28(%r12)
	movw	$2, 30(%r12)
	movq	$STS, 32(%r12)
	movl	$1, 40(%r12)
	movw	$WRITE, 44(%r12)
	movw	$0, 46(%r12)
	movw	$0, 0x1004(%r12)
	sfence
	movw	$1, 0x1002(%r12)
	movl	$0, QNOTIFY(%rbx)

1:	pause
	cmpw	$0, 0x2002(%r12)
	je	1b
	/* The device raises the interrupt after it publishes the used index: wait for it. */
2:	pause
	mov	ISR(%rbx), %eax
	test	$1, %eax
	jz	2b
	mov	ISR(%rbx), %eax
	test	%eax, %eax
	jnz	bad
	lea	m_taken(%rip), %rsi
	mov	$(m_taken_end - m_taken), %ecx
	call	print

	mov	$100000, %ecx
3:	movl	$1, ACK(%rbx)
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
