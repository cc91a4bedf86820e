/* Logging to stderr or a log file/FIFO with levels and rate limiting; writes never block. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static enum log_level current_level = LOG_INFO;
/* Set once from the VMM thread while configuring; read by every thread. */
static int out_fd = -1;
/* stderr, or our own non-blocking open file description of it (log_nonblocking_stderr). */
static int err_fd = STDERR_FILENO;
/* Lines dropped because the destination would have blocked, and lines lost to errors. */
static uint64_t missed_lines, failed_lines;
static bool show_level_prefix, show_origin;
static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const fc_level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
/* Firecracker's instance id, shown in lines written to a log file. */
static char instance_id[65] = "anonymous-instance";

void log_set_instance_id(const char *id)
{
	snprintf(instance_id, sizeof(instance_id), "%s", id);
}

/* Firecracker's line head, for a log file (PUT /logger, --log-path):
 * "2024-01-02T03:04:05.123456789 [ID:THREAD:LEVEL:FILE:LINE] " with LEVEL and FILE:LINE
 * only when asked for. The clock is UTC (no time zone file to read under seccomp), and
 * THREAD is "kindling" (naming the thread would need a system call the filters refuse). */
static int fc_head(char *buf, size_t len, enum log_level level, const char *file, int line)
{
	struct timespec ts;
	long long days, secs, era, doe, yoe, doy, mp, y, m, d;
	int n;

	/* The civil date by arithmetic (H. Hinnant's civil_from_days): gmtime_r may read the
	 * time zone file on first use, a system call the threads' filters refuse. */
	clock_gettime(CLOCK_REALTIME, &ts);
	days = (long long)ts.tv_sec / 86400;
	secs = (long long)ts.tv_sec % 86400;
	days += 719468;
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);
	n = snprintf(buf, len, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%09ld [%s:kindling", y, m, d, secs / 3600,
		     secs / 60 % 60, secs % 60, ts.tv_nsec, instance_id);
	if (show_level_prefix)
		n += snprintf(buf + n, len - (size_t)n, ":%s", fc_level_names[level]);
	if (show_origin)
		n += snprintf(buf + n, len - (size_t)n, ":%s:%d", file, line);
	n += snprintf(buf + n, len - (size_t)n, "] ");
	return n;
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

static const struct {
	const char *name;
	enum log_level level;
} level_table[] = {
	/* The first name of a level is the one log_level_name gives. */
	{ "Off", LOG_OFF },	  { "Error", LOG_ERROR }, { "Warning", LOG_WARN }, { "Warn", LOG_WARN },
	{ "Info", LOG_INFO }, { "Debug", LOG_DEBUG }, { "Trace", LOG_DEBUG },
};

int log_parse_level(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_table); i++) {
		if (!strcasecmp(name, level_table[i].name)) {
			*out = level_table[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_table); i++)
		if (level_table[i].level == level)
			return level_table[i].name;
	return "Info";
}

void log_configure(int fd, bool show_level, bool origin)
{
	out_fd = fd;
	show_level_prefix = show_level;
	show_origin = origin;
}

void log_nonblocking_stderr(void)
{
	struct stat st;
	int fd;

	if (err_fd != STDERR_FILENO || fstat(STDERR_FILENO, &st) < 0)
		return;
	/* Regular files never stall. Setting O_NONBLOCK on fd 2 itself would change the open
	 * file description our parent shares (its terminal, its pipe); reopening the pipe or
	 * terminal through /proc gives one of our own. A socket cannot be reopened that way
	 * and stays blocking. */
	if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return;
	fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0)
		err_fd = fd;
}

int log_stderr_fd(void)
{
	return err_fd;
}

void log_counts(uint64_t *missed, uint64_t *failed)
{
	*missed = __atomic_load_n(&missed_lines, __ATOMIC_RELAXED);
	*failed = __atomic_load_n(&failed_lines, __ATOMIC_RELAXED);
}

/* One write per line keeps lines from different threads whole (a pipe takes up to
 * PIPE_BUF bytes at once). Never waits: a line that would block is dropped and counted. */
static void put_line(const char *buf, size_t n)
{
	ssize_t w = write(out_fd >= 0 ? out_fd : err_fd, buf, n);

	/* A FIFO with no reader: fall back to stderr rather than losing the line. */
	if (w < 0 && errno == EPIPE && out_fd >= 0)
		w = write(err_fd, buf, n);
	if (w == (ssize_t)n)
		return;
	if (w >= 0 || errno == EAGAIN)
		__atomic_fetch_add(&missed_lines, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&failed_lines, 1, __ATOMIC_RELAXED);
}


void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char buf[1100];
	va_list ap;
	int n;

	if (level > current_level)
		return;
	if (out_fd >= 0) {
		n = fc_head(buf, 256, level, file, line);
	} else if (show_level_prefix || show_origin) {
		const char *base = strrchr(file, '/');

		n = snprintf(buf, 128, "kindling: %s%s%s", show_level_prefix ? "[" : "",
			     show_level_prefix ? level_names[level] : "", show_level_prefix ? "] " : "");
		if (show_origin)
			n += snprintf(buf + n, 128, "[%s:%d] ", base ? base + 1 : file, line);
	} else {
		n = snprintf(buf, 128, "kindling: %s%s", level <= LOG_WARN ? level_names[level] : "",
			     level <= LOG_WARN ? ": " : "");
	}
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - 1 - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strlen(buf);
	buf[n++] = '\n';
	put_line(buf, (size_t)n);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void deadline_after_ms(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

uint64_t cpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One lock for every limiter: they are taken only when a message is about to be logged. */
static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

uint64_t ratelimit_take_suppressed(struct ratelimit *rl)
{
	uint64_t n;

	pthread_mutex_lock(&ratelimit_lock);
	n = rl->suppressed;
	rl->suppressed = 0;
	pthread_mutex_unlock(&ratelimit_lock);
	return n;
}

int ratelimit_ok(struct ratelimit *rl)
{
	uint64_t ms = now_ns() / 1000000;
	int ok;

	pthread_mutex_lock(&ratelimit_lock);
	if (rl->interval_ms && ms - rl->last_ms >= rl->interval_ms) {
		uint64_t refill = (ms - rl->last_ms) / rl->interval_ms;

		uint64_t tokens = rl->tokens + refill;

		rl->tokens = tokens > rl->burst ? rl->burst : (uint32_t)tokens;
		rl->last_ms = ms;
	}
	ok = rl->tokens > 0;
	if (ok)
		rl->tokens--;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&ratelimit_lock);
	return ok;
}

int errorf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

int errorf_errno(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!errlen)
		return -e;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, ": %s", strerror(e));
	return -e;
}

int errwrap(char *err, size_t errlen, int code, const char *fmt, ...)
{
	char reason[512], context[256];
	va_list ap;

	if (!errlen)
		return code;
	snprintf(reason, sizeof(reason), "%s", err);
	va_start(ap, fmt);
	vsnprintf(context, sizeof(context), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", context, reason);
	return code;
}
