/* The restore message's effects: the CRNG, the clock, the hostname, the network. The only
 * place where init changes the kernel's randomness or time. In test mode those two are
 * described on the console instead: RNDADDENTROPY needs CAP_SYS_ADMIN in the initial user
 * namespace, and CLOCK_REALTIME is not namespaced, so setting it would set the host's clock.
 * Outside test mode, what is applied before the response goes unsaid on the console: the
 * response lists it, and every console byte costs the VM exits of the UART (in the lab, the
 * three lines cost a clone's VMM ~60 ms of CPU, about a seventh of its warm start). Failures
 * are said, and so are the steps after the response (MAC, address), which nothing else reports. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "netcfg.h"
#include "restore.h"

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	dprintf(2, "kindling-init: restore: %s\n", line);
}

static int add_entropy(const struct restoremsg *m, char *err, size_t errlen)
{
	struct rand_pool_info *rpi = malloc(sizeof(*rpi) + m->entropy_len);
	int fd = -1, r = 0;

	if (!rpi) {
		snprintf(err, errlen, "entropy: out of memory");
		return -ENOMEM;
	}
	rpi->entropy_count = (int)(m->entropy_len * 8); /* credited: the host's getrandom() output */
	rpi->buf_size = (int)m->entropy_len;
	memcpy(rpi->buf, m->entropy, m->entropy_len);
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "open /dev/urandom: %s", strerror(-r));
	} else if (ioctl(fd, RNDADDENTROPY, rpi) < 0) {
		r = -errno;
		snprintf(err, errlen, "RNDADDENTROPY: %s", strerror(-r));
	} else if (ioctl(fd, RNDRESEEDCRNG) < 0) {
		/* Without the reseed, the CRNG would go on from the snapshot's state until its next
		 * periodic reseed, and sibling VMs would read the same bytes until then. */
		r = -errno;
		snprintf(err, errlen, "RNDRESEEDCRNG: %s", strerror(-r));
	}
	explicit_bzero(rpi->buf, m->entropy_len);
	free(rpi);
	if (fd >= 0)
		close(fd);
	return r;
}

static int set_hostname(struct restore_opts *o, const char *name, char *err, size_t errlen)
{
	/* A UTS namespace of init's own, taken once: test mode never renames the host, however
	 * it was started. The handlers, forked later, inherit it. */
	if (o->test && !o->uts_private) {
		if (unshare(CLONE_NEWUTS)) {
			int r = -errno;

			snprintf(err, errlen, "test mode: unshare(CLONE_NEWUTS): %s", strerror(-r));
			return r;
		}
		o->uts_private = true;
	}
	if (sethostname(name, strlen(name))) {
		int r = -errno;

		snprintf(err, errlen, "sethostname %s: %s", name, strerror(-r));
		return r;
	}
	return 0;
}

int restore_apply(struct restore_opts *o, const struct restoremsg *m, char *applied, size_t alen, char *err,
		  size_t errlen)
{
	unsigned long long sec = m->time_ns / 1000000000ull, nsec = m->time_ns % 1000000000ull;
	int r;

	applied[0] = '\0';
	if (o->test) {
		say("entropy: %zu bytes (%02x%02x%02x%02x...) not added: test mode", m->entropy_len, m->entropy[0],
		    m->entropy[1], m->entropy[2], m->entropy[3]);
	} else {
		r = add_entropy(m, err, errlen);
		if (r)
			return r;
	}
	snprintf(applied, alen, "\"entropy\"");
	if (o->test) {
		say("clock: %llu.%09llu not set: test mode", sec, nsec);
	} else {
		struct timespec ts = { .tv_sec = (time_t)sec, .tv_nsec = (long)nsec };

		if (clock_settime(CLOCK_REALTIME, &ts)) {
			r = -errno;
			snprintf(err, errlen, "clock_settime: %s", strerror(-r));
			return r;
		}
	}
	snprintf(applied + strlen(applied), alen - strlen(applied), ",\"time\"");
	if (m->hostname[0]) {
		r = set_hostname(o, m->hostname, err, errlen);
		if (r)
			return r;
		if (o->test)
			say("hostname %s", m->hostname);
		snprintf(applied + strlen(applied), alen - strlen(applied), ",\"hostname\"");
	}
	return 0;
}

bool restore_has_net(const struct restoremsg *m)
{
	return m->has_mac || m->has_ip;
}

void restore_apply_net(const struct restore_opts *o, const struct restoremsg *m)
{
	const char *dev = m->has_ip ? m->ip.dev : o->dev;
	char why[200], addr[16], gw[16] = "none";

	if (m->has_mac) {
		if (netcfg_set_mac(dev, m->mac, why, sizeof(why))) {
			say("FAILED: %s", why);
			return;
		}
		say("mac of %s: %02x:%02x:%02x:%02x:%02x:%02x", dev, m->mac[0], m->mac[1], m->mac[2], m->mac[3],
		    m->mac[4], m->mac[5]);
	}
	if (m->has_ip) {
		if (netcfg_apply(&m->ip, why, sizeof(why))) {
			say("FAILED: %s", why);
			return;
		}
		inet_ntop(AF_INET, &m->ip.addr, addr, sizeof(addr));
		if (m->ip.has_gw)
			inet_ntop(AF_INET, &m->ip.gw, gw, sizeof(gw));
		say("ip of %s: %s/%d, gateway %s", dev, addr, __builtin_popcount(m->ip.mask.s_addr), gw);
	}
	if (netcfg_announce(dev, why, sizeof(why)))
		say("warning: %s", why);
}
