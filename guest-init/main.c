/* kindling-init: PID 1 of a Kindling function microVM. A straight line: mounts, hostname,
 * network, scratch disk, function config, init hook, listen, tell the VMM we are ready (a
 * snapshot may be taken then), serve, power off. PID 1 must never exit (the kernel panics),
 * so every way out goes through power_off().
 *
 * Test mode (environment KINDLING_INIT_TEST=1; never set by our VMM or packaging): no
 * mounts (the scratch disk's is described), no hostname, no boot-timer port, no Ctrl-Alt-Del
 * change; the command line comes from KINDLING_INIT_CMDLINE and function.json from
 * KINDLING_INIT_FUNCTION; "power off" is exit(). It lets tests run this binary as PID 1 of
 * fresh namespaces on the host. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fnconfig.h"
#include "gserver.h"
#include "inithook.h"
#include "kcmdline.h"
#include "netcfg.h"
#include "preload.h"
#include "util.h"

#define FUNCTION_JSON "/etc/kindling/function.json"
#define SCRATCH_DIR "/scratch"
#define DEFAULT_HOSTNAME "kindling"
#define DEFAULT_PORT 8080
#define BOOT_TIMER_PORT 0x3f0 /* the VMM's boot timer: first write = "ready" */

struct initctx {
	bool test;    /* KINDLING_INIT_TEST=1 */
	bool by_exit; /* power off = exit(): test mode, or not PID 1 */
};

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line: the console may be shared with the kernel's messages. */
	dprintf(2, "kindling-init: %.*s", n, line);
}

__attribute__((noreturn)) static void power_off(const struct initctx *ctx, int code)
{
	if (ctx->by_exit)
		exit(code);
	sync();
	/* With reboot=k the kernel resets through the keyboard controller, which our VMM turns
	 * into a clean exit; RB_POWER_OFF would need ACPI, which the microVM does not have. */
	reboot(RB_AUTOBOOT);
	say("reboot failed: %s; halting here", strerror(errno));
	for (;;)
		pause();
}

__attribute__((noreturn, format(printf, 2, 3))) static void fatal(const struct initctx *ctx, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say("FATAL: %s", msg);
	say("powering off");
	power_off(ctx, 1);
}

struct mountpoint {
	const char *src, *dir, *type;
	unsigned long flags;
	const char *data;
	bool required;
};

static const struct mountpoint mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, true },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, false },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", true },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666", false },
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", false },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", true },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", false },
};

/* A directory on another device than its parent is already a mount point: the kernel's
 * CONFIG_DEVTMPFS_MOUNT mounts /dev before init runs, and stacking a second one is waste. */
static bool is_mountpoint(const char *dir)
{
	char parent[64];
	struct stat a, b;

	snprintf(parent, sizeof(parent), "%s/..", dir);
	return !stat(dir, &a) && !stat(parent, &b) && a.st_dev != b.st_dev;
}

/* Returns 0, or -errno when a required mount failed (optional ones only warn). */
static int mount_all(char *err, size_t errlen)
{
	for (size_t i = 0; i < ARRAY_SIZE(mounts); i++) {
		const struct mountpoint *m = &mounts[i];

		if (is_mountpoint(m->dir))
			continue;
		if ((mkdir(m->dir, 0755) && errno != EEXIST) ||
		    mount(m->src, m->dir, m->type, m->flags, m->data)) {
			int r = -errno;

			snprintf(err, errlen, "mount %s on %s: %s", m->type, m->dir, strerror(-r));
			if (m->required)
				return r;
			say("warning: %s", err);
		}
	}
	return 0;
}

/* Handlers inherit nothing from us but the fds we pass; still, our own messages need 2. */
static void ensure_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (open("/dev/console", O_RDWR | O_NOCTTY) != fd && fcntl(fd, F_GETFD) < 0)
			open("/dev/null", O_RDWR);
	}
}

