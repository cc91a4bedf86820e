/* libFuzzer target: the UART, the i8042, the RTC and the boot timer driven through their ports
 * by a made-up guest (and console input, and the RTC's clock set by the input), then saved: a
 * state the devices reached must restore into fresh devices and save again to the same bytes;
 * the same state with one byte changed must be refused or accepted, never crash. The input
 * is a list of 4-byte operations: device and register, write flag, value, and input bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The RTC's clock: where the input puts it (any value, before 1970 and far ahead included). */
static int64_t clock_now;

static int64_t fuzz_clock(void *opaque)
{
	(void)opaque;
	return clock_now;
}

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
	struct rtc c, c2;

	clock_now = 0;
	serial_init(&s, NULL, NULL, NULL);
	serial_init(&s2, NULL, NULL, NULL);
	i8042_init(&k, NULL, NULL, NULL, NULL);
	i8042_init(&k2, NULL, NULL, NULL, NULL);
	boot_timer_init(&t, 0, 0);
	boot_timer_init(&t2, 0, 0);
	rtc_init(&c, fuzz_clock, NULL);
	rtc_init(&c2, fuzz_clock, NULL);
	for (size_t i = 0; i + 4 <= size; i += 4) {
		const uint8_t *op = data + i;
		uint8_t v = op[2];
		bool write = op[1] & 1;

		switch (op[0] & 15) {
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
		case 7:
		case 8:
			/* Port 0x70 or 0x71; a width of 1, 2 or 4 bytes (only 1 is the RTC's). */
			if (op[1] & 0x80) {
				uint8_t w[4] = { v, op[3], v, op[3] };

				rtc_io(&c, op[1] >> 1 & 1, w, 2u << (op[1] >> 2 & 1), write);
			} else {
				rtc_io(&c, op[1] >> 1 & 1, &v, 1, write);
			}
			break;
		case 9:
			/* The clock jumps (either way) or moves on. */
			clock_now = (int64_t)(op[1] & 1 ? (uint64_t)op[2] << 56 | (uint64_t)op[3] << 40
							: (uint64_t)clock_now + (uint64_t)op[2] * 1000000 * (op[3] + 1u));
			break;
		default:
			roundtrip(&s.device, &s2.device, op[2], op[3]);
			roundtrip(&k.device, &k2.device, op[2], op[3]);
			roundtrip(&t.device, &t2.device, op[2], op[3]);
			roundtrip(&c.device, &c2.device, op[2], op[3]);
			break;
		}
	}
	roundtrip(&s.device, &s2.device, size, 0x80);
	roundtrip(&k.device, &k2.device, size, 0x80);
	roundtrip(&t.device, &t2.device, size, 0x80);
	roundtrip(&c.device, &c2.device, size, 0x80);
	pthread_mutex_destroy(&s.lock);
	pthread_mutex_destroy(&s2.lock);
	pthread_mutex_destroy(&k.lock);
	pthread_mutex_destroy(&k2.lock);
	pthread_mutex_destroy(&c.lock);
	pthread_mutex_destroy(&c2.lock);
	return 0;
}
