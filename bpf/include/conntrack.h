/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking, so that NetworkPolicy is stateful: a packet whose tuple is
 * known (established), whose reversed tuple is known (reply), or an ICMP error about
 * a packet of such a flow (related) skips policy.
 *
 * Two tables with the same key and value (maps.h). A new connection's entry goes to
 * strait_ct_pending_v1; the first packet of the other direction moves it to
 * strait_ct_v1 (STAT_CT_PROMOTED). So a pod that sprays new tuples (SYNs, UDP
 * queries nobody answers) evicts only other unanswered entries, never an answered
 * connection's. Lookups: strait_ct_v1 by the tuple, then by the reversed tuple, then
 * the pending table the same way; an established flow in its opening direction
 * costs one lookup, as before.
 *
 * Lifetimes are idle times: TCP closed (RST, or FIN from both sides) 10 s; not
 * answered yet 60 s; answered TCP 6 h; answered others 120 s. An expired entry is a
 * miss (the LRU reclaims it). last_seen is rewritten at most once a second so a
 * busy flow does not write its cache line on every packet; TCP flags are read on
 * every packet but written only for FIN and RST.
 *
 * A TCP SYN without ACK is never a reply (a connection is opened from its own
 * side), and a SYN on a closed entry's tuple is a new connection: both face policy.
 * A RST answers nothing: it closes a pending entry but does not promote it.
 *
 * The agent cuts a connection policy no longer allows by marking its entry
 * CT_F_REVOKED (src/agent/conntrack.ts), not by deleting it: its packets, both
 * ways, are then DROP_CT_REVOKED (and keep the entry alive) until it idles out or a
 * SYN reopens the tuple under policy. A deleted entry would be recreated by the
 * next mid-stream packet (policy.h) whenever policy allows the reverse direction.
 *
 * The tuple is the real L4 one:
 * - IPv6 extension headers are walked (ipv6_ext.h), so the protocol is the L4
 *   protocol behind them and never an extension header (no ports-0 entry of
 *   protocol 0/43/44/60/51 is created or matched).
 * - A later IPv4 or IPv6 fragment takes its first fragment's ports (frag.h); one
 *   whose first fragment did not pass is dropped.
 * - ICMP/ICMPv6 echo uses the identifier as both ports; other informational types
 *   have ports 0. Errors (v4 types 3, 11, 12; v6 types 1-4) match only as related
 *   and never open an entry.
 *
 * Ports are read with bpf_skb_load_bytes rather than through packet pointers: the
 * L4 offset depends on header lengths, an ICMP error's inner packet sits behind two
 * of them, and the helper also reads past the linear part of a non-linear skb. A
 * packet too short to hold the ports it claims is malformed.
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
#include "frag.h"
#include "identity.h"
#include "ipv6_ext.h"
#include "maps.h"
#include "parse.h"

#define CT_LIFETIME_TCP_NS (6ULL * 3600 * 1000000000ULL)
#define CT_LIFETIME_OTHER_NS (120ULL * 1000000000ULL)
#define CT_LIFETIME_PENDING_NS (60ULL * 1000000000ULL)
#define CT_LIFETIME_CLOSED_NS (10ULL * 1000000000ULL)
#define CT_REFRESH_NS 1000000000ULL

#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV4_FRAG_MORE 0x2000

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

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

/* In the hit flags policy_enforce() hands back, never stored: the packet went against
 * its entry's direction (a reply), or is an error to the side that opened it. */
#define CT_HIT_REPLY (1U << 30)

enum ct_status {
	CT_NEW = 0,
	CT_ESTABLISHED,
	CT_REPLY,
	CT_RELATED,
	CT_REVOKED, /* an entry the agent cut (CT_F_REVOKED): drop */
};

/* One packet's place in conntrack, from ct_extract() to ct_create(). */
struct flow {
	struct ct_key tuple; /* this packet's tuple: the key of the entry it opens */
	__u64 now;           /* bpf_ktime_get_ns() at lookup, reused for the entry */
	__u32 inner_off;     /* ICMP error: offset of the embedded IP header */
	__be16 policy_dport; /* the port policy sees: 0 for protocols without ports */
	bool icmp_error;
	bool error_fragment; /* a later fragment of an ICMP error whose first passed */
	bool has_tcp_header; /* TCP, and not a later fragment */
	bool echo_request;   /* an ICMP/ICMPv6 echo request */
	__u8 tcp_flags;
	bool promoted;        /* this packet moved its entry to strait_ct_v1 */
	bool reopen;          /* a SYN on a closed entry's tuple: that entry is replaced */
	bool error_to_opener; /* related: an error about a packet the connection's opener sent */
	__u8 ev_flags;        /* FLOW_EV_F_* of this packet's record: what it changed in its
			       * entry (no FLOW_EV_F_STATE_MASK bit: nothing, no record), or
			       * what opened it (policy.h) */
	struct frag_info frag;
	__u32 hit_flags; /* CT_F_* of the entry ct_lookup() found */
};

/* The first bytes of every L4 header we read: TCP up to its flags, UDP/SCTP ports, or ICMP
 * type/code/id. */
struct l4_head {
	union {
		struct {
			__be16 sport;
			__be16 dport;
			__be32 seq;
			__be32 ack_seq;
			__u8 doff;
			__u8 flags;
		} tcp;
		struct {
			__u8 type;
			__u8 code;
			__sum16 checksum;
			__be16 echo_id;
		} icmp;
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
		return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
		       type == ICMP_PARAMETERPROB;
	return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMPROB;
}

static __always_inline bool is_icmp(__u8 family, __u8 protocol)
{
	return (family == 4 && protocol == IPPROTO_ICMP) ||
	       (family == 6 && protocol == IPPROTO_ICMPV6);
}

/* What ct_read_l4() found, besides the ports. */
enum ct_l4_kind {
	CT_L4_PLAIN = 0,
	CT_L4_ICMP_ERROR = 1,
	CT_L4_ECHO_REQUEST = 2, /* opens an echo exchange, as a SYN opens TCP */
};

/*
 * Fills the ports of key (addresses, family and protocol already set) from the L4
 * header at off, and the TCP flags. Returns an enum ct_l4_kind, or -DROP_MALFORMED
 * when the header is cut short.
 */
static __always_inline int ct_read_l4(struct __sk_buff *skb, __u32 off, struct ct_key *key,
				      __u8 *tcp_flags)
{
	struct l4_head l4;

	if (key->protocol == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, off, &l4, 14) < 0)
			return -DROP_MALFORMED;
		*tcp_flags = l4.tcp.flags;
	} else if (proto_has_ports(key->protocol)) {
		if (bpf_skb_load_bytes(skb, off, &l4, 4) < 0)
			return -DROP_MALFORMED;
	} else if (is_icmp(key->family, key->protocol)) {
		if (bpf_skb_load_bytes(skb, off, &l4, 8) < 0)
			return -DROP_MALFORMED;
		if (icmp_is_echo(key->family, l4.icmp.type)) {
			key->sport = l4.icmp.echo_id;
			key->dport = l4.icmp.echo_id;
			return l4.icmp.type == ICMP_ECHO || l4.icmp.type == ICMPV6_ECHO_REQUEST ?
				       CT_L4_ECHO_REQUEST :
				       CT_L4_PLAIN;
		}
		return icmp_is_error(key->family, l4.icmp.type) ? CT_L4_ICMP_ERROR : CT_L4_PLAIN;
	} else {
		return 0;
	}
	key->sport = l4.tcp.sport;
	key->dport = l4.tcp.dport;
	return 0;
}

/*
 * IPv6: the L4 protocol and offset behind the extension headers, and the fragment
 * header's facts. *nexthdr and *off start as the fixed header's.
 */
static __always_inline int ct_ipv6_l4(struct __sk_buff *skb, __u32 *off, __u8 *nexthdr,
				      struct frag_info *fi)
{
	struct ipv6_frag fh = {};
	int ret;

