/* Test guest for a restore: a virtio-blk request made available whose notification the
 * device never sees. It sets up the first device (0xd0000000) with EVENT_IDX, publishes a
 * read of sector 0 without writing QueueNotify (as if the kick was lost: a saved VMM that had
 * not served it yet), prints "PENDING", then waits for the used index to move, for as long
 * as it takes (the test's deadline bounds it), and prints "TAKEN-OK" (sector 0 begins with
 * "KINDLING") or "TAKEN-BAD", then resets through the i8042. Nothing before a restore looks
 * at the queue; a restored device must. */
	.code64

#include "virtio_mmio.inc"

	VIRTIO_GUEST_START DEV, RINGS
	VIRTIO_DEV_INIT (1 << 29)	/* VIRTIO_F_EVENT_IDX */
	cmpl	$15, STATUS(%rbx)
	jne	bad

	VIRTIO_BLK_READ0 HDR, BUF, STS	/* available; QueueNotify is not written */
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
