/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow events (docs/observability.md): one record in strait_events_v1 per new
 * connection (policy.h, after ct_create), per change of a connection's state that
 * conntrack saw (struct flow.ev_flags, policy.h on a hit) and per drop (counters.h's
 * exit_verdict*(), the one exit path, beside drop()).
 *
 * Every record first passes events_reserve(): the agent's switch
 * (strait_event_config_v1, one array lookup: all this costs while events are off),
 * this CPU's token bucket (strait_event_cpu_v1), then a reservation in the ring.
 * A record refused by the rate or for want of room is counted there, never lost
 * silently. Records are submitted without a wakeup: the agent drains on a timer.
 *
 * The writers, events_connection() and events_drop(), are global functions: the
 * verifier checks each once, on its own, where a static subprogram is checked again
 * for every path that reaches its call (from_pod has so many that 5.10 ran out of its
 * million instructions). So they take only the context and scalars: what the caller
 * knows comes packed (events_connection_of()), the addresses are read again from the
 * skb, straight into the reserved record. Their frames count on top of the callers'
 * in the verifier's 512 bytes for a call chain, and from_pod's own is 440: so they
 * call no other subprogram, every lookup key shares one slot (union events_key), and
 * a frame stays within 64 bytes; the drop record is written beside drop(), not from
 * inside it or drop_from_node().
 *
 * Each program says where it observes (OBS_*) by defining OBS_POINT before its
 * includes.
 */
#ifndef STRAIT_EVENTS_H
#define STRAIT_EVENTS_H

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
#include "endpoint.h"
#include "identity.h"
#include "maps.h"
#include "verdict.h"

#ifndef OBS_POINT
#error "define OBS_POINT (an OBS_* of maps.h) before including events.h"
#endif

/* One record in the token bucket's units: tokens are scaled by 1e9, so a nanosecond
 * refills rate_per_cpu of them. */
#define EVENTS_TOKEN 1000000000ULL

/* The one key slot of a writer: the maps' index 0, an ICMP header's first bytes, then
 * the address lookups, one after the other. */
union events_key {
	__u32 index;
	__u8 l4[8];
	struct endpoint_key ep;
	struct cidr_key cidr;
};

/* What makes a record a STATE one: conntrack saw the connection change. */
#define FLOW_EV_F_STATE_MASK (FLOW_EV_F_ANSWERED | FLOW_EV_F_FIN | FLOW_EV_F_CLOSED)

/*
 * May this CPU send one more record at now? A CPU that never sent starts with a full
 * bucket (burst records; a burst of 0 holds one, or nothing would ever pass). Past the
 * time an empty bucket takes to fill, it is full: elapsed is capped there before it is
 * multiplied, so elapsed * rate stays below the bucket's size and cannot overflow.
 */
static __always_inline bool events_admit(const struct event_config_value *cfg,
					 struct event_cpu_state *st, __u64 now)
{
	__u64 rate = cfg->rate_per_cpu;
	__u64 size, tokens, elapsed;

	if (!rate)
		return true;
	size = (__u64)(cfg->burst ? cfg->burst : 1) * EVENTS_TOKEN;
	elapsed = now > st->bucket_ns ? now - st->bucket_ns : 0;
	if (!st->bucket_ns || elapsed >= size / rate) {
		tokens = size;
	} else {
		tokens = st->bucket_tokens + elapsed * rate;
		if (tokens > size)
			tokens = size;
	}
	st->bucket_ns = now;
	if (tokens < EVENTS_TOKEN) {
		st->bucket_tokens = tokens;
		return false;
	}
	st->bucket_tokens = tokens - EVENTS_TOKEN;
	return true;
}

/*
 * A zeroed record, its time and point set, reserved in the ring; NULL when events are
 * off (nothing counted) or the record was refused (counted). The caller sets the type,
 * fills the rest and submits it. The clock is read here, after the lookups, rather
 * than taken from the caller: one value less to keep across them.
 */
