// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * from_tunnel: tc ingress of the VXLAN device (tunnel.h), so every packet another
 * node sent through the tunnel, decapsulated. The outer source must be a node of
 * the cluster, else DROP_TUNNEL_UNKNOWN_NODE. A packet for a pod of this node:
 * never from one of this node's own pods (DROP_TUNNEL_SPOOF), only once its policy
 * is written, then its ingress policy (policy.h) with the source's pod identity
 * from the ipcache or, while the ipcache does not know the source yet, from the
 * VNI; replies and related ICMP errors pass on conntrack. Then straight into the
 * pod with bpf_redirect_peer, MACs rewritten and one hop spent (redirect.h).
 * Everything else (for the node itself, or another pod's reply that must meet the
 * host's conntrack to undo its NAT, ARP) goes on to the host stack.
 *
 * The inner frame is addressed to the sending node's gateway MAC, so the device
 * took it for another host's (PACKET_OTHERHOST), which IP drops: it is retyped
 * PACKET_HOST first. The stack needs that (a hop that runs out here is answered
 * with time exceeded only so); bpf_redirect_peer resets it on recent kernels, but
 * no kernel promises that.
 */
#define OBS_POINT OBS_FROM_TUNNEL /* flow events (events.h): seen here */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "counters.h"
#include "drop.h"
#include "endpoint.h"
#include "maps.h"
#include "from_node.h"
#include "parse.h"
#include "tunnel.h"

static __always_inline int handle_from_tunnel(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};
	struct endpoint_value *dst;
	struct endpoint_key ep_key;
	struct packet pkt;
	int ret;

	ret = tunnel_from_node(skb, &key);
	if (ret < 0)
		return ret;
	if (skb->pkt_type == PACKET_OTHERHOST)
		bpf_skb_change_type(skb, PACKET_HOST);

	ret = parse_eth(skb, &pkt);
	if (ret < 0)
		return ret;
	ret = parse_ip(&pkt);
	if (ret == PARSE_NOT_IP)
		return TC_ACT_OK;
	if (ret < 0)
		return ret;

	endpoint_key_src(&pkt, &ep_key);
	if (endpoint_lookup(&ep_key))
		return -DROP_TUNNEL_SPOOF;
	endpoint_key_dst(&pkt, &ep_key);
	dst = endpoint_lookup(&ep_key);
	if (!dst)
		return TC_ACT_OK;
	return deliver_from_node(skb, &pkt, dst, tunnel_vni_identity(key.tunnel_id),
				 STAT_TUNNEL_RX);
}

SEC("tc")
int from_tunnel(struct __sk_buff *skb)
{
	return exit_verdict_from_node(skb, handle_from_tunnel(skb));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
