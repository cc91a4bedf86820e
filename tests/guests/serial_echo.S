/* Test guest for the console input path: loops one byte back through the 8250 (MCR loopback,
 * THR write, RBR read: the read drains the receive FIFO, as a Linux driver's would), prints
 * "LOOPBACK-OK" and "READY", then echoes every byte the host types until a 'q', prints
 * "ECHO-END" and resets through the i8042. Polls LSR instead of taking interrupts: a few
 * instructions only, CPL 0 is emulated on the host's KVM. */
	.code64

	.set COM1, 0x3f8
	.set MCR, COM1 + 4
	.set LSR, COM1 + 5
	.set MCR_OUT2, 0x08
	.set MCR_LOOP, 0x10

	.macro PRINT msg
	lea	\msg(%rip), %rsi
	mov	$(\msg\()_end - \msg), %ecx
	mov	$COM1, %dx
	rep outsb
	.endm

	.text
	.globl _start
_start:
	mov	$MCR, %dx
	mov	$(MCR_LOOP | MCR_OUT2), %al
	out	%al, %dx
	mov	$COM1, %dx
	mov	$'L', %al
	out	%al, %dx
	in	%dx, %al
	mov	%al, %bl
	mov	$MCR, %dx
	mov	$MCR_OUT2, %al
	out	%al, %dx
	cmp	$'L', %bl
	jne	bad
	PRINT	m_loop_ok
	PRINT	m_ready
echo:
	mov	$LSR, %dx
1:	in	%dx, %al
	test	$1, %al
	jz	1b
	mov	$COM1, %dx
	in	%dx, %al
	cmp	$'q', %al
	je	done
	out	%al, %dx
	jmp	echo
done:
	PRINT	m_end
	mov	$0xfe, %al
	out	%al, $0x64
2:	hlt
	jmp	2b
bad:
	PRINT	m_loop_bad
	jmp	echo

	.section .rodata
m_loop_ok: .ascii "LOOPBACK-OK\n"
m_loop_ok_end:
m_loop_bad: .ascii "LOOPBACK-BAD\n"
m_loop_bad_end:
m_ready: .ascii "READY\n"
m_ready_end:
m_end:	.ascii "ECHO-END\n"
m_end_end:
