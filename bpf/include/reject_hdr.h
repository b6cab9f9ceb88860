/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the answers of reject.h are made of: the packet they answer, read once before
 * the skb is rewritten, fresh IPv4 and IPv6 headers from the ClusterIP back to the
 * client, and checksums computed from scratch with bpf_csum_diff() over the answer's
 * own bytes on the stack. Nothing of the packet's checksums is reused: every header
 * is new, and a pod's TCP and UDP checksums are mostly only partial anyway (the veth
 * offers checksum offload, so they leave the pod as CHECKSUM_PARTIAL).
 */
#ifndef STRAIT_REJECT_HDR_H
#define STRAIT_REJECT_HDR_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"

#define REJECT_HOP_LIMIT 64 /* TTL and hop limit of an answer: Linux's default */
#define REJECT_IP_DF 0x4000 /* IPv4 frag_off: don't fragment (host order) */

/* The packet being answered, as it arrived: its lengths. Its headers are loaded by each
 * step into the buffer it builds the answer in, and turned into the answer's there. */
struct reject_in {
	__u32 l4_off;  /* the L4 header's offset in the frame */
	__u32 l4_len;  /* the IP datagram's bytes from there on (its length field's word) */
	__u32 ip_len;  /* the IP header's length, IPv4 options included */
	__u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;   /* 4 or 6 */
};

/* An IP header of either family. */
union reject_ip {
	struct iphdr v4;
	struct ipv6hdr v6;
};

/* An ICMP or ICMPv6 error header (RFC 792, 4443): 8 bytes, then the quoted packet. */
struct reject_icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 unused;
};

static __always_inline __sum16 reject_csum_fold(__s64 csum)
{
	__u32 sum = (__u32)csum;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__sum16)~sum;
}

/* seed plus the one's complement sum of len bytes at buf (len a multiple of 4). */
static __always_inline __s64 reject_csum_add(const void *buf, __u32 len, __s64 seed)
{
	return bpf_csum_diff(NULL, 0, (__be32 *)buf, len, (__wsum)seed);
}

/*
 * The sum of an L4 pseudo-header (RFC 793, 768; RFC 8200 8.1): the two addresses as
 * they lie in the answer's IP header (addrs, 8 or 32 bytes), then protocol and length.
 * IPv6's 32-bit length and zero-padded next header sum to the same 16-bit words as
 * IPv4's protocol and 16-bit length for any length below 64 KiB, so one word does both.
 */
static __always_inline __s64 reject_pseudo_sum(const void *addrs, __u32 addrs_len, __u8 proto,
					       __u16 len)
{
	__be32 word = bpf_htonl(((__u32)proto << 16) | len);

	return reject_csum_add(&word, sizeof(word), reject_csum_add(addrs, addrs_len, 0));
}

/* A fresh IPv4 header from the destination of in (the packet's header, ip itself
 * allowed) back to its source. */
static __always_inline void reject_ip4(struct iphdr *ip, const struct iphdr *in, __u8 proto,
				       __u16 tot_len)
{
	*ip = (struct iphdr){
		.version = 4,
		.ihl = sizeof(*ip) / 4,
		.tot_len = bpf_htons(tot_len),
		.frag_off = bpf_htons(REJECT_IP_DF),
		.ttl = REJECT_HOP_LIMIT,
		.protocol = proto,
		.saddr = in->daddr,
		.daddr = in->saddr,
	};
	ip->check = reject_csum_fold(reject_csum_add(ip, sizeof(*ip), 0));
}

/* The same for IPv6 (no flow label). */
static __always_inline void reject_ip6(struct ipv6hdr *ip, const struct ipv6hdr *in, __u8 nexthdr,
				       __u16 payload_len)
{
	*ip = (struct ipv6hdr){
		.version = 6,
		.payload_len = bpf_htons(payload_len),
		.nexthdr = nexthdr,
		.hop_limit = REJECT_HOP_LIMIT,
		.saddr = in->daddr,
		.daddr = in->saddr,
	};
}

#endif /* STRAIT_REJECT_HDR_H */
