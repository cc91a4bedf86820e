/* Makes the legacy devices (UART, i8042, RTC, boot timer), puts them on the device list and
 * wires them onto the VM's port bus. */
#include "devices.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "vm.h"

static void irq_to_vm(void *opaque, int irq, int level)
{
	vm_irq_line(opaque, irq, level);
}

static void reset_vm(void *opaque)
{
	vm_stop(opaque, 0, "guest reset via the i8042 controller");
}

/* Adds d to the list, or destroys it: either way the caller no longer owns it. */
static int add(struct device_list *list, struct device *d, char *err, size_t errlen)
{
	int r = device_add(list, d);

	if (r) {
		d->ops->destroy(d);
		return errorf(err, errlen, r, "too many devices");
	}
	return 0;
}

int devices_setup(struct vm *vm, struct device_list *list, struct outbuf *out, uint64_t t0_wall_ns,
		  uint64_t t0_cpu_ns, char *err, size_t errlen)
{
	struct serial *s;
	struct i8042 *k;
	struct rtc *c;
	struct boot_timer *t;
	int r;

	if ((r = serial_create(out, irq_to_vm, vm, &s)) || (r = add(list, &s->device, err, errlen)))
		return r == -ENOMEM ? errorf(err, errlen, r, "UART: out of memory") : r;
	r = bus_register(&vm->pio, SERIAL_PORT, 8, serial_io, s, "serial");
	if (r)
		return errorf(err, errlen, r, "UART at port 0x%x: %s", SERIAL_PORT, strerror(-r));
	if ((r = i8042_create(reset_vm, vm, irq_to_vm, vm, &k)) || (r = add(list, &k->device, err, errlen)))
		return r == -ENOMEM ? errorf(err, errlen, r, "i8042: out of memory") : r;
	r = bus_register(&vm->pio, I8042_DATA_PORT, 5, i8042_io, k, "i8042");
	if (r)
		return errorf(err, errlen, r, "i8042 at port 0x%x: %s", I8042_DATA_PORT, strerror(-r));
	if ((r = rtc_create(NULL, NULL, &c)) || (r = add(list, &c->device, err, errlen)))
		return r == -ENOMEM ? errorf(err, errlen, r, "RTC: out of memory") : r;
	r = bus_register(&vm->pio, RTC_INDEX_PORT, 2, rtc_io, c, "rtc");
	if (r)
		return errorf(err, errlen, r, "RTC at port 0x%x: %s", RTC_INDEX_PORT, strerror(-r));
	if (!vm->cfg.boot_timer)
		return 0;
	if ((r = boot_timer_create(t0_wall_ns, t0_cpu_ns, &t)) || (r = add(list, &t->device, err, errlen)))
		return r == -ENOMEM ? errorf(err, errlen, r, "boot timer: out of memory") : r;
	r = bus_register(&vm->pio, BOOT_TIMER_PORT, 1, boot_timer_io, t, "boot-timer");
	if (r)
		return errorf(err, errlen, r, "boot timer at port 0x%x: %s", BOOT_TIMER_PORT, strerror(-r));
	return 0;
}

struct serial *devices_serial(const struct device_list *list)
{
	struct device *d = device_find(list, DEVICE_UART, NULL);

	return d ? container_of(d, struct serial, device) : NULL;
}

struct i8042 *devices_i8042(const struct device_list *list)
{
	struct device *d = device_find(list, DEVICE_I8042, NULL);

	return d ? container_of(d, struct i8042, device) : NULL;
}
