/* Test guest: writes 256 KiB to the UART (64 x 4 KiB of string I/O), then resets. With
 * stdout stalled, the VMM must drop and count bytes, never block the vCPU. */
	.code64
	.text
	.globl _start
_start:
	lea	buf(%rip), %rdi
	mov	$'x', %al
	mov	$4096, %ecx
	rep stosb
	mov	$64, %ebx
1:	lea	buf(%rip), %rsi
	mov	$4096, %ecx
	mov	$0x3f8, %dx
	rep outsb
	dec	%ebx
	jnz	1b
	mov	$0xfe, %al
	out	%al, $0x64
2:	hlt
	jmp	2b
	.bss
	.balign 4096
buf:	.skip 4096
