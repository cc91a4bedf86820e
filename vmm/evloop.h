/* The VMM event loop: one epoll set, one callback per fd, run on the main thread. Device
 * back-ends, stdin, signals and the stop eventfd all live here, never on vCPU threads. */
#ifndef KINDLING_EVLOOP_H
#define KINDLING_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

/* 19 devices of up to 5 fds each (a network interface: 2 kicks, the tap, 2 rate limiter
 * timers), plus the API, signals, stdin, timers. */
#define EVLOOP_MAX 128

typedef void (*evloop_fn)(void *opaque, uint32_t events);

struct evloop_entry {
	int fd;
	evloop_fn fn;
	void *opaque;
};

struct evloop {
	int epfd;
	struct evloop_entry entries[EVLOOP_MAX];
	bool done;
};

int evloop_init(struct evloop *l) __attribute__((warn_unused_result));
void evloop_destroy(struct evloop *l);
/* Level-triggered unless `events` says otherwise (EPOLLONESHOT is honoured). */
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque)
	__attribute__((warn_unused_result));
int evloop_rearm(struct evloop *l, int fd, uint32_t events) __attribute__((warn_unused_result));
void evloop_del(struct evloop *l, int fd);
/* Runs until evloop_quit(); returns 0, or -errno if epoll fails. */
int evloop_run(struct evloop *l) __attribute__((warn_unused_result));
void evloop_quit(struct evloop *l);

#endif
