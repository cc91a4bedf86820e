/* Logging to stderr with levels and rate limiting. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_parse_level(const char *name, enum log_level *out)
{
	static const char *const fc_names[] = { "Error", "Warning", "Info", "Debug" };

	for (int i = 0; i <= LOG_DEBUG; i++) {
		if (!strcasecmp(name, level_names[i]) || !strcmp(name, fc_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (!strcasecmp(name, "warning") || !strcasecmp(name, "trace")) {
		*out = name[0] == 'w' || name[0] == 'W' ? LOG_WARN : LOG_DEBUG;
		return 0;
	}
	return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (level > current_level)
		return;
	n = snprintf(buf, sizeof(buf), "kindling: %s%s", level <= LOG_WARN ? level_names[level] : "",
		     level <= LOG_WARN ? ": " : "");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fprintf per message keeps lines from different threads whole. */
	fprintf(stderr, "%s\n", buf);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int ratelimit_ok(struct ratelimit *rl)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	uint64_t ms = now_ns() / 1000000;
	int ok;

	pthread_mutex_lock(&lock);
	if (rl->interval_ms && ms - rl->last_ms >= rl->interval_ms) {
		uint64_t refill = (ms - rl->last_ms) / rl->interval_ms;

		rl->tokens = refill >= rl->burst ? rl->burst : rl->tokens + (uint32_t)refill;
		if (rl->tokens > rl->burst)
			rl->tokens = rl->burst;
		rl->last_ms = ms;
	}
	ok = rl->tokens > 0;
	if (ok)
		rl->tokens--;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&lock);
	return ok;
}
