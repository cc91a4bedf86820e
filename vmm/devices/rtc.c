/* A read-only CMOS RTC on ports 0x70/0x71, for the time of day at boot. Linux on x86 reads
 * it in read_persistent_clock64 when it has no kvmclock (no-kvmclock, or a kernel without
 * KVM_GUEST): mach_get_cmos_time polls register A until UIP is clear, for up to 1000 ms, and
 * an unclaimed port reads all-ones, UIP set. So the registers answer as a healthy RTC's:
 * UIP never set, the time valid, in the 24-hour BCD mode PC firmware leaves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices.h"
#include "log.h"

#define REG_SECONDS 0x00
#define REG_MINUTES 0x02
#define REG_HOURS 0x04
#define REG_WEEKDAY 0x06
#define REG_MDAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32 /* where PC firmware keeps it (ACPI's FADT says so) */

#define A_VALUE 0x26 /* UIP clear; 32.768 kHz time base; 1024 Hz periodic rate */
#define B_VALUE 0x02 /* 24-hour; BCD (DM clear); no interrupts, no daylight saving */
#define D_VALUE 0x80 /* VRT: the battery is good, RAM and time are valid */
#define INDEX_MASK 0x7f /* bit 7 of a write to 0x70 masks NMIs on a PC: not kept */

#define NS_PER_S 1000000000ll

static const struct device_ops rtc_ops;

static int64_t host_clock(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	if (clock_gettime(CLOCK_REALTIME, &ts))
		return 0;
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

void rtc_init(struct rtc *c, rtc_clock_fn clock, void *clock_opaque)
{
	memset(c, 0, sizeof(*c));
	device_init(&c->device, &rtc_ops, "rtc", RTC_INDEX_PORT, DEVICE_NO_IRQ);
	pthread_mutex_init(&c->lock, NULL);
	c->clock = clock ? clock : host_clock;
	c->clock_opaque = clock_opaque;
}

int rtc_create(rtc_clock_fn clock, void *clock_opaque, struct rtc **out)
{
	struct rtc *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	rtc_init(c, clock, clock_opaque);
	*out = c;
	return 0;
}

static uint8_t bcd(unsigned v)
{
	return (uint8_t)((v / 10 % 10) << 4 | v % 10);
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days), so that
 * no libc time-zone code runs on a vCPU thread under its seccomp filter. days >= 0. */
static void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468, era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Sets the time registers to now (>= 0). With the lock held. */
static void latch(struct rtc *c, int64_t now)
{
	int64_t s = now / NS_PER_S, days = s / 86400, y;
	unsigned sod = (unsigned)(s % 86400), m, d;

	civil_from_days(days, &y, &m, &d);
	c->regs[REG_SECONDS] = bcd(sod % 60);
	c->regs[REG_MINUTES] = bcd(sod / 60 % 60);
	c->regs[REG_HOURS] = bcd(sod / 3600);
	/* 1970-01-01 was a Thursday; Sunday is 1. */
	c->regs[REG_WEEKDAY] = bcd((unsigned)((days + 4) % 7) + 1);
	c->regs[REG_MDAY] = bcd(d);
	c->regs[REG_MONTH] = bcd(m);
	c->regs[REG_YEAR] = bcd((unsigned)(y % 100));
	c->century = bcd((unsigned)(y / 100 % 100));
	c->latched = true;
	c->latched_ns = now;
}

/* One register's value. With the lock held. */
static uint8_t reg_read(struct rtc *c, uint8_t reg)
{
	switch (reg) {
	case REG_SECONDS:
	case REG_MINUTES:
	case REG_HOURS:
	case REG_WEEKDAY:
	case REG_MDAY:
	case REG_MONTH:
	case REG_YEAR:
	case REG_CENTURY: {
		int64_t now = c->clock(c->clock_opaque);

		if (now < 0) /* a host clock before 1970 reads as 1970: no negative times below */
			now = 0;
		if (reg == REG_SECONDS || !c->latched || now < c->latched_ns || now - c->latched_ns >= NS_PER_S)
			latch(c, now);
		return reg == REG_CENTURY ? c->century : c->regs[reg];
	}
	case REG_A:
		return A_VALUE;
	case REG_B:
		return B_VALUE;
	case REG_D:
		return D_VALUE;
	default: /* register C (no interrupt flags ever), the alarms, the CMOS RAM */
		return 0;
	}
}

void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct rtc *c = opaque;

	if (len != 1 || offset > 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (offset == 0) {
		if (is_write)
			c->st.index = data[0] & INDEX_MASK;
		else
			data[0] = 0xff; /* the index port is write-only */
	} else if (!is_write) {
		data[0] = reg_read(c, c->st.index);
	}
	/* A write to 0x71 (the time, register A's rates, register B's modes, CMOS RAM) is
	 * ignored: the guest cannot set the host's clock, and the modes stay what it reads. */
	pthread_mutex_unlock(&c->lock);
}

static struct rtc *to_rtc(struct device *d)
{
	return container_of(d, struct rtc, device);
}

static size_t rtc_save_size(const struct device *d)
{
	(void)d;
	return sizeof(struct rtc_state);
}

static void rtc_save(struct device *d, void *buf)
{
	struct rtc *c = to_rtc(d);

	pthread_mutex_lock(&c->lock);
	memcpy(buf, &c->st, sizeof(c->st));
	pthread_mutex_unlock(&c->lock);
}

static int rtc_restore(struct device *d, const void *buf, char *err, size_t errlen)
{
	struct rtc *c = to_rtc(d);
	struct rtc_state st;

	memcpy(&st, buf, sizeof(st));
	if (st.index > INDEX_MASK)
		return errorf(err, errlen, -EINVAL, "register index 0x%02x has the NMI-mask bit, never kept", st.index);
	if (!device_zeroed(st.pad, sizeof(st.pad)))
		return errorf(err, errlen, -EINVAL, "reserved bytes are not zero");
	pthread_mutex_lock(&c->lock);
	c->st = st;
	c->latched = false; /* the next read takes the host's time now, not the snapshot's */
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void rtc_destroy(struct device *d)
{
	struct rtc *c = to_rtc(d);

	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct device_ops rtc_ops = {
	.kind = DEVICE_RTC,
	.version = RTC_STATE_VERSION,
	.optional_in_snapshot = true,
	.save_size = rtc_save_size,
	.save = rtc_save,
	.restore = rtc_restore,
	.destroy = rtc_destroy,
};
