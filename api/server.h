/* The API server thread: accepts HTTP/1.1 clients on a Unix socket and hands each complete
 * request to the VMM thread (one at a time, through an eventfd), then writes the response.
 * Idle or half-sent clients never block others: connections are bounded, each has a deadline
 * for its request, and a new client evicts the longest-idle one when the table is full. */
#ifndef KINDLING_SERVER_H
#define KINDLING_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "routes.h"

#define API_MAX_CONNS 32
/* A client has this long to deliver a whole request (head and body) once the connection is
 * waiting for one, and to take its response; then it is closed. */
#define API_REQUEST_TIMEOUT_MS 5000

struct api_conn;

/* The one request in flight between the API thread and the VMM thread. */
struct api_slot {
	enum http_method method;
	char method_name[16];
	char path[HTTP_MAX_PATH];
	const char *body;
	size_t body_len;
	struct api_response resp;
};

struct api_server {
	char *path;
	int listen_fd;
	int epfd;
	int req_efd;  /* API thread -> VMM thread: the slot holds a request */
	int resp_efd; /* VMM thread -> API thread: the slot holds the response */
	int quit_efd;
	pthread_t thread;
	bool started;
	bool seccomp; /* the API thread installs its seccomp filter */
	size_t max_body; /* --http-api-max-payload-size; HTTP_MAX_BODY unless set before start */
	struct api_slot slot;
	struct api_conn *conns[API_MAX_CONNS];
	uint64_t refused_conns;
	uint64_t evicted_conns;   /* closed to make room for a new client */
	uint64_t timed_out_conns; /* closed at their request deadline */
};

/* Creates the socket (mode 0600; a stale socket file is replaced only if nothing listens
 * on it). The socket accepts connections from here on. */
int api_server_listen(struct api_server *s, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));
int api_server_start(struct api_server *s) __attribute__((warn_unused_result));
/* On the VMM thread, when req_efd is readable: handle the slot's request with `a`. */
void api_server_dispatch(struct api_server *s, struct api *a);
void api_server_stop(struct api_server *s);

#endif
