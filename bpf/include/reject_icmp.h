/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The port unreachable a ClusterIP with no ready backend answers a UDP datagram with,
 * made in place of the datagram: ICMP destination unreachable code 3 quoting the IP
 * header (options too) and the 8 bytes after it (RFC 792, RFC 1812 4.3.2.3), or ICMPv6
 * destination unreachable code 4 quoting the IPv6 header and 8 bytes (RFC 4443 3.1
 * allows more, up to 1280 bytes in all; the client's stack needs only the ports). The
 * quote stays where it lies: the tail is cut behind it, and room for the new IP and
 * ICMP headers is made in front of it, behind the Ethernet header.
 */
#ifndef STRAIT_REJECT_ICMP_H
#define STRAIT_REJECT_ICMP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "drop.h"
#include "reject_hdr.h"

#define REJECT_ICMP_DEST_UNREACH 3
#define REJECT_ICMP_PORT_UNREACH 3 /* code */
#define REJECT_ICMPV6_DEST_UNREACH 1
#define REJECT_ICMPV6_PORT_UNREACH 4 /* code */

#define REJECT_UDP_HLEN 8
#define REJECT_QUOTE_MAX (60 + REJECT_UDP_HLEN) /* the longest IPv4 header and 8 bytes */

struct reject_icmp4 {
	struct iphdr ip;
	struct reject_icmp_hdr icmp;
};

struct reject_icmp6 {
	struct ipv6hdr ip;
	struct reject_icmp_hdr icmp;
};

/* The skb cut to Ethernet and quote_len bytes, then len bytes of hdrs (IP and ICMP) put
 * between the two. */
static __always_inline int reject_icmp_write(struct __sk_buff *skb, __u32 quote_len,
					     const void *hdrs, __u32 len)
{
	if (bpf_skb_change_tail(skb, ETH_HLEN + quote_len, 0) < 0)
		return -DROP_LB_NO_BACKEND;
	if (bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_MAC, 0) < 0)
		return -DROP_LB_NO_BACKEND;
	if (bpf_skb_store_bytes(skb, ETH_HLEN, hdrs, len, BPF_F_RECOMPUTE_CSUM) < 0)
		return -DROP_LB_NO_BACKEND;
	return 0;
}

/* The datagram in the skb becomes the port unreachable that answers it (Ethernet aside). */
static __always_inline int reject_udp(struct __sk_buff *skb, const struct reject_in *in)
{
	union {
		struct reject_icmp4 v4;
		struct reject_icmp6 v6;
	} out;
	__u8 quote[REJECT_QUOTE_MAX] = {};
	__u32 quote_len = in->ip_len + REJECT_UDP_HLEN, len;
	struct reject_icmp_hdr *icmp;
	__s64 sum = 0;

	if (in->l4_len < REJECT_UDP_HLEN)
		return -DROP_LB_NO_BACKEND;
	/* Bounds the verifier sees: 20..60 bytes of IPv4 header, or IPv6's 40. */
	if (quote_len < sizeof(struct iphdr) + REJECT_UDP_HLEN || quote_len > sizeof(quote))
		return -DROP_LB_NO_BACKEND;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, quote, quote_len) < 0)
		return -DROP_LB_NO_BACKEND;

	if (in->family == 4) {
		reject_ip4(&out.v4.ip, &in->ip4, IPPROTO_ICMP, sizeof(out.v4) + quote_len);
		icmp = &out.v4.icmp;
		*icmp = (struct reject_icmp_hdr){ .type = REJECT_ICMP_DEST_UNREACH,
						  .code = REJECT_ICMP_PORT_UNREACH };
		len = sizeof(out.v4);
	} else {
		/* Only ICMPv6 covers a pseudo-header. */
		__u16 icmp_len = sizeof(*icmp) + quote_len;

		reject_ip6(&out.v6.ip, &in->ip6, IPPROTO_ICMPV6, icmp_len);
		icmp = &out.v6.icmp;
		*icmp = (struct reject_icmp_hdr){ .type = REJECT_ICMPV6_DEST_UNREACH,
						  .code = REJECT_ICMPV6_PORT_UNREACH };
		sum = reject_pseudo_sum(&out.v6.ip.saddr, 2 * sizeof(out.v6.ip.saddr),
					IPPROTO_ICMPV6, icmp_len);
		len = sizeof(out.v6);
	}
	sum = reject_csum_add(icmp, sizeof(*icmp), sum);
	icmp->checksum = reject_csum_fold(reject_csum_add(quote, quote_len, sum));
	return reject_icmp_write(skb, quote_len, &out, len);
}

#endif /* STRAIT_REJECT_ICMP_H */
