/* 8250/16550A UART: the guest console. Output goes to a non-blocking sink; input comes from
 * the VMM event loop. Interrupt logic follows the 16550's priority order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "log.h"

#define UART_RX 0
#define UART_IER 1
#define UART_IIR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MSR_DEFAULT 0xb0 /* DCD, DSR, CTS: a cable is attached and ready */

static const struct device_ops serial_ops;

void serial_init(struct serial *s, struct outbuf *out, irq_fn irq, void *irq_opaque)
{
	memset(s, 0, sizeof(*s));
	device_init(&s->device, &serial_ops, "ttyS0", SERIAL_PORT, SERIAL_IRQ);
	pthread_mutex_init(&s->lock, NULL);
	s->st.iir = IIR_NO_INT;
	s->st.lsr = LSR_THRE | LSR_TEMT;
	s->st.msr = MSR_DEFAULT;
	s->st.mcr = 0x08; /* OUT2 */
	s->out = out;
	s->irq = irq;
	s->irq_opaque = irq_opaque;
}

/* Called with the lock held. */
static void update_irq(struct serial *s)
{
	uint8_t iir = IIR_NO_INT;
	int level;

	if ((s->st.ier & IER_RLSI) && (s->st.lsr & LSR_OE))
		iir = IIR_RLSI;
	else if ((s->st.ier & IER_RDI) && (s->st.lsr & LSR_DR))
		iir = IIR_RDI;
	else if ((s->st.ier & IER_THRI) && s->st.thr_pending)
		iir = IIR_THRI;
	s->st.iir = iir | ((s->st.fcr & 1) ? IIR_FIFO : 0);
	level = iir != IIR_NO_INT;
	if (level != s->st.irq_level) {
		s->st.irq_level = level;
		if (s->irq)
			s->irq(s->irq_opaque, SERIAL_IRQ, level);
	}
}

static size_t rx_push(struct serial *s, const uint8_t *data, size_t len)
{
	size_t n = 0;

	while (n < len && s->st.rx_len < SERIAL_FIFO) {
		s->st.rx[(s->st.rx_head + s->st.rx_len) % SERIAL_FIFO] = data[n++];
		s->st.rx_len++;
	}
	if (n < len && s->st.rx_len == SERIAL_FIFO && (s->st.mcr & MCR_LOOP))
		s->st.lsr |= LSR_OE;
	if (s->st.rx_len)
		s->st.lsr |= LSR_DR;
	return n;
}

static uint8_t loop_msr(uint8_t mcr)
{
	/* In loopback, the modem inputs are wired to the modem outputs. */
	return (uint8_t)((mcr & 0x01) << 5 | (mcr & 0x02) << 3 | (mcr & 0x04) << 4 | (mcr & 0x08) << 4);
}

static uint8_t serial_read(struct serial *s, uint64_t reg, bool *drained)
{
	uint8_t v = 0;

	switch (reg) {
	case UART_RX:
		if (s->st.lcr & LCR_DLAB)
			return s->st.dll;
		if (s->st.rx_len) {
			v = s->st.rx[s->st.rx_head];
			s->st.rx_head = (s->st.rx_head + 1) % SERIAL_FIFO;
			if (--s->st.rx_len == 0) {
				s->st.lsr &= ~LSR_DR;
				*drained = true;
			}
		}
		break;
	case UART_IER:
		return (s->st.lcr & LCR_DLAB) ? s->st.dlm : s->st.ier;
	case UART_IIR:
		v = s->st.iir;
		/* Reading IIR acknowledges a THR-empty interrupt. */
		if ((v & 0x0f) == IIR_THRI)
			s->st.thr_pending = false;
		break;
	case UART_LCR:
		return s->st.lcr;
	case UART_MCR:
		return s->st.mcr;
	case UART_LSR:
		v = s->st.lsr;
		s->st.lsr &= ~LSR_OE;
		break;
	case UART_MSR:
		return (s->st.mcr & MCR_LOOP) ? loop_msr(s->st.mcr) : s->st.msr;
	case UART_SCR:
		return s->st.scr;
	}
	return v;
}

static void serial_write(struct serial *s, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case UART_RX:
		if (s->st.lcr & LCR_DLAB) {
			s->st.dll = v;
			return;
		}
		s->st.thr_pending = false;
		if (s->st.mcr & MCR_LOOP)
			rx_push(s, &v, 1);
		else if (s->out)
			outbuf_put(s->out, &v, 1);
		/* Transmission is instant: the holding register is empty again at once. */
		s->st.lsr |= LSR_THRE | LSR_TEMT;
		s->st.thr_pending = true;
		break;
	case UART_IER:
		if (s->st.lcr & LCR_DLAB) {
			s->st.dlm = v;
			return;
		}
		/* Enabling THRI while THR is empty raises the interrupt, as on real hardware. */
		if (!(s->st.ier & IER_THRI) && (v & IER_THRI) && (s->st.lsr & LSR_THRE))
			s->st.thr_pending = true;
		s->st.ier = v & 0x0f;
		break;
	case UART_IIR:
		s->st.fcr = v & 0xc9;
		if (v & 0x02) { /* clear RX FIFO */
			s->st.rx_len = 0;
			s->st.lsr &= ~LSR_DR;
		}
		break;
	case UART_LCR:
		s->st.lcr = v;
		return;
	case UART_MCR:
		s->st.mcr = v & 0x1f;
		return;
	case UART_SCR:
		s->st.scr = v;
		return;
	default: /* LSR and MSR are read-only */
		return;
	}
	update_irq(s);
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct serial *s = opaque;
	bool drained = false;

	if (len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (is_write) {
		serial_write(s, offset, data[0]);
	} else {
		data[0] = serial_read(s, offset, &drained);
		update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
	if (drained && s->rx_space)
		s->rx_space(s->rx_space_opaque);
}

size_t serial_input(struct serial *s, const uint8_t *data, size_t len)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = rx_push(s, data, len);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_free(struct serial *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = (size_t)(SERIAL_FIFO - s->st.rx_len);
	pthread_mutex_unlock(&s->lock);
	return n;
}

static struct serial *to_serial(struct device *d)
{
	return container_of(d, struct serial, device);
}

static size_t serial_save_size(const struct device *d)
{
	(void)d;
	return sizeof(struct serial_state);
}

static void serial_save(struct device *d, void *buf)
{
	struct serial *s = to_serial(d);

	pthread_mutex_lock(&s->lock);
	memcpy(buf, &s->st, sizeof(s->st));
	pthread_mutex_unlock(&s->lock);
}

/* Every value the model itself can reach is accepted, nothing else: the registers below
 * steer indexing (rx_head, rx_len) or interrupt logic. LCR, SCR, the divisor and MSR are
 * plain bytes, safe whatever they hold. */
static int serial_restore(struct device *d, const void *buf, char *err, size_t errlen)
{
	struct serial *s = to_serial(d);
	struct serial_state st;
	uint8_t iid;

	memcpy(&st, buf, sizeof(st));
	iid = st.iir & 0x3f;
	if (st.rx_len > SERIAL_FIFO || st.rx_head >= SERIAL_FIFO)
		return errorf(err, errlen, -EINVAL, "receive FIFO head %u, length %u outside its %d bytes",
			      st.rx_head, st.rx_len, SERIAL_FIFO);
	if (!!(st.lsr & LSR_DR) != (st.rx_len > 0))
		return errorf(err, errlen, -EINVAL, "LSR data-ready bit disagrees with a FIFO of %u bytes", st.rx_len);
	if (st.lsr & ~(LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT))
		return errorf(err, errlen, -EINVAL, "LSR 0x%02x has bits the UART never sets", st.lsr);
	if (st.ier & ~0x0f || st.mcr & ~0x1f || st.fcr & ~0xc9)
		return errorf(err, errlen, -EINVAL, "IER 0x%02x, MCR 0x%02x or FCR 0x%02x has reserved bits set",
			      st.ier, st.mcr, st.fcr);
	if ((iid != IIR_NO_INT && iid != IIR_THRI && iid != IIR_RDI && iid != IIR_RLSI) ||
	    ((st.iir & IIR_FIFO) != 0 && (st.iir & IIR_FIFO) != IIR_FIFO))
		return errorf(err, errlen, -EINVAL, "IIR 0x%02x is not an interrupt identification", st.iir);
	if (st.thr_pending > 1 || st.irq_level > 1)
		return errorf(err, errlen, -EINVAL, "THR-pending %u or interrupt level %u is not a boolean",
			      st.thr_pending, st.irq_level);
	if (!device_zeroed(st.pad, sizeof(st.pad)))
		return errorf(err, errlen, -EINVAL, "reserved bytes are not zero");
	/* The interrupt line's level is the irqchip's state, restored with it: not raised here. */
	pthread_mutex_lock(&s->lock);
	s->st = st;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void serial_destroy(struct device *d)
{
	struct serial *s = to_serial(d);

	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct device_ops serial_ops = {
	.kind = DEVICE_UART,
	.version = SERIAL_STATE_VERSION,
	.save_size = serial_save_size,
	.save = serial_save,
	.restore = serial_restore,
	.destroy = serial_destroy,
};

int serial_create(struct outbuf *out, irq_fn irq, void *irq_opaque, struct serial **out_s)
{
	struct serial *s = malloc(sizeof(*s));

	if (!s)
		return -ENOMEM;
	serial_init(s, out, irq, irq_opaque);
	*out_s = s;
	return 0;
}
