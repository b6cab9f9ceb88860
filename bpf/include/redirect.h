/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Handing a packet to a local pod, one routed hop on: TTL/hop limit checked and
 * spent, MACs rewritten, bpf_redirect_peer into the pod's netns. Shared by every
 * program that delivers straight into a pod: from_pod (another pod of this node),
 * from_uplink (a pod of another node). fib.h spends hops the same way on the way
 * out to another node.
 */
#ifndef STRAIT_REDIRECT_H
#define STRAIT_REDIRECT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "counters.h"
#include "drop.h"
#include "maps.h"
#include "parse.h"

/*
 * bpf_redirect_peer() only queues the redirect: a target that is gone is dropped
 * later by the kernel, uncounted. bpf_check_mtu() (5.12+) looks the device up and
 * fails with -EINVAL when there is none. On older kernels the call is dead code the
 * verifier removes (the CO-RE relocation makes the test a constant), and a vanished
 * target is dropped as before.
 */
static __always_inline bool redirect_target_exists(struct __sk_buff *skb, __u32 ifindex)
{
	__u32 mtu = 0;

	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_check_mtu))
		return true;
	return bpf_check_mtu(skb, ifindex, &mtu, 0, 0) >= 0;
}

static __always_inline bool hop_expired(const struct packet *pkt)
{
	if (pkt->l3_proto == ETH_P_IP)
		return pkt->ip4->ttl <= 1;
	return pkt->ip6->hop_limit <= 1;
}

/* Last thing before the redirect: the checksum helper invalidates pkt's pointers. */
static __always_inline int hop_decrement(struct __sk_buff *skb, const struct packet *pkt)
{
	struct iphdr *ip4 = pkt->ip4;
	__be16 *ttl_proto;
	__be16 old;

	if (pkt->l3_proto != ETH_P_IP) {
		/*
		 * No checksum covers the IPv6 header, but a NIC's CHECKSUM_COMPLETE
		 * (what arrives on the uplink) sums it: the helper keeps skb->csum
		 * right, where a plain store would fail the pod's L4 check.
		 */
		__u8 hop_limit = pkt->ip6->hop_limit - 1;

		if (bpf_skb_store_bytes(skb,
					ETH_HLEN + __builtin_offsetof(struct ipv6hdr, hop_limit),
					&hop_limit, sizeof(hop_limit), BPF_F_RECOMPUTE_CSUM) < 0)
			return -DROP_MALFORMED;
		return 0;
	}
	/* ttl and protocol are one 16-bit word of the header checksum. */
	ttl_proto = (__be16 *)&ip4->ttl;
	old = *ttl_proto;
	ip4->ttl--;
	if (bpf_l3_csum_replace(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, check), old,
				*ttl_proto, sizeof(__u16)) < 0)
		return -DROP_MALFORMED;
	return 0;
}

/*
 * The destination pod sees its gateway (our veth) as the sender, one routed hop
 * away; bpf_redirect_peer then switches netns without a trip through the backlog
 * (it works from tc ingress only: from_pod and from_uplink). counted: the verdict
 * counter of the path that got here.
 * A packet with no hop left goes to the host stack instead, which drops it and
 * answers time exceeded as any router on the way would.
 */
static __always_inline int redirect_to_endpoint(struct __sk_buff *skb, struct packet *pkt,
						const struct endpoint_value *dst,
						enum stat_id counted)
{
	int ret;

	if (hop_expired(pkt)) {
		count_stat(skb, STAT_TTL_EXPIRED);
		return TC_ACT_OK;
	}
	if (!redirect_target_exists(skb, dst->ifindex))
		return -DROP_REDIRECT_FAILED;

	__builtin_memcpy(pkt->eth->h_dest, dst->pod_mac, ETH_ALEN);
	__builtin_memcpy(pkt->eth->h_source, dst->host_mac, ETH_ALEN);
	ret = hop_decrement(skb, pkt);
	if (ret < 0)
		return ret;

	if (bpf_redirect_peer(dst->ifindex, 0) != TC_ACT_REDIRECT)
		return -DROP_REDIRECT_FAILED;
	count_stat(skb, counted);
	return TC_ACT_REDIRECT;
}

#endif /* STRAIT_REDIRECT_H */
