/* Connects the control API to the VMM: the api_ops that start, pause and signal the VM,
 * the logger and metrics outputs, and the event-loop wiring of the API server. */
#ifndef KINDLING_CONTROL_H
#define KINDLING_CONTROL_H

#include "routes.h"
#include "server.h"
#include "vmm.h"

#define METRICS_PERIOD_S 60

struct control {
	struct vmm *vmm;
	struct api api;
	struct api_server server;
	bool has_server;
	int log_fd;
	int metrics_fd;
	int timer_fd;
	uint64_t missed_metrics; /* lines dropped: the destination was full (never waited for) */
	uint64_t metrics_fails;  /* lines lost to write errors */
	bool metrics_torn;       /* the last line was written in part: end it before the next */
	bool serving; /* the event loop runs: later starts come from the API */
	size_t max_body; /* the API's request body limit; 0: HTTP_MAX_BODY */
};

extern const struct api_ops control_ops;

void control_init(struct control *c, struct vmm *vmm, const char *id);
/* Starts serving the API socket on the VMM's event loop. */
int control_serve(struct control *c, const char *sock, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Opens a log or metrics destination given on the command line. */
int control_set_log_path(struct control *c, const char *path, bool show_level, bool show_origin, char *err,
			 size_t errlen) __attribute__((warn_unused_result));
int control_set_metrics_path(struct control *c, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Writes one metrics line now. */
int control_flush_metrics(struct control *c) __attribute__((warn_unused_result));
void control_destroy(struct control *c);

#endif
