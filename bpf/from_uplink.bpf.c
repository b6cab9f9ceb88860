// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * from_uplink: tc ingress of the node's uplink (the interface holding its
 * InternalIP), so everything that reaches the node from the network. Only packets
 * for a local pod are strait's: another node routed them here natively (fib.h on
 * its side). Such a packet faces the pod's readiness and ingress policy, the
 * source's identity coming from the ipcache (other nodes' pods by their Pod
 * objects, other nodes' addresses as IDENTITY_REMOTE_NODE), with conntrack first
 * (replies pass), then goes straight into the pod with bpf_redirect_peer: no host
 * forwarding, no netfilter on the way. Only a packet that opens a connection (a
 * SYN, an echo request) is judged here when conntrack has not seen its flow; any
 * other unknown one (UDP, a mid-stream TCP segment) may answer a connection the
 * host NATed, so it takes the host stack, where to_pod judges it. A packet from outside that claims a local
 * pod's address as its source is spoofed: a pod's packets never come from there.
 *
 * Everything else (the node's own traffic, VXLAN UDP, ARP, ND, whatever does not
 * parse) goes on to the host stack untouched and uncounted, at the cost of one
 * endpoint lookup: this program sits in front of all of the node's traffic.
 */
#define OBS_POINT OBS_FROM_UPLINK /* flow events (events.h): seen here */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "counters.h"
#include "drop.h"
#include "endpoint.h"
#include "maps.h"
#include "from_node.h"
#include "parse.h"

/* The local endpoint pkt is addressed to, or NULL: then it is none of strait's business. */
static __always_inline struct endpoint_value *local_destination(struct __sk_buff *skb,
								struct packet *pkt)
{
	struct endpoint_key key;

	if (parse_eth(skb, pkt) < 0 || parse_ip(pkt) != 0)
		return NULL;
	endpoint_key_dst(pkt, &key);
	return endpoint_lookup(&key);
}

static __always_inline int handle_from_uplink(struct __sk_buff *skb)
{
	struct endpoint_value *dst;
	struct endpoint_key src_key;
	struct packet pkt;

	dst = local_destination(skb, &pkt);
	if (!dst)
		return TC_ACT_OK;

	endpoint_key_src(&pkt, &src_key);
	if (endpoint_lookup(&src_key))
		return -DROP_SPOOF_UPLINK;
	return deliver_from_node(skb, &pkt, dst, NULL, STAT_FROM_NODE);
}

SEC("tc")
int from_uplink(struct __sk_buff *skb)
{
	return exit_verdict_from_node(skb, handle_from_uplink(skb));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
