/* Just enough of the i8042 keyboard controller for Linux: the controller byte, the output
 * port, self tests, and the CPU reset pulse (command 0xFE), which ends the VM cleanly. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "log.h"

#define STATUS_OBF 0x01
#define STATUS_SYS 0x04
#define STATUS_CMD 0x08
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_DISABLE_AUX 0xa7
#define CMD_ENABLE_AUX 0xa8
#define CMD_TEST_AUX 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_TEST_KBD 0xab
#define CMD_DISABLE_KBD 0xad
#define CMD_ENABLE_KBD 0xae
#define CMD_READ_OUTP 0xd0
#define CMD_WRITE_OUTP 0xd1
#define CMD_RESET_CPU 0xfe

static const struct device_ops i8042_ops;

void i8042_init(struct i8042 *k, void (*reset)(void *), void *reset_opaque, irq_fn irq, void *irq_opaque)
{
	memset(k, 0, sizeof(*k));
	device_init(&k->device, &i8042_ops, "i8042", I8042_DATA_PORT, I8042_KBD_IRQ);
	pthread_mutex_init(&k->lock, NULL);
	k->st.status = STATUS_SYS;
	k->st.ctr = 0x01 | 0x04 | 0x40; /* kbd interrupt, system flag, translate */
	k->st.outport = 0x01;           /* not in reset */
	k->reset = reset;
	k->reset_opaque = reset_opaque;
	k->irq = irq;
	k->irq_opaque = irq_opaque;
}

/* Moves the next queued scancode into the output buffer and pulses IRQ 1 (edge). With the
 * lock held. */
static void next_key(struct i8042 *k)
{
	if (!k->st.nr_keys || (k->st.status & STATUS_OBF))
		return;
	k->st.data = k->st.keys[0];
	memmove(k->st.keys, k->st.keys + 1, (size_t)--k->st.nr_keys);
	k->st.status |= STATUS_OBF;
	if (k->irq && (k->st.ctr & 0x01)) {
		k->irq(k->irq_opaque, I8042_KBD_IRQ, 1);
		k->irq(k->irq_opaque, I8042_KBD_IRQ, 0);
	}
}

int i8042_ctrl_alt_del(struct i8042 *k)
{
	/* Set 1 scancodes (the controller translates): press Ctrl, Alt, Del; release them. */
	static const uint8_t seq[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	int r = 0;

	pthread_mutex_lock(&k->lock);
	if (k->st.nr_keys + (int)sizeof(seq) > (int)sizeof(k->st.keys)) {
		r = -EBUSY;
	} else {
		memcpy(k->st.keys + k->st.nr_keys, seq, sizeof(seq));
		k->st.nr_keys += (int)sizeof(seq);
		next_key(k);
	}
	pthread_mutex_unlock(&k->lock);
	return r;
}

static void put_data(struct i8042 *k, uint8_t v)
{
	k->st.data = v;
	k->st.status |= STATUS_OBF;
}

static bool command(struct i8042 *k, uint8_t cmd)
{
	k->st.status |= STATUS_CMD;
	switch (cmd) {
	case CMD_READ_CTR:
		put_data(k, k->st.ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTP:
		k->st.pending_cmd = cmd;
		break;
	case CMD_READ_OUTP:
		put_data(k, k->st.outport);
		break;
	case CMD_SELF_TEST:
		put_data(k, 0x55);
		break;
	case CMD_TEST_KBD:
	case CMD_TEST_AUX:
		put_data(k, 0x00);
		break;
	case CMD_RESET_CPU:
		return true;
	default: /* enable/disable ports and the rest: accepted, no effect */
		break;
	}
	return false;
}

void i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *k = opaque;
	uint16_t port = (uint16_t)(I8042_DATA_PORT + offset);
	bool reset = false;

	if (len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&k->lock);
	if (port == I8042_CMD_PORT) {
		if (is_write)
			reset = command(k, data[0]);
		else
			data[0] = k->st.status;
	} else if (port == I8042_DATA_PORT) {
		if (is_write) {
			k->st.status &= (uint8_t)~STATUS_CMD;
			if (k->st.pending_cmd == CMD_WRITE_CTR)
				k->st.ctr = data[0];
			else if (k->st.pending_cmd == CMD_WRITE_OUTP)
				/* Bit 0 low on the output port is also a CPU reset. */
				reset = !(data[0] & 0x01);
			k->st.pending_cmd = 0;
		} else {
			data[0] = k->st.data;
			k->st.status &= (uint8_t)~STATUS_OBF;
			next_key(k);
		}
	} else if (!is_write) {
		data[0] = 0xff;
	}
	pthread_mutex_unlock(&k->lock);
	if (reset && k->reset)
		k->reset(k->reset_opaque);
}

static struct i8042 *to_i8042(struct device *d)
{
	return container_of(d, struct i8042, device);
}

static size_t i8042_save_size(const struct device *d)
{
	(void)d;
	return sizeof(struct i8042_state);
}

static void i8042_save(struct device *d, void *buf)
{
	struct i8042 *k = to_i8042(d);

	pthread_mutex_lock(&k->lock);
	memcpy(buf, &k->st, sizeof(k->st));
	pthread_mutex_unlock(&k->lock);
}

/* The controller byte, output port, data byte and queued scancodes are plain bytes; the
 * key count indexes the queue and the pending command steers the next data write. */
static int i8042_restore(struct device *d, const void *buf, char *err, size_t errlen)
{
	struct i8042 *k = to_i8042(d);
	struct i8042_state st;

	memcpy(&st, buf, sizeof(st));
	if (st.nr_keys > I8042_KEYS)
		return errorf(err, errlen, -EINVAL, "%u queued keys, the queue holds %d", st.nr_keys, I8042_KEYS);
	if (st.pending_cmd != 0 && st.pending_cmd != CMD_WRITE_CTR && st.pending_cmd != CMD_WRITE_OUTP)
		return errorf(err, errlen, -EINVAL, "pending command 0x%02x takes no data byte", st.pending_cmd);
	if (st.status & ~(STATUS_OBF | STATUS_SYS | STATUS_CMD))
		return errorf(err, errlen, -EINVAL, "status 0x%02x has bits the controller never sets", st.status);
	if (!device_zeroed(st.pad, sizeof(st.pad)))
		return errorf(err, errlen, -EINVAL, "reserved bytes are not zero");
	pthread_mutex_lock(&k->lock);
	k->st = st;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static void i8042_destroy(struct device *d)
{
	struct i8042 *k = to_i8042(d);

	pthread_mutex_destroy(&k->lock);
	free(k);
}

static const struct device_ops i8042_ops = {
	.kind = DEVICE_I8042,
	.version = I8042_STATE_VERSION,
	.save_size = i8042_save_size,
	.save = i8042_save,
	.restore = i8042_restore,
	.destroy = i8042_destroy,
};

int i8042_create(void (*reset)(void *), void *reset_opaque, irq_fn irq, void *irq_opaque, struct i8042 **out)
{
	struct i8042 *k = malloc(sizeof(*k));

	if (!k)
		return -ENOMEM;
	i8042_init(k, reset, reset_opaque, irq, irq_opaque);
	*out = k;
	return 0;
}