static __always_inline struct flow_event *events_reserve(union events_key *key)
{
	const struct event_config_value *cfg;
	struct event_cpu_state *st;
	struct flow_event *ev;
	__u64 now;

	key->index = 0;
	cfg = bpf_map_lookup_elem(&strait_event_config_v1, &key->index);
	if (!cfg || !(cfg->flags & EVENTS_F_ENABLED))
		return NULL;
	st = bpf_map_lookup_elem(&strait_event_cpu_v1, &key->index);
	if (!st)
		return NULL;
	now = bpf_ktime_get_ns();
	if (!events_admit(cfg, st, now)) {
		st->rate_limited += 1;
		return NULL;
	}
	ev = bpf_ringbuf_reserve(&strait_events_v1, sizeof(*ev), 0);
	if (!ev) {
		st->ring_full += 1;
		return NULL;
	}
	st->sent += 1;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->time_ns = now;
	ev->point = OBS_POINT;
	return ev;
}

/*
 * Never called: its prototype is what puts struct flow_event into every object's BTF
 * (the writers only hold it in locals, which BTF leaves out), for
 * test/bpf/maps-btf.test.ts and bpftool. libbpf loads no subprogram nothing calls.
 */
static __noinline __attribute__((used)) __u8 events_record_btf(const struct flow_event *ev)
{
	return ev->type;
}

static __always_inline void events_submit(struct flow_event *ev)
{
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
}

/*
 * An address's identity for a record, as policy sees it: a local endpoint's own, else
 * its pod identity from the ipcache, else (the ipcache does not know it) hint, the
 * one its node named (VXLAN; 0: none), else its CIDR identity.
 */
static __always_inline __u32 events_identity(union events_key *key, const __u32 *ip, __u8 family,
					     __u32 hint)
{
	const struct endpoint_value *ep;
	const struct ipcache_value *v;

	endpoint_key_addr(&key->ep, ip, family);
	ep = endpoint_lookup(&key->ep);
	if (ep && ep->identity)
		return ep->identity;
	v = identity_ipcache(&key->ep, ip, family);
	if (v && v->identity >= FIRST_POD_IDENTITY)
		return v->identity;
	if ((!v || v->identity == IDENTITY_ANY) && hint)
		return hint;
	return identity_cidr_with(&key->cidr, ip, family);
}

/* Both identities of an IP record. */
static __always_inline void events_identities(struct flow_event *ev, union events_key *key,
					      __u32 src_hint)
{
	ev->src_identity = events_identity(key, ev->saddr, ev->family, src_hint);
	ev->dst_identity = events_identity(key, ev->daddr, ev->family, 0);
}

/*
 * The addresses of the skb's IP header into the record, with its family and protocol
 * (IPv6: the fixed header's next header; extension headers are not walked). Returns
 * the L4 offset, 0 without an IP header that parses (family 0) or for a later fragment
 * (no L4 header).
 */
static __always_inline __u32 events_read_ip(struct __sk_buff *skb, struct flow_event *ev)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = (void *)(eth + 1);

		if ((void *)(ip4 + 1) > data_end || ip4->version != 4 || ip4->ihl < 5)
			return 0;
		ev->saddr[0] = ip4->saddr;
		ev->daddr[0] = ip4->daddr;
		ev->protocol = ip4->protocol;
		ev->family = 4;
		if (ip4->frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK))
			return 0;
		return ETH_HLEN + ip4->ihl * 4;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return 0;
		__builtin_memcpy(ev->saddr, &ip6->saddr, sizeof(ev->saddr));
		__builtin_memcpy(ev->daddr, &ip6->daddr, sizeof(ev->daddr));
		ev->protocol = ip6->nexthdr;
		ev->family = 6;
		return ETH_HLEN + sizeof(struct ipv6hdr);
	}
	return 0;
}

/*
 * A connection record (NEW or STATE, from policy.h): the packet's addresses read
 * again (after Service translation, as conntrack keyed it). l4: sport, dport (network
 * order), protocol, tcp_flags, flags (FLOW_EV_F_*: STATE when it has
 * FLOW_EV_F_STATE_MASK bits, else NEW) and direction, a byte or two each
 * (events_connection_of()); rules: rule_id, egress_rule; where: ifindex and the
 * source's identity as its node named it (0: none).
 */
__noinline int events_connection(struct __sk_buff *skb, __u64 l4, __u64 rules, __u64 where)
{
	struct flow_event *ev;
	union events_key key;
	__u32 hint;

	ev = events_reserve(&key);
	if (!ev)
		return 0;
	events_read_ip(skb, ev);
	if (!ev->family) {
		/* Not the packet conntrack saw: never happens, but a record must be whole. */
		bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
		return 0;
	}
	ev->sport = l4;
	ev->dport = l4 >> 16;
	ev->protocol = l4 >> 32;
	ev->tcp_flags = l4 >> 40;
	ev->flags = l4 >> 48;
	ev->direction = l4 >> 56;
	ev->type = ev->flags & FLOW_EV_F_STATE_MASK ? FLOW_EV_STATE : FLOW_EV_NEW;
	ev->rule_id = rules;
	ev->egress_rule = rules >> 32;
	ev->ifindex = where;
	ev->len = skb->len;
	hint = where >> 32;
	if (!identity_hint_counts(hint))
		hint = 0;
	events_identities(ev, &key, hint);
	events_submit(ev);
	return 0;
}

