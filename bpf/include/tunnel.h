/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * VXLAN mode: the other nodes' pods lie behind one collect_md VXLAN device
 * (strait_vxlan, config_value.tunnel_ifindex) whose far end is set per packet here,
 * from the node strait_remote_v1 names for the destination.
 *
 * - from_pod (tunnel_to_node): after policy, one hop of TTL spent, the key set and
 *   the packet redirected into the device: no host routing or netfilter on the way.
 * - to_tunnel (tc egress of the device): what the host stack routes into the device
 *   itself (`<podCIDR> dev strait_vxlan`: the node's own traffic, what it forwards)
 *   carries no key yet and gets one here.
 * - from_tunnel (tc ingress): the outer source must be a node (tunnel_from_node).
 *
 * The VNI names the sending pod's label set as every node names it (a hash of the
 * label set, strait_identity_vni_v1), so the receiving node judges a pod it has no
 * ipcache entry for yet by its labels and namespace (strait_vni_v1, identity.h
 * identity_hint); 0 says "no hint" (the node's own traffic, a label set whose hash
 * another shares).
 *
 * The key is passed without its local address fields (added in 5.19): every kernel
 * takes that size, 5.10 no other, and the local address is the kernel's choice.
 */
#ifndef STRAIT_TUNNEL_H
#define STRAIT_TUNNEL_H

#include <linux/bpf.h>
#include <linux/errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "counters.h"
#include "drop.h"
#include "identity.h"
#include "maps.h"
#include "parse.h"
#include "redirect.h"
#include "remote.h"

#define TUNNEL_KEY_SIZE __builtin_offsetof(struct bpf_tunnel_key, local_ipv4)
#define TUNNEL_TTL 64
#define TUNNEL_VNI_MAX 0xffffff

/* The VNI that names src's label set on every node (maps.h), or 0: no hint. */
static __always_inline __u32 tunnel_vni(const struct endpoint_value *src)
{
	__u32 identity = src->identity;
	__u32 *vni = bpf_map_lookup_elem(&strait_identity_vni_v1, &identity);

	return vni && *vni <= TUNNEL_VNI_MAX ? *vni : 0;
}

/* What a VNI stands for on this node: the sender's pod and namespace identity; NULL for none. */
static __always_inline const struct ipcache_value *tunnel_vni_identity(__u32 vni)
{
	if (vni == 0)
		return NULL;
	return bpf_map_lookup_elem(&strait_vni_v1, &vni);
}

/* The outer header's destination: remote's node; its VNI: vni. */
static __always_inline int tunnel_set_key(struct __sk_buff *skb, const struct remote_value *remote,
					  __u32 vni)
{
	struct bpf_tunnel_key key = { .tunnel_id = vni, .tunnel_ttl = TUNNEL_TTL };
	__u64 flags = 0;

	if (remote->node_family == 4) {
		key.remote_ipv4 = bpf_ntohl(remote->node_ip[0]); /* the helper takes host order */
	} else {
		__builtin_memcpy(key.remote_ipv6, remote->node_ip, sizeof(key.remote_ipv6));
		flags = BPF_F_TUNINFO_IPV6;
	}
	if (bpf_skb_set_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, flags) < 0)
		return -DROP_TUNNEL_KEY;
	return 0;
}

/*
 * The key of a received packet (or one from_pod set), either family of underlay:
 * the helper refuses the other family with -EPROTO. Returns the family, or < 0.
 */
static __always_inline int tunnel_get_key(struct __sk_buff *skb, struct bpf_tunnel_key *key)
{
	int ret = bpf_skb_get_tunnel_key(skb, key, TUNNEL_KEY_SIZE, 0);

	if (ret == -EPROTO)
		return bpf_skb_get_tunnel_key(skb, key, TUNNEL_KEY_SIZE, BPF_F_TUNINFO_IPV6) < 0 ?
			       -1 :
			       6;
	return ret < 0 ? ret : 4;
}

/*
 * A received packet must come from a node of the cluster: its outer source has the
 * ipcache identity IDENTITY_REMOTE_NODE (the agent writes one per Node address).
 */
static __always_inline int tunnel_from_node(struct __sk_buff *skb, struct bpf_tunnel_key *key)
{
	struct peer_identity id;
	__u32 ip[4] = {};
	int family;

	family = tunnel_get_key(skb, key);
	if (family < 0)
		return -DROP_TUNNEL_KEY;
	if (family == 4)
		ip[0] = bpf_htonl(key->remote_ipv4);
	else
		__builtin_memcpy(ip, key->remote_ipv6, sizeof(ip));
	identity_pod(ip, family, &id);
	if (id.pod != IDENTITY_REMOTE_NODE)
		return -DROP_TUNNEL_UNKNOWN_NODE;
	return 0;
}

/*
 * > 0 when the packet does not fit the tunnel (a GSO packet: its segments). It then
 * takes the host stack, which routes it into the device and answers as a router
 * does: ICMP fragmentation needed / packet too big with the device's MTU, or (IPv4
 * without DF) fragments. The vxlan driver answers so only for bridged packets; a
 * redirected one it would send in an outer packet the underlay fragments, so path
 * MTU discovery would never learn the tunnel's MTU. bpf_check_mtu is 5.12+: before,
 * that is what happens. < 0: the device is gone.
 */
static __always_inline int tunnel_too_big(struct __sk_buff *skb, __u32 ifindex)
{
	__u32 mtu = 0;

	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_check_mtu))
		return 0;
	return bpf_check_mtu(skb, ifindex, &mtu, 0, BPF_MTU_CHK_SEGS);
}

/*
 * from_pod, for a pod of the node `remote` names (after src's policy): one hop spent as a
 * router would, into the tunnel. The inner frame goes from this node's gateway MAC
 * to itself, as the kernel addresses frames on a device without ARP; the receiving
 * node rewrites both for its pod. No tunnel configured, or too big for it: the host
 * stack.
 */
static __always_inline int tunnel_to_node(struct __sk_buff *skb, struct packet *pkt,
					  const struct endpoint_value *src,
					  const struct remote_value *remote)
{
	const struct config_value *cfg = datapath_config();
	__u32 ifindex = cfg ? cfg->tunnel_ifindex : 0;
	int ret;

	if (!ifindex)
		goto to_stack;
	ret = tunnel_too_big(skb, ifindex);
	if (ret < 0)
		return -DROP_REDIRECT_FAILED;
	if (ret > 0)
		goto to_stack;
	if (hop_expired(pkt)) {
		count_stat(skb, STAT_TTL_EXPIRED);
		return TC_ACT_OK;
	}
	ret = tunnel_set_key(skb, remote, tunnel_vni(src));
	if (ret < 0)
		return ret;
	__builtin_memcpy(pkt->eth->h_dest, src->host_mac, ETH_ALEN);
	__builtin_memcpy(pkt->eth->h_source, src->host_mac, ETH_ALEN);
	ret = hop_decrement(skb, pkt);
	if (ret < 0)
		return ret;
	count_stat(skb, STAT_TUNNEL_TX);
	return bpf_redirect(ifindex, 0);

to_stack:
	count_stat(skb, STAT_TO_STACK);
	return TC_ACT_OK;
}

#endif /* STRAIT_TUNNEL_H */
