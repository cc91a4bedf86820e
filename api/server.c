/* API server thread: socket, connections, request framing. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "vmm_seccomp.h"
#include "util.h"

#define CONN_BUF(s) (HTTP_MAX_HEADER + (s)->max_body)
/* Room for a response's head; the body is added to it. */
#define OUT_MAX 1024
#define TAG_LISTEN (-1)
#define TAG_QUIT (-2)

struct api_conn {
	int fd;
	uint64_t wait_since_ms; /* when it began owing a request (accept, or last response) */
	uint64_t active_ms;     /* last byte received or sent */
	size_t len;
	bool sent_continue;
	bool closing; /* close once the output is written */
	char *out;
	size_t out_len, out_off;
	/* Grows on demand up to CONN_BUF: most requests are a few hundred bytes, and an idle
	 * connection should not pin 60 KiB. */
	char *buf;
	size_t cap;
};

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

int api_server_listen(struct api_server *s, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, r;

	memset(s, 0, sizeof(*s));
	s->listen_fd = s->epfd = s->req_efd = s->resp_efd = s->quit_efd = -1;
	s->max_body = HTTP_MAX_BODY;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		return errorf(err, errlen, -ENAMETOOLONG, "API socket path '%s' is too long", path);
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errorf(err, errlen, -errno, "socket for %s: %s", path, strerror(errno));
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return errorf(err, errlen, -EEXIST, "API socket path %s exists and is not a socket", path);
		}
		/* Replace a stale socket only: if something answers, it is another VMM's. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		r = probe >= 0 ? connect(probe, (struct sockaddr *)&addr, sizeof(addr)) : -1;
		if (probe >= 0)
			close(probe);
		if (r == 0) {
			close(fd);
			return errorf(err, errlen, -EADDRINUSE,
				      "Failed to open the API socket at: %s. Check that it is not already used "
				      "(another process is listening on it).",
				      path);
		}
		unlink(path);
	}
	old = umask(0177); /* the socket is created 0600 */
	r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return errorf(err, errlen, r, "cannot listen on %s: %s", path, strerror(-r));
	}
	s->listen_fd = fd;
	s->path = strdup(path);
	s->req_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->resp_efd = eventfd(0, EFD_CLOEXEC);
	s->quit_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->req_efd < 0 || s->resp_efd < 0 || s->quit_efd < 0 || s->epfd < 0 || !s->path)
		return errorf(err, errlen, -ENOMEM, "cannot set up the API server for %s: %s", path, strerror(ENOMEM));
	return 0;
}

static int conn_slot(struct api_server *s, struct api_conn *c)
{
	for (int i = 0; i < API_MAX_CONNS; i++)
		if (s->conns[i] == c)
			return i;
	return -1;
}

static void conn_close(struct api_server *s, struct api_conn *c)
{
	int i = conn_slot(s, c);

	if (i >= 0)
		s->conns[i] = NULL;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	free(c->buf);
	free(c);
}

/* Writes what it can; waits for EPOLLOUT for the rest. Returns -1 if the conn was closed. */
static int conn_flush(struct api_server *s, struct api_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };

			epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
			return 0;
		}
		if (n <= 0) {
			conn_close(s, c);
			return -1;
		}
		c->out_off += (size_t)n;
		c->active_ms = now_ms();
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	if (c->closing) {
		conn_close(s, c);
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	return 0;
}

static void queue_out(struct api_conn *c, int status, const char *body, size_t body_len, bool keep_alive,
		      const char *extra)
{
	char *out = malloc(OUT_MAX + body_len);
	size_t n;

	if (!out) {
		c->closing = true;
		return;
	}
	n = http_format_response(out, OUT_MAX + body_len, status, body, body_len, keep_alive, extra);
	free(c->out);
	c->out = out;
	c->out_len = n;
	c->out_off = 0;
	c->closing = !keep_alive;
}

static void queue_fault(struct api_conn *c, int status, const char *msg)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "{\"fault_message\":\"%s\"}", msg);

	queue_out(c, status, body, (size_t)n, false, NULL);
}

/* A request that does not parse: Firecracker's words and body ("error", not
 * "fault_message"), except that the line break is escaped, so that the body is JSON. */
