/* The legacy devices Linux needs: an 8250 UART, an i8042 (for reset), a read-only CMOS RTC
 * (the time of day at boot), and Firecracker's boot timer port. Each is a struct device
 * (device.h): its guest-visible registers in one plain *_state struct, saved as is, apart
 * from its lock and callbacks. */
#ifndef KINDLING_DEVICES_H
#define KINDLING_DEVICES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "outbuf.h"

struct vm;

#define SERIAL_PORT 0x3f8
#define SERIAL_IRQ 4
#define SERIAL_FIFO 64
#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define BOOT_TIMER_PORT 0x3f0
#define RTC_INDEX_PORT 0x70
#define RTC_DATA_PORT 0x71

/* Raises or lowers an interrupt line; NULL for tests without a VM. */
typedef void (*irq_fn)(void *opaque, int irq, int level);

#define SERIAL_STATE_VERSION 1
struct serial_state {
	uint8_t ier, iir, fcr, lcr, mcr, lsr, msr, scr, dll, dlm;
	uint8_t thr_pending; /* THR-empty interrupt pending until IIR is read or THR written */
	uint8_t irq_level;
	uint8_t rx_head; /* < SERIAL_FIFO */
	uint8_t rx_len;  /* <= SERIAL_FIFO */
	uint8_t pad[2];
	uint8_t rx[SERIAL_FIFO];
};
_Static_assert(sizeof(struct serial_state) == 16 + SERIAL_FIFO, "no hidden padding");

struct serial {
	struct device device;
	struct serial_state st; /* under lock */
	pthread_mutex_t lock;
	struct outbuf *out;
	irq_fn irq;
	void *irq_opaque;
	/* Called (outside the lock) when the guest has drained the RX FIFO, so input resumes. */
	void (*rx_space)(void *opaque);
	void *rx_space_opaque;
};

/* Sets up s in place (tests; not to be destroyed through its device ops). */
void serial_init(struct serial *s, struct outbuf *out, irq_fn irq, void *irq_opaque);
/* Allocates a UART at SERIAL_PORT; released by its device's destroy op. */
int serial_create(struct outbuf *out, irq_fn irq, void *irq_opaque, struct serial **out_s)
	__attribute__((warn_unused_result));
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* Queues input bytes; returns how many were taken (the FIFO may be full). */
size_t serial_input(struct serial *s, const uint8_t *data, size_t len);
size_t serial_rx_free(struct serial *s);

#define I8042_KEYS 16
#define I8042_STATE_VERSION 1
struct i8042_state {
	uint8_t status;
	uint8_t ctr; /* controller configuration byte */
	uint8_t outport;
	uint8_t data;
	uint8_t pending_cmd; /* command whose data byte comes next on port 0x60 */
	uint8_t nr_keys;     /* <= I8042_KEYS */
	uint8_t pad[2];
	uint8_t keys[I8042_KEYS]; /* scancodes waiting to be read from port 0x60 */
};
_Static_assert(sizeof(struct i8042_state) == 8 + I8042_KEYS, "no hidden padding");

struct i8042 {
	struct device device;
	struct i8042_state st; /* under lock */
	pthread_mutex_t lock;
	void (*reset)(void *opaque);
	void *reset_opaque;
	irq_fn irq;
	void *irq_opaque;
};

#define I8042_KBD_IRQ 1

void i8042_init(struct i8042 *k, void (*reset)(void *), void *reset_opaque, irq_fn irq, void *irq_opaque);
int i8042_create(void (*reset)(void *), void *reset_opaque, irq_fn irq, void *irq_opaque, struct i8042 **out)
	__attribute__((warn_unused_result));
/* Queues the Ctrl+Alt+Del key presses and releases, as Firecracker's SendCtrlAltDel does. */
int i8042_ctrl_alt_del(struct i8042 *k) __attribute__((warn_unused_result));
void i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* CMOS RTC (an MC146818 as PC firmware leaves it: 24-hour BCD, no interrupts), read-only:
 * its time registers give the host's UTC time, its status says the time is valid and never
 * being updated, so a kernel without kvmclock reads the time at once instead of polling an
 * absent RTC for a second. The guest cannot set it. Only the selected register is state; the
 * time is the host's clock. */
#define RTC_STATE_VERSION 1
struct rtc_state {
	uint8_t index; /* the register port 0x70 selected (< 0x80: the NMI-mask bit is dropped) */
	uint8_t pad[7];
};

/* The host's wall clock, UTC: nanoseconds since 1970 (clock_gettime(CLOCK_REALTIME) unless a
 * test injects another). */
typedef int64_t (*rtc_clock_fn)(void *opaque);

struct rtc {
	struct device device;
	struct rtc_state st; /* under lock */
	pthread_mutex_t lock;
	rtc_clock_fn clock;
	void *clock_opaque;
	/* The time a read of the seconds register took (BCD, by register; under lock): the
	 * other time registers report it while it is under a second old, so a reader that
	 * starts with the seconds (as Linux and PC firmware do) gets one consistent time. */
	bool latched;
	int64_t latched_ns;
	uint8_t regs[10];
	uint8_t century;
};

/* clock NULL: the host's CLOCK_REALTIME. */
void rtc_init(struct rtc *c, rtc_clock_fn clock, void *clock_opaque);
int rtc_create(rtc_clock_fn clock, void *clock_opaque, struct rtc **out) __attribute__((warn_unused_result));
/* Ports RTC_INDEX_PORT (offset 0) and RTC_DATA_PORT (offset 1). */
void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Boot timer: the first byte the guest writes logs the time since VM creation began (t0).
 * Only whether it fired and what it measured are state; t0 is the host's clock. */
#define BOOT_TIMER_STATE_VERSION 1
struct boot_timer_state {
	uint32_t fired; /* 0 or 1; written once by a vCPU */
	uint32_t pad;
	uint64_t boot_to_init_ns;
	uint64_t boot_to_init_cpu_ns;
};

struct boot_timer {
	struct device device;
	struct boot_timer_state st;
	uint64_t t0_wall_ns;
	uint64_t t0_cpu_ns;
	int claimed; /* the vCPU whose write won; st.fired follows once the values are in */
};

void boot_timer_init(struct boot_timer *t, uint64_t t0_wall_ns, uint64_t t0_cpu_ns);
int boot_timer_create(uint64_t t0_wall_ns, uint64_t t0_cpu_ns, struct boot_timer **out)
	__attribute__((warn_unused_result));
void boot_timer_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Creates the UART, the i8042, the RTC and (if the VM's config asks) the boot timer, adds them to
 * `list` and registers them on the VM's port bus. t0 is when VM creation began. On failure
 * what was made stays on the list, for device_list_destroy. */
int devices_setup(struct vm *vm, struct device_list *list, struct outbuf *out, uint64_t t0_wall_ns,
		  uint64_t t0_cpu_ns, char *err, size_t errlen) __attribute__((warn_unused_result));

/* The UART and the i8042 of a list, or NULL. */
struct serial *devices_serial(const struct device_list *list);
struct i8042 *devices_i8042(const struct device_list *list);

#endif
