/* Test guest: faults with no IDT loaded, which escalates to a triple fault. */
	.code64
	.text
	.globl _start
_start:
	ud2
