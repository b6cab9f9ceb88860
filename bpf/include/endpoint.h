/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Endpoint lookups by address, and by host veth for link traffic that carries no
 * pod address (strait_links_v1). Keys are built whole on the stack (pad and the
 * unused words of an IPv4 key zeroed): the hash compares every byte, and the agent
 * writes keys the same way (src/datapath/maps/endpoints.ts).
 */
#ifndef STRAIT_ENDPOINT_H
#define STRAIT_ENDPOINT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "maps.h"
#include "parse.h"

static __always_inline void endpoint_key_ipv4(struct endpoint_key *key, __be32 addr)
{
	*key = (struct endpoint_key){ .ip = { addr }, .family = 4 };
}

static __always_inline void endpoint_key_ipv6(struct endpoint_key *key, const struct in6_addr *addr)
{
	*key = (struct endpoint_key){ .family = 6 };
	__builtin_memcpy(key->ip, addr, sizeof(key->ip));
}

/* An address as a ct_key holds it (IPv4 in ip[0], the other words zero). */
static __always_inline void endpoint_key_addr(struct endpoint_key *key, const __u32 *ip,
					      __u8 family)
{
	*key = (struct endpoint_key){ .family = family };
	__builtin_memcpy(key->ip, ip, sizeof(key->ip));
}

/* pkt must have passed parse_ipv4() or parse_ipv6(). */
static __always_inline void endpoint_key_src(const struct packet *pkt, struct endpoint_key *key)
{
	if (pkt->l3_proto == ETH_P_IP)
		endpoint_key_ipv4(key, pkt->ip4->saddr);
	else
		endpoint_key_ipv6(key, &pkt->ip6->saddr);
}

static __always_inline void endpoint_key_dst(const struct packet *pkt, struct endpoint_key *key)
{
	if (pkt->l3_proto == ETH_P_IP)
		endpoint_key_ipv4(key, pkt->ip4->daddr);
	else
		endpoint_key_ipv6(key, &pkt->ip6->daddr);
}

static __always_inline struct endpoint_value *endpoint_lookup(const struct endpoint_key *key)
{
	return bpf_map_lookup_elem(&strait_endpoints_v1, key);
}

static __always_inline struct link_value *link_lookup(__u32 ifindex)
{
	return bpf_map_lookup_elem(&strait_links_v1, &ifindex);
}

/* The endpoint of the pod behind host veth ifindex, or NULL when it has none. */
static __always_inline struct endpoint_value *link_endpoint(__u32 ifindex)
{
	struct link_value *link = link_lookup(ifindex);

	return link ? endpoint_lookup(&link->endpoint) : NULL;
}

static __always_inline bool endpoint_ready(const struct endpoint_value *ep)
{
	return ep->flags & EP_F_READY;
}

#endif /* STRAIT_ENDPOINT_H */
