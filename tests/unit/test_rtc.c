/* The CMOS RTC against a clock the test sets: its registers in BCD, a status that never has
 * an update in progress, the NMI bit dropped, writes ignored, what Linux's reader does, and
 * its save/restore. */
#include <errno.h>
#include <string.h>

#include "devices.h"
#include "test.h"

#define NS 1000000000ll

/* The injected clock: its value, and how far it moves on at each read. */
struct fake_clock {
	int64_t now, step;
	int reads;
};

static int64_t fake_read(void *opaque)
{
	struct fake_clock *f = opaque;
	int64_t t = f->now;

	f->now += f->step;
	f->reads++;
	return t;
}

static void sel(struct rtc *c, uint8_t index)
{
	rtc_io(c, 0, &index, 1, true);
}

static uint8_t rd(struct rtc *c, uint8_t index)
{
	uint8_t v = 0x5a;

	sel(c, index);
	rtc_io(c, 1, &v, 1, false);
	return v;
}

static void wr(struct rtc *c, uint8_t index, uint8_t v)
{
	sel(c, index);
	rtc_io(c, 1, &v, 1, true);
}

/* The seven time registers and the century, read seconds first, as one "YYYY-MM-DD
 * HH:MM:SS w" string (the BCD bytes printed in hex are the decimal digits). */
static void read_time(struct rtc *c, char *out, size_t n)
{
	uint8_t s = rd(c, 0x00), mi = rd(c, 0x02), h = rd(c, 0x04), w = rd(c, 0x06), d = rd(c, 0x07),
		mo = rd(c, 0x08), y = rd(c, 0x09), cy = rd(c, 0x32);

	snprintf(out, n, "%02x%02x-%02x-%02x %02x:%02x:%02x %x", cy, y, mo, d, h, mi, s, w);
}

TEST(rtc_time_registers_bcd)
{
	static const struct {
		int64_t t;
		const char *want; /* weekday: Sunday is 1 */
	} cases[] = {
		{ 0, "1970-01-01 00:00:00 5" },
		{ 951912000, "2000-03-01 12:00:00 4" },
		{ 1709251198, "2024-02-29 23:59:58 5" },
		{ 4102444799, "2099-12-31 23:59:59 5" },
		{ 4102444800, "2100-01-01 00:00:00 6" },
		{ -5, "1970-01-01 00:00:00 5" }, /* a host clock before 1970: the epoch */
	};
	struct fake_clock f = { 0 };
	struct rtc c;
	char got[40];

	rtc_init(&c, fake_read, &f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.now = cases[i].t * NS + 400000000;
		read_time(&c, got, sizeof(got));
		if (strcmp(got, cases[i].want))
			printf("  t=%lld: got \"%s\", want \"%s\"\n", (long long)cases[i].t, got, cases[i].want);
		CHECK(!strcmp(got, cases[i].want));
	}
	pthread_mutex_destroy(&c.lock);
}

TEST(rtc_status_registers)
{
	struct fake_clock f = { .now = 1709251198 * NS };
	struct rtc c;

	rtc_init(&c, fake_read, &f);
	for (int i = 0; i < 1000; i++)
		CHECK(rd(&c, 0x0a) == 0x26); /* UIP (bit 7) never set, whenever it is read */
	CHECK(rd(&c, 0x0b) == 0x02);         /* 24-hour, BCD, no interrupts */
	CHECK(rd(&c, 0x0c) == 0x00);
	CHECK(rd(&c, 0x0d) == 0x80);         /* VRT */
	CHECK(f.reads == 0);                 /* status reads never look at the clock */
	pthread_mutex_destroy(&c.lock);
}

TEST(rtc_other_registers_zero_and_index_port)
{
	static const uint8_t zero[] = { 0x01, 0x03, 0x05, 0x0c, 0x0e, 0x0f, 0x10, 0x31, 0x33, 0x7f };
	struct fake_clock f = { .now = 1709251198 * NS };
	struct rtc c;
	uint8_t v = 0;

	rtc_init(&c, fake_read, &f);
	for (size_t i = 0; i < sizeof(zero); i++)
		CHECK(rd(&c, zero[i]) == 0);
	rtc_io(&c, 0, &v, 1, false);
	CHECK(v == 0xff); /* the index port is write-only */
	/* Wider accesses are not an RTC's: reads all-ones, writes change nothing. */
	{
		uint8_t w[2] = { 0x0b, 0x0b };

		sel(&c, 0x0d);
		rtc_io(&c, 0, w, 2, true);
		CHECK(c.st.index == 0x0d);
		rtc_io(&c, 0, w, 2, false);
		CHECK(w[0] == 0xff && w[1] == 0xff);
	}
	pthread_mutex_destroy(&c.lock);
}

