/* Invocation server: connection state machine and routes. See gserver.h for the protocol. */
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gserver.h"

#define MS 1000000ull

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void server_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

int gserver_block_signals(void)
{
	sigset_t set;

	server_sigset(&set);
	/* A client that goes away mid-response must cost an EPIPE, not init's life. */
	signal(SIGPIPE, SIG_IGN);
	return sigprocmask(SIG_BLOCK, &set, NULL) ? -errno : 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static void json_escape(char *out, size_t outlen, const char *s)
{
	size_t n = 0;

	for (; *s && n + 7 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			out[n++] = '\\', out[n++] = (char)c;
		else if (c < 0x20)
			n += (size_t)snprintf(out + n, outlen - n, "\\u%04x", c);
		else
			out[n++] = (char)c;
	}
	out[n] = '\0';
}

/* Queues a response. body is taken over (freed after sending); extra is more header lines. */
static void respond(struct conn *c, int status, const char *ctype, const char *extra, char *body, size_t len)
{
	int n = snprintf(c->resp_head, sizeof(c->resp_head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
			 status, reason(status), ctype, len, extra ? extra : "");

	if (n < 0 || (size_t)n >= sizeof(c->resp_head))
		abort(); /* our own headers are bounded; overflowing them is a bug */
	c->resp_head_len = (size_t)n;
	free(c->resp_body);
	c->resp_body = body;
	c->resp_body_len = len;
	c->resp_off = 0;
	c->state = C_WRITE;
	c->deadline_ns = mono_ns() + GS_WRITE_MS * MS;
}

static void respond_json(struct conn *c, int status, const char *extra, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void respond_json(struct conn *c, int status, const char *extra, const char *fmt, ...)
{
	char *body = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&body, fmt, ap);
	va_end(ap);
	if (n < 0) {
		body = NULL;
		n = 0;
	}
	respond(c, status, "application/json", extra, body, (size_t)n);
}

/* Error responses: a stable machine-readable code in a header and in the body. */
static void respond_error(struct conn *c, int status, const char *code, const char *msg, const char *extra)
{
	char hdr[256], esc[512];

	json_escape(esc, sizeof(esc), msg);
	snprintf(hdr, sizeof(hdr), "X-Kindling-Error: %s\r\n%s", code, extra ? extra : "");
	respond_json(c, status, hdr, "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, esc);
}

/* The entropy is the kernel's now: no copy of it stays in init (a later snapshot has init's memory). */
static void free_restoremsg(struct restoremsg *m)
{
	if (m)
		explicit_bzero(m, sizeof(*m));
	free(m);
}

static void conn_close(struct gserver *gs, struct conn *c)
{
	if (c->stop_after)
		gs->stop = true;
	if (c->net_pending) {
		/* Now that the response went out over the old address, the network may change. */
		restore_apply_net(&gs->restore, c->net_pending);
		free_restoremsg(c->net_pending);
	}
	if (gs->owner == c)
		gs->owner = NULL;
	close(c->fd);
	free(c->body);
	free(c->resp_body);
	memset(c, 0, sizeof(*c));
	c->state = C_FREE;
	c->fd = -1;
}

/* A request that dies while its body is read gives the invocation slot back at once. */
static void drop_body(struct gserver *gs, struct conn *c)
{
	if (gs->owner == c)
		gs->owner = NULL;
	free(c->body);
	c->body = NULL;
}

static void start_invocation(struct gserver *gs, struct conn *c)
{
	char err[FN_MAX_STR + 128];
	int r;

	r = invoke_start(&gs->inv, gs->fc, ++gs->next_id, c->body, c->body_len, GS_MAX_OUTPUT, mono_ns(), err,
			 sizeof(err));
	if (r) {
		dprintf(2, "kindling-init: invocation %u: %s\n", gs->next_id, err);
		drop_body(gs, c);
		respond_error(c, 500, "spawn-failed", err, NULL);
		return;
	}
	c->state = C_INVOKING;
}

static void do_restore(struct gserver *gs, struct conn *c)
{
	struct restoremsg *m = malloc(sizeof(*m));
	char err[320], applied[64];
	int r;

	if (!m) {
		explicit_bzero(c->body, c->body_len);
		drop_body(gs, c);
		respond_error(c, 503, "no-memory", "cannot parse the restore message", NULL);
		return;
	}
	r = restore_parse(m, c->body, c->body_len, err, sizeof(err));
	explicit_bzero(c->body, c->body_len);
	drop_body(gs, c);
	if (r) {
		dprintf(2, "kindling-init: restore: refused, nothing applied: %s\n", err);
		free_restoremsg(m);
		respond_error(c, 400, "bad-request", err, NULL);
		return;
	}
	r = restore_apply(&gs->restore, m, applied, sizeof(applied), err, sizeof(err));
	if (r) {
		dprintf(2, "kindling-init: restore: FAILED: %s\n", err);
		free_restoremsg(m);
		respond_error(c, 500, "restore-failed", err, NULL);
		return;
	}
	if (!restore_has_net(m)) {
		free_restoremsg(m);
		respond_json(c, 200, NULL, "{\"status\":\"ok\",\"applied\":[%s],\"after_response\":[]}\n", applied);
		return;
	}
	/* Keeps the slot: no invocation starts on the old network in between. */
	gs->owner = c;
	c->net_pending = m;
	respond_json(c, 200, NULL, "{\"status\":\"ok\",\"applied\":[%s],\"after_response\":[%s%s%s]}\n", applied,
		     m->has_mac ? "\"mac\"" : "", m->has_mac && m->has_ip ? "," : "", m->has_ip ? "\"ip\"" : "");
}

/* The whole body of a request that holds the slot has arrived. */
static void body_complete(struct gserver *gs, struct conn *c)
{
	if (c->restore)
		do_restore(gs, c);
	else
		start_invocation(gs, c);
}

static void finish_invocation(struct gserver *gs)
{
	struct invocation *inv = &gs->inv;
	struct conn *c = gs->owner;
	uint64_t now = mono_ns();
	double ms = (double)(now - inv->start_ns) / 1e6;
	char hdr[256];

	invoke_end(inv);
	gs->owner = NULL;
	free(c->body);
	c->body = NULL;
	if (inv->timed_out) {
		char msg[96];

		dprintf(2, "kindling-init: invocation %u: timed out after %u s, killed\n", inv->id, gs->fc->timeout_s);
		snprintf(msg, sizeof(msg), "the handler did not finish within %u s", gs->fc->timeout_s);
		free(inv->out);
		respond_error(c, 504, "timeout", msg, NULL);
	} else if (inv->overflow) {
		char msg[96];

		dprintf(2, "kindling-init: invocation %u: output over %u bytes, killed\n", inv->id, GS_MAX_OUTPUT);
		snprintf(msg, sizeof(msg), "the handler wrote more than %u bytes to stdout", GS_MAX_OUTPUT);
		free(inv->out);
		respond_error(c, 502, "output-too-large", msg, NULL);
	} else {
		int st = inv->wstatus, n;

		/* Killed by a signal: the shell's convention, 128 + signal, plus the signal itself. */
		n = snprintf(hdr, sizeof(hdr), "X-Kindling-Exit-Status: %d\r\n",
			     WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
		if (WIFSIGNALED(st))
			n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "X-Kindling-Signal: %d\r\n", WTERMSIG(st));
		snprintf(hdr + n, sizeof(hdr) - (size_t)n, "X-Kindling-Invocation-Id: %u\r\nX-Kindling-Duration-Ms: %.3f\r\n",
			 inv->id, ms);
		respond(c, 200, "application/octet-stream", hdr, inv->out, inv->out_len);
	}
	inv->out = NULL;
}

/* A complete head: route it. */
static void dispatch(struct gserver *gs, struct conn *c)
{
	struct reqhead *rh = &c->rh;
	size_t have = c->head_len - rh->head_len;
	bool post = !strcmp(rh->method, "POST"), get = !strcmp(rh->method, "GET");

	if (!strcmp(rh->path, "/health")) {
		if (!get) {
			respond_error(c, 405, "method-not-allowed", "use GET", "Allow: GET\r\n");
			return;
		}
		if (rh->content_length > GS_SMALL_BODY) {
			respond_error(c, 413, "request-too-large", "body too large", NULL);
			return;
		}
		respond_json(c, 200, NULL, "{\"status\":\"ok\",\"busy\":%s}\n", gs->owner ? "true" : "false");
		return;
	}
	if (!strcmp(rh->path, "/shutdown")) {
		if (!post) {
			respond_error(c, 405, "method-not-allowed", "use POST", "Allow: POST\r\n");
			return;
		}
		if (rh->content_length > GS_SMALL_BODY) {
			respond_error(c, 413, "request-too-large", "body too large", NULL);
			return;
		}
		c->stop_after = true;
		dprintf(2, "kindling-init: shutdown requested\n");
		respond_json(c, 200, NULL, "{\"status\":\"shutting down\"}\n");
		return;
	}
	c->restore = !strcmp(rh->path, "/restore");
	if (!c->restore && strcmp(rh->path, "/invoke")) {
		respond_error(c, 404, "not-found", "no such path (try POST /invoke, POST /restore, GET /health)", NULL);
		return;
	}
	if (!post) {
		respond_error(c, 405, "method-not-allowed", "use POST", "Allow: POST\r\n");
		return;
	}
	if (c->restore && rh->content_length > GS_SMALL_BODY) {
		respond_error(c, 413, "request-too-large", "restore message over 65536 bytes", NULL);
		return;
	}
	if (rh->content_length > GS_MAX_BODY) {
		respond_error(c, 413, "request-too-large", "request body over 6291456 bytes", NULL);
		return;
	}
	if (gs->owner) {
		respond_error(c, 503, "busy", "an invocation or a restore is in progress", "Retry-After: 1\r\n");
		return;
	}

	gs->owner = c;
	/* +1: malloc(0) may return NULL, which would read as failure. */
	c->body = malloc(rh->content_length + 1);
	if (!c->body) {
		gs->owner = NULL;
		respond_error(c, 503, "no-memory", "cannot buffer the request body", NULL);
		return;
	}
	if (have > rh->content_length)
		have = rh->content_length; /* pipelined bytes after the body are ignored */
	memcpy(c->body, c->head + rh->head_len, have);
	c->body_len = have;
	if (c->body_len == rh->content_length) {
		body_complete(gs, c);
		return;
	}
	if (rh->expect_continue) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		/* A fresh socket's send buffer always has room for these few bytes. */
		if (write(c->fd, cont, sizeof(cont) - 1) < 0) {
			/* The read side will see the failure. */
		}
	}
	c->state = C_BODY;
}

static void on_readable(struct gserver *gs, struct conn *c)
{
	char scratch[16384];
	ssize_t n;

	if (c->state == C_HEAD) {
		n = read(c->fd, c->head + c->head_len, sizeof(c->head) - c->head_len);
	} else if (c->state == C_BODY) {
		n = read(c->fd, c->body + c->body_len, c->rh.content_length - c->body_len);
	} else {
		n = read(c->fd, scratch, sizeof(scratch)); /* C_LINGER: discard */
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == 0 && c->state == C_HEAD && c->head_len) {
			respond_error(c, 400, "bad-request", "connection closed inside the request head", NULL);
			return;
		}
		if (n == 0 && c->state == C_BODY) {
			drop_body(gs, c);
			respond_error(c, 400, "bad-request", "body shorter than Content-Length", NULL);
			return;
		}
		conn_close(gs, c);
		return;
	}
	if (c->state == C_HEAD) {
		c->head_len += (size_t)n;
		switch (reqhead_parse(c->head, c->head_len, &c->rh)) {
		case REQHEAD_INCOMPLETE:
			return;
		case REQHEAD_ERROR:
			respond_error(c, c->rh.status, c->rh.status == 431 ? "headers-too-large" : "bad-request",
				      c->rh.why, NULL);
			return;
		case REQHEAD_DONE:
			dispatch(gs, c);
			return;
		}
	} else if (c->state == C_BODY) {
		c->body_len += (size_t)n;
		if (c->body_len == c->rh.content_length)
			body_complete(gs, c);
	}
}

static void on_writable(struct conn *c)
{
	struct iovec iov[2];
	size_t total = c->resp_head_len + c->resp_body_len;
	ssize_t n;
	int k = 0;

	if (c->resp_off < c->resp_head_len)
		iov[k++] = (struct iovec){ c->resp_head + c->resp_off, c->resp_head_len - c->resp_off };
	if (c->resp_body_len) {
		size_t boff = c->resp_off > c->resp_head_len ? c->resp_off - c->resp_head_len : 0;

		iov[k++] = (struct iovec){ c->resp_body + boff, c->resp_body_len - boff };
	}
	n = writev(c->fd, iov, k);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		c->deadline_ns = 0; /* the client is gone: let expiry close it */
		return;
	}
	c->resp_off += (size_t)n;
	if (c->resp_off < total)
		return;
	/* Half-close and drain instead of close(): closing with unread request bytes would
	 * send RST, and the client could lose the response we just wrote. */
	shutdown(c->fd, SHUT_WR);
	c->state = C_LINGER;
	c->deadline_ns = mono_ns() + GS_LINGER_MS * MS;
}

static void on_accept(struct gserver *gs)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
				   "Content-Length: 62\r\nX-Kindling-Error: too-many-connections\r\n"
				   "Connection: close\r\n\r\n"
				   "{\"error\":\"too-many-connections\",\"message\":\"try again later\"}\n";

	for (;;) {
		int fd = accept4(gs->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct conn *c = NULL;

		if (fd < 0)
			return; /* EAGAIN, or a connection that died before we took it */
		for (int i = 0; i < GS_MAX_CONNS && !c; i++)
			if (gs->conns[i].state == C_FREE)
				c = &gs->conns[i];
		if (!c) {
			if (write(fd, busy, sizeof(busy) - 1) < 0) {
				/* best effort */
			}
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->state = C_HEAD;
		c->deadline_ns = mono_ns() + GS_REQUEST_MS * MS;
	}
}

static void on_signals(struct gserver *gs)
{
	struct signalfd_siginfo si;

	while (read(gs->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			int st;
			pid_t p;

			/* PID 1 inherits every orphan: reap them all, not only the handler. */
			while ((p = waitpid(-1, &st, WNOHANG)) > 0)
				if (gs->inv.active && p == gs->inv.pid)
					invoke_reaped(&gs->inv, st, mono_ns());
		} else if (gs->inv.active && gs->inv.pid > 0) {
			dprintf(2, "kindling-init: forwarding signal %u to the handler\n", si.ssi_signo);
			invoke_signal(&gs->inv, (int)si.ssi_signo);
		} else {
			dprintf(2, "kindling-init: signal %u: shutting down\n", si.ssi_signo);
			gs->stop = true;
		}
	}
}

/* Requests that do not arrive, responses nobody reads, clients that never close. */
static uint64_t expire_conns(struct gserver *gs, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < GS_MAX_CONNS; i++) {
		struct conn *c = &gs->conns[i];

		if (c->state == C_FREE || c->state == C_INVOKING)
			continue;
		if (now >= c->deadline_ns) {
			if (c->state == C_BODY)
				drop_body(gs, c);
			if (c->state == C_HEAD || c->state == C_BODY)
				respond_error(c, 408, "request-timeout", "request not received in time", NULL);
			else
				conn_close(gs, c);
		}
		if (c->state != C_FREE && c->deadline_ns < next)
			next = c->deadline_ns;
	}
	return next;
}

