/* Test guest for virtio-mmio: drives two virtio-blk devices through their registers itself.
 * Device A (0xd0000000) gets malformed queues, one per round, each followed by a reset:
 * a descriptor loop, a buffer outside RAM, addr+len overflow, an available index jump,
 * next >= size, and a queue register written after DRIVER_OK. Each round prints
 * "<name>:NEEDS_RESET" or "<name>:NO". Device B (0xd0001000) must still read sector 0
 * ("B:READ-OK"), and A must work again after a clean reset ("A:RECOVERED").
 * Ends with an i8042 reset. Short on purpose: CPL 0 is emulated on the host's KVM. */
	.code64

	.set DEV_A, 0xd0000000
	.set DEV_B, 0xd0001000
#include "virtio_mmio.inc"
	/* Per-round rings: desc at +0, avail at +0x1000, used at +0x2000; fresh RAM is zero. */

	.macro PRINT msg
	lea	\msg(%rip), %rsi
	mov	$(\msg\()_end - \msg), %ecx
	call	print
	.endm

	/* DESC index, addr (64-bit), len, flags, next -- into the table at %r12. */
	.macro DESC i, addr, len, flags, next
	movabs	$\addr, %rax
	mov	%rax, (16 * \i)(%r12)
	movl	$\len, (16 * \i + 8)(%r12)
	movw	$\flags, (16 * \i + 12)(%r12)
	movw	$\next, (16 * \i + 14)(%r12)
	.endm

	/* Publishes head 0 with available index \idx, then notifies queue 0. */
	.macro KICK idx
	movw	$0, 0x1004(%r12)
	movw	$\idx, 0x1002(%r12)
	movl	$0, QNOTIFY(%rbx)
	.endm

	/* %r8 = now + 2^34 TSC cycles (several seconds): a wait bounded in time, not in loop
	 * iterations, which a loaded host (the VMM thread not scheduled for a while) outlasts. */
	.macro DEADLINE
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	movabs	$(1 << 34), %r8
	add	%rax, %r8
	.endm

	/* Jumps to \label while the TSC is before %r8. */
	.macro BEFORE_DEADLINE label
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	cmp	%r8, %rax
	jb	\label
	.endm

	.text
	.globl _start
_start:
	mov	$0x80000, %rsp

	/* Round 1: descriptor loop 0 -> 1 -> 0. */
	mov	$DEV_A, %ebx
	mov	$(RINGS + 0x00000), %r12d
	call	dev_init
	DESC	0, HDR, 16, NEXT, 1
	DESC	1, HDR, 16, NEXT, 0
	KICK	1
	PRINT	m_loop
	call	report

	/* Round 2: a buffer far outside RAM. */
	mov	$(RINGS + 0x10000), %r12d
	call	dev_init
	DESC	0, 0x8000000000, 16, 0, 0
	KICK	1
	PRINT	m_outside
	call	report

	/* Round 3: addr + len wraps around 2^64. */
	mov	$(RINGS + 0x20000), %r12d
	call	dev_init
	DESC	0, 0xfffffffffffff000, 0x2000, WRITE, 0
	KICK	1
	PRINT	m_overflow
	call	report

	/* Round 4: available index 100 on an 8-entry queue. */
	mov	$(RINGS + 0x30000), %r12d
	call	dev_init
	DESC	0, HDR, 16, 0, 0
	KICK	100
	PRINT	m_jump
	call	report

	/* Round 5: next >= queue size. */
	mov	$(RINGS + 0x40000), %r12d
	call	dev_init
	DESC	0, HDR, 16, NEXT, 200
	KICK	1
	PRINT	m_next
	call	report

	/* Round 6: the queue size changed after DRIVER_OK. */
	mov	$(RINGS + 0x50000), %r12d
	call	dev_init
	movl	$4, QNUM(%rbx)
	PRINT	m_late
	call	report

	/* Device B was never touched by any of that: read sector 0 from it. */
	mov	$DEV_B, %ebx
	mov	$(RINGS + 0x60000), %r12d
	call	read_sector0
	PRINT	m_b
	call	report_read

	/* And device A works again after a reset. */
	mov	$DEV_A, %ebx
	mov	$(RINGS + 0x70000), %r12d
	call	read_sector0
	PRINT	m_a
	call	report_read

	mov	$0xfe, %al
	out	%al, $0x64
1:	hlt
	jmp	1b

/* Resets the device at %rbx and sets up queue 0 (8 entries) on the rings at %r12. */
dev_init:
	VIRTIO_DEV_INIT 0
	ret

/* Waits (bounded) for NEEDS_RESET on the device at %rbx; prints the verdict. */
report:
	DEADLINE
1:	testl	$NEEDS_RESET, STATUS(%rbx)
	jnz	2f
	BEFORE_DEADLINE 1b
	PRINT	m_no
	ret
2:	PRINT	m_yes
	ret

/* Submits a read of sector 0 into BUF on the device at %rbx. */
read_sector0:
	call	dev_init
	movl	$0, HDR
	movl	$0, HDR + 4
	movq	$0, HDR + 8
	movb	$0xff, STS
	DESC	0, HDR, 16, NEXT, 1
	DESC	1, BUF, 512, WRITE | NEXT, 2
	DESC	2, STS, 1, WRITE, 0
	KICK	1
	ret

/* Waits (bounded) for the used index to move, then checks status and data. */
report_read:
	DEADLINE
1:	cmpw	$0, 0x2002(%r12)
	jne	2f
	BEFORE_DEADLINE 1b
	jmp	3f
2:	cmpb	$0, STS
	jne	3f
	movabs	$0x474e494c444e494b, %rax	/* "KINDLING" */
	cmp	%rax, BUF
	jne	3f
	PRINT	m_read_ok
	ret
3:	PRINT	m_read_bad
	ret

print:
	mov	$0x3f8, %dx
	rep outsb
	ret

	.section .rodata
m_loop:	.ascii "LOOP:"
m_loop_end:
m_outside: .ascii "OUTSIDE_RAM:"
m_outside_end:
m_overflow: .ascii "ADDR_LEN_OVERFLOW:"
m_overflow_end:
m_jump:	.ascii "AVAIL_JUMP:"
m_jump_end:
m_next:	.ascii "NEXT_RANGE:"
m_next_end:
m_late:	.ascii "QUEUE_AFTER_DRIVER_OK:"
m_late_end:
m_yes:	.ascii "NEEDS_RESET\n"
m_yes_end:
m_no:	.ascii "NO\n"
m_no_end:
m_b:	.ascii "B:"
m_b_end:
m_a:	.ascii "A:"
m_a_end:
m_read_ok: .ascii "READ-OK\n"
m_read_ok_end:
m_read_bad: .ascii "READ-FAILED\n"
m_read_bad_end:
