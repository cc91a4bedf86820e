/* The legacy devices Linux needs: an 8250 UART, an i8042 (for reset), and Firecracker's
 * boot timer port. */
#ifndef KINDLING_DEVICES_H
#define KINDLING_DEVICES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "outbuf.h"

struct vm;

#define SERIAL_PORT 0x3f8
#define SERIAL_IRQ 4
#define SERIAL_FIFO 64
#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define BOOT_TIMER_PORT 0x3f0

/* Raises or lowers an interrupt line; NULL for tests without a VM. */
typedef void (*irq_fn)(void *opaque, int irq, int level);

struct serial {
	pthread_mutex_t lock;
	uint8_t ier, iir, fcr, lcr, mcr, lsr, msr, scr, dll, dlm;
	bool thr_pending; /* THR-empty interrupt pending until IIR is read or THR written */
	int irq_level;
	uint8_t rx[SERIAL_FIFO];
	int rx_head, rx_len;
	struct outbuf *out;
	irq_fn irq;
	void *irq_opaque;
	/* Called (outside the lock) when the guest has drained the RX FIFO, so input resumes. */
	void (*rx_space)(void *opaque);
	void *rx_space_opaque;
};

void serial_init(struct serial *s, struct outbuf *out, irq_fn irq, void *irq_opaque);
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* Queues input bytes; returns how many were taken (the FIFO may be full). */
size_t serial_input(struct serial *s, const uint8_t *data, size_t len);
size_t serial_rx_free(struct serial *s);

struct i8042 {
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t ctr;     /* controller configuration byte */
	uint8_t outport;
	uint8_t data;
	uint8_t pending_cmd; /* command whose data byte comes next on port 0x60 */
	uint8_t keys[16];     /* scancodes waiting to be read from port 0x60 */
	int nr_keys;
	void (*reset)(void *opaque);
	void *reset_opaque;
	irq_fn irq;
	void *irq_opaque;
};

#define I8042_KBD_IRQ 1

void i8042_init(struct i8042 *k, void (*reset)(void *), void *reset_opaque, irq_fn irq, void *irq_opaque);
/* Queues the Ctrl+Alt+Del key presses and releases, as Firecracker's SendCtrlAltDel does. */
int i8042_ctrl_alt_del(struct i8042 *k) __attribute__((warn_unused_result));
void i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Boot timer: the first byte the guest writes logs the time since VM build began. */
void boot_timer_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Registers the UART, the i8042 and (if asked) the boot timer on the VM's port bus. */
int devices_setup(struct vm *vm, struct serial *s, struct outbuf *out, struct i8042 *k) __attribute__((warn_unused_result));

#endif