int gserver_run(struct gserver *gs)
{
	struct pollfd pfd[2 + GS_MAX_CONNS + 3];
	struct conn *pconn[2 + GS_MAX_CONNS + 3];

	while (!gs->stop) {
		uint64_t now = mono_ns(), next;
		int n = 0, ninv, timeout;

		next = invoke_tick(&gs->inv, now);
		if (invoke_done(&gs->inv, now))
			finish_invocation(gs);
		now = mono_ns();
		uint64_t cnext = expire_conns(gs, now);
		if (cnext < next)
			next = cnext;
		if (gs->stop)
			break;

		pfd[n] = (struct pollfd){ .fd = gs->lfd, .events = POLLIN }, pconn[n++] = NULL;
		pfd[n] = (struct pollfd){ .fd = gs->sfd, .events = POLLIN }, pconn[n++] = NULL;
		for (int i = 0; i < GS_MAX_CONNS; i++) {
			struct conn *c = &gs->conns[i];
			short ev = c->state == C_WRITE ? POLLOUT : POLLIN;

			if (c->state == C_FREE || c->state == C_INVOKING)
				continue;
			pfd[n] = (struct pollfd){ .fd = c->fd, .events = ev }, pconn[n++] = c;
		}
		ninv = invoke_pollfds(&gs->inv, pfd + n);
		for (int i = 0; i < ninv; i++)
			pconn[n + i] = NULL;
		n += ninv;

		timeout = -1;
		if (next != UINT64_MAX)
			timeout = next <= now ? 0 : (int)((next - now + MS - 1) / MS);
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		now = mono_ns();
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (i == 0)
				on_accept(gs);
			else if (i == 1)
				on_signals(gs);
			else if (pconn[i] && pconn[i]->state == C_WRITE)
				on_writable(pconn[i]);
			else if (pconn[i])
				on_readable(gs, pconn[i]);
			else
				invoke_io(&gs->inv, pfd[i].fd, pfd[i].revents, now);
		}
	}
	return 0;
}

