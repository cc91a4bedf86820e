/* Logging: one line per message on stderr (or a log file/FIFO), with a level filter and a
 * rate limiter for messages a guest can trigger. Writing a line never blocks. */
#ifndef KINDLING_LOG_H
#define KINDLING_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* LOG_OFF is a filter, never the level of a message: it silences everything. */
enum log_level { LOG_OFF = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* A level filter by Firecracker's names (its LevelFilter, any case): Off, Error, Warning or
 * Warn, Info, Debug, Trace (which is Debug here). The one table of level names, for --level,
 * PUT /logger and the config file alike. */
int log_parse_level(const char *name, enum log_level *out) __attribute__((warn_unused_result));
/* Firecracker's name of a level filter ("Off", "Warning", ...). */
const char *log_level_name(enum log_level level);
void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Sends log lines to fd (a file or FIFO opened by the caller; -1 for stderr), optionally
 * prefixed with the level and the source position, as Firecracker's logger offers. */
void log_configure(int fd, bool show_level, bool show_origin);
/* Log lines never wait for a reader: the destination is written without blocking (give
 * log_configure an O_NONBLOCK fd) and a line that does not fit is dropped and counted.
 * log_nonblocking_stderr() gives the default destination, stderr, the same property when
 * it is a pipe or a terminal; call it before any thread starts. */
void log_nonblocking_stderr(void);
/* stderr as log lines use it: for other output that must not block either (diagnostics). */
int log_stderr_fd(void);
/* Lines dropped because the destination was full (Firecracker's missed_log_count), and
 * lines lost to write errors (log_fails). */
void log_counts(uint64_t *missed, uint64_t *failed);
/* The instance id that lines written to a log file carry, as in Firecracker. */
void log_set_instance_id(const char *id);

#define log_error(...) log_msg(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/* Token bucket for guest-triggerable messages: at most `burst` messages, refilled
 * at one per `interval_ms`. Suppressed messages are counted, and the next message let
 * through is preceded by a line saying how many were suppressed. */
struct ratelimit {
	uint64_t last_ms;
	uint32_t tokens;
	uint32_t burst;
	uint32_t interval_ms;
	uint64_t suppressed;
};

#define RATELIMIT_INIT(burst_, ms_) { .tokens = (burst_), .burst = (burst_), .interval_ms = (ms_) }

/* Returns 1 if a message may be printed now. */
int ratelimit_ok(struct ratelimit *rl);
/* The messages suppressed since the last call, and starts counting again from 0. */
uint64_t ratelimit_take_suppressed(struct ratelimit *rl);

#define log_ratelimited(rl, level, ...)                                                              \
	do {                                                                                         \
		if (ratelimit_ok(rl)) {                                                              \
			uint64_t suppressed_ = ratelimit_take_suppressed(rl);                        \
                                                                                                     \
			if (suppressed_)                                                             \
				log_msg(level, __FILE__, __LINE__, "%llu similar messages suppressed", \
					(unsigned long long)suppressed_);                              \
			log_msg(level, __FILE__, __LINE__, __VA_ARGS__);                             \
		}                                                                                    \
	} while (0)

/* Formats a one-line reason into err and returns code: the shape of every "-errno plus a
 * message for the API client" failure below main(). */
int errorf(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* errorf for a failed system call: "<message>: strerror(e)" into err, and returns -e. Pass
 * errno itself as e: it is read at the call site, before anything can change it. */
int errorf_errno(char *err, size_t errlen, int e, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Adds context in front of the reason already in err ("<context>: <reason>") and returns
 * code: for a caller passing on a callee's failure. Save errno into code before any call
 * that may change it (log lines, stdio, close). */
int errwrap(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

uint64_t now_ns(void);
uint64_t cpu_now_ns(void);

struct timespec;
/* The CLOCK_REALTIME instant ms milliseconds from now: a pthread_cond_timedwait deadline. */
void deadline_after_ms(struct timespec *ts, int ms);

#endif
