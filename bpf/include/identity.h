/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What a peer address is, for policy. A pod address has a pod identity (its label
 * set) and a namespace identity (strait_ipcache_v1; both 0 for an address that is
 * no pod's), and every address a CIDR identity: the longest ipBlock prefix or node
 * address covering it (strait_cidr_v1, IDENTITY_WORLD for none). All are looked up
 * because an ipBlock must match pod addresses too. Addresses come as a ct_key holds
 * them: an IPv4 address in ip[0], the other words zero.
 */
#ifndef STRAIT_IDENTITY_H
#define STRAIT_IDENTITY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "endpoint.h"
#include "maps.h"

struct peer_identity {
	__u32 pod;
	__u32 ns; /* the pod's namespace identity; 0 when pod is */
	__u32 cidr;
};

/* The address's entry in strait_ipcache_v1, looked up with key (the caller's memory). */
static __always_inline struct ipcache_value *identity_ipcache(struct endpoint_key *key,
							      const __u32 *ip, __u8 family)
{
	endpoint_key_addr(key, ip, family);
	return bpf_map_lookup_elem(&strait_ipcache_v1, key);
}

static __always_inline void identity_pod(const __u32 *ip, __u8 family, struct peer_identity *id)
{
	struct endpoint_key key;
	struct ipcache_value *v = identity_ipcache(&key, ip, family);

	id->pod = v ? v->identity : IDENTITY_ANY;
	id->ns = v && v->identity != IDENTITY_ANY ? v->namespace : IDENTITY_ANY;
}

/* The address's CIDR identity, looked up with key (the caller's memory). family and pad
 * are part of every prefix: a full-length lookup is 32 + address bits. */
static __always_inline __u32 identity_cidr_with(struct cidr_key *key, const __u32 *ip, __u8 family)
{
	struct cidr_value *v;

	*key = (struct cidr_key){ .prefixlen = 32 + (family == 4 ? 32 : 128), .family = family };
	__builtin_memcpy(key->ip, ip, sizeof(key->ip));
	v = bpf_map_lookup_elem(&strait_cidr_v1, key);
	return v ? v->identity : IDENTITY_WORLD;
}

static __always_inline __u32 identity_cidr(const __u32 *ip, __u8 family)
{
	struct cidr_key key;

	return identity_cidr_with(&key, ip, family);
}

static __always_inline void identity_classify(const __u32 *ip, __u8 family,
					      struct peer_identity *id)
{
	identity_pod(ip, family, id);
	id->cidr = identity_cidr(ip, family);
}

/*
 * A source the ipcache does not know yet (a pod so new that this node has not seen
 * its Pod object) takes the identities its node sent along (VXLAN: the VNI names
 * its label set, strait_vni_v1 says what that is here: pod and namespace identity),
 * so its labels and its namespace are judged at once rather than as an unknown
 * address. A hint never overrides what the ipcache says, and only a pod identity
 * counts. The outer source was checked to be a node of the cluster; like every
 * overlay without encryption, this trusts the underlay not to forge it.
 */
/* Only a pod identity counts in a hint. */
static __always_inline bool identity_hint_counts(__u32 identity)
{
	return identity >= FIRST_POD_IDENTITY && identity < IDENTITY_CIDR_FLAG;
}

static __always_inline void identity_hint(struct peer_identity *id,
					  const struct ipcache_value *hint)
{
	if (!hint || id->pod != IDENTITY_ANY || !identity_hint_counts(hint->identity))
		return;
	id->pod = hint->identity;
	id->ns = hint->namespace;
}

/* This node's own addresses: traffic to and from them is always allowed. */
static __always_inline bool identity_is_host(const struct peer_identity *id)
{
	return id->pod == IDENTITY_HOST || id->cidr == IDENTITY_HOST;
}

#endif /* STRAIT_IDENTITY_H */
