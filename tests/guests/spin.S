/* Test guest: prints a line, then halts forever with interrupts off. Only a signal to the
 * VMM can end it. Built with -DBUSY (busy.S) it spins in guest mode instead of halting. */
	.code64
	.text
	.globl _start
_start:
	lea	msg(%rip), %rsi
	mov	$msg_len, %ecx
	mov	$0x3f8, %dx
	rep outsb
	cli
#ifdef BUSY
	.globl spin_here
spin_here:
	jmp	spin_here
#else
1:	hlt
	jmp	1b
#endif
	.section .rodata
#ifdef BUSY
msg:	.ascii "KINDLING-BUSY\n"
#else
msg:	.ascii "KINDLING-SPIN\n"
#endif
	.set msg_len, . - msg
