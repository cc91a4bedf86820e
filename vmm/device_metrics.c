/* Per-device counters for the metrics line: one object per attached virtio device, named
 * after the device. Runs on the event loop thread, which is also the one that updates them. */
#include <cjson/cJSON.h>
#include <stddef.h>

#include "virtio/blk.h"
#include "virtio/net.h"
#include "vmm.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

static void add(cJSON *o, const char *name, uint64_t v)
{
	cJSON_AddNumberToObject(o, name, (double)v);
}

void vmm_device_metrics(struct vmm *v, struct cJSON *out)
{
	cJSON *blk = NULL, *net = NULL;

	for (int i = 0; i < v->nr_virtio; i++) {
		struct virtio_device *dev = v->virtio[i];
		cJSON *o;

		if (dev->device_id == VIRTIO_ID_BLOCK) {
			const struct virtio_blk_stats *s = &container_of(dev, struct virtio_blk, dev)->stats;

			if (!blk)
				blk = cJSON_AddObjectToObject(out, "block");
			o = cJSON_AddObjectToObject(blk, dev->name);
			add(o, "read_count", s->reads);
			add(o, "write_count", s->writes);
			add(o, "flush_count", s->flushes);
			add(o, "read_bytes", s->read_bytes);
			add(o, "write_bytes", s->write_bytes);
			add(o, "io_errors", s->io_errors);
			add(o, "no_status", s->no_status);
		} else if (dev->device_id == VIRTIO_ID_NET) {
			const struct virtio_net_stats *s = &container_of(dev, struct virtio_net, dev)->stats;

			if (!net)
				net = cJSON_AddObjectToObject(out, "net");
			o = cJSON_AddObjectToObject(net, dev->name);
			add(o, "rx_packets_count", s->rx_frames);
			add(o, "rx_bytes_count", s->rx_bytes);
			add(o, "tx_packets_count", s->tx_frames);
			add(o, "tx_bytes_count", s->tx_bytes);
			add(o, "rx_stalls", s->rx_stalls);
			add(o, "rx_dropped", s->rx_dropped);
			add(o, "tx_dropped", s->tx_dropped);
		} else {
			continue;
		}
		add(o, "device_errors", dev->errors);
	}
}
