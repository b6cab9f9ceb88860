/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The RST a ClusterIP with no ready backend answers a TCP segment with, made in place
 * of the segment (RFC 793 3.4 "Reset Generation", as Linux's tcp_v4_send_reset): to a
 * segment with ACK, seq = its ack and only RST; to one without, seq 0 and ack = its seq
 * plus its length (data, SYN and FIN each count), RST|ACK. No options, no data, window
 * 0. A RST is never answered: two peers would reset each other forever.
 */
#ifndef STRAIT_REJECT_TCP_H
#define STRAIT_REJECT_TCP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "reject_hdr.h"

#define REJECT_TCP_FIN 0x01
#define REJECT_TCP_SYN 0x02
#define REJECT_TCP_RST 0x04
#define REJECT_TCP_ACK 0x10

/* The fixed TCP header (RFC 793 3.1). Not <linux/tcp.h>: its TCP_FLAG_* enum collides
 * with conntrack.h's macros of the same names, and lb.h includes both. */
struct reject_tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff;  /* data offset in 32-bit words, in the high nibble */
	__u8 flags; /* REJECT_TCP_* */
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};
_Static_assert(sizeof(struct reject_tcphdr) == 20, "reject_tcphdr layout");

struct reject_tcp4 {
	struct iphdr ip;
	struct reject_tcphdr tcp;
};

struct reject_tcp6 {
	struct ipv6hdr ip;
	struct reject_tcphdr tcp;
};

union reject_tcp_out {
	struct reject_tcp4 v4;
	struct reject_tcp6 v6;
};

/* th, a segment of l4_len bytes, becomes the header of the RST that answers it (checksum
 * left 0); false: no answer. */
static __always_inline bool reject_tcp_header(struct reject_tcphdr *th, __u32 l4_len)
{
	__u32 hdr_len = (th->doff >> 4) * 4, seq = bpf_ntohl(th->seq);
	__be16 sport = th->source, dport = th->dest;
	__be32 ack_seq = th->ack_seq;
	__u8 flags = th->flags;

	if (flags & REJECT_TCP_RST)
		return false;
	if (hdr_len < sizeof(*th) || hdr_len > l4_len)
		return false;

	*th = (struct reject_tcphdr){
		.source = dport,
		.dest = sport,
		.doff = (sizeof(*th) / 4) << 4,
		.flags = REJECT_TCP_RST,
	};
	if (flags & REJECT_TCP_ACK) {
		th->seq = ack_seq;
	} else {
		seq += l4_len - hdr_len + !!(flags & REJECT_TCP_SYN) + !!(flags & REJECT_TCP_FIN);
		th->ack_seq = bpf_htonl(seq);
		th->flags |= REJECT_TCP_ACK;
	}
	return true;
}

/*
 * The skb cut down to Ethernet, a fresh IP header and the RST's 20 bytes, which hdrs
 * (len bytes: IP and TCP) then fill. The tail goes first: what is left is small, and
 * a partial checksum's start and field (CHECKSUM_PARTIAL) still lie inside it. IPv4
 * options are cut after the fixed header (BPF_ADJ_ROOM_NET).
 */
static __always_inline bool reject_tcp_write(struct __sk_buff *skb, const struct reject_in *in,
					     const void *hdrs, __u32 len)
{
	__u32 fixed = in->family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	__u32 opt_len = in->ip_len - fixed;

	if (bpf_skb_change_tail(skb, in->l4_off + sizeof(struct reject_tcphdr), 0) < 0)
		return false;
	if (opt_len && bpf_skb_adjust_room(skb, -(__s32)opt_len, BPF_ADJ_ROOM_NET, 0) < 0)
		return false;
	return bpf_skb_store_bytes(skb, ETH_HLEN, hdrs, len, BPF_F_RECOMPUTE_CSUM) >= 0;
}

/* The segment in the skb becomes the RST that answers it (Ethernet header aside), built
 * over its own headers; false: no answer. */
static __always_inline bool reject_tcp(struct __sk_buff *skb, const struct reject_in *in,
				       union reject_tcp_out *out)
{
	struct reject_tcphdr *rst;
	const void *addrs;
	__u32 addrs_len, len;
	__s64 sum;

	if (in->l4_len < sizeof(*rst))
		return false;
	if (in->family == 4) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &out->v4.ip, sizeof(out->v4.ip)) < 0)
			return false;
		reject_ip4(&out->v4.ip, &out->v4.ip, IPPROTO_TCP, sizeof(out->v4));
		rst = &out->v4.tcp;
		addrs = &out->v4.ip.saddr;
		addrs_len = 2 * sizeof(out->v4.ip.saddr);
		len = sizeof(out->v4);
	} else {
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &out->v6.ip, sizeof(out->v6.ip)) < 0)
			return false;
		reject_ip6(&out->v6.ip, &out->v6.ip, IPPROTO_TCP, sizeof(out->v6.tcp));
		rst = &out->v6.tcp;
		addrs = &out->v6.ip.saddr;
		addrs_len = 2 * sizeof(out->v6.ip.saddr);
		len = sizeof(out->v6);
	}
	if (bpf_skb_load_bytes(skb, in->l4_off, rst, sizeof(*rst)) < 0)
		return false;
	if (!reject_tcp_header(rst, in->l4_len))
		return false;
	sum = reject_pseudo_sum(addrs, addrs_len, IPPROTO_TCP, sizeof(*rst));
	rst->check = reject_csum_fold(reject_csum_add(rst, sizeof(*rst), sum));
	return reject_tcp_write(skb, in, out, len);
}

#endif /* STRAIT_REJECT_TCP_H */
