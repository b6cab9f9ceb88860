/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-CPU verdict and drop counters, and the one exit every program returns
 * through. Handlers return a TC_ACT_* verdict (>= 0) or a negated enum drop_reason;
 * exit_verdict() turns the latter into a counted TC_ACT_SHOT, so no packet is
 * dropped without its reason on record. (TC_ACT_UNSPEC, -1, is never a verdict
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
#include "maps.h"

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
 * Not inlined: drops are the cold path, so one shared copy costs nothing on the
 * fast path, and its prototype is what puts enum drop_reason into the object's BTF
 * (test/bpf/maps-btf.test.ts checks drop.ts against it).
 */
static __noinline int drop(struct __sk_buff *skb, enum drop_reason reason)
{
	counter_add(&strait_drops_v1, reason, skb->len);
	return TC_ACT_SHOT;
}

static __always_inline int exit_verdict(struct __sk_buff *skb, int ret)
{
	if (ret < 0)
		return drop(skb, (enum drop_reason)(-ret));
	return ret;
}

#endif /* STRAIT_COUNTERS_H */
