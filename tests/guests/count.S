/* Test guest for snapshots: counts from 1 to 60, one line "COUNT nn" about every 20 ms of
 * TSC time, then resets through the i8042. The count lives in RAM (at 2 MiB) and each line
 * is built in a RAM buffer, so a restored VM that goes on from the right number shows that
 * its registers, memory and UART came back. */
	.code64
	.set COUNTER, 0x200000
	.set LINE, 0x200100
	.set LAST, 60
	.text
	.globl _start
_start:
	movq	$0, COUNTER
next:
	incq	COUNTER
	mov	COUNTER, %rax
	/* "COUNT nn\n" */
	movl	$0x4e554f43, LINE		/* "COUN" */
	movw	$0x2054, LINE + 4		/* "T " */
	xor	%edx, %edx
	mov	$10, %ecx
	div	%ecx
	add	$'0', %al
	add	$'0', %dl
	mov	%al, LINE + 6
	mov	%dl, LINE + 7
	movb	$'\n', LINE + 8
	mov	$LINE, %esi
	mov	$9, %ecx
	mov	$0x3f8, %dx
	rep outsb
	cmpq	$LAST, COUNTER
	jae	done
	/* Wait 2^25 TSC cycles (about 10-20 ms). */
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, %r8
	add	$(1 << 25), %r8
1:	pause
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	cmp	%r8, %rax
	jb	1b
	jmp	next
done:
	mov	$0xfe, %al
	out	%al, $0x64
2:	hlt
	jmp	2b
