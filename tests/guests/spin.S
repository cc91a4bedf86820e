/* Test guest: prints a line, then halts forever with interrupts off. Only a signal to the
 * VMM can end it. */
	.code64
	.text
	.globl _start
_start:
	lea	msg(%rip), %rsi
	mov	$msg_len, %ecx
	mov	$0x3f8, %dx
	rep outsb
	cli
1:	hlt
	jmp	1b
	.section .rodata
msg:	.ascii "KINDLING-SPIN\n"
	.set msg_len, . - msg
