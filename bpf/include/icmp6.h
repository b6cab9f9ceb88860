/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ICMPv6 link control of a pod's veth (RFC 4861 neighbour discovery, RFC 3810
 * MLD): which messages a pod may send, and where the message is. A pod is a host,
 * never a router on its link: it resolves and answers neighbours (NS, NA), asks for
 * routers (RS, which the node ignores) and reports its multicast groups (MLDv1/v2
 * reports and done), and that is all. What only routers send (RA, Redirect, MLD
 * query, router renumbering) is the CVE-2020-10749 class of attack on the node's
 * routing: dropped whatever its source. Node information and inverse ND are not
 * link control a pod needs: they take the ordinary path (and its checks).
 */
#ifndef STRAIT_ICMP6_H
#define STRAIT_ICMP6_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>

#include "compiler.h"
#include "parse.h"

#define ICMP6_MLD_QUERY 130
#define ICMP6_MLD_REPORT 131
#define ICMP6_MLD_DONE 132
#define ICMP6_ROUTER_SOLICIT 133
#define ICMP6_ROUTER_ADVERT 134
#define ICMP6_NEIGH_SOLICIT 135
#define ICMP6_NEIGH_ADVERT 136
#define ICMP6_REDIRECT 137
#define ICMP6_ROUTER_RENUMBERING 138
#define ICMP6_MLD2_REPORT 143

/* The first 8 bytes every ND/MLD message has, then an NA's target (RFC 4861 4.4). */
struct icmp6_nd {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 reserved; /* NA: R, S, O flags */
	struct in6_addr target;
};

enum icmp6_link_class {
	ICMP6_NOT_LINK = 0, /* not link control: the ordinary path */
	ICMP6_LINK_POD,     /* link control a pod sends as a host */
	ICMP6_LINK_ROUTER,  /* only routers send it */
};

static __always_inline enum icmp6_link_class icmp6_link_class(__u8 type)
{
	switch (type) {
	case ICMP6_NEIGH_SOLICIT:
	case ICMP6_NEIGH_ADVERT:
	case ICMP6_ROUTER_SOLICIT:
	case ICMP6_MLD_REPORT:
	case ICMP6_MLD_DONE:
	case ICMP6_MLD2_REPORT:
		return ICMP6_LINK_POD;
	case ICMP6_ROUTER_ADVERT:
	case ICMP6_REDIRECT:
	case ICMP6_MLD_QUERY:
	case ICMP6_ROUTER_RENUMBERING:
		return ICMP6_LINK_ROUTER;
	default:
		return ICMP6_NOT_LINK;
	}
}

/* fe80::1, the gateway every pod routes through (src/cni/wiring.ts GATEWAY). */
static __always_inline bool ipv6_addr_is_gateway(const struct in6_addr *a)
{
	const __u32 *w = a->in6_u.u6_addr32;

	return w[0] == bpf_htonl(0xfe800000) && (w[1] | w[2]) == 0 && w[3] == bpf_htonl(1);
}

/*
 * The ICMPv6 header right after the IPv6 header or after one Hop-by-Hop header
 * (MLD carries a Router Alert there), or NULL. Deeper chains are no link control:
 * they take the ordinary path. From fe80::/10 or :: that fails anti-spoofing, and
 * the node takes RA and Redirect from no other source. What remains is ND from the
 * pod's own address behind two or more extension headers, which reaches the node
 * without the NA target check; the node keeps neighbours per device, and this veth
 * leads only to this pod, so such an NA can only speak about this pod's link.
 * pkt must have passed parse_ipv6().
 */
static __always_inline struct icmp6_nd *icmp6_link_header(const struct packet *pkt)
{
	void *l4 = pkt->ip6 + 1;
	__u8 next = pkt->ip6->nexthdr;

	if (next == IPPROTO_HOPOPTS) {
		struct ipv6_opt_hdr *hbh = l4;

		if ((void *)(hbh + 1) > pkt->data_end)
			return NULL;
		next = hbh->nexthdr;
		l4 += ((__u32)hbh->hdrlen + 1) * 8;
	}
	if (next != IPPROTO_ICMPV6)
		return NULL;
	/* Only the 8 common bytes here; a caller reading the target checks for more. */
	if (l4 + 8 > pkt->data_end)
		return NULL;
	return l4;
}

#endif /* STRAIT_ICMP6_H */
