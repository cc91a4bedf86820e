/* Register-level behaviour of the UART and the i8042. */
#include <errno.h>
#include <string.h>

#include "devices.h"
#include "test.h"

struct irq_rec {
	int level, raises;
};

static void rec_irq(void *opaque, int irq, int level)
{
	struct irq_rec *r = opaque;

	(void)irq;
	if (level && !r->level)
		r->raises++;
	r->level = level;
}

static uint8_t rd(struct serial *s, int reg)
{
	uint8_t v;

	serial_io(s, (uint64_t)reg, &v, 1, false);
	return v;
}

static void wr(struct serial *s, int reg, uint8_t v)
{
	serial_io(s, (uint64_t)reg, &v, 1, true);
}

TEST(serial_tx_and_thr_interrupt)
{
	static struct outbuf out; /* not started: bytes stay in the buffer */
	static struct serial s;
	struct irq_rec irq = { 0 };

	memset(&out, 0, sizeof(out));
	pthread_mutex_init(&out.lock, NULL);
	pthread_cond_init(&out.cond, NULL);
	serial_init(&s, &out, rec_irq, &irq);
	CHECK(rd(&s, 5) & 0x60);        /* THRE and TEMT */
	CHECK(rd(&s, 2) == 0x01);       /* no interrupt pending */
	wr(&s, 0, 'h');
	wr(&s, 0, 'i');
	CHECK(out.len == 2 && out.buf[0] == 'h' && out.buf[1] == 'i');
	CHECK(irq.level == 0);          /* THRI not enabled */
	wr(&s, 1, 0x02);                /* enable THRI: THR empty raises at once */
	CHECK(irq.level == 1 && (rd(&s, 2) & 0x0f) == 0x02);
	CHECK(irq.level == 0);          /* reading IIR acknowledged it */
	wr(&s, 0, '!');                 /* each byte sent raises again */
	CHECK(irq.level == 1 && irq.raises == 2);
}

TEST(serial_rx_and_registers)
{
	static struct serial s;
	struct irq_rec irq = { 0 };
	uint8_t in[100];

	serial_init(&s, NULL, rec_irq, &irq);
	wr(&s, 1, 0x01);                /* RDI */
	CHECK(serial_input(&s, (const uint8_t *)"ab", 2) == 2);
	CHECK(irq.level == 1 && (rd(&s, 5) & 1) && (rd(&s, 2) & 0x0f) == 0x04);
	CHECK(rd(&s, 0) == 'a' && rd(&s, 0) == 'b');
	CHECK(!(rd(&s, 5) & 1) && irq.level == 0);
	memset(in, 'x', sizeof(in));
	CHECK(serial_input(&s, in, sizeof(in)) == SERIAL_FIFO); /* FIFO bounds input */
	CHECK(serial_rx_free(&s) == 0);
	/* Divisor latch and scratch. */
	wr(&s, 3, 0x80);
	wr(&s, 0, 0x0c);
	wr(&s, 1, 0x00);
	CHECK(rd(&s, 0) == 0x0c);
	wr(&s, 3, 0x03);
	CHECK(rd(&s, 3) == 0x03);
	wr(&s, 7, 0xa5);
	CHECK(rd(&s, 7) == 0xa5);
	/* Loopback: MSR mirrors MCR, as the 8250 driver's probe expects. */
	wr(&s, 4, 0x10 | 0x0a);
	CHECK((rd(&s, 6) & 0xf0) == 0x90);
	/* Wide accesses are refused with all-ones. */
	{
		uint8_t w[2];

		serial_io(&s, 0, w, 2, false);
		CHECK(w[0] == 0xff && w[1] == 0xff);
	}
}

static int resets;

static void on_reset(void *opaque)
{
	(void)opaque;
	resets++;
}

static uint8_t krd(struct i8042 *k, int port)
{
	uint8_t v;

	i8042_io(k, (uint64_t)(port - I8042_DATA_PORT), &v, 1, false);
	return v;
}

static void kwr(struct i8042 *k, int port, uint8_t v)
{
	i8042_io(k, (uint64_t)(port - I8042_DATA_PORT), &v, 1, true);
}

TEST(i8042_commands_and_reset)
{
	struct i8042 k;

	resets = 0;
	i8042_init(&k, on_reset, NULL, NULL, NULL);
	CHECK(!(krd(&k, 0x64) & 0x02)); /* input buffer empty: Linux's kb_wait() passes */
	kwr(&k, 0x64, 0xaa);
	CHECK(krd(&k, 0x64) & 0x01);
	CHECK(krd(&k, 0x60) == 0x55);
	CHECK(!(krd(&k, 0x64) & 0x01));
	kwr(&k, 0x64, 0x60);
	kwr(&k, 0x60, 0x47);
	kwr(&k, 0x64, 0x20);
	CHECK(krd(&k, 0x60) == 0x47);
	CHECK(resets == 0);
	kwr(&k, 0x64, 0xfe);
	CHECK(resets == 1);
	kwr(&k, 0x64, 0xd1);
	kwr(&k, 0x60, 0xfe); /* output port bit 0 low: reset too */
	CHECK(resets == 2);
}

TEST(i8042_ctrl_alt_del_scancodes)
{
	static const uint8_t want[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	struct i8042 k;
	struct irq_rec irq = { 0 };

	i8042_init(&k, on_reset, NULL, rec_irq, &irq);
	CHECK(i8042_ctrl_alt_del(&k) == 0);
	for (size_t i = 0; i < sizeof(want); i++) {
		CHECK(krd(&k, 0x64) & 0x01);
		CHECK(irq.raises == (int)i + 1); /* one interrupt per scancode, as it arrives */
		CHECK(krd(&k, 0x60) == want[i]);
	}
	CHECK(!(krd(&k, 0x64) & 0x01));
	CHECK(i8042_ctrl_alt_del(&k) == 0 && i8042_ctrl_alt_del(&k) == 0);
	CHECK(i8042_ctrl_alt_del(&k) == -EBUSY); /* the queue is bounded */
}
