/* Non-blocking output sink for the serial console. */
#include "outbuf.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "vmm_seccomp.h"

static void *writer(void *arg)
{
	struct outbuf *o = arg;
	uint8_t chunk[4096];

	pthread_setname_np(pthread_self(), "kindling-out");
	pthread_mutex_lock(&o->lock);
	for (;;) {
		while (!o->len && !o->closing && !o->sandbox_req)
			pthread_cond_wait(&o->cond, &o->lock);
		if (o->sandbox_req) {
			/* Unlocked: compiling the filter takes a while (~0.2 ms), and outbuf_put
			 * must not wait for it. */
			pthread_mutex_unlock(&o->lock);
			int rc = seccomp_install(SECCOMP_CONSOLE);

			pthread_mutex_lock(&o->lock);
			o->sandbox_rc = rc;
			o->sandbox_req = false;
			o->sandboxed = true;
			pthread_cond_broadcast(&o->cond);
			continue;
		}
		if (!o->len && o->closing)
			break;
		size_t n = o->len < sizeof(chunk) ? o->len : sizeof(chunk);

		for (size_t i = 0; i < n; i++)
			chunk[i] = o->buf[(o->head + i) % OUTBUF_SIZE];
		pthread_mutex_unlock(&o->lock);
		/* The one place that may block: the vCPU is not waiting on it. */
		ssize_t w = write(o->fd, chunk, n);
		int e = errno; /* before the lock is taken */

		pthread_mutex_lock(&o->lock);
		if (w < 0 && e == EINTR)
			continue;
		if (w <= 0) {
			/* A closed or broken output: count the rest as dropped. */
			o->dropped += o->len;
			o->len = 0;
			continue;
		}
		o->head = (o->head + (size_t)w) % OUTBUF_SIZE;
		o->len -= (size_t)w;
		o->written += (uint64_t)w;
		pthread_cond_broadcast(&o->cond);
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

int outbuf_start(struct outbuf *o, int fd)
{
	int r;

	/* Not the buffer itself: left untouched, its pages stay unallocated until used. */
	memset(o, 0, offsetof(struct outbuf, buf));
	memset((char *)o + offsetof(struct outbuf, buf) + OUTBUF_SIZE, 0,
	       sizeof(*o) - offsetof(struct outbuf, buf) - OUTBUF_SIZE);
	o->fd = fd;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
	r = pthread_create(&o->thread, NULL, writer, o);
	if (r)
		return -r;
	o->started = true;
	return 0;
}

void outbuf_put(struct outbuf *o, const uint8_t *data, size_t len)
{
	pthread_mutex_lock(&o->lock);
	for (size_t i = 0; i < len; i++) {
		if (o->len == OUTBUF_SIZE) {
			o->dropped += len - i;
			break;
		}
		o->buf[(o->head + o->len) % OUTBUF_SIZE] = data[i];
		o->len++;
	}
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

/* With the lock held: one request per writer, as a filter stays on for good. */
static void request_locked(struct outbuf *o)
{
	if (o->sandboxed || o->sandbox_req)
		return;
	o->sandbox_req = true;
	pthread_cond_broadcast(&o->cond);
}

void outbuf_sandbox_request(struct outbuf *o)
{
	if (!o->started)
		return;
	pthread_mutex_lock(&o->lock);
	request_locked(o);
	pthread_mutex_unlock(&o->lock);
}

int outbuf_sandbox(struct outbuf *o)
{
	int r;

	if (!o->started)
		return -ESRCH;
	pthread_mutex_lock(&o->lock);
	request_locked(o);
	while (!o->sandboxed)
		pthread_cond_wait(&o->cond, &o->lock);
	r = o->sandbox_rc;
	pthread_mutex_unlock(&o->lock);
	return r;
}

void outbuf_stop(struct outbuf *o, int timeout_ms)
{
	struct timespec ts;

	if (!o->started)
		return;
	deadline_after_ms(&ts, timeout_ms);
	pthread_mutex_lock(&o->lock);
	o->closing = true;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
	if (pthread_timedjoin_np(o->thread, NULL, &ts)) {
		/* Output is stalled: leave the writer blocked; the process is about to exit. */
		pthread_mutex_lock(&o->lock);
		o->dropped += o->len;
		pthread_mutex_unlock(&o->lock);
		pthread_detach(o->thread);
	}
	o->started = false;
}