/*
 * The record of a connection's packet f with flags (FLOW_EV_F_*): FLOW_EV_STATE when
 * conntrack saw it change the connection (FLOW_EV_F_STATE_MASK bits), else
 * FLOW_EV_NEW. src, dst: the local sender and receiver, or NULL, as
 * policy_enforce_hinted() has them; the record is the sender's (egress) when there is
 * one, else the receiver's. Only packing here, and no branch that the paths to it
 * have not taken already: the lookups, and the check whether events are on at all,
 * are events_connection()'s.
 */
static __always_inline void events_connection_of(struct __sk_buff *skb, const struct flow *f,
						 const struct endpoint_value *src,
						 const struct endpoint_value *dst,
						 const struct policy_verdict *verdict, __u8 flags)
{
	const struct ct_key *t = &f->tuple;
	__u8 direction = EP_DIR_INGRESS;
	__u64 where = 0;

	if (dst)
		where = dst->ifindex;
	if (src) {
		where = src->ifindex;
		direction = EP_DIR_EGRESS;
	} else if (verdict->src_hint) {
		where |= (__u64)verdict->src_hint->identity << 32;
	}
	events_connection(skb,
			  (__u64)t->sport | (__u64)t->dport << 16 | (__u64)t->protocol << 32 |
				  (__u64)f->tcp_flags << 40 | (__u64)flags << 48 |
				  (__u64)direction << 56,
			  verdict->rule_id | (__u64)verdict->egress_rule << 32, where);
}

/* events_drop()'s ep_ifindex for a packet from another node: the local pod it is
 * addressed to, found again from the tuple (as drop_from_node() does). */
#define EVENTS_EP_DESTINATION 0xffffffffU

/*
 * The record of a drop, from the exit path (counters.h): reason, whose drop it is
 * (ep_ifindex, direction, as the counters have it) and, for an IP packet, its tuple
 * read again (ports from the first four bytes of TCP, UDP or SCTP, an ICMP echo's
 * identifier as both, TCP flags) and both identities.
 */
__noinline int events_drop(struct __sk_buff *skb, __u32 reason, __u32 ep_ifindex, __u32 direction)
{
	union events_key key;
	struct flow_event *ev;
	__u32 l4_off;

	ev = events_reserve(&key);
	if (!ev)
		return 0;
	ev->type = FLOW_EV_DROP;
	ev->reason = reason;
	ev->ifindex = ep_ifindex;
	ev->direction = direction;
	ev->len = skb->len;
	l4_off = events_read_ip(skb, ev);
	if (l4_off && proto_has_ports(ev->protocol)) {
		if (bpf_skb_load_bytes(skb, l4_off, &ev->sport, 4) < 0)
			ev->sport = ev->dport = 0;
		if (ev->protocol == IPPROTO_TCP &&
		    bpf_skb_load_bytes(skb, l4_off + 13, &ev->tcp_flags, 1) < 0)
			ev->tcp_flags = 0;
	} else if (l4_off && is_icmp(ev->family, ev->protocol) &&
		   bpf_skb_load_bytes(skb, l4_off, key.l4, sizeof(key.l4)) == 0 &&
		   icmp_is_echo(ev->family, key.l4[0])) {
		__builtin_memcpy(&ev->sport, &key.l4[4], sizeof(ev->sport));
		ev->dport = ev->sport;
	}
	if (ep_ifindex == EVENTS_EP_DESTINATION) {
		const struct endpoint_value *dst = NULL;

		if (ev->family) {
			endpoint_key_addr(&key.ep, ev->daddr, ev->family);
			dst = endpoint_lookup(&key.ep);
		}
		ev->ifindex = dst ? dst->ifindex : 0;
	}
	if (ev->family)
		events_identities(ev, &key, 0);
	events_submit(ev);
	return 0;
}

#endif /* STRAIT_EVENTS_H */
