/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Undoing a DNAT inside an ICMP or ICMPv6 error (a port unreachable from a backend,
 * a fragmentation needed or packet too big on the way): the error quotes the packet
 * as translated, so its quoted destination (address and port) is rewritten back,
 * and its outer source too when the backend itself sent it. Every checksum that
 * covers a changed byte follows: the quoted IPv4 header's and the quoted TCP/UDP
 * checksum (computed here, RFC 1624, whatever the skb's checksum state: it is
 * payload), then the ICMP checksum over all of them, and the outer IPv4 header's
 * (ICMPv6: the outer source is in its pseudo-header). A quoted TCP header cut before
 * its checksum is left as quoted.
 *
 * Every helper here invalidates the packet pointers: the caller parses again.
 */
#ifndef STRAIT_NAT_ICMP_H
#define STRAIT_NAT_ICMP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "conntrack.h"
#include "drop.h"
#include "maps.h"
#include "nat.h"

/* The packet an error quotes, where NAT needs it. */
struct nat_quote {
	struct ct_key reply; /* the quoted packet's tuple reversed: as its answer travels */
	__u32 icmp_off;      /* the ICMP header of the error */
	__u32 ip_off;        /* the quoted IP header */
	__u32 l4_off;        /* the quoted L4 header */
};

/* The words of an address and the two ports, as a checksum sees them. */
struct nat_words {
	__u32 addr[4];
	__be16 ports[2];
};

/*
 * The quote of the error whose ICMP header is at icmp_off (family's), when it is a
 * first fragment or unfragmented TCP, UDP or SCTP packet: 1, else 0.
 */
static __always_inline int nat_read_quote(struct __sk_buff *skb, __u8 family, __u32 icmp_off,
					  struct nat_quote *q)
{
	struct ct_key *t = &q->reply;
	__be16 ports[2];

	*q = (struct nat_quote){ .reply = { .family = family },
				 .icmp_off = icmp_off,
				 .ip_off = icmp_off + ICMP_HDR_LEN };
	if (family == 4) {
		struct iphdr ip4;

		if (bpf_skb_load_bytes(skb, q->ip_off, &ip4, sizeof(ip4)) < 0)
			return 0;
		if (ip4.version != 4 || ip4.ihl < 5 ||
		    (ip4.frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK)))
			return 0;
		t->saddr[0] = ip4.daddr;
		t->daddr[0] = ip4.saddr;
		t->protocol = ip4.protocol;
		q->l4_off = q->ip_off + ip4.ihl * 4;
	} else {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, q->ip_off, &ip6, sizeof(ip6)) < 0 || ip6.version != 6)
			return 0;
		__builtin_memcpy(t->saddr, &ip6.daddr, sizeof(t->saddr));
		__builtin_memcpy(t->daddr, &ip6.saddr, sizeof(t->daddr));
		t->protocol = ip6.nexthdr;
		q->l4_off = q->ip_off + sizeof(struct ipv6hdr);
	}
	if (!proto_has_ports(t->protocol) ||
	    bpf_skb_load_bytes(skb, q->l4_off, ports, sizeof(ports)) < 0)
		return 0;
	t->sport = ports[1];
	t->dport = ports[0];
	return 1;
}

/* RFC 1624 (eqn. 3): checksum `check` once the size bytes at from are those at to. */
static __always_inline __sum16 nat_csum_update(__sum16 check, void *from, void *to, __u32 size)
{
	__s64 sum = bpf_csum_diff(from, size, to, size, (__u16)~check);
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__sum16)~s;
}

/* A 16-bit word of the error's payload at off becomes `to`, the ICMP checksum following. */
static __always_inline int nat_icmp_store16(struct __sk_buff *skb, const struct nat_quote *q,
					    __u32 off, __u16 from, __u16 to)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, q->icmp_off + 2, from, to, sizeof(__u16)) < 0 ||
	    bpf_skb_store_bytes(skb, off, &to, sizeof(to), 0) < 0)
		return -DROP_MALFORMED;
	return 0;
}

/* The quoted destination becomes addr:port, the quoted checksums following. */
static __always_inline int nat_quote_dst(struct __sk_buff *skb, const struct nat_quote *q,
					 const __u32 *addr, __be16 port)
{
	const struct ct_key *t = &q->reply; /* quoted: t->daddr:dport -> t->saddr:sport */
	__u32 alen = t->family == 4 ? 4 : 16;
	__u32 csum_off = nat_csum_off(t->protocol, q->l4_off);
	__u32 daddr_off = q->ip_off + (t->family == 4 ? __builtin_offsetof(struct iphdr, daddr) :
							__builtin_offsetof(struct ipv6hdr, daddr));
	struct nat_words from = { .ports = { t->dport, t->sport } };
	struct nat_words to = { .ports = { t->dport,
					   t->protocol == IPPROTO_SCTP ? t->sport : port } };
	__sum16 old, new;
	__s64 diff;
	int ret;

	__builtin_memcpy(from.addr, t->saddr, sizeof(from.addr));
	__builtin_memcpy(to.addr, addr, sizeof(to.addr));
	if (t->family == 4) {
		if (bpf_skb_load_bytes(skb, q->ip_off + __builtin_offsetof(struct iphdr, check),
				       &old, sizeof(old)) < 0)
			return -DROP_MALFORMED;
		new = nat_csum_update(old, from.addr, to.addr, sizeof(__u32));
		ret = nat_icmp_store16(skb, q, q->ip_off + __builtin_offsetof(struct iphdr, check),
				       old, new);
		if (ret < 0)
			return ret;
	}
	if (csum_off && bpf_skb_load_bytes(skb, csum_off, &old, sizeof(old)) == 0 &&
	    !(t->protocol == IPPROTO_UDP && t->family == 4 && old == 0)) {
		new = nat_csum_update(old, &from, &to, sizeof(from));
		if (t->protocol == IPPROTO_UDP && new == 0)
			new = 0xffff;
		ret = nat_icmp_store16(skb, q, csum_off, old, new);
		if (ret < 0)
			return ret;
	}
	ret = nat_icmp_store16(skb, q, q->l4_off + 2, t->sport, to.ports[1]);
	if (ret < 0)
		return ret;
	diff = bpf_csum_diff((__be32 *)from.addr, alen, (__be32 *)to.addr, alen, 0);
	if (diff < 0 || bpf_l4_csum_replace(skb, q->icmp_off + 2, 0, diff, 0) < 0 ||
	    bpf_skb_store_bytes(skb, daddr_off, to.addr, alen, 0) < 0)
		return -DROP_MALFORMED;
	return 0;
}

/* The error's outer source (ICMP header at icmp_off, tuple t as it is) becomes addr. */
static __always_inline int nat_icmp_src(struct __sk_buff *skb, const struct ct_key *t,
					__u32 icmp_off, const __u32 *addr)
{
	__s64 diff;

	if (t->family == 4) {
		if (bpf_l3_csum_replace(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, check),
					t->saddr[0], addr[0], sizeof(__u32)) < 0 ||
		    bpf_skb_store_bytes(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, saddr),
					addr, sizeof(__u32), 0) < 0)
			return -DROP_MALFORMED;
		return 0;
	}
	diff = bpf_csum_diff((__be32 *)t->saddr, 16, (__be32 *)addr, 16, 0);
	if (diff < 0 || bpf_l4_csum_replace(skb, icmp_off + 2, 0, diff, BPF_F_PSEUDO_HDR) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN + __builtin_offsetof(struct ipv6hdr, saddr), addr, 16,
				0) < 0)
		return -DROP_MALFORMED;
	return 0;
}

#endif /* STRAIT_NAT_ICMP_H */
