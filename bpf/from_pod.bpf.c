// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * from_pod: tc ingress of a pod's host-side veth, so every packet the pod sends.
 * Checks that the pod sends as itself (address, MAC, readiness) — link traffic
 * too: ARP, and the neighbour discovery and MLD a pod needs (icmp6.h), whose
 * sender is found through the veth's link entry when it has no pod address —
 * drops what only routers send (Router Advertisements, Redirects), enforces the
 * pod's egress policy and, for a destination on this node, that pod's ingress
 * policy (policy.h), then either hands the packet straight to the other pod with
 * bpf_redirect_peer (no host stack on the way, one hop of TTL spent), sends it to
 * another node when it is for that node's pod (out of the uplink, fib.h, or into the
 * VXLAN device, tunnel.h), or passes it to the host stack for everything else: the
 * host, Services, the outside, and link control for the node to answer.
 */
#define OBS_POINT OBS_FROM_POD /* flow events (events.h): seen here */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "arp.h"
#include "compiler.h"
#include "counters.h"
#include "drop.h"
#include "endpoint.h"
#include "fib.h"
#include "icmp6.h"
#include "lb.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "redirect.h"
#include "remote.h"
#include "tunnel.h"

/* ep, the endpoint the sender claims to be, must be the one behind this veth, with its MAC,
 * and ready. */
static __always_inline int check_sender(struct __sk_buff *skb, const struct packet *pkt,
					const struct endpoint_value *ep)
{
	if (!ep || ep->ifindex != skb->ifindex)
		return -DROP_SPOOF_IP;
	if (!mac_equal(pkt->eth->h_source, ep->pod_mac))
		return -DROP_SPOOF_MAC;
	if (!endpoint_ready(ep))
		return -DROP_NOT_READY;
	return 0;
}

static __always_inline int check_source(struct __sk_buff *skb, const struct packet *pkt,
					struct endpoint_value **src_out)
{
	struct endpoint_key key;
	struct endpoint_value *src;
	int ret;

	endpoint_key_src(pkt, &key);
	src = endpoint_lookup(&key);
	ret = check_sender(skb, pkt, src);
	if (ret < 0)
		return ret;
	*src_out = src;
	return 0;
}

/* ARP: "my address is at my MAC" is all a pod may say; the host stack answers. */
static __always_inline int arp_from_pod(struct __sk_buff *skb, const struct packet *pkt)
{
	struct endpoint_key key;
	struct arp_eth *arp;
	__be32 spa;
	int ret;

	ret = parse_arp(pkt, &arp);
	if (ret < 0)
		return ret;
	if (!mac_equal(arp->sha, pkt->eth->h_source))
		return -DROP_SPOOF_MAC;
	__builtin_memcpy(&spa, &arp->spa, sizeof(spa));
	endpoint_key_ipv4(&key, spa);
	return check_sender(skb, pkt, endpoint_lookup(&key));
}

/* An NA claims its target: one of the pod's addresses, or a link-local one but the gateway's. */
static __always_inline bool na_target_is_own(struct __sk_buff *skb, const struct in6_addr *target)
{
	struct endpoint_value *ep;
	struct endpoint_key key;

	if (ipv6_addr_is_link_local(target))
		return !ipv6_addr_is_gateway(target);
	endpoint_key_ipv6(&key, target);
	ep = endpoint_lookup(&key);
	return ep && ep->ifindex == skb->ifindex;
}

/*
 * Neighbour discovery and MLD the pod needs, to a group or a link-local address,
 * for the host stack to answer (never to forward: ND to another pod's address would
 * reach it past its ingress policy, so that takes the ordinary path). Sent
 * from the pod's own address, the sender is checked as for any packet; from
 * fe80::/10 or :: (DAD, MLD before a link-local address) it is the pod of this
 * veth's link entry. Either way with its MAC, and ready.
 */
static __always_inline int nd_from_pod(struct __sk_buff *skb, const struct packet *pkt,
				       const struct icmp6_nd *nd)
{
	const struct in6_addr *saddr = &pkt->ip6->saddr;
	struct endpoint_value *ep;
	struct endpoint_key key;
	int ret;

	if (ipv6_addr_is_link_local(saddr) || ipv6_addr_is_unspecified(saddr)) {
		ep = link_endpoint(skb->ifindex);
		if (!ep)
			return -DROP_NO_LINK;
	} else {
		endpoint_key_ipv6(&key, saddr);
		ep = endpoint_lookup(&key);
	}
	ret = check_sender(skb, pkt, ep);
	if (ret < 0)
		return ret;
	if (nd->type == ICMP6_NEIGH_ADVERT) {
		if ((void *)(nd + 1) > pkt->data_end)
			return -DROP_MALFORMED;
		if (!na_target_is_own(skb, &nd->target))
			return -DROP_SPOOF_IP;
	}
	return 0;
}

