/* Wraps a flat 64-bit test payload into a minimal bzImage (boot protocol 2.15), so the
 * bzImage loader can be tested on the host's /dev/kvm without a Linux kernel. The payload
 * must be position-independent: it is entered at load address + 0x200, as Linux is. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

int main(int argc, char **argv)
{
	uint8_t setup[1024] = { 0 }, pad[0x200];
	static uint8_t payload[1 << 20];
	size_t n;
	FILE *in, *out;

	if (argc != 3) {
		fprintf(stderr, "usage: mkbzimage FLAT-PAYLOAD OUT\n");
		return 2;
	}
	in = fopen(argv[1], "rb");
	if (!in) {
		perror(argv[1]);
		return 1;
	}
	n = fread(payload, 1, sizeof(payload), in);
	fclose(in);
	setup[0x1f1] = 1;                /* setup_sects: 1 + boot sector */
	put16(setup + 0x1fe, 0xaa55);
	setup[0x201] = 0x66;             /* header runs to 0x268 */
	memcpy(setup + 0x202, "HdrS", 4);
	put16(setup + 0x206, 0x020f);
	setup[0x211] = 0x01;             /* LOADED_HIGH */
	put32(setup + 0x214, 0x100000);  /* code32_start */
	put32(setup + 0x22c, 0x7fffffff);
	put32(setup + 0x230, 0x200000);
	setup[0x234] = 0;                /* not relocatable: runs at pref_address */
	put16(setup + 0x236, 0x1);       /* XLF_KERNEL_64 */
	put32(setup + 0x238, 2047);
	put64(setup + 0x258, 0x100000);
	put32(setup + 0x260, (uint32_t)(0x200 + n + 0x1000));
	memset(pad, 0xf4, sizeof(pad)); /* hlt: the 32-bit entry is never used */
	out = fopen(argv[2], "wb");
	if (!out || fwrite(setup, 1, sizeof(setup), out) != sizeof(setup) ||
	    fwrite(pad, 1, sizeof(pad), out) != sizeof(pad) || fwrite(payload, 1, n, out) != n || fclose(out)) {
		perror(argv[2]);
		return 1;
	}
	return 0;
}