static int read_cmdline(const struct initctx *ctx, char *buf, size_t len)
{
	const char *env = getenv("KINDLING_INIT_CMDLINE");
	ssize_t n = 0;
	int fd;

	buf[0] = '\0';
	if (ctx->test) {
		snprintf(buf, len, "%s", env ? env : "");
		return 0;
	}
	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void setup_hostname(const struct initctx *ctx, const char *cmdline, const struct ipconf *ic)
{
	char name[80];
	int r = kcmdline_get(cmdline, "kindling.hostname", name, sizeof(name));

	if (r <= 0)
		snprintf(name, sizeof(name), "%s", ic->hostname[0] ? ic->hostname : DEFAULT_HOSTNAME);
	if (!kcmdline_hostname_valid(name)) {
		say("warning: bad hostname \"%s\"; using %s", name, DEFAULT_HOSTNAME);
		snprintf(name, sizeof(name), "%s", DEFAULT_HOSTNAME);
	}
	if (ctx->test)
		return;
	if (sethostname(name, strlen(name)))
		say("warning: sethostname: %s", strerror(errno));
}

static int setup_network(const char *cmdline, struct ipconf *ic, char *err, size_t errlen)
{
	char val[256], why[160];
	int r;

	memset(ic, 0, sizeof(*ic));
	r = netcfg_lo_up();
	if (r) {
		snprintf(err, errlen, "bring lo up: %s", strerror(-r));
		return r;
	}
	r = kcmdline_get(cmdline, "ip", val, sizeof(val));
	if (r == 0)
		return 0; /* no ip=: the function has loopback only */
	if (r < 0 || kcmdline_parse_ip(val, ic)) {
		snprintf(err, errlen, "cannot parse ip=%s (want CLIENT::GATEWAY:NETMASK:HOSTNAME:DEVICE:off)",
			 r > 0 ? val : "...");
		return -EINVAL;
	}
	r = netcfg_apply(ic, why, sizeof(why));
	if (r)
		snprintf(err, errlen, "network set-up from ip=%s: %s", val, why);
	return r;
}

/* kindling.scratch=DEV: a writable ext4 disk at /scratch for the function and its init hook.
 * What they write there before readiness is on that disk when the snapshot is taken. Sets
 * *mounted; returns 0 (also when there is none), or -errno with a message in err. */
static int setup_scratch(const struct initctx *ctx, const char *cmdline, bool *mounted, char *err, size_t errlen)
{
	char dev[32];
	int r = kcmdline_get(cmdline, "kindling.scratch", dev, sizeof(dev));

	*mounted = false;
	if (r == 0)
		return 0;
	if (r < 0 || !kcmdline_scratch_dev_valid(dev)) {
		snprintf(err, errlen, "kindling.scratch=%s: want a whole virtio disk, /dev/vd[a-z]",
			 r < 0 ? "(too long)" : dev);
		return -EINVAL;
	}
	if (ctx->test) {
		/* The host's root is not ours to create directories in, nor is there a /dev/vdX. */
		say("scratch: %s on %s (ext4, noatime) not mounted: test mode", dev, SCRATCH_DIR);
		return 0;
	}
	if (mkdir(SCRATCH_DIR, 0755) && errno != EEXIST) {
		r = -errno;
		if (r == -EROFS)
			snprintf(err, errlen, "kindling.scratch=%s: the root filesystem is read-only and has no %s "
				 "to mount it on (guest/mkfunction.sh images have one)", dev, SCRATCH_DIR);
		else
			snprintf(err, errlen, "kindling.scratch=%s: mkdir %s: %s", dev, SCRATCH_DIR, strerror(-r));
		return r;
	}
	if (mount(dev, SCRATCH_DIR, "ext4", MS_NOATIME, NULL)) {
		r = -errno;
		snprintf(err, errlen, "kindling.scratch=%s: mount ext4 on %s: %s", dev, SCRATCH_DIR, strerror(-r));
		return r;
	}
	*mounted = true;
	say("scratch: %s mounted on %s", dev, SCRATCH_DIR);
	return 0;
}

/* function.json (absent is fine when the command line names the handler), then the command
 * line's overrides; the handler must be executable now rather than fail every invocation. */
static int load_function(const struct initctx *ctx, const char *cmdline, struct fnconfig *fc, char *err,
			 size_t errlen)
{
	const char *path = FUNCTION_JSON;
	char why[256], *buf;
	ssize_t n;
	int fd, r;

	if (ctx->test && getenv("KINDLING_INIT_FUNCTION"))
		path = getenv("KINDLING_INIT_FUNCTION");
	fnconfig_init(fc);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "open %s: %s", path, strerror(-r));
		return r;
	}
	if (fd >= 0) {
		buf = malloc(FN_MAX_FILE + 1);
		/* One read of a regular file no larger than the limit reads all of it. */
		n = buf ? read(fd, buf, FN_MAX_FILE + 1) : -1;
		r = n < 0 ? -errno : fnconfig_parse(fc, buf, (size_t)n, why, sizeof(why));
		close(fd);
		free(buf);
		if (n < 0)
			snprintf(err, errlen, "read %s: %s", path, strerror(-r));
		else if (r)
			snprintf(err, errlen, "%s: %s", path, why);
		if (r)
			return r;
	}
	r = fnconfig_finish(fc, cmdline, err, errlen);
	if (r)
		return r;
	if (access(fc->handler, X_OK)) {
		r = -errno;
		snprintf(err, errlen, "handler %s: %s", fc->handler, r == -EACCES ? "not executable" : strerror(-r));
		return r;
	}
	if (fc->ninit && access(fc->init_argv[0], X_OK)) {
		r = -errno;
		snprintf(err, errlen, "init hook %s: %s", fc->init_argv[0],
			 r == -EACCES ? "not executable" : strerror(-r));
		return r;
	}
	return 0;
}

