/* Test guest for the 64-bit Linux entry: checks it arrived in long mode with the zero page
 * in RSI, prints a line on the UART with string I/O, fires the boot timer, then asks the
 * i8042 for a CPU reset. Kept to a few instructions: CPL 0 is emulated on the host's KVM. */
	.code64
	.text
	.globl _start
_start:
	/* The zero page must carry the "HdrS" magic at 0x202. */
	cmpl	$0x53726448, 0x202(%rsi)
	jne	bad
	lea	msg_ok(%rip), %rsi
	mov	$msg_ok_len, %ecx
	jmp	print
bad:
	lea	msg_bad(%rip), %rsi
	mov	$msg_bad_len, %ecx
print:
	mov	$0x3f8, %dx
	rep outsb
	mov	$123, %al
	mov	$0x3f0, %dx
	out	%al, %dx
	mov	$0xfe, %al
	out	%al, $0x64
1:	hlt
	jmp	1b

	.section .rodata
msg_ok:	.ascii "KINDLING-HELLO64-OK\n"
	.set msg_ok_len, . - msg_ok
msg_bad: .ascii "KINDLING-HELLO64-BAD-ZEROPAGE\n"
	.set msg_bad_len, . - msg_bad