static __always_inline int handle_from_pod(struct __sk_buff *skb)
{
	struct endpoint_value *src = NULL, *dst;
	struct remote_value *remote;
	struct endpoint_key dst_key;
	struct icmp6_nd *nd;
	struct packet pkt;
	__u32 ct_flags, lb_flags = 0;
	int ret, verdict = 0;

	ret = parse_eth(skb, &pkt);
	if (ret < 0)
		return ret;

	switch (pkt.l3_proto) {
	case ETH_P_ARP:
		ret = arp_from_pod(skb, &pkt);
		if (ret < 0)
			return ret;
		goto to_stack;
	case ETH_P_IP:
		ret = parse_ipv4(&pkt);
		if (ret < 0)
			return ret;
		break;
	case ETH_P_IPV6:
		ret = parse_ipv6(&pkt);
		if (ret < 0)
			return ret;
		/* NULL for all but ICMPv6: no map lookup on the way for TCP or UDP. */
		nd = icmp6_link_header(&pkt);
		if (!nd)
			break;
		switch (icmp6_link_class(nd->type)) {
		case ICMP6_LINK_ROUTER:
			return -DROP_ROUTER_MSG;
		case ICMP6_LINK_POD:
			/* Link control stays on the link; to another pod it is just a packet. */
			if (!ipv6_addr_is_link_scope(&pkt.ip6->daddr))
				break;
			ret = nd_from_pod(skb, &pkt, nd);
			if (ret < 0)
				return ret;
			goto to_stack;
		default:
			break;
		}
		break;
	default:
		return -DROP_UNKNOWN_L3;
	}

	ret = check_source(skb, &pkt, &src);
	if (ret < 0)
		return ret;

	endpoint_key_dst(&pkt, &dst_key);
	dst = endpoint_lookup(&dst_key);
	/* No local pod: maybe a Service (lb.h); pod-to-pod traffic never looks. */
	if (!dst) {
		ret = lb_from_pod(skb, &pkt, src, &verdict);
		if (ret < 0)
			return ret;
		switch (ret) {
		case LB_HAIRPIN:
			/* A pod reaching itself, or its answer: never subject to its policy. */
			return redirect_to_endpoint(skb, &pkt, src, STAT_LB_HAIRPIN);
		case LB_ANSWERED:
			return verdict;
		case LB_TRANSLATED:
			lb_flags = CT_F_SERVICE;
			endpoint_key_dst(&pkt, &dst_key);
			dst = endpoint_lookup(&dst_key);
			break;
		default:
			break;
		}
	}
	if (dst && !endpoint_ready(dst))
		return -DROP_NOT_READY;

	/* The source's egress policy, and a local destination's ingress policy. */
	ret = policy_enforce(skb, &pkt, src, dst, lb_flags, &ct_flags);
	if (ret < 0)
		return ret;

	/* A reply of a connection that came in through the host stack goes back the
	 * same way, so the host's conntrack can undo its NAT (Services). */
	if (dst && !(ct_flags & CT_F_VIA_STACK)) {
		/* A packet lb just translated opened or continues its connection: never a
		 * reply, so never translated back. */
		ret = lb_deliver(skb, &pkt, ct_flags);
		if (ret < 0)
			return ret;
		return redirect_to_endpoint(skb, &pkt, dst, STAT_REDIRECT_PEER);
	}
	remote = dst || (ct_flags & CT_F_VIA_STACK) ? NULL : remote_lookup(&pkt);
	if (remote) {
		switch (datapath_routing()) {
		case ROUTING_NATIVE:
			return route_to_node(skb, &pkt, remote);
		case ROUTING_VXLAN:
			return tunnel_to_node(skb, &pkt, src, remote);
		default:
			break;
		}
	}

to_stack:
	count_stat(skb, STAT_TO_STACK);
	return TC_ACT_OK;
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	return exit_verdict(skb, handle_from_pod(skb), skb->ifindex, EP_DIR_EGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