/* The function's one-time work, before readiness: see inithook.h. Then what it wrote to the
 * scratch disk is written out, so that the disk is complete when the snapshot is taken. */
static void run_init_hook(const struct initctx *ctx, const struct fnconfig *fc, bool scratch)
{
	char err[FN_MAX_STR + 256];
	unsigned ms = 0;
	int fd;

	if (fc->ninit) {
		say("running init hook %s (timeout %u s)", fc->init_argv[0], fc->timeout_s);
		if (inithook_run(fc, &ms, err, sizeof(err)))
			fatal(ctx, "%s", err);
		say("init hook done in %u ms", ms);
	}
	if (!scratch)
		return;
	fd = open(SCRATCH_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd))
		fatal(ctx, "sync %s: %s", SCRATCH_DIR, strerror(errno));
	close(fd);
}

static int get_port(const char *cmdline, uint16_t *port)
{
	char val[16], *end = NULL;
	long p = 0;
	int r = kcmdline_get(cmdline, "kindling.port", val, sizeof(val));

	*port = DEFAULT_PORT;
	if (r == 0)
		return 0;
	if (r > 0 && *val)
		p = strtol(val, &end, 10);
	if (p < 1 || p > 65535 || *end)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

/* The VMM's boot timer measures to this write, so it comes before any console output. */
static void signal_ready(const struct initctx *ctx)
{
	if (!ctx->test) {
		if (ioperm(BOOT_TIMER_PORT, 1, 1) == 0)
			outb(1, BOOT_TIMER_PORT);
		else
			say("warning: ioperm(0x%x): %s; boot timer not signalled", BOOT_TIMER_PORT, strerror(errno));
	}
	say("ready");
}

int main(void)
{
	struct initctx ctx = { 0 };
	char cmdline[KCMDLINE_MAX], err[FN_MAX_STR + 256];
	struct ipconf ic = { 0 };
	struct fnconfig fc;
	struct gserver *gs;
	bool scratch;
	uint16_t port;
	int r;

	ctx.test = getenv("KINDLING_INIT_TEST") && !strcmp(getenv("KINDLING_INIT_TEST"), "1");
	ctx.by_exit = ctx.test || getpid() != 1;
	if (getpid() != 1 && !ctx.test) {
		fprintf(stderr, "kindling-init: not PID 1; it mounts over /proc, /dev, /tmp. "
				"Set KINDLING_INIT_TEST=1 to run it for testing.\n");
		return 2;
	}
	r = gserver_block_signals();
	if (r)
		fatal(&ctx, "block signals: %s", strerror(-r));
	if (!ctx.test) {
		if (mount_all(err, sizeof(err)))
			fatal(&ctx, "%s", err);
		/* Ctrl-Alt-Del (the VMM's SendCtrlAltDel) then reaches us as SIGINT: a clean stop. */
		reboot(RB_DISABLE_CAD);
	} else if (getpid() != 1) {
		prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphans come to us as they would to PID 1 */
	}
	ensure_stdio();
	umask(022);
	r = read_cmdline(&ctx, cmdline, sizeof(cmdline));
	if (r)
		fatal(&ctx, "read /proc/cmdline: %s", strerror(-r));
	if (setup_network(cmdline, &ic, err, sizeof(err)))
		fatal(&ctx, "%s", err);
	setup_hostname(&ctx, cmdline, &ic);
	if (setup_scratch(&ctx, cmdline, &scratch, err, sizeof(err)))
		fatal(&ctx, "%s", err);
	if (load_function(&ctx, cmdline, &fc, err, sizeof(err)))
		fatal(&ctx, "%s", err);
	if (get_port(cmdline, &port))
		fatal(&ctx, "kindling.port= must be 1..65535");
	run_init_hook(&ctx, &fc, scratch);
	preload_handler(fc.handler);

	gs = malloc(sizeof(*gs));
	if (!gs)
		fatal(&ctx, "out of memory");
	if (gserver_open(gs, &fc, port, err, sizeof(err)))
		fatal(&ctx, "%s", err);
	gs->restore.test = ctx.test;
	snprintf(gs->restore.dev, sizeof(gs->restore.dev), "%s", ic.dev[0] ? ic.dev : "eth0");
	signal_ready(&ctx);
	say("serving %s on port %u (timeout %u s)", fc.handler, port, fc.timeout_s);
	r = gserver_run(gs);
	gserver_close(gs);
	if (r)
		fatal(&ctx, "server loop: %s", strerror(-r));
	say("powering off");
	power_off(&ctx, 0);
}
