/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-CPU verdict and drop counters, and the one exit every program returns
 * through. Handlers return a TC_ACT_* verdict (>= 0) or a negated enum drop_reason;
 * exit_verdict() turns the latter into a counted TC_ACT_SHOT, so no packet is
 * dropped without its reason on record (by reason, and by endpoint and direction,
 * and as a flow event: events.h). (TC_ACT_UNSPEC, -1, is never a verdict
 * here: -1 means -DROP_MALFORMED.)
 *
 * This lives apart from drop.h because maps.h includes drop.h for DROP_MAX, and
 * counting needs the maps.
 */
#ifndef STRAIT_COUNTERS_H
#define STRAIT_COUNTERS_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "drop.h"
#include "endpoint.h"
#include "events.h"
#include "maps.h"
#include "parse.h"

/* Per-CPU slots: no other CPU writes them, so plain increments are enough. */
static __always_inline void counter_add(void *map, __u32 key, __u32 bytes)
{
	struct traffic_counter *c = bpf_map_lookup_elem(map, &key);

	if (!c)
		return;
	c->packets += 1;
	c->bytes += bytes;
}

static __always_inline void count_stat(struct __sk_buff *skb, enum stat_id id)
{
	counter_add(&strait_stats_v2, id, skb->len);
}

/*
 * The same on a per-CPU hash, whose entries appear on first use: an update from a
 * program sets this CPU's slot and zeroes the others. Two CPUs creating one key at
 * once: the loser's BPF_NOEXIST fails and it adds to the winner's entry. A full map
 * counts nothing (its fill is the agent's to report).
 */
static __always_inline void counter_bump(void *map, const void *key, __u32 bytes)
{
	struct traffic_counter first = { .packets = 1, .bytes = bytes };
	struct traffic_counter *c = bpf_map_lookup_elem(map, key);

	if (!c) {
		if (bpf_map_update_elem(map, key, &first, BPF_NOEXIST) == 0)
			return;
		c = bpf_map_lookup_elem(map, key);
		if (!c)
			return;
	}
	c->packets += 1;
	c->bytes += bytes;
}

/* strait_ep_counters_v1; ifindex 0: the packet is no endpoint's (to_tunnel, the node's own). */
static __always_inline void count_endpoint(__u32 ifindex, __u8 direction, __u8 reason, __u32 bytes)
{
	struct ep_counter_key key = { .ifindex = ifindex,
				      .direction = direction,
				      .reason = reason };

	if (ifindex)
		counter_bump(&strait_ep_counters_v1, &key, bytes);
}

/* strait_rule_counters_v1: a new connection rule_id allowed (0: none did). */
static __always_inline void count_rule(struct __sk_buff *skb, __u32 rule_id)
{
	if (rule_id)
		counter_bump(&strait_rule_counters_v1, &rule_id, skb->len);
}

/*
 * Not inlined: drops are the cold path, so one shared copy costs nothing on the
 * fast path, and its prototype is what puts enum drop_reason into the object's BTF
 * (test/bpf/maps-btf.test.ts checks drop.ts against it).
 */
static __noinline int drop(struct __sk_buff *skb, enum drop_reason reason, __u32 ep_ifindex,
			   __u32 direction)
{
	counter_add(&strait_drops_v1, reason, skb->len);
	count_endpoint(ep_ifindex, direction, reason, skb->len);
	return TC_ACT_SHOT;
}

/*
 * ep_ifindex, direction: whose drop it is in strait_ep_counters_v1, the endpoint
 * whose veth the program runs on (from_pod: what it sends, to_pod: what it
 * receives), or 0 for none (to_tunnel).
 */
static __always_inline int exit_verdict(struct __sk_buff *skb, int ret, __u32 ep_ifindex,
					__u32 direction)
{
	/* The drop's flow event, then its counters: two calls from here rather than one
	 * inside the other, so the deepest call chain is one frame shorter (events.h). */
	if (ret < 0) {
		events_drop(skb, -ret, ep_ifindex, direction);
		return drop(skb, (enum drop_reason)(-ret), ep_ifindex, direction);
	}
	return ret;
}

/*
 * A drop of a packet from another node (from_uplink, from_tunnel) is the local
 * destination's, when it has one: found again here, on the cold path, rather than
 * carried out of the handler, which would cost the fast path a spilled register
 * (and cost old verifiers the packet bounds they tie to it).
 */
static __noinline int drop_from_node(struct __sk_buff *skb, enum drop_reason reason)
{
	struct endpoint_value *dst = NULL;
	struct endpoint_key key;
	struct packet pkt;

	if (parse_eth(skb, &pkt) == 0 && parse_ip(&pkt) == 0) {
		endpoint_key_dst(&pkt, &key);
		dst = endpoint_lookup(&key);
	}
	return drop(skb, reason, dst ? dst->ifindex : 0, EP_DIR_INGRESS);
}

static __always_inline int exit_verdict_from_node(struct __sk_buff *skb, int ret)
{
	if (ret < 0) {
		events_drop(skb, -ret, EVENTS_EP_DESTINATION, EP_DIR_INGRESS);
		return drop_from_node(skb, (enum drop_reason)(-ret));
	}
	return ret;
}

#endif /* STRAIT_COUNTERS_H */
