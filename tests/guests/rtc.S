/* Test guest for the CMOS RTC on ports 0x70/0x71: reads the time (the seconds first, with
 * the NMI-mask bit set in the index, which the RTC must ignore), register A a thousand times
 * (ORed together: UIP, bit 7, must never show), B, C and D; writes A and B (ignored: a guest
 * cannot change the RTC) and reads them back; prints one line and resets through the i8042:
 *   KINDLING-RTC 2025-01-31 12:34:56 A=26 B=02 C=00 D=80 WA=26 WB=02
 * The BCD registers printed in hex are their decimal digits. Entered through PVH (32-bit,
 * paging off) so that QEMU can boot it too (-kernel), against its own RTC. */
	.set COM1, 0x3f8

	/* %al = RTC register \reg */
	.macro CMOS reg
	mov	$\reg, %al
	out	%al, $0x70
	in	$0x71, %al
	.endm

	.macro NIBBLE
	and	$0xf, %al
	add	$'0', %al
	cmp	$'9', %al
	jbe	1f
	add	$('a' - '9' - 1), %al
1:	stosb
	.endm

	/* %al as two hex digits over the placeholder at \field (clobbers %bl, %edi) */
	.macro HEX field
	mov	$\field, %edi
	mov	%al, %bl
	shr	$4, %al
	NIBBLE
	mov	%bl, %al
	NIBBLE
	.endm

	.text
	.code64
	.globl _start
_start:
	/* Never used: PVH takes the note's entry. A 64-bit boot resets at once (no line). */
	mov	$0xfe, %al
	out	%al, $0x64
	hlt

	.code32
pvh_entry:
	CMOS	0x80		/* seconds, NMIs "masked" */
	HEX	f_sec
	CMOS	0x02
	HEX	f_min
	CMOS	0x04
	HEX	f_hour
	CMOS	0x07
	HEX	f_mday
	CMOS	0x08
	HEX	f_mon
	CMOS	0x09
	HEX	f_year
	CMOS	0x32
	HEX	f_cent
	mov	$1000, %ecx
	xor	%dh, %dh
2:	CMOS	0x0a
	or	%al, %dh
	loop	2b
	mov	%dh, %al
	HEX	f_a
	CMOS	0x0b
	HEX	f_b
	CMOS	0x0c
	HEX	f_c
	CMOS	0x0d
	HEX	f_d
	/* A: divider chain in reset; B: SET, binary, 24-hour. */
	mov	$0x0a, %al
	out	%al, $0x70
	mov	$0x70, %al
	out	%al, $0x71
	mov	$0x0b, %al
	out	%al, $0x70
	mov	$0x86, %al
	out	%al, $0x71
	CMOS	0x0a
	HEX	f_wa
	CMOS	0x0b
	HEX	f_wb
	mov	$msg, %esi
	mov	$msg_len, %ecx
	mov	$COM1, %dx
	rep outsb
	mov	$0xfe, %al
	out	%al, $0x64
3:	hlt
	jmp	3b

	.data
msg:	.ascii "KINDLING-RTC "
f_cent:	.ascii "cc"
f_year:	.ascii "yy-"
f_mon:	.ascii "mm-"
f_mday:	.ascii "dd "
f_hour:	.ascii "hh:"
f_min:	.ascii "mm:"
f_sec:	.ascii "ss A="
f_a:	.ascii "aa B="
f_b:	.ascii "bb C="
f_c:	.ascii "cc D="
f_d:	.ascii "dd WA="
f_wa:	.ascii "aa WB="
f_wb:	.ascii "bb\n"
	.set msg_len, . - msg

	.section .note.Xen, "a"
	.balign 4
	.long 4, 4, 18     /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_entry
