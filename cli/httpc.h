/* The runner's HTTP/1.1 client: one request a connection (`Connection: close`), the answer
 * read to EOF. It talks to kindling-init over TCP (the invocation, the restore message) and
 * to the VMM's API over its Unix socket (pause, snapshot, resume). */
#ifndef KINDLING_HTTPC_H
#define KINDLING_HTTPC_H

#include <signal.h>
#include <stddef.h>

struct httpc_response {
	int status;
	char *head;      /* the status line and fields, NUL-terminated; owns the buffer */
	char *body;      /* into head's buffer, NUL-terminated (the body may hold NULs) */
	size_t body_len;
};

/* A connected stream socket, or -errno. timeout_s bounds the connect and every later send
 * and receive on it. */
int httpc_dial_tcp(const char *ip, int port, int timeout_s) __attribute__((warn_unused_result));
int httpc_dial_unix(const char *path, int timeout_s) __attribute__((warn_unused_result));

/* Sends METHOD PATH with the body on fd (closed before it returns) and reads the answer, at
 * most max_len bytes of it (the rest is left unread). A receive that a signal interrupts is
 * retried unless *cancel is set. 0 with resp filled (httpc_free it), or -errno: -EPROTO for
 * an answer that is not HTTP, -EPIPE when the peer closed before the request was sent. */
int httpc_request(int fd, const char *method, const char *path, const char *body, size_t len, size_t max_len,
		  const volatile sig_atomic_t *cancel, struct httpc_response *resp)
	__attribute__((warn_unused_result));

/* The value of header field name in resp (case-insensitive), or NULL. */
const char *httpc_header(const struct httpc_response *resp, const char *name);

void httpc_free(struct httpc_response *resp);

#endif
