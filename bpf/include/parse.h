/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Ethernet, IPv4 and IPv6 headers of an skb, each checked against data_end once
 * here so that callers read header fields with no further bounds checks. Parsers
 * return 0 or a negated drop reason (see counters.h); they never write the packet.
 * IPv6 extension headers are not walked here; conntrack.h, which reads L4, says
 * what that means for policy, and icmp6.h finds ND and MLD (behind at most one
 * Hop-by-Hop header). Link traffic (ARP, ND, MLD) is no exception to anti-spoofing:
 * arp.h and icmp6.h say what a pod may send, from_pod checks its sender.
 */
#ifndef STRAIT_PARSE_H
#define STRAIT_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>

#include "compiler.h"
#include "drop.h"

struct packet {
	void *data_end;
	struct ethhdr *eth;
	__u16 l3_proto; /* ethertype, host order */
	union {
		struct iphdr *ip4;
		struct ipv6hdr *ip6;
	};
};

/* The Ethernet header of a frame at data; tc and XDP contexts both end up here. */
static __always_inline int parse_eth_at(void *data, void *data_end, struct packet *pkt)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -DROP_MALFORMED;

	pkt->data_end = data_end;
	pkt->eth = eth;
	pkt->l3_proto = bpf_ntohs(eth->h_proto);
	return 0;
}

static __always_inline int parse_eth(struct __sk_buff *skb, struct packet *pkt)
{
	return parse_eth_at((void *)(long)skb->data, (void *)(long)skb->data_end, pkt);
}

/*
 * Options are allowed (ihl > 5) but must lie inside the frame like the rest.
 * tot_len is left to the receiving stack: BIG TCP sends 0 there, and nothing here
 * reads past the header.
 */
static __always_inline int parse_ipv4(struct packet *pkt)
{
	struct iphdr *ip4 = (void *)(pkt->eth + 1);
	__u32 hdr_len;

	if ((void *)(ip4 + 1) > pkt->data_end)
		return -DROP_MALFORMED;
	if (ip4->version != 4 || ip4->ihl < 5)
		return -DROP_MALFORMED;
	hdr_len = ip4->ihl * 4;
	if ((void *)ip4 + hdr_len > pkt->data_end)
		return -DROP_MALFORMED;

	pkt->ip4 = ip4;
	return 0;
}

static __always_inline int parse_ipv6(struct packet *pkt)
{
	struct ipv6hdr *ip6 = (void *)(pkt->eth + 1);

	if ((void *)(ip6 + 1) > pkt->data_end)
		return -DROP_MALFORMED;
	if (ip6->version != 6)
		return -DROP_MALFORMED;

	pkt->ip6 = ip6;
	return 0;
}

/* fe80::/10: link-local, so no endpoint has it; the veth's link entry stands for it. */
static __always_inline bool ipv6_addr_is_link_local(const struct in6_addr *a)
{
	return a->in6_u.u6_addr8[0] == 0xfe && (a->in6_u.u6_addr8[1] & 0xc0) == 0x80;
}

#define PARSE_NOT_IP 1

/*
 * After parse_eth: the IPv4 or IPv6 header, as parse_ipv4()/parse_ipv6() check it;
 * PARSE_NOT_IP for any other ethertype (ARP, ...), which each program decides on.
 */
static __always_inline int parse_ip(struct packet *pkt)
{
	if (pkt->l3_proto == ETH_P_IP)
		return parse_ipv4(pkt);
	if (pkt->l3_proto == ETH_P_IPV6)
		return parse_ipv6(pkt);
	return PARSE_NOT_IP;
}

/* ff00::/8 or fe80::/10: an address that means something on this link only. */
static __always_inline bool ipv6_addr_is_link_scope(const struct in6_addr *a)
{
	return a->in6_u.u6_addr8[0] == 0xff || ipv6_addr_is_link_local(a);
}

/* ::, the source of DAD probes and of MLD reports sent before a link-local address. */
static __always_inline bool ipv6_addr_is_unspecified(const struct in6_addr *a)
{
	const __u32 *w = a->in6_u.u6_addr32;

	return (w[0] | w[1] | w[2] | w[3]) == 0;
}

/* MACs in a frame are 2-byte aligned at best; compare as one u32 and one u16. */
static __always_inline bool mac_equal(const __u8 *a, const __u8 *b)
{
	__u32 a_hi, b_hi;
	__u16 a_lo, b_lo;

	__builtin_memcpy(&a_hi, a, sizeof(a_hi));
	__builtin_memcpy(&b_hi, b, sizeof(b_hi));
	__builtin_memcpy(&a_lo, a + 4, sizeof(a_lo));
	__builtin_memcpy(&b_lo, b + 4, sizeof(b_lo));
	return a_hi == b_hi && a_lo == b_lo;
}

#endif /* STRAIT_PARSE_H */
