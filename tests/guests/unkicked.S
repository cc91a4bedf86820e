/* Test guest for a restore: a virtio-blk request made available whose notification the
 * device never sees. It sets up the first device (0xd0000000) with EVENT_IDX, publishes a
 * read of sector 0 without writing QueueNotify (as if the kick was lost: a saved VMM that had
 * not served it yet), prints "PENDING", then waits for the used index to move, for as long
 * as it takes (the test's deadline bounds it), and prints "TAKEN-OK" (sector 0 begins with
 * "KINDLING") or "TAKEN-BAD", then resets through the i8042. Nothing before a restore looks
 * at the queue; a restored device must. */
	.code64

	.set DEV, 0xd0000000
#include "virtio_mmio.inc"

	.set RINGS, 0x400000	/* desc at +0, avail at +0x1000, used at +0x2000 */
	.set HDR, 0x300000
	.set BUF, 0x301000
	.set STS, 0x302000

	VIRTIO_GUEST_START DEV, RINGS
	VIRTIO_DEV_INIT (1 << 29)	/* VIRTIO_F_EVENT_IDX */
	cmpl	$15, STATUS(%rbx)
	jne	bad

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
	movw	$1, 0x1002(%r12)		/* available; QueueNotify is not written */
	lea	m_pending(%rip), %rsi
	mov	$(m_pending_end - m_pending), %ecx
	call	print

1:	pause
	cmpw	$0, 0x2002(%r12)
	je	1b
	cmpb	$0, STS
	jne	bad
	movabs	$0x474e494c444e494b, %rax	/* "KINDLING" */
	cmp	%rax, BUF
	jne	bad
	lea	m_ok(%rip), %rsi
	mov	$(m_ok_end - m_ok), %ecx
	jmp	2f
bad:	lea	m_bad(%rip), %rsi
	mov	$(m_bad_end - m_bad), %ecx
2:	call	print
	mov	$0xfe, %al
	out	%al, $0x64
3:	hlt
	jmp	3b

print:
	mov	$0x3f8, %dx
	rep outsb
	ret

	.section .rodata
m_pending: .ascii "PENDING\n"
m_pending_end:
m_ok:	.ascii "TAKEN-OK\n"
m_ok_end:
m_bad:	.ascii "TAKEN-BAD\n"
m_bad_end:
