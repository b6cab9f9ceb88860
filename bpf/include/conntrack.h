/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking in strait_ct_v1, so that NetworkPolicy is stateful: a packet
 * whose tuple is there (established), whose reversed tuple is there (reply), or an
 * ICMP error about a packet of such a flow (related) skips policy.
 *
 * Ports are read with bpf_skb_load_bytes rather than through packet pointers: the
 * L4 offset depends on the IPv4 header length, an ICMP error's inner packet sits
 * behind two such offsets, and the helper also reads past the linear part of a
 * non-linear skb. A packet too short to hold the ports it claims is malformed.
 *
 * What the tuple does not see, by choice:
 * - A non-first IPv4 fragment carries no L4 header: its ports are 0, so it is a flow
 *   of its own ({saddr, daddr, 0, 0, protocol}) that policy judges as port 0.
 * - IPv6 extension headers are not walked: protocol is the first next-header value
 *   and the ports are 0 unless that is TCP, UDP, SCTP or ICMPv6.
 * - ICMP/ICMPv6 echo uses the identifier as both ports; other informational types
 *   have ports 0. Errors (v4 types 3, 11, 12; v6 types 1-4) match only as related
 *   and never open an entry.
 *
 * Lifetimes are idle times: TCP 6 h, everything else 120 s; an expired entry is a
 * miss (the LRU reclaims it). last_seen is rewritten at most once a second so that
 * a busy flow does not write its cache line on every packet.
 */
#ifndef STRAIT_CONNTRACK_H
#define STRAIT_CONNTRACK_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "drop.h"
#include "maps.h"
#include "parse.h"

#define CT_LIFETIME_TCP_NS (6ULL * 3600 * 1000000000ULL)
#define CT_LIFETIME_OTHER_NS (120ULL * 1000000000ULL)
#define CT_REFRESH_NS 1000000000ULL

#define IPV4_FRAG_OFFSET_MASK 0x1fff

/*
 * <linux/icmp.h> drags in libc headers that -target bpf cannot build; the ICMP and
 * ICMPv6 headers are 8 bytes before the quoted packet of an error.
 */
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PARAMPROB 4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129
#define ICMP_HDR_LEN 8

enum ct_status {
	CT_NEW = 0,
	CT_ESTABLISHED,
	CT_REPLY,
	CT_RELATED,
};

/* One packet's place in conntrack, from ct_extract() to ct_create(). */
struct flow {
	struct ct_key tuple;  /* this packet's tuple: the key of the entry it opens */
	__u64 now;            /* bpf_ktime_get_ns() at lookup, reused for the entry */
	__u32 inner_off;      /* ICMP error: offset of the embedded IP header */
	__be16 policy_dport;  /* the port policy sees: 0 for protocols without ports */
	bool icmp_error;
	__u32 hit_flags;      /* CT_F_* of the entry ct_lookup() found */
};

/* The first bytes of every L4 header we read: ports, or ICMP type/code/id. */
struct l4_head {
	union {
		struct {
			__be16 sport;
			__be16 dport;
		};
		struct {
			__u8 type;
			__u8 code;
			__sum16 checksum;
			__be16 echo_id;
		};
	};
};

static __always_inline bool proto_has_ports(__u8 protocol)
{
	return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_SCTP;
}

static __always_inline bool icmp_is_echo(__u8 family, __u8 type)
{
	if (family == 4)
		return type == ICMP_ECHO || type == ICMP_ECHOREPLY;
	return type == ICMPV6_ECHO_REQUEST || type == ICMPV6_ECHO_REPLY;
}

static __always_inline bool icmp_is_error(__u8 family, __u8 type)
{
	if (family == 4)
		return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
	return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMPROB;
}

static __always_inline bool is_icmp(__u8 family, __u8 protocol)
{
	return (family == 4 && protocol == IPPROTO_ICMP) || (family == 6 && protocol == IPPROTO_ICMPV6);
}

/*
 * Fills the ports of key (addresses, family and protocol already set) from the L4
 * header at off. Returns 1 for an ICMP error, 0 otherwise, or -DROP_MALFORMED when
 * the header is cut short.
 */
static __always_inline int ct_read_ports(struct __sk_buff *skb, __u32 off, struct ct_key *key)
{
	struct l4_head l4;

	if (proto_has_ports(key->protocol)) {
		if (bpf_skb_load_bytes(skb, off, &l4, 4) < 0)
			return -DROP_MALFORMED;
		key->sport = l4.sport;
		key->dport = l4.dport;
		return 0;
	}
	if (!is_icmp(key->family, key->protocol))
		return 0;
	if (bpf_skb_load_bytes(skb, off, &l4, sizeof(l4)) < 0)
		return -DROP_MALFORMED;
	if (icmp_is_echo(key->family, l4.type)) {
		key->sport = l4.echo_id;
		key->dport = l4.echo_id;
		return 0;
	}
	return icmp_is_error(key->family, l4.type) ? 1 : 0;
}

/* pkt must have passed parse_ipv4() or parse_ipv6(). */
static __always_inline int ct_extract(struct __sk_buff *skb, const struct packet *pkt, struct flow *f)
{
	struct ct_key *t = &f->tuple;
	__u32 l4_off;
	int ret;

	*f = (struct flow){};
	if (pkt->l3_proto == ETH_P_IP) {
		t->saddr[0] = pkt->ip4->saddr;
		t->daddr[0] = pkt->ip4->daddr;
		t->protocol = pkt->ip4->protocol;
		t->family = 4;
		if (pkt->ip4->frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK))
			return 0;
		l4_off = ETH_HLEN + pkt->ip4->ihl * 4;
	} else {
		__builtin_memcpy(t->saddr, &pkt->ip6->saddr, sizeof(t->saddr));
		__builtin_memcpy(t->daddr, &pkt->ip6->daddr, sizeof(t->daddr));
		t->protocol = pkt->ip6->nexthdr;
		t->family = 6;
		l4_off = ETH_HLEN + sizeof(struct ipv6hdr);
	}

	ret = ct_read_ports(skb, l4_off, t);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		f->icmp_error = true;
		f->inner_off = l4_off + ICMP_HDR_LEN;
	}
	if (proto_has_ports(t->protocol))
		f->policy_dport = t->dport;
	return 0;
}

