/* Interface address, netmask, link state and default route through the classic SIOC*
 * ioctls: a few syscalls, which matters on a boot path measured in milliseconds. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netcfg.h"

static void set_sin(struct sockaddr *sa, struct in_addr a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = a };

	memcpy(sa, &sin, sizeof(sin));
}

static struct in_addr get_sin(const struct sockaddr *sa)
{
	struct sockaddr_in sin;

	memcpy(&sin, sa, sizeof(sin));
	return sin.sin_addr;
}

static int link_up(int s, const char *dev)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

int netcfg_lo_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r;

	if (s < 0)
		return -errno;
	r = link_up(s, "lo");
	close(s);
	return r;
}

/* True when dev already carries addr/mask (set by the kernel's IP_PNP): setting it again
 * would drop and re-add the address and with it the routes IP_PNP installed. */
static bool has_address(int s, const char *dev, struct in_addr addr, struct in_addr mask)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(s, SIOCGIFADDR, &ifr) < 0 || get_sin(&ifr.ifr_addr).s_addr != addr.s_addr)
		return false;
	if (ioctl(s, SIOCGIFNETMASK, &ifr) < 0)
		return false;
	return get_sin(&ifr.ifr_netmask).s_addr == mask.s_addr;
}

static int configure(int s, const struct ipconf *ic, char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	struct rtentry rt = { 0 };
	struct in_addr any = { 0 };
	int r;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ic->dev);
	if (!has_address(s, ic->dev, ic->addr, ic->mask)) {
		set_sin(&ifr.ifr_addr, ic->addr);
		if (ioctl(s, SIOCSIFADDR, &ifr) < 0) {
			r = -errno;
			snprintf(err, errlen, "set address of %s: %s", ic->dev, strerror(-r));
			return r;
		}
		set_sin(&ifr.ifr_netmask, ic->mask);
		if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) {
			r = -errno;
			snprintf(err, errlen, "set netmask of %s: %s", ic->dev, strerror(-r));
			return r;
		}
	}
	r = link_up(s, ic->dev);
	if (r) {
		snprintf(err, errlen, "bring %s up: %s", ic->dev, strerror(-r));
		return r;
	}
	if (!ic->has_gw)
		return 0;
	set_sin(&rt.rt_dst, any);
	set_sin(&rt.rt_genmask, any);
	set_sin(&rt.rt_gateway, ic->gw);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = (char *)ic->dev;
	if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "default route via %s: %s", inet_ntoa(ic->gw), strerror(-r));
		return r;
	}
	return 0;
}

int netcfg_apply(const struct ipconf *ic, char *err, size_t errlen)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = 0;

	if (s < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(-r));
		return r;
	}
	if (ic->configure) {
		r = configure(s, ic, err, errlen);
	} else if (if_nametoindex(ic->dev)) {
		/* Addressing done by someone else (IP_PNP dhcp): only make sure the link is up. */
		r = link_up(s, ic->dev);
		if (r)
			snprintf(err, errlen, "bring %s up: %s", ic->dev, strerror(-r));
	}
	close(s);
	return r;
}

int netcfg_set_mac(const char *dev, const unsigned char mac[6], char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (s < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(-r));
		return r;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0) {
		r = -errno;
		snprintf(err, errlen, "set MAC of %s: %s", dev, strerror(-r));
	}
	close(s);
	return r;
}

int netcfg_announce(const char *dev, char *err, size_t errlen)
{
	struct __attribute__((packed)) {
		struct arphdr h;
		unsigned char sha[6], spa[4], tha[6], tpa[4];
	} pkt = { .h = { .ar_hrd = htons(ARPHRD_ETHER), .ar_pro = htons(ETH_P_IP), .ar_hln = 6, .ar_pln = 4,
			 .ar_op = htons(ARPOP_REQUEST) } };
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP), .sll_halen = 6 };
	struct ifreq ifr = { 0 };
	struct in_addr a;
	int s, r = 0;

	s = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
	if (s < 0) {
		r = -errno;
		snprintf(err, errlen, "packet socket: %s", strerror(-r));
		return r;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(s, SIOCGIFADDR, &ifr) < 0) {
		close(s);
		return 0; /* no IPv4 address: nothing anyone could have cached */
	}
	a = get_sin(&ifr.ifr_addr);
	memcpy(pkt.spa, &a, 4);
	memcpy(pkt.tpa, &a, 4); /* sender = target address: gratuitous */
	/* ifr is a union: one question at a time. */
	if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
		r = -errno;
		snprintf(err, errlen, "announce %s: %s", dev, strerror(-r));
		goto out;
	}
	to.sll_ifindex = ifr.ifr_ifindex;
	memset(to.sll_addr, 0xff, 6);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
		r = -errno;
		snprintf(err, errlen, "announce %s: %s", dev, strerror(-r));
		goto out;
	}
	memcpy(pkt.sha, ifr.ifr_hwaddr.sa_data, 6);
	if (sendto(s, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		r = -errno;
		snprintf(err, errlen, "send ARP announcement on %s: %s", dev, strerror(-r));
	}
out:
	close(s);
	return r;
}
