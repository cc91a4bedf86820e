/* epoll-based event loop. */
#include "evloop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

int evloop_init(struct evloop *l)
{
	memset(l, 0, sizeof(*l));
	for (int i = 0; i < EVLOOP_MAX; i++)
		l->entries[i].fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void evloop_destroy(struct evloop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	struct epoll_event ev = { .events = events };
	int slot = -1;

	for (int i = 0; i < EVLOOP_MAX; i++) {
		if (l->entries[i].fd < 0) {
			slot = i;
			break;
		}
	}
	if (slot < 0)
		return -ENOSPC;
	ev.data.u32 = (uint32_t)slot;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->entries[slot] = (struct evloop_entry){ fd, fn, opaque };
	return 0;
}

static int find(struct evloop *l, int fd)
{
	for (int i = 0; i < EVLOOP_MAX; i++)
		if (l->entries[i].fd == fd)
			return i;
	return -1;
}

int evloop_rearm(struct evloop *l, int fd, uint32_t events)
{
	int slot = find(l, fd);
	struct epoll_event ev = { .events = events };

	if (slot < 0)
		return -ENOENT;
	ev.data.u32 = (uint32_t)slot;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void evloop_del(struct evloop *l, int fd)
{
	int slot = find(l, fd);

	if (slot < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->entries[slot].fd = -1;
}

int evloop_run(struct evloop *l)
{
	struct epoll_event evs[16];

	while (!l->done) {
		int n = epoll_wait(l->epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->done; i++) {
			struct evloop_entry *e = &l->entries[evs[i].data.u32];

			if (e->fd >= 0)
				e->fn(e->opaque, evs[i].events);
		}
	}
	return 0;
}

void evloop_quit(struct evloop *l)
{
	l->done = true;
}
