/* API <-> VMM glue, logger and metrics. */
#include "control.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"

/* Log and metrics destinations may be FIFOs: open without blocking on a missing reader, and
 * stay non-blocking, so that a reader that stops reading never stalls a vCPU or the event
 * loop (a line that does not fit is dropped and counted). As in Firecracker, the file must
 * exist already: a client cannot make the VMM create files. */
static int open_output(const char *path, const char *what, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return errorf(err, errlen, -errno, "%s%s (os error %d)", what, strerror(errno), errno);
	return fd;
}

static enum vmm_state op_state(void *opaque)
{
	struct control *c = opaque;

	return c->vmm->state;
}

static int op_start(void *opaque, const struct vmm_config *cfg, char *err, size_t errlen)
{
	struct control *c = opaque;

	/* An API-driven start counts VMM setup from InstanceStart, not from process start. */
	if (c->serving)
		c->vmm->t_main_ns = now_ns();
	return vmm_build(c->vmm, cfg, err, errlen);
}

static int op_pause(void *opaque, bool pause, char *err, size_t errlen)
{
	struct control *c = opaque;

	return vmm_pause(c->vmm, pause, err, errlen);
}

static int op_ctrl_alt_del(void *opaque, char *err, size_t errlen)
{
	struct control *c = opaque;
	int r = vmm_ctrl_alt_del(c->vmm);

	if (r)
		return errorf(err, errlen, r, "the keyboard buffer is full");
	return 0;
}

static int op_flush_metrics(void *opaque, char *err, size_t errlen)
{
	struct control *c = opaque;
	int r = control_flush_metrics(c);

	if (r)
		return errorf(err, errlen, r, "cannot write metrics: %s", strerror(-r));
	return 0;
}

static int op_logger(void *opaque, const struct logger_config *lc, char *err, size_t errlen)
{
	struct control *c = opaque;
	int fd = -1;

	if (lc->log_path && (fd = open_output(lc->log_path, "Failed to open target file: ", err, errlen)) < 0)
		return fd;
	if (c->log_fd >= 0)
		close(c->log_fd);
	c->log_fd = fd;
	log_configure(fd, lc->show_level, lc->show_log_origin);
	log_set_level(lc->level);
	return 0;
}

static int op_metrics(void *opaque, const char *path, char *err, size_t errlen)
{
	return control_set_metrics_path(opaque, path, err, errlen);
}

static int op_patch_drive(void *opaque, const struct drive_config *d, char *err, size_t errlen)
{
	(void)opaque;
	(void)d;
	return errorf(err, errlen, -ENOTSUP, "changing a drive's backing file after boot is not supported yet");
}

static int op_patch_rate_limiter(void *opaque, bool net, const char *id, int which, const struct rl_update *u,
				 char *err, size_t errlen)
{
	struct control *c = opaque;

	return vmm_set_rate_limiter(c->vmm, net ? DEVICE_VIRTIO_NET : DEVICE_VIRTIO_BLK, id,
				    which ? DEVICE_LIMITER_TX : DEVICE_LIMITER_RX, u, err, errlen);
}

static int op_snapshot_create(void *opaque, const struct snapshot_create_params *p, char *err, size_t errlen)
{
	struct control *c = opaque;

	return vmm_snapshot_create(c->vmm, p, err, errlen);
}

static int op_snapshot_load(void *opaque, const struct snapshot_load_params *p, char *err, size_t errlen)
{
	struct control *c = opaque;

	/* As for InstanceStart: an API-driven restore is timed from the request. */
	if (c->serving)
		c->vmm->t_main_ns = now_ns();
	return vmm_snapshot_load(c->vmm, p, err, errlen);
}

const struct api_ops control_ops = {
	.state = op_state,
	.start = op_start,
	.pause = op_pause,
	.ctrl_alt_del = op_ctrl_alt_del,
	.flush_metrics = op_flush_metrics,
	.logger = op_logger,
	.metrics = op_metrics,
	.patch_drive = op_patch_drive,
	.patch_rate_limiter = op_patch_rate_limiter,
	.snapshot_create = op_snapshot_create,
	.snapshot_load = op_snapshot_load,
};

void control_init(struct control *c, struct vmm *vmm, const char *id)
{
	memset(c, 0, sizeof(*c));
	c->vmm = vmm;
	c->log_fd = c->metrics_fd = c->timer_fd = -1;
	api_init(&c->api, id, &control_ops, c);
	log_set_instance_id(c->api.id);
}

int control_set_log_path(struct control *c, const char *path, bool show_level, bool show_origin, char *err,
			 size_t errlen)
{
	int fd = open_output(path, "cannot open the log file: ", err, errlen);

	if (fd < 0)
		return fd;
	c->log_fd = fd;
	log_configure(fd, show_level, show_origin);
	return 0;
}

static void on_timer(void *opaque, uint32_t events)
{
	struct control *c = opaque;
	uint64_t n;

	(void)events;
	if (read(c->timer_fd, &n, sizeof(n)) == sizeof(n) && control_flush_metrics(c))
		log_warn("cannot write metrics");
}

