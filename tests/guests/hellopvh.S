/* Test guest for the PVH entry: the Xen PHYS32_ENTRY note points at 32-bit code, entered
 * with paging off and EBX pointing at hvm_start_info (magic 0x336ec578). */
	.text
	.code64
	.globl _start
_start:
	/* Never used: PVH takes the note's entry. A 64-bit boot lands here and says so. */
	lea	msg_64(%rip), %rsi
	mov	$msg_64_len, %ecx
	mov	$0x3f8, %dx
	rep outsb
	jmp	reset64
reset64:
	mov	$0xfe, %al
	out	%al, $0x64
	hlt

	.code32
pvh_entry:
	mov	$msg_ok, %esi
	mov	$msg_ok_len, %ecx
	cmpl	$0x336ec578, (%ebx)
	je	1f
	mov	$msg_bad, %esi
	mov	$msg_bad_len, %ecx
1:	mov	$0x3f8, %dx
	rep outsb
	mov	$0x3f0, %dx
	out	%al, %dx
	mov	$0xfe, %al
	out	%al, $0x64
2:	hlt
	jmp	2b

	.section .rodata
msg_ok:	.ascii "KINDLING-PVH-OK\n"
	.set msg_ok_len, . - msg_ok
msg_bad: .ascii "KINDLING-PVH-BAD-MAGIC\n"
	.set msg_bad_len, . - msg_bad
msg_64:	.ascii "KINDLING-PVH-ENTERED-64\n"
	.set msg_64_len, . - msg_64

	.section .note.Xen, "a"
	.balign 4
	.long 4, 4, 18     /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_entry