TEST(rtc_nmi_bit_ignored)
{
	struct fake_clock f = { .now = 1709251198 * NS };
	struct rtc c;

	rtc_init(&c, fake_read, &f);
	CHECK(rd(&c, 0x80 | 0x00) == 0x58); /* seconds, NMIs masked */
	CHECK(c.st.index == 0x00);
	CHECK(rd(&c, 0x80 | 0x0a) == 0x26);
	CHECK(rd(&c, 0x80 | 0x0d) == 0x80);
	CHECK(rd(&c, 0x80 | 0x32) == 0x20);
	pthread_mutex_destroy(&c.lock);
}

TEST(rtc_writes_ignored)
{
	struct fake_clock f = { .now = 1709251198 * NS };
	struct rtc c;
	char got[40];

	rtc_init(&c, fake_read, &f);
	for (uint8_t r = 0; r < 0x80; r++)
		wr(&c, r, 0x00);
	wr(&c, 0x0b, 0x80 | 0x04); /* SET, binary mode: accepted, no effect */
	wr(&c, 0x0a, 0x70);        /* divider in reset: accepted, no effect */
	CHECK(rd(&c, 0x0b) == 0x02 && rd(&c, 0x0a) == 0x26 && rd(&c, 0x0d) == 0x80);
	read_time(&c, got, sizeof(got));
	CHECK(!strcmp(got, "2024-02-29 23:59:58 5"));
	CHECK(rd(&c, 0x0e) == 0 && rd(&c, 0x7f) == 0);
	pthread_mutex_destroy(&c.lock);
}

/* The seconds read takes the time; the other time registers report it while it is under a
 * second old, then read the clock afresh. */
TEST(rtc_consistent_after_seconds_read)
{
	struct fake_clock f = { .now = 1709251199 * NS + 900000000 }; /* 23:59:59.9 on Feb 29 */
	struct rtc c;

	rtc_init(&c, fake_read, &f);
	CHECK(rd(&c, 0x00) == 0x59);
	f.now += 200000000; /* past midnight: the rest still tells 23:59:59 on the 29th */
	CHECK(rd(&c, 0x02) == 0x59 && rd(&c, 0x04) == 0x23 && rd(&c, 0x07) == 0x29 && rd(&c, 0x08) == 0x02);
	CHECK(rd(&c, 0x00) == 0x00); /* a new seconds read: the new time */
	CHECK(rd(&c, 0x04) == 0x00 && rd(&c, 0x07) == 0x01 && rd(&c, 0x08) == 0x03);
	/* Without a seconds read, a reading a second old or more is not used again... */
	f.now += 3600 * NS;
	CHECK(rd(&c, 0x04) == 0x01);
	/* ... nor one from the future (the host's clock was set back). */
	f.now -= 2 * 3600 * NS;
	CHECK(rd(&c, 0x02) == 0x00 && rd(&c, 0x04) == 0x23 && rd(&c, 0x07) == 0x29);
	pthread_mutex_destroy(&c.lock);
}

/* Linux's mc146818_avoid_UIP + mc146818_get_time (drivers/rtc/rtc-mc146818-lib.c), the reader
 * of mach_get_cmos_time: seconds, UIP, seconds again, the time, UIP, seconds again; a retry
 * after 100 us on UIP, for up to 1000 ms. Returns the iterations it took, 0 on a timeout. */
