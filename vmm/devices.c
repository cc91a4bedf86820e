/* Wires the legacy devices onto the VM's port bus, and the boot timer. */
#include "devices.h"

#include <errno.h>

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

void boot_timer_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct vm *vm = opaque;
	int expected = 0;

	(void)offset;
	(void)len;
	if (!is_write) {
		data[0] = 0;
		return;
	}
	if (!__atomic_compare_exchange_n(&vm->boot_timer_fired, &expected, 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST))
		return;
	vm->boot_to_init_ms = (double)(now_ns() - vm->t0_wall_ns) / 1e6;
	vm->boot_to_init_cpu_ms = (double)(cpu_now_ns() - vm->t0_cpu_ns) / 1e6;
	log_info("boot_to_init_ms %.3f (cpu %.3f ms)", vm->boot_to_init_ms, vm->boot_to_init_cpu_ms);
}

int devices_setup(struct vm *vm, struct serial *s, struct outbuf *out, struct i8042 *k)
{
	int r;

	serial_init(s, out, irq_to_vm, vm);
	i8042_init(k, reset_vm, vm, irq_to_vm, vm);
	vm->serial = s;
	vm->i8042 = k;
	r = bus_register(&vm->pio, SERIAL_PORT, 8, serial_io, s, "serial");
	if (!r)
		r = bus_register(&vm->pio, I8042_DATA_PORT, 5, i8042_io, k, "i8042");
	if (!r && vm->cfg.boot_timer)
		r = bus_register(&vm->pio, BOOT_TIMER_PORT, 1, boot_timer_io, vm, "boot-timer");
	return r;
}
