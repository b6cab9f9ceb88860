// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * from_pod: tc ingress of a pod's host-side veth, so every packet the pod sends.
 * Checks that the pod sends as itself (address, MAC, readiness), enforces the
 * pod's egress policy and, for a destination on this node, that pod's ingress
 * policy (policy.h), then either hands the packet straight to the other pod with
 * bpf_redirect_peer (no host stack on the way) or passes it to the host stack for
 * everything else: the host, Services, other nodes, the outside.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "counters.h"
#include "drop.h"
#include "endpoint.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"

/*
 * The destination pod sees its gateway (our veth) as the sender, as after a routed
 * hop; bpf_redirect_peer then switches netns without a trip through the backlog.
 */
static __always_inline int redirect_to_endpoint(struct __sk_buff *skb, struct packet *pkt,
						const struct endpoint_value *dst)
{
	long ret;

	__builtin_memcpy(pkt->eth->h_dest, dst->pod_mac, ETH_ALEN);
	__builtin_memcpy(pkt->eth->h_source, dst->host_mac, ETH_ALEN);

	ret = bpf_redirect_peer(dst->ifindex, 0);
	if (ret != TC_ACT_REDIRECT)
		return -DROP_REDIRECT_FAILED;
	count_stat(skb, STAT_REDIRECT_PEER);
	return TC_ACT_REDIRECT;
}

/* The sender must be the endpoint behind this veth, with its own MAC, and ready. */
static __always_inline int check_source(struct __sk_buff *skb, const struct packet *pkt,
					struct endpoint_value **src_out)
{
	struct endpoint_key key;
	struct endpoint_value *src;

	endpoint_key_src(pkt, &key);
	src = endpoint_lookup(&key);
	if (!src || src->ifindex != skb->ifindex)
		return -DROP_SPOOF_IP;
	if (!mac_equal(pkt->eth->h_source, src->pod_mac))
		return -DROP_SPOOF_MAC;
	if (!endpoint_ready(src))
		return -DROP_NOT_READY;

	*src_out = src;
	return 0;
}

static __always_inline int handle_from_pod(struct __sk_buff *skb)
{
	struct endpoint_value *src = NULL, *dst;
	struct endpoint_key dst_key;
	struct packet pkt;
	__u32 ct_flags;
	int ret;

	ret = parse_eth(skb, &pkt);
	if (ret < 0)
		return ret;

	switch (pkt.l3_proto) {
	case ETH_P_ARP:
		/* The pod asks for its gateway; the host veth answers (proxy ARP). */
		count_stat(skb, STAT_TO_STACK);
		return TC_ACT_OK;
	case ETH_P_IP:
		ret = parse_ipv4(&pkt);
		if (ret < 0)
			return ret;
		break;
	case ETH_P_IPV6:
		ret = parse_ipv6(&pkt);
		if (ret < 0)
			return ret;
		if (ipv6_is_link_control(pkt.ip6)) {
			count_stat(skb, STAT_TO_STACK);
			return TC_ACT_OK;
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
	if (dst && !endpoint_ready(dst))
		return -DROP_NOT_READY;

	/* The source's egress policy, and a local destination's ingress policy. */
	ret = policy_enforce(skb, &pkt, src, dst, 0, &ct_flags);
	if (ret < 0)
		return ret;

	/* A reply of a connection that came in through the host stack goes back the
	 * same way, so the host's conntrack can undo its NAT (Services). */
	if (!dst || (ct_flags & CT_F_VIA_STACK)) {
		count_stat(skb, STAT_TO_STACK);
		return TC_ACT_OK;
	}
	return redirect_to_endpoint(skb, &pkt, dst);
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	return exit_verdict(skb, handle_from_pod(skb));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