static int linux_get_time(struct rtc *c, struct fake_clock *f, char *out, size_t n)
{
	for (int i = 0; i < 10000; i++) {
		uint8_t s = rd(c, 0x00), mi, h, d, mo, y, b;

		if (rd(c, 0x0a) & 0x80) {
			f->now += 100000; /* udelay(100) */
			continue;
		}
		if (s != rd(c, 0x00))
			continue;
		mi = rd(c, 0x02);
		h = rd(c, 0x04);
		d = rd(c, 0x07);
		mo = rd(c, 0x08);
		y = rd(c, 0x09);
		b = rd(c, 0x0b);
		if (rd(c, 0x0a) & 0x80) {
			f->now += 100000;
			continue;
		}
		if (s != rd(c, 0x00))
			continue;
		if (b & 0x04) /* binary mode: not what this RTC says */
			return -1;
		snprintf(out, n, "20%02x-%02x-%02x %02x:%02x:%02x", y, mo, d, h, mi, s);
		return i + 1;
	}
	return 0;
}

TEST(rtc_linux_reader_done_at_once)
{
	struct fake_clock f = { .now = 1709251198 * NS, .step = 1000000 }; /* 1 ms per clock read */
	struct rtc c;
	char got[40];

	rtc_init(&c, fake_read, &f);
	CHECK(linux_get_time(&c, &f, got, sizeof(got)) == 1 && !strcmp(got, "2024-02-29 23:59:58"));
	/* Started just before a second ends: one retry, then the next second's time, whole. */
	f.now = 1709251199 * NS + 998500000;
	CHECK(linux_get_time(&c, &f, got, sizeof(got)) == 2);
	CHECK(!strcmp(got, "2024-03-01 00:00:00"));
	pthread_mutex_destroy(&c.lock);
}

/* Restores a copy of blob with byte off set to v into d; returns the code (a refusal must
 * give a reason). */
static int restore_patched(struct rtc *d, const uint8_t *blob, size_t len, size_t off, uint8_t v)
{
	uint8_t c[256];
	char err[256] = "";
	int r;

	memcpy(c, blob, len);
	c[off] = v;
	r = device_restore(&d->device, c, len, err, sizeof(err));
	return r && !err[0] ? -1000 : r;
}

TEST(rtc_save_restore)
{
	struct fake_clock f = { .now = 1709251198 * NS };
	struct rtc a, b;
	uint8_t blob[256], again[256];
	size_t n, hdr = sizeof(struct device_state_hdr);
	char err[256];

	rtc_init(&a, fake_read, &f);
	rtc_init(&b, fake_read, &f);
	n = device_save_size(&a.device);
	CHECK(n == hdr + sizeof(struct rtc_state) && n <= sizeof(blob));
	sel(&a, 0x80 | 0x0b); /* saved mid-access: the guest selected B and reads it next */
	CHECK(device_save(&a.device, blob, n) == 0);
	CHECK(device_restore(&b.device, blob, n, err, sizeof(err)) == 0);
	CHECK(device_save(&b.device, again, n) == 0 && !memcmp(blob, again, n));
	{
		uint8_t v = 0;

		rtc_io(&b, 1, &v, 1, false);
		CHECK(v == 0x02);
	}
	/* The time is never saved: a restored RTC reads the host's clock. */
	f.now = 1709251198 * NS + 3600 * NS;
	CHECK(rd(&b, 0x04) == 0x00 && rd(&b, 0x07) == 0x01);
	/* Refused: the NMI bit in the index, reserved bytes, another kind, version or size. */
	CHECK(restore_patched(&b, blob, n, hdr, 0x80) == -EINVAL);
	CHECK(restore_patched(&b, blob, n, hdr + 1, 1) == -EINVAL);
	CHECK(restore_patched(&b, blob, n, 4, DEVICE_UART) == -EINVAL);
	CHECK(restore_patched(&b, blob, n, 6, RTC_STATE_VERSION + 1) == -EINVAL);
	CHECK(device_restore(&b.device, blob, n - 1, err, sizeof(err)) == -EINVAL);
	for (size_t i = 0; i < n; i++) {
		CHECK(restore_patched(&b, blob, n, i, (uint8_t)(blob[i] ^ 0xff)) != -1000);
		CHECK(restore_patched(&b, blob, n, i, (uint8_t)(blob[i] + 1)) != -1000);
	}
	CHECK(restore_patched(&b, blob, n, hdr, 0x7f) == 0 && b.st.index == 0x7f);
	pthread_mutex_destroy(&a.lock);
	pthread_mutex_destroy(&b.lock);
}
