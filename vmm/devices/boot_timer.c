/* Firecracker's boot timer port: the guest's first write there (its init starting) logs
 * the time since VM creation began, and the metrics carry it. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "log.h"

static const struct device_ops boot_timer_ops;

void boot_timer_init(struct boot_timer *t, uint64_t t0_wall_ns, uint64_t t0_cpu_ns)
{
	memset(t, 0, sizeof(*t));
	device_init(&t->device, &boot_timer_ops, "boot-timer", BOOT_TIMER_PORT, DEVICE_NO_IRQ);
	t->t0_wall_ns = t0_wall_ns;
	t->t0_cpu_ns = t0_cpu_ns;
}

int boot_timer_create(uint64_t t0_wall_ns, uint64_t t0_cpu_ns, struct boot_timer **out)
{
	struct boot_timer *t = malloc(sizeof(*t));

	if (!t)
		return -ENOMEM;
	boot_timer_init(t, t0_wall_ns, t0_cpu_ns);
	*out = t;
	return 0;
}

void boot_timer_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct boot_timer *t = opaque;
	int expected = 0;

	(void)offset;
	(void)len;
	if (!is_write) {
		data[0] = 0;
		return;
	}
	if (__atomic_load_n(&t->st.fired, __ATOMIC_ACQUIRE) ||
	    !__atomic_compare_exchange_n(&t->claimed, &expected, 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	t->st.boot_to_init_ns = now_ns() - t->t0_wall_ns;
	t->st.boot_to_init_cpu_ns = cpu_now_ns() - t->t0_cpu_ns;
	/* Readers (metrics, save) look at the values only once fired says they are there. */
	__atomic_store_n(&t->st.fired, 1, __ATOMIC_RELEASE);
	log_info("boot_to_init_ms %.3f (cpu %.3f ms)", (double)t->st.boot_to_init_ns / 1e6,
		 (double)t->st.boot_to_init_cpu_ns / 1e6);
}

static struct boot_timer *to_boot_timer(struct device *d)
{
	return container_of(d, struct boot_timer, device);
}

static size_t boot_timer_save_size(const struct device *d)
{
	(void)d;
	return sizeof(struct boot_timer_state);
}

static void boot_timer_save(struct device *d, void *buf)
{
	struct boot_timer *t = to_boot_timer(d);
	struct boot_timer_state s = { 0 };

	/* Saved with the vCPUs paused; a write racing with it would only be seen as not yet fired. */
	if (__atomic_load_n(&t->st.fired, __ATOMIC_ACQUIRE))
		s = t->st;
	memcpy(buf, &s, sizeof(s));
}

static int boot_timer_restore(struct device *d, const void *buf, char *err, size_t errlen)
{
	struct boot_timer *t = to_boot_timer(d);
	struct boot_timer_state s;

	memcpy(&s, buf, sizeof(s));
	if (s.fired > 1)
		return errorf(err, errlen, -EINVAL, "fired flag %u is not a boolean", s.fired);
	if (s.pad || (!s.fired && (s.boot_to_init_ns || s.boot_to_init_cpu_ns)))
		return errorf(err, errlen, -EINVAL, "reserved bytes or times of a timer that never fired are not zero");
	t->st = s;
	t->claimed = (int)s.fired;
	return 0;
}

static void boot_timer_metrics(struct device *d, struct cJSON *out)
{
	struct boot_timer *t = to_boot_timer(d);
	cJSON *boot;

	if (!__atomic_load_n(&t->st.fired, __ATOMIC_ACQUIRE))
		return;
	boot = cJSON_GetObjectItemCaseSensitive(out, "boot");
	if (!boot)
		boot = cJSON_AddObjectToObject(out, "boot");
	cJSON_AddNumberToObject(boot, "boot_to_init_ms", (double)t->st.boot_to_init_ns / 1e6);
	cJSON_AddNumberToObject(boot, "boot_to_init_cpu_ms", (double)t->st.boot_to_init_cpu_ns / 1e6);
}

static void boot_timer_destroy(struct device *d)
{
	free(to_boot_timer(d));
}

static const struct device_ops boot_timer_ops = {
	.kind = DEVICE_BOOT_TIMER,
	.version = BOOT_TIMER_STATE_VERSION,
	.save_size = boot_timer_save_size,
	.save = boot_timer_save,
	.restore = boot_timer_restore,
	.metrics = boot_timer_metrics,
	.destroy = boot_timer_destroy,
};
