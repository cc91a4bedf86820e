/* Test guest: prints a line, then spins in a tight loop with interrupts off, never leaving
 * guest mode by itself: a hung guest, for the VMM's diagnostics and the tests' deadlines.
 * Only a signal to the VMM can end it. */
	.code64
	.text
	.globl _start
_start:
	lea	msg(%rip), %rsi
	mov	$msg_len, %ecx
	mov	$0x3f8, %dx
	rep outsb
	cli
	.globl spin_here
spin_here:
	jmp	spin_here
	.section .rodata
msg:	.ascii "KINDLING-BUSY\n"
	.set msg_len, . - msg