	if (!ipv6_is_ext(*nexthdr))
		return 0;
	ret = ipv6_skip_ext(skb, off, nexthdr, &fh);
	if (ret < 0)
		return ret;
	if (fh.present && (fh.frag_off & bpf_htons(IPV6_FRAG_OFFSET_MASK | IPV6_FRAG_MORE))) {
		fi->protocol = fh.next;
		fi->id = fh.id;
		fi->kind = fh.frag_off & bpf_htons(IPV6_FRAG_OFFSET_MASK) ? FRAG_LATER : FRAG_FIRST;
	}
	return 0;
}

/* pkt must have passed parse_ipv4() or parse_ipv6(). */
static __always_inline int ct_extract(struct __sk_buff *skb, const struct packet *pkt,
				      struct flow *f)
{
	struct ct_key *t = &f->tuple;
	__u8 frag_flags = 0;
	__u32 l4_off;
	int ret;

	*f = (struct flow){};
	if (pkt->l3_proto == ETH_P_IP) {
		__be16 frag_off = pkt->ip4->frag_off;

		t->saddr[0] = pkt->ip4->saddr;
		t->daddr[0] = pkt->ip4->daddr;
		t->protocol = pkt->ip4->protocol;
		t->family = 4;
		l4_off = ETH_HLEN + pkt->ip4->ihl * 4;
		if (frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK | IPV4_FRAG_MORE)) {
			__builtin_memcpy(&f->frag.id, &pkt->ip4->id, sizeof(pkt->ip4->id));
			f->frag.protocol = t->protocol;
			f->frag.kind = frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK) ? FRAG_LATER :
										     FRAG_FIRST;
		}
	} else {
		__u8 nexthdr = pkt->ip6->nexthdr;

		__builtin_memcpy(t->saddr, &pkt->ip6->saddr, sizeof(t->saddr));
		__builtin_memcpy(t->daddr, &pkt->ip6->daddr, sizeof(t->daddr));
		t->family = 6;
		l4_off = ETH_HLEN + sizeof(struct ipv6hdr);
		ret = ct_ipv6_l4(skb, &l4_off, &nexthdr, &f->frag);
		if (ret < 0)
			return ret;
		t->protocol = nexthdr;
	}

	if (f->frag.kind == FRAG_LATER) {
		ret = frag_lookup(t, &f->frag, &frag_flags);
		if (ret < 0)
			return ret;
		f->error_fragment = frag_flags & FRAG_F_ICMP_ERROR;
	} else {
		ret = ct_read_l4(skb, l4_off, t, &f->tcp_flags);
		if (ret < 0)
			return ret;
		if (ret == CT_L4_ICMP_ERROR) {
			f->icmp_error = true;
			f->inner_off = l4_off + ICMP_HDR_LEN;
		}
		f->echo_request = ret == CT_L4_ECHO_REQUEST;
		f->has_tcp_header = t->protocol == IPPROTO_TCP;
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

/* A SYN without ACK: the opening packet of a connection, never a reply. */
static __always_inline bool ct_pure_syn(const struct flow *f)
{
	return f->has_tcp_header && (f->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* A packet only a connection's opener sends: a pure SYN, an echo request. */
static __always_inline bool ct_opens(const struct flow *f)
{
	return ct_pure_syn(f) || f->echo_request;
}

/* Not a connection's first packet: TCP with a header and anything but a pure SYN. */
static __always_inline bool ct_midstream(const struct flow *f)
{
	return f->has_tcp_header && !ct_pure_syn(f);
}

static __always_inline __u64 ct_lifetime(__u32 flags, __u8 protocol)
{
	if (flags & CT_F_CLOSED)
		return CT_LIFETIME_CLOSED_NS;
	if (!(flags & CT_F_REPLY_SEEN))
		return CT_LIFETIME_PENDING_NS;
	return protocol == IPPROTO_TCP ? CT_LIFETIME_TCP_NS : CT_LIFETIME_OTHER_NS;
}

/*
 * The live entry for key in map, or NULL. last_seen may be a little ahead of now
 * when another CPU refreshed it between our clock read and this lookup; that counts
 * as fresh, not as an unsigned wrap.
 */
static __always_inline struct ct_value *ct_find(void *map, const struct ct_key *key, __u64 now)
{
	struct ct_value *v = bpf_map_lookup_elem(map, key);
	__u64 last;

	if (!v)
		return NULL;
	last = v->last_seen_ns;
	if (now > last && now - last > ct_lifetime(v->flags, key->protocol))
		return NULL;
	return v;
}

/* flags after this packet's FIN or RST; reply: it goes against the key's direction. */
static __always_inline __u32 ct_tcp_state(__u32 flags, const struct flow *f, bool reply)
{
	if (f->tcp_flags & TCP_FLAG_RST)
		return flags | CT_F_CLOSED;
	if (f->tcp_flags & TCP_FLAG_FIN) {
		flags |= reply ? CT_F_FIN_REPLY : CT_F_FIN_ORIG;
		if ((flags & (CT_F_FIN_ORIG | CT_F_FIN_REPLY)) == (CT_F_FIN_ORIG | CT_F_FIN_REPLY))
			flags |= CT_F_CLOSED;
	}
	return flags;
}

/* Bit `from` of x (a one-bit constant) moved to bit `to`: shifts, no branch. */
#define CT_BIT_MOVE(x, from, to) ((((x) >> __builtin_ctz(from)) & 1) << __builtin_ctz(to))

/*
 * What a packet changed in its entry's flags (before -> after), for its flow event
 * (FLOW_EV_F_STATE_MASK bits: its first answer, a FIN, the close), and whether it went
 * against the entry's direction. Only where the flags changed, so an established
 * packet costs nothing; and without branches, which the verifier would have to walk
 * for every path through conntrack.
 */
static __always_inline void ct_note_change(struct flow *f, __u32 before, __u32 after, bool reply)
{
	__u32 set = after & ~before;

	f->ev_flags = CT_BIT_MOVE(set, CT_F_REPLY_SEEN, FLOW_EV_F_ANSWERED) |
		      CT_BIT_MOVE(set | set >> 1, CT_F_FIN_ORIG, FLOW_EV_F_FIN) |
		      CT_BIT_MOVE(set, CT_F_CLOSED, FLOW_EV_F_CLOSED) |
		      (reply ? FLOW_EV_F_REPLY : 0);
}

/* A hit: refreshed (at most once a second), add and the TCP state merged into its flags. */
static __always_inline void ct_touch(struct ct_value *v, struct flow *f, bool reply, __u32 add)
{
	__u32 flags = v->flags;
	__u32 want = flags | add;
	__u64 last = v->last_seen_ns;

	if (f->now > last && f->now - last >= CT_REFRESH_NS)
		v->last_seen_ns = f->now;
	if (f->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		want = ct_tcp_state(want, f, reply);
	if (want != flags) {
		v->flags = want;
		ct_note_change(f, flags, want, reply);
	}
}

/*
 * The connection of pending entry v (key) is answered: into strait_ct_v1. When that
 * write fails (the map cannot allocate) the entry stays pending and still works.
 */
static __always_inline void ct_promote(struct flow *f, const struct ct_key *key, struct ct_value *v,
				       bool reply)
{
	struct ct_value answered = {
		.last_seen_ns = f->now,
		.flags = ct_tcp_state(v->flags | CT_F_REPLY_SEEN, f, reply),
		.rule_id = v->rule_id,
	};

	if (bpf_map_update_elem(&strait_ct_v1, key, &answered, BPF_ANY) < 0) {
		ct_touch(v, f, reply, 0);
		return;
	}
	ct_note_change(f, v->flags, answered.flags, reply);
	bpf_map_delete_elem(&strait_ct_pending_v1, key);
	f->promoted = true;
}

/*
 * A pending entry of key. It opened from the key's side; a packet from the other
 * side is the answer that promotes it.
 */
static __always_inline enum ct_status ct_pending_hit(struct flow *f, const struct ct_key *key,
						     bool reply)
{
	struct ct_value *v = ct_find(&strait_ct_pending_v1, key, f->now);

	if (!v)
		return CT_NEW;
	if (v->flags & (CT_F_CLOSED | CT_F_REVOKED)) {
		if (!reply && ct_pure_syn(f))
			return CT_NEW; /* a new connection on the tuple: ct_create() replaces it */
		if (v->flags & CT_F_REVOKED) {
			ct_touch(v, f, reply, 0);
			return CT_REVOKED;
		}
	}
	f->hit_flags = v->flags;
	/* A RST is no answer: the entry stays pending (closed), so a peer that draws
	 * RSTs from a pod cannot move entries into strait_ct_v1. */
	if (reply && !(f->tcp_flags & TCP_FLAG_RST))
		ct_promote(f, key, v, reply);
	else
		ct_touch(v, f, reply, 0);
	return reply ? CT_REPLY : CT_ESTABLISHED;
}

/*
 * Who may send an error about a flow. Its other end, always (an unreachable port, a
 * closed socket): the outer source is the quoted destination. A router on the path
 * sends errors about flows it only forwards (time exceeded, fragmentation needed,
 * unreachable): those must reach the pod or path MTU discovery breaks, so a third
 * party is accepted when it is no pod (the node itself is IDENTITY_HOST and always
 * allowed anyway; another node, IDENTITY_REMOTE_NODE, forwards pods' packets too).
 * A pod is never a router on another pod's path: its error about someone else's
 * flow is not related, and is judged as a new packet from it. Pods
 * cannot forge another source (anti-spoofing); an outside host guessing a live
 * tuple can, as with any stateful firewall.
 */
static __always_inline bool ct_error_sender_ok(const struct flow *f, const __u32 *quoted_dst)
{
	struct peer_identity sender;

	if (ipv6_addr_equal(f->tuple.saddr, quoted_dst))
		return true;
	identity_pod(f->tuple.saddr, f->tuple.family, &sender);
	/* No pod: unknown, this node, or another node (IDENTITY_REMOTE_NODE), which
	 * routes pods' packets too. */
	return sender.pod < FIRST_POD_IDENTITY;
}

/*
 * The packet an ICMP error quotes, as its sender sent it. The error must go back to
 * that sender (inner source = outer destination): nobody else may receive errors
 * about a flow; and come from someone entitled to send it (ct_error_sender_ok).
 * False when the quote is unreadable or a later fragment: the error is then not
 * related.
 */
static __always_inline bool ct_inner_tuple(struct __sk_buff *skb, const struct flow *f,
					   struct ct_key *inner)
{
	struct frag_info fi = {};
	__u8 tcp_flags = 0;
	__u32 l4_off;
	int ret;

	*inner = (struct ct_key){ .family = f->tuple.family };
	if (f->tuple.family == 4) {
		struct iphdr ip4;

		if (bpf_skb_load_bytes(skb, f->inner_off, &ip4, sizeof(ip4)) < 0)
			return false;
		if (ip4.version != 4 || ip4.ihl < 5 || ip4.saddr != f->tuple.daddr[0])
			return false;
		if (ip4.frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK))
			return false;
		inner->saddr[0] = ip4.saddr;
		inner->daddr[0] = ip4.daddr;
		inner->protocol = ip4.protocol;
		l4_off = f->inner_off + ip4.ihl * 4;
	} else {
		struct ipv6hdr ip6;
		__u8 nexthdr;

		if (bpf_skb_load_bytes(skb, f->inner_off, &ip6, sizeof(ip6)) < 0)
			return false;
		if (ip6.version != 6 || !ipv6_addr_equal(ip6.saddr.in6_u.u6_addr32, f->tuple.daddr))
			return false;
		__builtin_memcpy(inner->saddr, &ip6.saddr, sizeof(inner->saddr));
		__builtin_memcpy(inner->daddr, &ip6.daddr, sizeof(inner->daddr));
		nexthdr = ip6.nexthdr;
		l4_off = f->inner_off + sizeof(struct ipv6hdr);
		if (ct_ipv6_l4(skb, &l4_off, &nexthdr, &fi) < 0 || fi.kind == FRAG_LATER)
			return false;
		inner->protocol = nexthdr;
	}
	if (!ct_error_sender_ok(f, inner->daddr))
		return false;
	/* An error about an error is never generated (RFC 1122, 4443): reject it too. */
	ret = ct_read_l4(skb, l4_off, inner, &tcp_flags);
	return ret >= 0 && ret != CT_L4_ICMP_ERROR;
}

/* A live flow an error may be about: in either table, and not cut by the agent. */
static __always_inline bool ct_known(struct flow *f, const struct ct_key *key)
{
	struct ct_value *v = ct_find(&strait_ct_v1, key, f->now);

	if (!v)
		v = ct_find(&strait_ct_pending_v1, key, f->now);
	if (!v || (v->flags & CT_F_REVOKED))
		return false;
	f->hit_flags = v->flags;
	return true;
}

/* The quoted packet belongs to a live flow, answered or not, in either of its directions. */
static __always_inline bool ct_related(struct __sk_buff *skb, struct flow *f)
{
	struct ct_key inner, rev;

	if (!ct_inner_tuple(skb, f, &inner))
		return false;
	if (ct_known(f, &inner)) {
		f->error_to_opener = true;
		return true;
	}
	ct_key_reverse(&rev, &inner);
	return ct_known(f, &rev);
}

static __always_inline enum ct_status ct_lookup(struct __sk_buff *skb, struct flow *f)
{
	bool syn = ct_pure_syn(f);
	enum ct_status status;
	struct ct_value *v;
	struct ct_key rev;

	f->now = bpf_ktime_get_ns();
	if (f->icmp_error)
		return ct_related(skb, f) ? CT_RELATED : CT_NEW;
	if (f->error_fragment)
		return CT_RELATED;

	v = ct_find(&strait_ct_v1, &f->tuple, f->now);
	if (v) {
		if (likely(!(v->flags & (CT_F_CLOSED | CT_F_REVOKED))) || !syn) {
			ct_touch(v, f, false, 0);
			if (unlikely(v->flags & CT_F_REVOKED))
				return CT_REVOKED;
			f->hit_flags = v->flags;
			return CT_ESTABLISHED;
		}
		f->reopen = true;
	}
	ct_key_reverse(&rev, &f->tuple);
	if (!syn) {
		v = ct_find(&strait_ct_v1, &rev, f->now);
		if (v) {
			ct_touch(v, f, true, CT_F_REPLY_SEEN);
			if (v->flags & CT_F_REVOKED)
				return CT_REVOKED;
			f->hit_flags = v->flags;
			return CT_REPLY;
		}
	}
	status = ct_pending_hit(f, &f->tuple, false);
	if (status != CT_NEW || syn)
		return status;
	return ct_pending_hit(f, &rev, true);
}

/* Never an entry for an error, nor for a protocol that is an IPv6 extension header. */
static __always_inline bool ct_may_open(const struct flow *f)
{
	return !f->icmp_error && !f->error_fragment && !ipv6_is_ext(f->tuple.protocol);
}

/*
 * Opens (or, over an expired or closed one, reopens) the entry of a new connection,
 * pending until answered; false for a packet that opens none (an ICMP error). A failed write (the map cannot allocate) costs only
 * statefulness: this packet was allowed, its replies then face policy like new
 * connections.
 */
static __always_inline bool ct_create(const struct flow *f, __u32 rule_id, __u32 flags)
{
	struct ct_value v = { .last_seen_ns = f->now, .flags = flags, .rule_id = rule_id };

	if (!ct_may_open(f))
		return false;
	bpf_map_update_elem(&strait_ct_pending_v1, &f->tuple, &v, BPF_ANY);
	if (f->reopen)
		bpf_map_delete_elem(&strait_ct_v1, &f->tuple);
	return true;
}

#endif /* STRAIT_CONNTRACK_H */