static void queue_parse_error(struct api_conn *c, int status, const char *why)
{
	char body[2 * HTTP_WHY_MAX + 128], esc[2 * HTTP_WHY_MAX];
	size_t k = 0;
	int n;

	/* why may quote a header value: escape it for the JSON string. */
	for (const char *p = why; *p && k + 2 < sizeof(esc); p++) {
		if (*p == '"' || *p == '\\')
			esc[k++] = '\\';
		esc[k++] = (unsigned char)*p < 0x20 ? ' ' : *p;
	}
	esc[k] = 0;
	n = snprintf(body, sizeof(body), "{\"error\":\"%s\\nAll previous unanswered requests will be dropped.\"}", esc);

	queue_out(c, status, body, (size_t)n, false, NULL);
}

/* Hands one request to the VMM thread and waits for its answer. The VMM thread handles a
 * request in microseconds to milliseconds, so the wait is short. */
static void dispatch(struct api_server *s, const struct http_request *req, struct api_conn *c)
{
	uint64_t one = 1, v;
	ssize_t n;

	s->slot.method = req->method;
	snprintf(s->slot.method_name, sizeof(s->slot.method_name), "%s", req->method_name);
	snprintf(s->slot.path, sizeof(s->slot.path), "%s", req->path);
	s->slot.body = req->body;
	s->slot.body_len = req->body_len;
	memset(&s->slot.resp, 0, sizeof(s->slot.resp));
	if (write(s->req_efd, &one, sizeof(one)) != sizeof(one)) {
		queue_fault(c, 500, "internal error: cannot reach the VMM thread");
		return;
	}
	do
		n = read(s->resp_efd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	queue_out(c, s->slot.resp.status, s->slot.resp.body, s->slot.resp.body_len, req->keep_alive,
		  s->slot.resp.deprecated ? "Deprecation: true\r\n" : NULL);
	free(s->slot.resp.body);
	s->slot.resp.body = NULL;
}

/* Parses and serves every complete request in the buffer. */
static void conn_process(struct api_server *s, struct api_conn *c)
{
	while (!c->out && c->len) {
		struct http_request req;
		size_t used = 0;
		char why[HTTP_WHY_MAX] = "";
		int status = 0;
		enum http_parse_result r = http_parse(c->buf, c->len, s->max_body, &req, &used, &status, why);

		if (r == HTTP_INCOMPLETE)
			break;
		if (r == HTTP_ERROR) {
			queue_parse_error(c, status, why);
			break;
		}
		if (r == HTTP_HEADERS_DONE) {
			if (req.expect_continue && !c->sent_continue) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

				c->sent_continue = true;
				if (send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
					c->closing = true;
			}
			break;
		}
		c->sent_continue = false;
		dispatch(s, &req, c);
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		c->wait_since_ms = now_ms(); /* the next request's deadline starts now */
	}
	if (c->out || c->closing)
		conn_flush(s, c);
}

static void conn_read(struct api_server *s, struct api_conn *c)
{
	ssize_t n;

	if (c->len == c->cap && c->cap < CONN_BUF(s)) {
		size_t cap = c->cap ? c->cap * 4 : 4096;
		char *b = realloc(c->buf, cap < CONN_BUF(s) ? cap : CONN_BUF(s));

		if (!b) {
			conn_close(s, c);
			return;
		}
		c->buf = b;
		c->cap = cap < CONN_BUF(s) ? cap : CONN_BUF(s);
	}
	n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(s, c);
		return;
	}
	if (n > 0) {
		c->len += (size_t)n;
		c->active_ms = now_ms();
	}
	conn_process(s, c);
}

/* The connection idle longest: nothing received or sent for the longest time. */
static int longest_idle(const struct api_server *s)
{
	int best = -1;

	for (int i = 0; i < API_MAX_CONNS; i++)
		if (s->conns[i] && (best < 0 || s->conns[i]->active_ms < s->conns[best]->active_ms))
			best = i;
	return best;
}

