/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Rewriting one end (address and port) of a TCP, UDP or SCTP packet, with the
 * checksums that cover it kept right incrementally: the IPv4 header checksum, and
 * the TCP/UDP checksum whose pseudo-header holds the addresses (RFC 1624 updates,
 * by the kernel's csum helpers, which also keep CHECKSUM_PARTIAL and _COMPLETE
 * skbs consistent). A UDP/IPv4 checksum of 0 (none) stays 0 (BPF_F_MARK_MANGLED_0).
 * SCTP's CRC32c covers the ports but no pseudo-header: its address changes, its
 * ports never do (the agent writes no SCTP backend whose port differs), and its
 * CRC stays right untouched.
 *
 * Every helper here invalidates the packet pointers: the caller parses again.
 */
#ifndef STRAIT_NAT_H
#define STRAIT_NAT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "drop.h"
#include "maps.h"

#define NAT_TCP_CSUM_OFF 16
#define NAT_UDP_CSUM_OFF 6

/* Offset of the L4 checksum that covers the pseudo-header, or 0 for none (SCTP). */
static __always_inline __u32 nat_csum_off(__u8 protocol, __u32 l4_off)
{
	if (protocol == IPPROTO_TCP)
		return l4_off + NAT_TCP_CSUM_OFF;
	if (protocol == IPPROTO_UDP)
		return l4_off + NAT_UDP_CSUM_OFF;
	return 0;
}

static __always_inline __u64 nat_l4_flags(__u8 protocol)
{
	return protocol == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
}

/* t: the packet's tuple as it is now; dst: rewrite the destination, else the source. */
static __always_inline int nat_addr(struct __sk_buff *skb, const struct ct_key *t, __u32 l4_off,
				    bool dst, const __u32 *to)
{
	const __u32 *from = dst ? t->daddr : t->saddr;
	__u32 csum_off = nat_csum_off(t->protocol, l4_off);
	__u64 l4_flags = BPF_F_PSEUDO_HDR | nat_l4_flags(t->protocol);
	__u32 off;
	__s64 diff;

	if (t->family == 4) {
		off = ETH_HLEN + (dst ? __builtin_offsetof(struct iphdr, daddr) :
					__builtin_offsetof(struct iphdr, saddr));
		if (csum_off && bpf_l4_csum_replace(skb, csum_off, from[0], to[0],
						    l4_flags | sizeof(__u32)) < 0)
			return -DROP_MALFORMED;
		if (bpf_l3_csum_replace(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, check),
					from[0], to[0], sizeof(__u32)) < 0)
			return -DROP_MALFORMED;
		if (bpf_skb_store_bytes(skb, off, &to[0], sizeof(__u32), 0) < 0)
			return -DROP_MALFORMED;
		return 0;
	}
	off = ETH_HLEN + (dst ? __builtin_offsetof(struct ipv6hdr, daddr) :
				__builtin_offsetof(struct ipv6hdr, saddr));
	if (csum_off) {
		diff = bpf_csum_diff((__be32 *)from, 16, (__be32 *)to, 16, 0);
		if (diff < 0 || bpf_l4_csum_replace(skb, csum_off, 0, diff, l4_flags) < 0)
			return -DROP_MALFORMED;
	}
	if (bpf_skb_store_bytes(skb, off, to, 16, 0) < 0)
		return -DROP_MALFORMED;
	return 0;
}

static __always_inline int nat_port(struct __sk_buff *skb, const struct ct_key *t, __u32 l4_off,
				    bool dst, __be16 to)
{
	__be16 from = dst ? t->dport : t->sport;
	__u32 csum_off = nat_csum_off(t->protocol, l4_off);

	if (from == to || !csum_off)
		return 0;
	if (bpf_l4_csum_replace(skb, csum_off, from, to,
				nat_l4_flags(t->protocol) | sizeof(__be16)) < 0)
		return -DROP_MALFORMED;
	if (bpf_skb_store_bytes(skb, l4_off + (dst ? 2 : 0), &to, sizeof(to), 0) < 0)
		return -DROP_MALFORMED;
	return 0;
}

/* One end of the packet of tuple t (its L4 header at l4_off) becomes addr:port. */
static __always_inline int nat_rewrite(struct __sk_buff *skb, const struct ct_key *t, __u32 l4_off,
				       bool dst, const __u32 *addr, __be16 port)
{
	int ret = nat_addr(skb, t, l4_off, dst, addr);

	if (ret < 0)
		return ret;
	return nat_port(skb, t, l4_off, dst, port);
}

#endif /* STRAIT_NAT_H */
