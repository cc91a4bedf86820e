/* virtio-net over a TAP device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR): frames move between the
 * tap and guest memory with one readv/writev each, the virtio-net header doubling as the
 * tap's vnet header, so checksum and TSO offloads pass straight through. */
#ifndef KINDLING_VIRTIO_NET_H
#define KINDLING_VIRTIO_NET_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "device.h"
#include "ratelimit.h"
#include "virtio.h"

struct evloop;

#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
/* struct virtio_net_hdr_v1: 10 bytes of offload metadata and num_buffers. */
#define VIRTIO_NET_HDR_LEN 12
/* The largest TX chain: a 64 KiB TSO frame plus Ethernet header, plus the virtio header. */
#define VIRTIO_NET_MAX_TX 65562
/* Room gathered before reading a frame: the largest frame the tap may hand over. */
#define VIRTIO_NET_MAX_RX 65562
#define VIRTIO_NET_RX_CHAINS 64
#define VIRTIO_NET_RX_IOV 1024

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_MRG_RXBUF 15

struct virtio_net_stats {
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
	uint64_t rx_stalls;  /* times frames were left waiting in the tap for guest buffers */
	uint64_t rx_dropped; /* frames that did not fit the buffer the guest posted */
	uint64_t tx_dropped; /* frames shorter than the header or longer than VIRTIO_NET_MAX_TX, or
				refused by the tap */
	/* Firecracker's names: a limiter's timer fired; a frame was held back by a limiter. */
	uint64_t rx_event_rate_limiter_count, rx_rate_limiter_throttled;
	uint64_t tx_rate_limiter_event_count, tx_rate_limiter_throttled;
	/* Callbacks cut short by the budget (virtio.h's VIRTIO_QUEUE_BUDGET) with frames left
	 * (RX: perhaps, the tap is not asked). */
	uint64_t rx_budget_yields, tx_budget_yields;
};

/* Version 2 appends the RX then the TX rate limiter (struct rate_limiter_state each) after
 * the virtio state; version 1 (snapshots 1.0), without them, still restores, unlimited. */
#define VIRTIO_NET_STATE_VERSION 2
/* The net device's part of its saved state, after the common virtio state. */
struct virtio_net_state {
	uint8_t mac[6]; /* as the guest read it from the config space */
	uint8_t pad[2];
	char ifname[IFNAMSIZ]; /* the host's tap, NUL-terminated and zero-padded ("" for a plain fd) */
};

/* One direction's rate limiter (rx_rate_limiter / tx_rate_limiter), under dev.lock. */
struct virtio_net_limiter {
	struct rate_limiter rl;
	int timer_fd;   /* made with the device (no timerfd_create after boot) */
	bool throttled; /* the direction waits for timer_fd */
};

struct virtio_net {
	struct virtio_device dev;
	struct device device; /* on the VMM's device list; its id is the interface's */
	struct virtio_net_state st; /* the MAC as the guest reads it; the tap's name */
	int tap;
	struct evloop *loop;
	bool tap_polled;  /* the tap is armed for EPOLLIN on the event loop */
	bool rx_waiting;  /* frames (may) wait for RX buffers: poll the tap again on a kick */
	struct virtio_net_stats stats;
	struct ratelimit rl;
	struct virtq_chain chain; /* scratch of the queue worker */
	/* RX buffers popped ahead of the frame that will fill them (mergeable buffers: one
	 * frame may take several chains). Given back before the worker returns. */
	struct {
		uint16_t head;
		uint16_t niov;
		uint32_t len;
	} rx_pend[VIRTIO_NET_RX_CHAINS];
	int rx_npend;
	int rx_niov;
	uint32_t rx_cap;
	struct iovec rx_iov[VIRTIO_NET_RX_IOV];
	/* Rate limiters, indexed by enum device_limiter (DEVICE_LIMITER_RX, _TX). */
	struct virtio_net_limiter lim[2];
	uint64_t (*clock)(void); /* monotonic ns: now_ns, or a test's */
	struct evloop *timer_loop; /* where the timers are watched (loop goes NULL if the tap fails) */
	/* RX under a limiter goes through this buffer (see rx_limited in net.c): a frame read
	 * from the tap and refused by the limiter waits here (rx_deferred bytes) for the timer. */
	uint32_t rx_deferred;
	uint8_t rx_frame[VIRTIO_NET_MAX_RX];
};

/* Opens the tap named in cfg and registers it (unarmed) on loop. loop may be NULL for
 * tests, which then call virtio_net_tap_ready themselves. */
int virtio_net_create(const struct net_config *cfg, const struct guest_mem *mem, struct evloop *loop,
		      struct virtio_net **out, char *err, size_t errlen) __attribute__((warn_unused_result));

/* The same over an already open frame-oriented fd carrying vnet headers (a tap, or a
 * SOCK_SEQPACKET socket in tests); takes ownership of fd. guest_offloads: whether the fd
 * accepts TUNSETOFFLOAD. */
int virtio_net_create_fd(int fd, const char *id, const uint8_t *mac, bool guest_offloads,
			 const struct guest_mem *mem, struct evloop *loop, struct virtio_net **out, char *err,
			 size_t errlen) __attribute__((warn_unused_result));

/* Event loop side: the tap is readable. */
void virtio_net_tap_ready(struct virtio_net *n);

/* A rate limiter's timer fired (which: DEVICE_LIMITER_RX or _TX): that direction goes on
 * where its limiter stopped it. The event loop calls it; tests without a loop call it. */
void virtio_net_timer_fired(struct virtio_net *n, enum device_limiter which);

#endif
