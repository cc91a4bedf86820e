/* A bounded byte sink drained to a file descriptor by its own thread, so that the producer
 * (a vCPU writing the serial port) never blocks. When the fd stalls and the buffer is full,
 * bytes are dropped and counted. */
#ifndef KINDLING_OUTBUF_H
#define KINDLING_OUTBUF_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUTBUF_SIZE 65536

struct outbuf {
	int fd;
	uint8_t buf[OUTBUF_SIZE];
	size_t head; /* next byte to write out */
	size_t len;
	bool closing;
	bool started;
	bool sandbox_req; /* the writer is asked to install its filter */
	bool sandboxed;   /* ... and did, with sandbox_rc */
	int sandbox_rc;
	uint64_t dropped;
	uint64_t written;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
};

int outbuf_start(struct outbuf *o, int fd) __attribute__((warn_unused_result));
void outbuf_put(struct outbuf *o, const uint8_t *data, size_t len);
/* Asks the writer thread to install its seccomp filter (only a thread can filter itself),
 * without waiting: it compiles and loads it while the VMM goes on building the VM. */
void outbuf_sandbox_request(struct outbuf *o);
/* Asks, if not done yet, and waits until the writer's filter is on. Returns 0 or -errno. */
int outbuf_sandbox(struct outbuf *o) __attribute__((warn_unused_result));
/* Waits up to timeout_ms for the buffer to drain, then stops the thread. */
void outbuf_stop(struct outbuf *o, int timeout_ms);

#endif
