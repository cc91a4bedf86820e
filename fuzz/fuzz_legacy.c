/* libFuzzer target: the UART, the i8042 and the boot timer driven through their ports by a
 * made-up guest (and console input), then saved: a state the devices reached must restore
 * into fresh devices and save again to the same bytes; the same state with one byte
 * changed must be refused or accepted, never crash. The input is a list of 4-byte
 * operations: device and register, write flag, value, and input bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Save d, restore into fresh: must work and give the same bytes back. Then restore a copy
 * with one byte changed (and a cut-short copy) into fresh: any outcome but a crash. */
static void roundtrip(struct device *d, struct device *fresh, size_t at, uint8_t x)
{
	uint8_t a[256], b[256];
	char err[256];
	size_t n = device_save_size(d);

	if (n > sizeof(a) || device_save(d, a, n) || device_restore(fresh, a, n, err, sizeof(err)) ||
	    device_save(fresh, b, n) || memcmp(a, b, n))
		abort();
	a[at % n] ^= x | 1;
	(void)device_restore(fresh, a, n, err, sizeof(err));
	(void)device_restore(fresh, a, at % n, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct serial s, s2;
	struct i8042 k, k2;
	struct boot_timer t, t2;

	serial_init(&s, NULL, NULL, NULL);
	serial_init(&s2, NULL, NULL, NULL);
	i8042_init(&k, NULL, NULL, NULL, NULL);
	i8042_init(&k2, NULL, NULL, NULL, NULL);
	boot_timer_init(&t, 0, 0);
	boot_timer_init(&t2, 0, 0);
	for (size_t i = 0; i + 4 <= size; i += 4) {
		const uint8_t *op = data + i;
		uint8_t v = op[2];
		bool write = op[1] & 1;

		switch (op[0] & 7) {
		case 0:
		case 1:
		case 2:
			serial_io(&s, op[1] >> 1 & 7, &v, 1, write);
			break;
		case 3:
			(void)serial_input(&s, op + 2, (op[1] >> 1) % 3);
			break;
		case 4:
			i8042_io(&k, (op[1] >> 1) & 1 ? 4 : 0, &v, 1, write);
			break;
		case 5:
			if (write)
				(void)i8042_ctrl_alt_del(&k);
			break;
		case 6:
			boot_timer_io(&t, 0, &v, 1, write);
			break;
		default:
			roundtrip(&s.device, &s2.device, op[2], op[3]);
			roundtrip(&k.device, &k2.device, op[2], op[3]);
			roundtrip(&t.device, &t2.device, op[2], op[3]);
			break;
		}
	}
	roundtrip(&s.device, &s2.device, size, 0x80);
	roundtrip(&k.device, &k2.device, size, 0x80);
	roundtrip(&t.device, &t2.device, size, 0x80);
	pthread_mutex_destroy(&s.lock);
	pthread_mutex_destroy(&s2.lock);
	pthread_mutex_destroy(&k.lock);
	pthread_mutex_destroy(&k2.lock);
	return 0;
}
