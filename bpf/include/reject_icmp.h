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
#include "reject_hdr.h"

#define REJECT_ICMP_DEST_UNREACH 3
#define REJECT_ICMP_PORT_UNREACH 3 /* code */
#define REJECT_ICMPV6_DEST_UNREACH 1
#define REJECT_ICMPV6_PORT_UNREACH 4 /* code */

#define REJECT_UDP_HLEN 8
#define REJECT_QUOTE_MAX (60 + REJECT_UDP_HLEN) /* the longest IPv4 header and 8 bytes */

/* The answer's headers with the quote behind them, as in the packet: one checksum covers
 * the ICMP header and the quote. */
struct reject_icmp4 {
	struct iphdr ip;
	struct reject_icmp_hdr icmp;
	union {
		struct iphdr ip;
		__u8 bytes[REJECT_QUOTE_MAX];
	} quote;
};

struct reject_icmp6 {
	struct ipv6hdr ip;
	struct reject_icmp_hdr icmp;
	union {
		struct ipv6hdr ip;
		__u8 bytes[sizeof(struct ipv6hdr) + REJECT_UDP_HLEN];
	} quote;
};

union reject_icmp_out {
	struct reject_icmp4 v4;
	struct reject_icmp6 v6;
};

/* The skb cut to Ethernet and quote_len bytes, then len bytes of hdrs (IP and ICMP) put
 * between the two. */
static __always_inline bool reject_icmp_write(struct __sk_buff *skb, __u32 quote_len,
					      const void *hdrs, __u32 len)
{
	if (bpf_skb_change_tail(skb, ETH_HLEN + quote_len, 0) < 0)
		return false;
	if (bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_MAC, 0) < 0)
		return false;
	return bpf_skb_store_bytes(skb, ETH_HLEN, hdrs, len, BPF_F_RECOMPUTE_CSUM) >= 0;
}

/* The datagram in the skb becomes the port unreachable that answers it (Ethernet aside);
 * false: no answer. */
static __always_inline bool reject_udp(struct __sk_buff *skb, const struct reject_in *in,
				       union reject_icmp_out *out)
{
	__u32 quote_len = in->ip_len + REJECT_UDP_HLEN, hdrs_len;
	struct reject_icmp_hdr *icmp;
	__s64 sum = 0;

	if (in->l4_len < REJECT_UDP_HLEN)
		return false;
	/* Bounds the verifier sees: 20..60 bytes of IPv4 header, or IPv6's 40. */
	if (quote_len < sizeof(struct iphdr) + REJECT_UDP_HLEN || quote_len > REJECT_QUOTE_MAX)
		return false;
	/* The checksum reads up to the longest quote: the bytes past this one's must be set. */
	__builtin_memset(out, 0, sizeof(*out));

	if (in->family == 4) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN, out->v4.quote.bytes, quote_len) < 0)
			return false;
		reject_ip4(&out->v4.ip, &out->v4.quote.ip, IPPROTO_ICMP,
			   __builtin_offsetof(struct reject_icmp4, quote) + quote_len);
		icmp = &out->v4.icmp;
		*icmp = (struct reject_icmp_hdr){ .type = REJECT_ICMP_DEST_UNREACH,
						  .code = REJECT_ICMP_PORT_UNREACH };
		hdrs_len = __builtin_offsetof(struct reject_icmp4, quote);
	} else {
		/* Only ICMPv6 covers a pseudo-header. */
		__u16 icmp_len = sizeof(*icmp) + sizeof(out->v6.quote);

		quote_len = sizeof(out->v6.quote); /* the same, as a constant */
		if (bpf_skb_load_bytes(skb, ETH_HLEN, out->v6.quote.bytes, quote_len) < 0)
			return false;
		reject_ip6(&out->v6.ip, &out->v6.quote.ip, IPPROTO_ICMPV6, icmp_len);
		icmp = &out->v6.icmp;
		*icmp = (struct reject_icmp_hdr){ .type = REJECT_ICMPV6_DEST_UNREACH,
						  .code = REJECT_ICMPV6_PORT_UNREACH };
		sum = reject_pseudo_sum(&out->v6.ip.saddr, 2 * sizeof(out->v6.ip.saddr),
					IPPROTO_ICMPV6, icmp_len);
		hdrs_len = __builtin_offsetof(struct reject_icmp6, quote);
	}
	/* The ICMP header and the quote lie end to end. */
	icmp->checksum = reject_csum_fold(reject_csum_add(icmp, sizeof(*icmp) + quote_len, sum));
	return reject_icmp_write(skb, quote_len, out, hdrs_len);
}

#endif /* STRAIT_REJECT_ICMP_H */
