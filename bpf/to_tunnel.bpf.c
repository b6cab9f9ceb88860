// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * to_tunnel: tc egress of the VXLAN device (tunnel.h). A collect_md device sends
 * nothing without a key, so every packet gets one or is dropped here, counted:
 * - from_pod set it: the packet passes as it is;
 * - the host stack routed the packet in itself (`<podCIDR> dev strait_vxlan`: the
 *   node's own traffic, and what it forwards: a packet too big for from_pod to
 *   send, a Service's backend on another node): the key of the node holding the
 *   destination, the VNI that names the source pod's label set when a pod of this node sent it
 *   (its address was checked by from_pod on the way in), else 0;
 * - anything else (an address in no other node's pod CIDR, the link-local and
 *   multicast noise a device may still send, ARP): DROP_TUNNEL_NO_REMOTE.
 */
#define OBS_POINT OBS_TO_TUNNEL /* flow events (events.h): seen here */

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
#include "remote.h"
#include "tunnel.h"

static __always_inline int handle_to_tunnel(struct __sk_buff *skb)
{
	const struct endpoint_value *src;
	const struct remote_value *remote;
	struct bpf_tunnel_key key = {};
	struct endpoint_key src_key;
	struct packet pkt;
	int ret;

	if (tunnel_get_key(skb, &key) > 0)
		return TC_ACT_OK;

	ret = parse_eth(skb, &pkt);
	if (ret < 0)
		return ret;
	ret = parse_ip(&pkt);
	if (ret == PARSE_NOT_IP)
		return -DROP_TUNNEL_NO_REMOTE;
	if (ret < 0)
		return ret;

	remote = remote_lookup(&pkt);
	if (!remote)
		return -DROP_TUNNEL_NO_REMOTE;
	endpoint_key_src(&pkt, &src_key);
	src = endpoint_lookup(&src_key);
	ret = tunnel_set_key(skb, remote, src ? tunnel_vni(src) : 0);
	if (ret < 0)
		return ret;
	return TC_ACT_OK;
}

SEC("tc")
int to_tunnel(struct __sk_buff *skb)
{
	return exit_verdict(skb, handle_to_tunnel(skb), 0, EP_DIR_EGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