int control_set_metrics_path(struct control *c, const char *path, char *err, size_t errlen)
{
	struct itimerspec its = { .it_interval = { METRICS_PERIOD_S, 0 }, .it_value = { METRICS_PERIOD_S, 0 } };
	int fd, r;

	if (c->metrics_fd >= 0)
		return errorf(err, errlen, -EEXIST, "Reinitialization of metrics not allowed.");
	fd = open_output(path, "", err, errlen);
	if (fd < 0)
		return fd;
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (c->timer_fd < 0 || timerfd_settime(c->timer_fd, 0, &its, NULL) < 0 ||
	    (r = evloop_add(&c->vmm->loop, c->timer_fd, EPOLLIN, on_timer, c))) {
		close(fd);
		if (c->timer_fd >= 0)
			close(c->timer_fd);
		c->timer_fd = -1;
		return errorf(err, errlen, -EIO, "cannot start the metrics timer");
	}
	c->metrics_fd = fd;
	/* Firecracker's API records the path too, so GET /vm/config shows it. */
	if (!c->api.metrics_path)
		c->api.metrics_path = strdup(path);
	return 0;
}

static void add_u64(cJSON *o, const char *name, uint64_t v)
{
	cJSON_AddNumberToObject(o, name, (double)v);
}

int control_flush_metrics(struct control *c)
{
	struct vm *vm = &c->vmm->vm;
	struct timeval tv;
	cJSON *o = cJSON_CreateObject(), *api, *vcpu, *uart, *logger;
	uint64_t missed_log, log_fails;
	uint64_t exits[EXIT_KINDS] = { 0 };
	char *line;
	ssize_t n;

	if (c->metrics_fd < 0)
		return -ENOENT;
	gettimeofday(&tv, NULL);
	add_u64(o, "utc_timestamp_ms", (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000);
	api = cJSON_AddObjectToObject(o, "api_server");
	for (int i = 0; i < EP_COUNT; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s_count", api_endpoint_names[i]);
		add_u64(api, name, c->api.requests[i]);
		snprintf(name, sizeof(name), "%s_fails", api_endpoint_names[i]);
		add_u64(api, name, c->api.failures[i]);
	}
	add_u64(api, "refused_connections", c->server.refused_conns);
	add_u64(api, "evicted_connections", c->server.evicted_conns);
	add_u64(api, "timed_out_connections", c->server.timed_out_conns);
	vcpu = cJSON_AddObjectToObject(o, "vcpu");
	for (int i = 0; i < vm->nr_vcpus; i++)
		for (int k = 0; k < EXIT_KINDS; k++)
			exits[k] += __atomic_load_n(&vm->vcpus[i].exits[k], __ATOMIC_RELAXED);
	add_u64(vcpu, "exit_io", exits[EXIT_IO]);
	add_u64(vcpu, "exit_mmio", exits[EXIT_MMIO]);
	add_u64(vcpu, "exit_intr", exits[EXIT_INTR]);
	add_u64(vcpu, "exit_other", exits[EXIT_OTHER]);
	add_u64(vcpu, "unclaimed_pio_reads", vm->pio.unclaimed_reads);
	add_u64(vcpu, "unclaimed_mmio_reads", vm->mmio.unclaimed_reads);
	uart = cJSON_AddObjectToObject(o, "uart");
	add_u64(uart, "write_count", c->vmm->out.written);
	add_u64(uart, "missed_write_count", c->vmm->out.dropped);
	cJSON_AddObjectToObject(o, "boot"); /* the boot timer's metrics op fills it in */
	vmm_device_metrics(c->vmm, o);
	log_counts(&missed_log, &log_fails);
	logger = cJSON_AddObjectToObject(o, "logger");
	add_u64(logger, "missed_metrics_count", c->missed_metrics);
	add_u64(logger, "metrics_fails", c->metrics_fails);
	add_u64(logger, "missed_log_count", missed_log);
	add_u64(logger, "log_fails", log_fails);
	line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!line)
		return -ENOMEM;
	size_t len = strlen(line);

	line[len] = '\n'; /* replaces the NUL; the buffer is not used as a string again */
	/* A torn line (partial write into a full pipe) is ended first, so this one parses. */
	if (c->metrics_torn && write(c->metrics_fd, "\n", 1) == 1)
		c->metrics_torn = false;
	n = c->metrics_torn ? -1 : write(c->metrics_fd, line, len + 1);
	free(line);
	if (n == (ssize_t)len + 1)
		return 0;
	/* Never wait for the reader: the line is dropped and counted. */
	if (n >= 0 || errno == EAGAIN || c->metrics_torn) {
		c->missed_metrics++;
		c->metrics_torn = c->metrics_torn || n > 0;
		return -EAGAIN;
	}
	c->metrics_fails++;
	return -EIO;
}

static void on_api_request(void *opaque, uint32_t events)
{
	struct control *c = opaque;

	(void)events;
	api_server_dispatch(&c->server, &c->api);
}

int control_serve(struct control *c, const char *sock, char *err, size_t errlen)
{
	int r = api_server_listen(&c->server, sock, err, errlen);

	if (r)
		return r;
	c->has_server = true;
	c->server.seccomp = c->vmm->seccomp;
	if (c->max_body)
		c->server.max_body = c->max_body;
	r = evloop_add(&c->vmm->loop, c->server.req_efd, EPOLLIN, on_api_request, c);
	if (!r)
		r = api_server_start(&c->server);
	if (r)
		return errorf(err, errlen, r, "cannot start the API server: %s", strerror(-r));
	return 0;
}

void control_destroy(struct control *c)
{
	if (c->has_server)
		api_server_stop(&c->server);
	c->has_server = false;
	if (c->metrics_fd >= 0 && control_flush_metrics(c))
		log_debug("final metrics flush failed");
	api_free(&c->api);
	log_configure(-1, false, false);
	if (c->log_fd >= 0)
		close(c->log_fd);
	if (c->metrics_fd >= 0)
		close(c->metrics_fd);
	if (c->timer_fd >= 0)
		close(c->timer_fd);
	c->log_fd = c->metrics_fd = c->timer_fd = -1;
}
