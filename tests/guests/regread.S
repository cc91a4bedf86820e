/* Test guest for the register page (vm_device_regs): the first device's virtio-mmio
 * registers are read from memory, without exits, and still say what the device says. On the
 * first device (0xd0000000, a writable virtio-blk of 1 MiB) it checks, with the step's letter
 * on failure:
 *   A MagicValue, Version, DeviceID      B DeviceFeatures, both words (a selector write first)
 *   C QueueNumMax of queue 0 and of a queue that does not exist
 *   D the configuration space: capacity (2048 sectors) as a word and as one byte
 *   E Status after the set-up (15)       F InterruptStatus: bit 0 once a read completed,
 *   clear after the driver's InterruptACK.
 * Then it reads InterruptStatus 100000 times, prints "REGS-OK" and spins, so that the test
 * can ask the VMM (SIGUSR1) how many MMIO exits it took. "REGS-BAD X" names the failed step. */
	.code64
#include "virtio_mmio.inc"
	.set MAGIC, 0x00
	.set VERSION, 0x04
	.set DEVID, 0x08
	.set DEVFEAT, 0x10
	.set DEVFEAT_SEL, 0x14
	.set QNUMMAX, 0x34
	.set ISR, 0x60
	.set ACK, 0x64
	.set CONFIG, 0x100

	/* Writes \val to register \w, then fails the step unless register \r reads \expect. */
	.macro WRITE_EXPECT w, val, r, expect
	movl	$\val, \w(%rbx)
	cmpl	$\expect, \r(%rbx)
	jne	bad
	.endm

	VIRTIO_GUEST_START DEV, RINGS
	movb	$'A', step(%rip)
	cmpl	$0x74726976, MAGIC(%rbx)
	jne	bad
	cmpl	$2, VERSION(%rbx)
	jne	bad
	cmpl	$2, DEVID(%rbx)
	jne	bad
	movb	$'B', step(%rip)
	movl	$1, DEVFEAT_SEL(%rbx)
	mov	DEVFEAT(%rbx), %eax
	cmp	$1, %eax			/* VERSION_1 alone in the high word */
	jne	bad
	movl	$0, DEVFEAT_SEL(%rbx)
	mov	DEVFEAT(%rbx), %eax
	cmp	$0x30000044, %eax		/* EVENT_IDX, INDIRECT_DESC, BLK_SIZE, SEG_MAX */
	jne	bad
	movb	$'C', step(%rip)
	WRITE_EXPECT QSEL, 0, QNUMMAX, 256
	WRITE_EXPECT QSEL, 5, QNUMMAX, 0
	movb	$'D', step(%rip)
	cmpl	$2048, CONFIG(%rbx)
	jne	bad
	cmpb	$8, (CONFIG + 1)(%rbx)
	jne	bad
	movb	$'E', step(%rip)
	VIRTIO_DEV_INIT 0
	cmpl	$15, STATUS(%rbx)
	jne	bad
	movb	$'F', step(%rip)
	cmpl	$0, ISR(%rbx)
	jne	bad
	VIRTIO_BLK_READ0 HDR, BUF, STS
	movl	$0, QNOTIFY(%rbx)
	/* The device raises the interrupt after it publishes the used index; interrupts stay
	 * off here: poll for the status bit. */
	mov	$100000000, %ecx
1:	pause
	testl	$1, ISR(%rbx)
	jnz	2f
	dec	%ecx
	jnz	1b
	jmp	bad
2:	cmpw	$1, (RINGS + 0x2002)
	jne	bad
	WRITE_EXPECT ACK, 1, ISR, 0

	mov	$100000, %ecx
3:	mov	ISR(%rbx), %eax
	dec	%ecx
	jnz	3b
	lea	m_ok(%rip), %rsi
	mov	$(m_ok_end - m_ok), %ecx
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

	.data
m_ok:	.ascii "REGS-OK\n"
m_ok_end:
m_bad:	.ascii "REGS-BAD "
step:	.ascii "?\n"
m_bad_end:
