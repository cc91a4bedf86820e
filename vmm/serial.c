/* 8250/16550A UART: the guest console. Output goes to a non-blocking sink; input comes from
 * the VMM event loop. Interrupt logic follows the 16550's priority order. */
#include <string.h>

#include "devices.h"

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

void serial_init(struct serial *s, struct outbuf *out, irq_fn irq, void *irq_opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->iir = IIR_NO_INT;
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = MSR_DEFAULT;
	s->mcr = 0x08; /* OUT2 */
	s->out = out;
	s->irq = irq;
	s->irq_opaque = irq_opaque;
}

/* Called with the lock held. */
static void update_irq(struct serial *s)
{
	uint8_t iir = IIR_NO_INT;
	int level;

	if ((s->ier & IER_RLSI) && (s->lsr & LSR_OE))
		iir = IIR_RLSI;
	else if ((s->ier & IER_RDI) && (s->lsr & LSR_DR))
		iir = IIR_RDI;
	else if ((s->ier & IER_THRI) && s->thr_pending)
		iir = IIR_THRI;
	s->iir = iir | ((s->fcr & 1) ? IIR_FIFO : 0);
	level = iir != IIR_NO_INT;
	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->irq)
			s->irq(s->irq_opaque, SERIAL_IRQ, level);
	}
}

static size_t rx_push(struct serial *s, const uint8_t *data, size_t len)
{
	size_t n = 0;

	while (n < len && s->rx_len < SERIAL_FIFO) {
		s->rx[(s->rx_head + s->rx_len) % SERIAL_FIFO] = data[n++];
		s->rx_len++;
	}
	if (n < len && s->rx_len == SERIAL_FIFO && (s->mcr & MCR_LOOP))
		s->lsr |= LSR_OE;
	if (s->rx_len)
		s->lsr |= LSR_DR;
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
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_len) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_FIFO;
			if (--s->rx_len == 0) {
				s->lsr &= ~LSR_DR;
				*drained = true;
			}
		}
		break;
	case UART_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR:
		v = s->iir;
		/* Reading IIR acknowledges a THR-empty interrupt. */
		if ((v & 0x0f) == IIR_THRI)
			s->thr_pending = false;
		break;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = s->lsr;
		s->lsr &= ~LSR_OE;
		break;
	case UART_MSR:
		return (s->mcr & MCR_LOOP) ? loop_msr(s->mcr) : s->msr;
	case UART_SCR:
		return s->scr;
	}
	return v;
}

static void serial_write(struct serial *s, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case UART_RX:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			return;
		}
		s->thr_pending = false;
		if (s->mcr & MCR_LOOP)
			rx_push(s, &v, 1);
		else if (s->out)
			outbuf_put(s->out, &v, 1);
		/* Transmission is instant: the holding register is empty again at once. */
		s->lsr |= LSR_THRE | LSR_TEMT;
		s->thr_pending = true;
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			return;
		}
		/* Enabling THRI while THR is empty raises the interrupt, as on real hardware. */
		if (!(s->ier & IER_THRI) && (v & IER_THRI) && (s->lsr & LSR_THRE))
			s->thr_pending = true;
		s->ier = v & 0x0f;
		break;
	case UART_IIR:
		s->fcr = v & 0xc9;
		if (v & 0x02) { /* clear RX FIFO */
			s->rx_len = 0;
			s->lsr &= ~LSR_DR;
		}
		break;
	case UART_LCR:
		s->lcr = v;
		return;
	case UART_MCR:
		s->mcr = v & 0x1f;
		return;
	case UART_SCR:
		s->scr = v;
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
	n = (size_t)(SERIAL_FIFO - s->rx_len);
	pthread_mutex_unlock(&s->lock);
	return n;
}