/* Tells the client why (without blocking), then closes. */
static void conn_drop(struct api_server *s, struct api_conn *c, int status, const char *msg)
{
	char body[160], out[512];
	int n = snprintf(body, sizeof(body), "{\"fault_message\":\"%s\"}", msg);
	size_t len = http_format_response(out, sizeof(out), status, body, (size_t)n, false, NULL);

	/* A response already under way is not interleaved with this one. */
	if (!c->out && len && send(c->fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("API: %d not delivered", status);
	conn_close(s, c);
}

static void accept_conns(struct api_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), i;
		struct api_conn *c;

		if (fd < 0)
			return;
		for (i = 0; i < API_MAX_CONNS && s->conns[i]; i++)
			;
		if (i == API_MAX_CONNS) {
			/* Full: idle clients must not lock out a new one. The request in flight, if
			 * any, was answered before we got here (dispatch is synchronous). */
			i = longest_idle(s);
			s->evicted_conns++;
			conn_drop(s, s->conns[i], 503, "Too many connections to the API; this idle one was closed.");
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			static const char msg[] = "{\"fault_message\":\"Too many connections to the API.\"}";
			char busy[256];
			size_t n = http_format_response(busy, sizeof(busy), 503, msg, sizeof(msg) - 1, false, NULL);

			s->refused_conns++;
			if (send(fd, busy, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				log_debug("API: 503 not delivered");
			close(fd);
			continue;
		}
		c->fd = fd;
		c->wait_since_ms = c->active_ms = now_ms();
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		s->conns[i] = c;
	}
}

/* Closes connections past their deadline; returns the ms until the next one (-1: none). */
static int expire_conns(struct api_server *s)
{
	uint64_t now = now_ms(), next = UINT64_MAX;

	for (int i = 0; i < API_MAX_CONNS; i++) {
		struct api_conn *c = s->conns[i];
		/* Writing: the client must keep taking its response; else: deliver a request. */
		uint64_t due = (c ? (c->out ? c->active_ms : c->wait_since_ms) : 0) + API_REQUEST_TIMEOUT_MS;

		if (!c)
			continue;
		if (now >= due) {
			s->timed_out_conns++;
			conn_drop(s, c, 408, "The request was not received in time.");
		} else if (due < next) {
			next = due;
		}
	}
	return next == UINT64_MAX ? -1 : (int)(next - now);
}

static void *server_thread(void *arg)
{
	struct api_server *s = arg;
	static int listen_tag = TAG_LISTEN, quit_tag = TAG_QUIT;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listen_tag };
	struct epoll_event evs[16];

	pthread_setname_np(pthread_self(), "kindling-api");
	if (s->seccomp && seccomp_install(SECCOMP_API)) {
		/* Never serve unfiltered: stop the VMM the way a SIGTERM would. */
		kill(getpid(), SIGTERM);
		return NULL;
	}
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev);
	ev.data.ptr = &quit_tag;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->quit_efd, &ev);
	for (;;) {
		int n = epoll_wait(s->epfd, evs, 16, expire_conns(s));

		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &quit_tag)
				return NULL;
			if (p == &listen_tag) {
				accept_conns(s);
				continue;
			}
			struct api_conn *c = p;

			if (conn_slot(s, c) < 0)
				continue; /* closed earlier in this batch */
			if (evs[i].events & EPOLLOUT) {
				if (conn_flush(s, c) == 0)
					conn_process(s, c);
			} else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				conn_read(s, c);
			}
		}
	}
}

int api_server_start(struct api_server *s)
{
	int r = pthread_create(&s->thread, NULL, server_thread, s);

	if (r)
		return -r;
	s->started = true;
	return 0;
}

void api_server_dispatch(struct api_server *s, struct api *a)
{
	uint64_t v, one = 1;

	if (read(s->req_efd, &v, sizeof(v)) != sizeof(v))
		return;
	api_serve(a, s->slot.method, s->slot.method_name, s->slot.path, s->slot.body, s->slot.body_len,
		   &s->slot.resp);
	if (write(s->resp_efd, &one, sizeof(one)) != sizeof(one))
		log_error("API: cannot wake the API thread");
}

void api_server_stop(struct api_server *s)
{
	uint64_t one = 1;

	if (s->started) {
		/* The API thread may be waiting for a response the VMM thread will never send. */
		s->slot.resp.status = 503;
		if (write(s->resp_efd, &one, sizeof(one)) != sizeof(one))
			log_error("API: cannot wake the API thread");
		if (write(s->quit_efd, &one, sizeof(one)) != sizeof(one))
			log_error("API: cannot stop the API thread");
		pthread_join(s->thread, NULL);
		s->started = false;
	}
	for (int i = 0; i < API_MAX_CONNS; i++)
		if (s->conns[i])
			conn_close(s, s->conns[i]);
	if (s->path)
		unlink(s->path);
	free(s->path);
	s->path = NULL;
	int *fds[] = { &s->listen_fd, &s->epfd, &s->req_efd, &s->resp_efd, &s->quit_efd };

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}