int gserver_open(struct gserver *gs, const struct fnconfig *fc, uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
	sigset_t set;
	int one = 1, r;

	memset(gs, 0, sizeof(*gs));
	gs->lfd = gs->sfd = -1;
	gs->fc = fc;
	gs->inv.in_fd = gs->inv.out_fd = gs->inv.err_fd = -1;
	for (int i = 0; i < GS_MAX_CONNS; i++)
		gs->conns[i].fd = -1;
	server_sigset(&set);
	gs->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	gs->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (gs->sfd < 0 || gs->lfd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket/signalfd: %s", strerror(-r));
		return r;
	}
	setsockopt(gs->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(gs->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(gs->lfd, 64) < 0) {
		r = -errno;
		snprintf(err, errlen, "listen on port %u: %s", port, strerror(-r));
		return r;
	}
	return 0;
}

void gserver_close(struct gserver *gs)
{
	if (gs->inv.active) {
		invoke_signal(&gs->inv, SIGKILL);
		invoke_end(&gs->inv);
		free(gs->inv.out);
		gs->inv.out = NULL;
	}
	for (int i = 0; i < GS_MAX_CONNS; i++)
		if (gs->conns[i].state != C_FREE)
			conn_close(gs, &gs->conns[i]);
	if (gs->lfd >= 0)
		close(gs->lfd);
	if (gs->sfd >= 0)
		close(gs->sfd);
	gs->lfd = gs->sfd = -1;
}
