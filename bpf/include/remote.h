/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Other nodes: which node holds a destination that is no pod of this one
 * (strait_remote_v1, longest pod CIDR wins), and how this node reaches it
 * (strait_config_v1). Until an agent has written the config, routing is
 * ROUTING_STACK and every such packet goes to the host stack, as before strait
 * knew other nodes.
 */
#ifndef STRAIT_REMOTE_H
#define STRAIT_REMOTE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "maps.h"
#include "parse.h"

/* pkt must have passed parse_ipv4() or parse_ipv6(). */
static __always_inline struct remote_value *remote_lookup(const struct packet *pkt)
{
	struct cidr_key key = {};

	if (pkt->l3_proto == ETH_P_IP) {
		key.prefixlen = 32 + 32;
		key.family = 4;
		key.ip[0] = pkt->ip4->daddr;
	} else {
		key.prefixlen = 32 + 128;
		key.family = 6;
		__builtin_memcpy(key.ip, &pkt->ip6->daddr, sizeof(key.ip));
	}
	return bpf_map_lookup_elem(&strait_remote_v1, &key);
}

static __always_inline const struct config_value *datapath_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&strait_config_v1, &zero);
}

static __always_inline __u32 datapath_routing(void)
{
	const struct config_value *cfg = datapath_config();

	return cfg ? cfg->routing : ROUTING_STACK;
}

#endif /* STRAIT_REMOTE_H */
