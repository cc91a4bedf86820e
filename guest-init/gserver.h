/* The invocation server: one thread, one poll loop over the listening socket, a signalfd
 * (SIGCHLD reaping, SIGTERM/SIGINT), up to GS_MAX_CONNS connections and the running
 * invocation's pipes. One request per connection (every response says Connection: close).
 *
 *   POST /invoke    run the handler once: 200 + its stdout, X-Kindling-Exit-Status etc.
 *   GET  /health    200 {"status":"ok","busy":false|true}
 *   POST /restore   the restore message (restore.h): 200 once entropy, clock and hostname are
 *                   applied; a new MAC/address follows when the connection has closed
 *   POST /shutdown  200, then gserver_run returns so that init powers the VM off
 *
 * Only one invocation or restore at a time: a POST /invoke or /restore while another is being
 * received or run gets 503 at once. Errors carry X-Kindling-Error: CODE and a body {"error":CODE,"message":...}. */
#ifndef KINDLING_INIT_GSERVER_H
#define KINDLING_INIT_GSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fnconfig.h"
#include "invoke.h"
#include "reqhead.h"
#include "restore.h"

#define GS_MAX_CONNS 32
#define GS_MAX_BODY (6u << 20)   /* request body of /invoke; more -> 413 */
#define GS_MAX_OUTPUT (6u << 20) /* handler stdout; more -> 502 output-too-large */
#define GS_SMALL_BODY 65536      /* request body of the other routes */
#define GS_REQUEST_MS 30000      /* whole request (head and body) must arrive within this */
#define GS_WRITE_MS 30000
#define GS_LINGER_MS 2000        /* after the response: drain until the client closes */

enum conn_state { C_FREE, C_HEAD, C_BODY, C_INVOKING, C_WRITE, C_LINGER };

struct conn {
	enum conn_state state;
	int fd;
	char head[REQHEAD_MAX];
	size_t head_len;
	struct reqhead rh;
	char *body;
	size_t body_len;
	char resp_head[640];
	size_t resp_head_len;
	char *resp_body;
	size_t resp_body_len, resp_off;
	uint64_t deadline_ns;
	bool stop_after; /* POST /shutdown: stop the server once this connection is done */
	bool restore;    /* the body being received is a restore message, not an invocation's */
	struct restoremsg *net_pending; /* applied, and the slot given back, when this closes */
};

struct gserver {
	int lfd, sfd;
	const struct fnconfig *fc;
	struct conn conns[GS_MAX_CONNS];
	struct invocation inv;
	struct conn *owner; /* holds the one invocation slot, from its head until its response */
	struct restore_opts restore; /* set by the caller after gserver_open */
	unsigned next_id;
	bool stop;
};

/* Blocks the signals the server takes through its signalfd. Call before anything forks. */
int gserver_block_signals(void) __attribute__((warn_unused_result));

/* Listens on 0.0.0.0:port. Returns 0 or -errno with a message in err. */
int gserver_open(struct gserver *gs, const struct fnconfig *fc, uint16_t port, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Serves until POST /shutdown, or SIGTERM/SIGINT while no handler runs. Returns 0, or -errno
 * when the loop itself failed. */
int gserver_run(struct gserver *gs) __attribute__((warn_unused_result));

/* Kills a running handler and closes everything. Accepts a half-opened server. */
void gserver_close(struct gserver *gs);

#endif
