// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * to_pod: tc egress of a pod's host-side veth, so whatever the host stack delivers
 * to the pod (from the host, Services, other nodes, the outside; pod-to-pod traffic
 * on this node bypasses it through bpf_redirect_peer). A pod whose policy is not
 * written yet receives nothing (fail closed); everything else faces the pod's
 * ingress policy (policy.h).
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

static __always_inline int handle_to_pod(struct __sk_buff *skb)
{
	struct endpoint_value *dst;
	struct endpoint_key key;
	bool link_control = false;
	struct packet pkt;
	__u32 ct_flags;
	int ret;

	ret = parse_eth(skb, &pkt);
	if (ret < 0)
		return ret;

	switch (pkt.l3_proto) {
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
		 */
		link_control = ipv6_is_link_control(pkt.ip6);
		break;
	default:
		/* ARP replies from the gateway; nothing to match against an endpoint. */
		goto pass;
	}

	/*
	 * Only this veth's own endpoint is judged: another address (multicast, ND to a
	 * solicited-node group) is link traffic the pod needs whatever its state.
	 */
	endpoint_key_dst(&pkt, &key);
	dst = endpoint_lookup(&key);
	if (dst && dst->ifindex == skb->ifindex) {
		if (!endpoint_ready(dst))
			return -DROP_NOT_READY;
		/* Neighbour discovery and the like on this link come from the node. */
		if (link_control)
			goto pass;
		/* Opened here, through the stack: its replies return the same way. */
		ret = policy_enforce(skb, &pkt, NULL, dst, CT_F_VIA_STACK, &ct_flags);
		if (ret < 0)
			return ret;
	}

pass:
	count_stat(skb, STAT_TO_POD);
	return TC_ACT_OK;
}

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	return exit_verdict(skb, handle_to_pod(skb));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
