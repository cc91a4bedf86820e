/* Test guest: a hostile virtio-net driver that keeps its TX ring full for good. It sets up
 * the first device (0xd0000000: run it with one --net and no drive) with VERSION_1 only,
 * queue 1 (TX) of 256 entries all naming one 72-byte frame (the 12-byte virtio-net header and
 * a 60-byte broadcast frame of EtherType 0x88b5, local experimental), prints "FLOODING",
 * then forever makes available again every entry the device has used, as fast as it can,
 * writing QueueNotify only while the device asks for notifications. A device that drains a
 * ring for as long as it finds it non-empty never comes back to its event loop. */
	.code64

#include "virtio_mmio.inc"

	.set FRAME, 0x300000
	.set QSIZE, 256

	VIRTIO_GUEST_START DEV, RINGS
	VIRTIO_DEV_INIT 0, 1, QSIZE		/* VERSION_1 only; queue 1 is TX */
	cmpl	$15, STATUS(%rbx)
	jne	bad

	/* The frame: a zero header, then ff:ff:ff:ff:ff:ff, 02:4b:4e:00:00:0f, 0x88b5. */
	movl	$0xffffffff, FRAME + 12
	movw	$0xffff, FRAME + 16
	movl	$0x004e4b02, FRAME + 18
	movw	$0x0f00, FRAME + 22
	movw	$0xb588, FRAME + 24
	movq	$FRAME, (%r12)
	movl	$72, 8(%r12)
	movw	$0, 12(%r12)
	/* Every avail entry names descriptor 0 (the ring is zeroed RAM). */
	lea	m_flood(%rip), %rsi
	mov	$(m_flood_end - m_flood), %ecx
	call	print
1:	movzwl	0x2002(%r12), %eax		/* used idx */
	add	$QSIZE, %eax
	mov	%ax, 0x1002(%r12)		/* all QSIZE entries available again */
	testw	$1, 0x2000(%r12)		/* VRING_USED_F_NO_NOTIFY */
	jnz	1b
	movl	$1, QNOTIFY(%rbx)
	jmp	1b

bad:	lea	m_bad(%rip), %rsi
	mov	$(m_bad_end - m_bad), %ecx
	call	print
	mov	$0xfe, %al
	out	%al, $0x64
2:	hlt
	jmp	2b

print:
	mov	$0x3f8, %dx
	rep outsb
	ret

	.section .rodata
m_flood: .ascii "FLOODING\n"
m_flood_end:
m_bad:	.ascii "TXFLOOD-BAD\n"
m_bad_end:
