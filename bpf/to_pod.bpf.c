// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * to_pod: tc egress of a pod's host-side veth, so whatever the host stack delivers
 * to the pod (from the host, Services, other nodes, the outside; pod-to-pod traffic
 * on this node bypasses it through bpf_redirect_peer). Fails closed throughout: a
 * veth with no pod behind it in strait_links_v1 passes nothing; unicast must be
 * addressed to this veth's pod, which receives nothing until its policy is written
 * and then faces its ingress policy (policy.h). The only exception is the link
 * control the pod needs from the node: ARP, and neighbour solicitations and
 * advertisements (the node resolving the pod, or answering it).
 */
#define OBS_POINT OBS_TO_POD /* flow events (events.h): seen here */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "counters.h"
#include "drop.h"
#include "endpoint.h"
#include "icmp6.h"
#include "lb.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"

/*
 * The node's own NS and NA carry hop limit 255 (RFC 4861 requires it); one the
 * node forwarded from elsewhere has less, and is judged like any packet.
 */
static __always_inline bool nd_to_pod(const struct packet *pkt)
{
	const struct icmp6_nd *nd = icmp6_link_header(pkt);

	return nd && (nd->type == ICMP6_NEIGH_SOLICIT || nd->type == ICMP6_NEIGH_ADVERT) &&
	       pkt->ip6->hop_limit == 255;
}

static __always_inline int handle_to_pod(struct __sk_buff *skb)
{
	struct endpoint_value *dst;
	struct endpoint_key key;
	struct packet pkt;
	__u32 ct_flags;
	int ret;

	/* The veth's endpoint entries are gone (or not yet written): nothing gets in. */
	if (!link_lookup(skb->ifindex))
		return -DROP_NO_LINK;

	ret = parse_eth(skb, &pkt);
	if (ret < 0)
		return ret;

	switch (pkt.l3_proto) {
	case ETH_P_ARP:
		/* The node resolving the pod, or answering it. */
		goto pass;
	case ETH_P_IP:
		ret = parse_ipv4(&pkt);
		if (ret < 0)
			return ret;
		break;
	case ETH_P_IPV6:
		ret = parse_ipv6(&pkt);
		if (ret < 0)
			return ret;
		/*
		 * Decided here, where the verifier knows the IPv6 header is in bounds: a
		 * later test of l3_proto compiles to a re-read it cannot tie to this one.
		 * Whatever the pod's state: the node resolves it before its policy lands.
		 */
		if (nd_to_pod(&pkt))
			goto pass;
		break;
	default:
		return -DROP_UNKNOWN_L3;
	}

	endpoint_key_dst(&pkt, &key);
	dst = endpoint_lookup(&key);
	if (!dst || dst->ifindex != skb->ifindex)
		return -DROP_NOT_FOR_POD;
	if (!endpoint_ready(dst))
		return -DROP_NOT_READY;
	/* Opened here, through the stack: its replies return the same way. */
	ret = policy_enforce(skb, &pkt, NULL, dst, CT_F_VIA_STACK, &ct_flags);
	if (ret < 0)
		return ret;
	/* A Service's reply the stack delivers: the ClusterIP back as its source. */
	ret = lb_deliver(skb, &pkt, ct_flags);
	if (ret < 0)
		return ret;

pass:
	count_stat(skb, STAT_TO_POD);
	return TC_ACT_OK;
}

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	return exit_verdict(skb, handle_to_pod(skb), skb->ifindex, EP_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