static __always_inline void ct_key_reverse(struct ct_key *rev, const struct ct_key *key)
{
	*rev = (struct ct_key){
		.sport = key->dport,
		.dport = key->sport,
		.protocol = key->protocol,
		.family = key->family,
	};
	__builtin_memcpy(rev->saddr, key->daddr, sizeof(rev->saddr));
	__builtin_memcpy(rev->daddr, key->saddr, sizeof(rev->daddr));
}

static __always_inline bool ipv6_addr_equal(const __u32 *a, const __u32 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0;
}

static __always_inline __u64 ct_lifetime(__u8 protocol)
{
	return protocol == IPPROTO_TCP ? CT_LIFETIME_TCP_NS : CT_LIFETIME_OTHER_NS;
}

/*
 * A live entry for key: refreshed (at most once a second) and marked with flag.
 * last_seen may be a little ahead of now when another CPU refreshed it between our
 * clock read and this lookup; that counts as fresh, not as an unsigned wrap.
 */
static __always_inline bool ct_hit(const struct ct_key *key, __u64 now, __u32 flag, __u32 *flags_out)
{
	struct ct_value *v = bpf_map_lookup_elem(&strait_ct_v1, key);
	__u64 last;

	if (!v)
		return false;
	*flags_out = v->flags;
	last = v->last_seen_ns;
	if (now > last && now - last > ct_lifetime(key->protocol))
		return false;
	if (now > last && now - last >= CT_REFRESH_NS)
		v->last_seen_ns = now;
	if (flag && !(v->flags & flag))
		v->flags |= flag;
	return true;
}

/*
 * The packet an ICMP error quotes, as its sender sent it. The error must go back to
 * that sender (inner source = outer destination): nobody else may receive errors
 * about a flow. False when the quote is unreadable: the error is then not related.
 */
static __always_inline bool ct_inner_tuple(struct __sk_buff *skb, const struct flow *f, struct ct_key *inner)
{
	__u32 l4_off;

	*inner = (struct ct_key){ .family = f->tuple.family };
	if (f->tuple.family == 4) {
		struct iphdr ip4;

		if (bpf_skb_load_bytes(skb, f->inner_off, &ip4, sizeof(ip4)) < 0)
			return false;
		if (ip4.version != 4 || ip4.ihl < 5 || ip4.saddr != f->tuple.daddr[0])
			return false;
		inner->saddr[0] = ip4.saddr;
		inner->daddr[0] = ip4.daddr;
		inner->protocol = ip4.protocol;
		if (ip4.frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK))
			return true;
		l4_off = f->inner_off + ip4.ihl * 4;
	} else {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, f->inner_off, &ip6, sizeof(ip6)) < 0)
			return false;
		if (ip6.version != 6 || !ipv6_addr_equal(ip6.saddr.in6_u.u6_addr32, f->tuple.daddr))
			return false;
		__builtin_memcpy(inner->saddr, &ip6.saddr, sizeof(inner->saddr));
		__builtin_memcpy(inner->daddr, &ip6.daddr, sizeof(inner->daddr));
		inner->protocol = ip6.nexthdr;
		l4_off = f->inner_off + sizeof(struct ipv6hdr);
	}
	/* An error about an error is never generated (RFC 1122, 4443): reject it too. */
	return ct_read_ports(skb, l4_off, inner) == 0;
}

/* The quoted packet belongs to a live flow, in either of its directions. */
static __always_inline bool ct_related(struct __sk_buff *skb, struct flow *f)
{
	struct ct_key inner, rev;

	if (!ct_inner_tuple(skb, f, &inner))
		return false;
	if (ct_hit(&inner, f->now, 0, &f->hit_flags))
		return true;
	ct_key_reverse(&rev, &inner);
	return ct_hit(&rev, f->now, 0, &f->hit_flags);
}

static __always_inline enum ct_status ct_lookup(struct __sk_buff *skb, struct flow *f)
{
	struct ct_key rev;

	f->now = bpf_ktime_get_ns();
	if (f->icmp_error)
		return ct_related(skb, f) ? CT_RELATED : CT_NEW;
	if (ct_hit(&f->tuple, f->now, 0, &f->hit_flags))
		return CT_ESTABLISHED;
	ct_key_reverse(&rev, &f->tuple);
	if (ct_hit(&rev, f->now, CT_F_REPLY_SEEN, &f->hit_flags))
		return CT_REPLY;
	return CT_NEW;
}

/*
 * Opens (or, over an expired one, reopens) the entry of a new connection. A failed
 * write (the map cannot allocate) costs only statefulness: this packet was allowed,
 * its replies then face policy like new connections.
 */
static __always_inline void ct_create(const struct flow *f, __u32 rule_id, __u32 flags)
{
	struct ct_value v = { .last_seen_ns = f->now, .flags = flags, .rule_id = rule_id };

	if (f->icmp_error)
		return;
	bpf_map_update_elem(&strait_ct_v1, &f->tuple, &v, BPF_ANY);
}

#endif /* STRAIT_CONNTRACK_H */
