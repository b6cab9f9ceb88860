/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Native routing: a packet for another node's pod leaves straight out of the
 * uplink, routed by the node's FIB (the agent's `<podCIDR> via <node> dev <uplink>
 * proto 200` routes) but not forwarded by the host stack: no netfilter FORWARD, no
 * ip_forward needed. One hop of TTL is spent, as the stack would.
 *
 * bpf_fib_lookup (4.18, return codes 4.19) with BPF_FIB_LOOKUP_OUTPUT looks the
 * route up as the node's own output would, from the uplink:
 * - SUCCESS: the nexthop's MACs are known; bpf_redirect to the egress of the
 *   route's device.
 * - NO_NEIGH: the nexthop is not resolved yet; bpf_redirect_neigh (5.10) lets the
 *   kernel resolve it (and queue the packet meanwhile).
 * - FWD_DISABLED: the helper refuses when the uplink's forwarding sysctl is off
 *   (ip_forward=0), even for an output lookup, and before it looks at any route.
 *   That sysctl is about the host forwarding, which this path is not:
 *   bpf_redirect_neigh out of the uplink to the nexthop strait_remote_v1 names,
 *   the node's InternalIP, which the agent's route names too. Given no nexthop,
 *   the kernel would look the route up again and, were it missing, drop the
 *   packet where no counter of strait's sees it.
 * - anything else (no route, blackhole, too big, a gone uplink): the host stack
 *   gets it, counted by return code in strait_fib_v1. Never a silent drop.
 * Every helper here is in 5.10; the newer lookup flags (SKIP_NEIGH, TBID, SRC,
 * MARK) are not used.
 */
#ifndef STRAIT_FIB_H
#define STRAIT_FIB_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "counters.h"
#include "maps.h"
#include "parse.h"
#include "redirect.h"
#include "remote.h"

#define AF_INET 2
#define AF_INET6 10
#define IPV6_FLOWINFO_MASK bpf_htonl(0x0fffffff)

/*
 * tot_len stays 0: set, 5.12+ would compare it with the route's MTU, and a GSO
 * packet's length is that of all its segments. Unset, the kernel checks the skb
 * itself (is_skb_forwardable), which knows about GSO.
 */
static __always_inline void fib_params(const struct packet *pkt, __u32 ifindex,
				       struct bpf_fib_lookup *fib)
{
	fib->ifindex = ifindex;
	if (pkt->l3_proto == ETH_P_IP) {
		fib->family = AF_INET;
		fib->tos = pkt->ip4->tos;
		fib->l4_protocol = pkt->ip4->protocol;
		fib->ipv4_src = pkt->ip4->saddr;
		fib->ipv4_dst = pkt->ip4->daddr;
		return;
	}
	fib->family = AF_INET6;
	fib->flowinfo = *(__be32 *)pkt->ip6 & IPV6_FLOWINFO_MASK;
	fib->l4_protocol = pkt->ip6->nexthdr;
	__builtin_memcpy(fib->ipv6_src, &pkt->ip6->saddr, sizeof(fib->ipv6_src));
	__builtin_memcpy(fib->ipv6_dst, &pkt->ip6->daddr, sizeof(fib->ipv6_dst));
}

static __always_inline int fib_fallback(struct __sk_buff *skb, long rc)
{
	__u32 slot = rc >= 0 && rc < FIB_SLOT_ERROR ? (__u32)rc : FIB_SLOT_ERROR;

	counter_add(&strait_fib_v1, slot, skb->len);
	count_stat(skb, STAT_FIB_FALLBACK);
	return TC_ACT_OK;
}

/* A redirect helper's verdict: TC_ACT_REDIRECT, or TC_ACT_SHOT for flags it refuses. */
static __always_inline int fib_redirected(struct __sk_buff *skb, long verdict)
{
	if (verdict != TC_ACT_REDIRECT)
		return -DROP_REDIRECT_FAILED;
	count_stat(skb, STAT_TO_NODE);
	return TC_ACT_REDIRECT;
}

/* Resolve node's address on the uplink and send it there: no route lookup. */
static __always_inline long redirect_to_node(__u32 uplink, const struct remote_value *node)
{
	struct bpf_redir_neigh nh = {};

	if (node->node_family == 4) {
		nh.nh_family = AF_INET;
		nh.ipv4_nh = node->node_ip[0];
	} else {
		nh.nh_family = AF_INET6;
		__builtin_memcpy(nh.ipv6_nh, node->node_ip, sizeof(nh.ipv6_nh));
	}
	return bpf_redirect_neigh(uplink, &nh, sizeof(nh), 0);
}

/*
 * pkt must have passed parse_ipv4() or parse_ipv6(), its sender's policy too; node
 * is its destination's strait_remote_v1 entry.
 */
static __always_inline int route_to_node(struct __sk_buff *skb, struct packet *pkt,
					 const struct remote_value *node)
{
	const struct config_value *cfg = datapath_config();
	struct bpf_fib_lookup fib = {};
	long rc;
	int ret;

	if (!cfg)
		return fib_fallback(skb, -1);

	if (hop_expired(pkt)) {
		count_stat(skb, STAT_TTL_EXPIRED);
		return TC_ACT_OK;
	}
	fib_params(pkt, cfg->uplink_ifindex, &fib);
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	    rc != BPF_FIB_LKUP_RET_FWD_DISABLED)
		return fib_fallback(skb, rc);

	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		__builtin_memcpy(pkt->eth->h_dest, fib.dmac, ETH_ALEN);
		__builtin_memcpy(pkt->eth->h_source, fib.smac, ETH_ALEN);
	}
	ret = hop_decrement(skb, pkt);
	if (ret < 0)
		return ret;
	if (rc == BPF_FIB_LKUP_RET_SUCCESS)
		return fib_redirected(skb, bpf_redirect(fib.ifindex, 0));
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return fib_redirected(skb, bpf_redirect_neigh(fib.ifindex, NULL, 0, 0));
	return fib_redirected(skb, redirect_to_node(cfg->uplink_ifindex, node));
}

#endif /* STRAIT_FIB_H */
