/* Intel MultiProcessor Specification 1.4 table: how a kernel without ACPI learns about
 * the vCPUs, the IOAPIC and how ISA interrupts are wired. */
#include <errno.h>
#include <string.h>

#include "boot.h"

#define MPC_PROCESSOR 0
#define MPC_BUS 1
#define MPC_IOAPIC 2
#define MPC_INTSRC 3
#define MPC_LINTSRC 4
#define MP_INT 0
#define MP_NMI 1
#define MP_EXTINT 3
#define APIC_VERSION 0x14
#define IOAPIC_VERSION 0x11
#define CPU_ENABLED 1
#define CPU_BSP 2

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

int mptable_write(const struct guest_mem *m, int nr_vcpus)
{
	const size_t size = BOOT_LOW_RAM_END - BOOT_EBDA_START;
	uint8_t *base = mem_ptr(m, BOOT_EBDA_START, size), *mpf, *mpc, *p;
	uint8_t ioapic_id = (uint8_t)(nr_vcpus + 1);
	uint16_t count = 0;
	uint32_t lapic = MPTABLE_LAPIC_ADDR, ioapic = MPTABLE_IOAPIC_ADDR;
	uint16_t len;

	if (!base)
		return -EFAULT;
	if (nr_vcpus < 1 || nr_vcpus > 254)
		return -EINVAL;
	/* 16 + 44 + 20 per CPU + bus + IOAPIC + interrupts must fit below 640 KiB. */
	if (16 + 44 + 20 * (size_t)nr_vcpus + 16 + 8 * (MPTABLE_NR_IRQS + 2) > size)
		return -E2BIG;
	memset(base, 0, size);
	mpf = base;
	mpc = base + 16;
	p = mpc + 44;

	for (int i = 0; i < nr_vcpus; i++, count++, p += 20) {
		uint32_t signature = 0x600 | 0x10 | 0x3; /* family 6, model 1, stepping 3 */
		uint32_t features = 1u << 0 | 1u << 9;   /* FPU, APIC */

		p[0] = MPC_PROCESSOR;
		p[1] = (uint8_t)i;
		p[2] = APIC_VERSION;
		p[3] = CPU_ENABLED | (i == 0 ? CPU_BSP : 0);
		memcpy(p + 4, &signature, 4);
		memcpy(p + 8, &features, 4);
	}
	p[0] = MPC_BUS;
	memcpy(p + 2, "ISA   ", 6);
	p += 8, count++;
	p[0] = MPC_IOAPIC;
	p[1] = ioapic_id;
	p[2] = IOAPIC_VERSION;
	p[3] = 1; /* enabled */
	memcpy(p + 4, &ioapic, 4);
	p += 8, count++;
	for (int irq = 0; irq < MPTABLE_NR_IRQS; irq++, p += 8, count++) {
		p[0] = MPC_INTSRC;
		p[1] = MP_INT;
		p[4] = 0; /* ISA bus */
		p[5] = (uint8_t)irq;
		p[6] = ioapic_id;
		p[7] = (uint8_t)irq;
	}
	/* LINT0 of every LAPIC is ExtINT (the PIC), LINT1 is NMI. */
	p[0] = MPC_LINTSRC, p[1] = MP_EXTINT, p[6] = 0xff, p[7] = 0;
	p += 8, count++;
	p[0] = MPC_LINTSRC, p[1] = MP_NMI, p[6] = 0xff, p[7] = 1;
	p += 8, count++;

	len = (uint16_t)(p - mpc);
	memcpy(mpc, "PCMP", 4);
	memcpy(mpc + 4, &len, 2);
	mpc[6] = 4; /* spec revision 1.4 */
	memcpy(mpc + 8, "KINDLING", 8);
	memcpy(mpc + 16, "MICROVM     ", 12);
	memcpy(mpc + 34, &count, 2);
	memcpy(mpc + 36, &lapic, 4);
	mpc[7] = checksum(mpc, len);

	memcpy(mpf, "_MP_", 4);
	{
		uint32_t phys = BOOT_EBDA_START + 16;

		memcpy(mpf + 4, &phys, 4);
	}
	mpf[8] = 1; /* length in 16-byte units */
	mpf[9] = 4;
	mpf[10] = checksum(mpf, 16);
	return 0;
}
