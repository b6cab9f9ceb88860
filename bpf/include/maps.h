/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of strait's datapath and every key/value struct, in one place. The
 * TypeScript mirror is src/datapath/maps/ (it says so, and a test compares both
 * against the BTF of the compiled objects). Maps are pinned by name under the pin
 * dir and outlive every program and process, so a changed layout needs a new version
 * suffix in the map name (strait_endpoints_v1 -> _v2) and a loader that moves the old
 * map's entries over. No layout has changed yet, so the loader has no migration: new
 * maps got new names, and fields were only added where reserved space was zero.
 */
#ifndef STRAIT_MAPS_H
#define STRAIT_MAPS_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "drop.h"

#define ENDPOINTS_MAX 65536

/* An IPv4 address sits in ip[0] (network order), ip[1..3] zero. */
struct endpoint_key {
	__u32 ip[4];
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
};
_Static_assert(sizeof(struct endpoint_key) == 20, "endpoint_key layout");

/* endpoint_value.flags */
#define EP_F_READY (1U << 0) /* policy written; until then the datapath drops (fail closed) */
#define EP_F_INGRESS_ISOLATED (1U << 1) /* a policy selects it for ingress: default deny inbound */
#define EP_F_EGRESS_ISOLATED (1U << 2)  /* a policy selects it for egress: default deny outbound */
#define EP_F_POLICY_GEN (1U << 3)       /* which generation of its policy entries is live */

/*
 * The endpoint's slot in strait_policy_v1: its host veth ifindex, with the live
 * generation in the top bit. The agent writes a changed policy under the other
 * generation, flips EP_F_POLICY_GEN in one endpoint-map update, then deletes the old
 * entries: a packet sees the old policy or the new one, never a mix.
 */
#define POLICY_SLOT_GEN (1U << 31)

/* One entry per pod address on this node. */
struct endpoint_value {
	__u32 ifindex;    /* host-side veth: redirect target and where the pod's packets arrive */
	__u32 flags;      /* EP_F_* */
	__u8 pod_mac[6];  /* MAC of the pod's interface */
	__u8 host_mac[6]; /* MAC of the host-side veth: the pod's gateway */
	__u32 identity;   /* security identity (policy); 0 until assigned */
};
_Static_assert(sizeof(struct endpoint_value) == 24, "endpoint_value layout");

/*
 * One entry per strait host veth, keyed by its ifindex: one address of the pod
 * behind it. Link traffic carries no pod address to look the endpoint up by (ARP
 * aside: neighbour discovery and MLD from fe80::/10 or ::), so from_pod finds the
 * pod's MAC and readiness through here; to_pod drops everything on a veth with no
 * entry. Written by the CNI ADD with the endpoint entries, removed with them.
 */
struct link_value {
	struct endpoint_key endpoint; /* any one of the pod's addresses: they share MAC and
				       * readiness */
};
_Static_assert(sizeof(struct link_value) == 20, "link_value layout");

#define LINKS_MAX ENDPOINTS_MAX

struct traffic_counter {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct traffic_counter) == 16, "traffic_counter layout");

/* Where packets went that were not dropped: keys of strait_stats_v2. */
enum stat_id {
	STAT_REDIRECT_PEER = 0,  /* from a pod, straight into another local pod */
	STAT_TO_STACK = 1,       /* from a pod, handed to the host stack */
	STAT_TO_POD = 2,         /* delivered to a pod by the host stack (tc egress) */
	STAT_CT_HIT = 3,         /* an established connection, its reply, or an ICMP error
				  * about it */
	STAT_POLICY_ALLOWED = 4, /* a new connection an isolated endpoint's policy allowed */
	STAT_CT_RECREATED = 5,   /* a TCP packet without SYN missed conntrack (entry evicted or
				  * expired) and policy allowed it as a new connection: entry
				  * recreated */
	STAT_CT_PROMOTED = 6,    /* a connection's first answer moved it from strait_ct_pending_v1
				  * to strait_ct_v1 */
	STAT_TTL_EXPIRED = 7,    /* from a pod to a local pod with TTL / hop limit 1: left to the
				  * host stack, which answers time exceeded */
	STAT_TO_NODE = 8,        /* from a pod, routed natively out of the uplink to another node */
	STAT_FROM_NODE =
		9, /* from another node through the uplink (native routing), straight into a local pod */
	STAT_FIB_FALLBACK = 10,  /* for another node's pod, but the FIB lookup failed: handed to the
				  * host stack (by return code in strait_fib_v1) */
	STAT_TUNNEL_TX = 11,     /* from a pod, encapsulated into the VXLAN device */
	STAT_TUNNEL_RX = 12,     /* from the VXLAN device, straight into a local pod */
	STAT_NODE_TO_STACK = 13, /* from another node to a local pod, of no flow conntrack knows,
				  * and opening none (UDP, mid-stream TCP): to the host stack, which
				  * may hold its NAT (a Service), then to_pod */
	STAT_LB_TRANSLATED = 14, /* from a pod to a Service: sent to a backend (lb.h) */
	STAT_LB_REV_NAT = 15,    /* a backend's reply given the Service's address back */
	STAT_LB_REJECTED = 16,   /* to a Service with no ready backend: answered with a TCP RST
				  * or ICMP port unreachable */
	STAT_LB_HAIRPIN = 17,    /* a pod reaching itself through its own Service */
	STAT_MAX = 32,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENDPOINTS_MAX);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_endpoints_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LINKS_MAX);
	__type(key, __u32); /* host veth ifindex */
	__type(value, struct link_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_links_v1 SEC(".maps");

/* Per-CPU counters by drop reason (enum drop_reason). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_MAX);
	__type(key, __u32);
	__type(value, struct traffic_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_drops_v1 SEC(".maps");

/* Per-CPU counters by verdict (enum stat_id). _v2: 32 slots (v1 had 8); the loader
 * carries v1's counts over and unpins it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, struct traffic_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_stats_v2 SEC(".maps");

/*
 * Per-CPU counters by endpoint, direction and reason: what each pod sent and
 * received that was dropped (reason: enum drop_reason) and the new connections it
 * opened or accepted (reason EP_REASON_NEW_CONN). Established traffic is not counted
 * here (strait_stats_v2 has it): that keeps the allowed fast path free of a lookup.
 * Entries appear on the first packet; the agent deletes an endpoint's entries when
 * the endpoint goes (CNI DEL), so a reused ifindex starts from zero.
 */
#define EP_DIR_INGRESS 0     /* traffic the endpoint receives */
#define EP_DIR_EGRESS 1      /* traffic the endpoint sends */
#define EP_REASON_NEW_CONN 0 /* DROP_NONE's value: a new connection that passed */

struct ep_counter_key {
	__u32 ifindex;  /* the endpoint's host veth */
	__u8 direction; /* EP_DIR_* */
	__u8 reason;    /* enum drop_reason, or EP_REASON_NEW_CONN */
	__u8 pad[2];
};
_Static_assert(sizeof(struct ep_counter_key) == 8, "ep_counter_key layout");

/* Two directions, the new-connection slot and a few drop reasons per veth. */
#define EP_COUNTERS_MAX (1 << 18)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, EP_COUNTERS_MAX);
	__type(key, struct ep_counter_key);
	__type(value, struct traffic_counter);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_ep_counters_v1 SEC(".maps");

/*
 * Per-CPU counters of the new connections each compiled rule allowed, keyed by
 * policy_value.rule_id (packets: connections, bytes: their first packets). A
 * connection both an egress and an ingress rule allowed counts for each.
 */
#define RULE_COUNTERS_MAX (1 << 16)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, RULE_COUNTERS_MAX);
	__type(key, __u32); /* rule_id */
	__type(value, struct traffic_counter);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_rule_counters_v1 SEC(".maps");

/* Reserved identities. Pods get identities from 256 up (label sets); CIDR prefixes
 * of ipBlocks get identities with IDENTITY_CIDR_FLAG set, namespaces with
 * IDENTITY_NS_FLAG set. */
#define IDENTITY_ANY 0         /* in a policy key: any peer */
#define IDENTITY_HOST 1        /* this node: traffic to and from it is always allowed */
#define IDENTITY_WORLD 2       /* an address no known prefix covers */
#define IDENTITY_CLUSTER 3     /* in a policy key: any pod of the cluster (namespaceSelector: {}) */
#define IDENTITY_REMOTE_NODE 4 /* in the ipcache: another node's address (never a pod) */
#define FIRST_POD_IDENTITY 256 /* label sets from here up; below, reserved ones (no pod) */
#define IDENTITY_CIDR_FLAG (1U << 24)
#define IDENTITY_NS_FLAG (1U << 25)

/*
 * Every pod in the cluster (local and remote), by address: key is endpoint_key.
 * namespace is the identity of the pod's namespace: one policy entry for it stands
 * for "every pod in that namespace", however many label sets live there. It took
 * the place of a reserved flags word that was always written 0 (same size and
 * offset, so no _v2: an entry an older agent wrote reads as "no namespace").
 */
struct ipcache_value {
	__u32 identity;
	__u32 namespace; /* IDENTITY_NS_FLAG | n, or 0 for none */
};
_Static_assert(sizeof(struct ipcache_value) == 8, "ipcache_value layout");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18);
	__type(key, struct endpoint_key);
	__type(value, struct ipcache_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_ipcache_v1 SEC(".maps");

/*
 * Prefixes from ipBlocks (cidr and except) and this node's own addresses, longest
 * prefix wins. family and pad are always matched: prefixlen = 32 + prefix bits.
 * A pod's address is classified twice — its pod identity from strait_ipcache_v1 and
 * its CIDR identity from here — so an ipBlock matches pod addresses too.
 */
struct cidr_key {
	__u32 prefixlen;
	__u8 family;
	__u8 pad[3];
	__u32 ip[4];
};
_Static_assert(sizeof(struct cidr_key) == 24, "cidr_key layout");

struct cidr_value {
	__u32 identity;
};
_Static_assert(sizeof(struct cidr_value) == 4, "cidr_value layout");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 16);
	__type(key, struct cidr_key);
	__type(value, struct cidr_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_cidr_v1 SEC(".maps");

/*
 * Allowed (endpoint, peer identity, direction, protocol, port), longest prefix wins.
 * The fields after prefixlen are matched in this order, so what a rule leaves open is
 * a shorter prefix: POLICY_PREFIX_ANY_PROTO matches every protocol and port,
 * POLICY_PREFIX_ANY_PORT one protocol and every port, POLICY_PREFIX_FULL one port; a
 * port range is a few prefixes over the big-endian port. Any peer is IDENTITY_ANY,
 * looked up separately. Lookup cost does not depend on how many rules exist.
 */
struct policy_key {
	__u32 prefixlen;
	__u32 slot;     /* ifindex | POLICY_SLOT_GEN of the live generation */
	__u32 identity; /* peer: pod or CIDR identity, or IDENTITY_ANY */
	__u8 egress;    /* 1: traffic the endpoint sends; 0: traffic it receives */
	__u8 protocol;  /* IPPROTO_TCP, _UDP, _SCTP */
	__be16 dport;
};
_Static_assert(sizeof(struct policy_key) == 16, "policy_key layout");

#define POLICY_PREFIX_ANY_PROTO 72
#define POLICY_PREFIX_ANY_PORT 80
#define POLICY_PREFIX_FULL 96

struct policy_value {
	__u32 rule_id; /* which compiled rule allowed it (for explain, flows, metrics) */
	__u32 pad;
};
_Static_assert(sizeof(struct policy_value) == 8, "policy_value layout");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 19);
	__type(key, struct policy_key);
	__type(value, struct policy_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_policy_v1 SEC(".maps");

/*
 * Pod CIDRs of the other nodes of the cluster (key: a cidr_key, as in
 * strait_cidr_v1), each with the node that holds it. from_pod looks up a destination
 * that is no local pod here: a hit goes to that node (routed natively, or through
 * the VXLAN tunnel, as strait_config_v1 says); a miss goes to the host stack.
 * Written by the agent from the Node objects.
 */
struct remote_value {
	__u32 node_ip[4]; /* the node's InternalIP (network order; IPv4 in node_ip[0]) */
	__u8 node_family; /* 4 or 6 */
	__u8 pad[3];
	__u32 flags; /* reserved, 0 */
};
_Static_assert(sizeof(struct remote_value) == 24, "remote_value layout");

#define REMOTE_MAX (1 << 14)

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, REMOTE_MAX);
	__type(key, struct cidr_key);
	__type(value, struct remote_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_remote_v1 SEC(".maps");

/* config_value.routing: how a packet for another node's pod leaves this node. */
#define ROUTING_STACK 0  /* no agent has said: the host stack routes it */
#define ROUTING_NATIVE 1 /* FIB lookup and redirect out of the uplink */
#define ROUTING_VXLAN 2  /* tunnel key set in BPF, out of the VXLAN device */

/* The node's datapath settings, one entry (key 0), written by the agent at start. */
struct config_value {
	__u32 routing;        /* ROUTING_* */
	__u32 uplink_ifindex; /* the interface holding the node's InternalIP */
	__u32 tunnel_ifindex; /* the collect_md VXLAN device (ROUTING_VXLAN), else 0 */
	__u32 flags;          /* reserved, 0 */
};
_Static_assert(sizeof(struct config_value) == 16, "config_value layout");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_config_v1 SEC(".maps");

/*
 * Per-CPU counters of the FIB lookups that sent a packet for another node's pod to
 * the host stack instead of out of the uplink, by the helper's return code
 * (BPF_FIB_LKUP_RET_*: slot = code), so an operator sees why (no route: UNREACHABLE,
 * too big: FRAG_NEEDED). A negative return (the helper refused the call: the
 * configured uplink is gone) counts in FIB_SLOT_ERROR.
 */
#define FIB_SLOTS 16
#define FIB_SLOT_ERROR (FIB_SLOTS - 1)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FIB_SLOTS);
	__type(key, __u32);
	__type(value, struct traffic_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_fib_v1 SEC(".maps");

/*
 * The VNI of a VXLAN packet names the sender's label set the same way on every
 * node: a 24-bit hash of it (its canonical text, as pod identities are numbered
 * from), never a node's own identity number, which an earlier collision may have
 * made differ between nodes. strait_identity_vni_v1 gives the sender the VNI of
 * its pod's identity; strait_vni_v1 gives the receiver the identity and namespace
 * identity a VNI stands for on this node. A hash two label sets share is in
 * neither: those pods send no hint. Written by the agent for every identity of
 * the cluster.
 */
#define VNI_MAX (1 << 18)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VNI_MAX);
	__type(key, __u32);   /* pod identity */
	__type(value, __u32); /* its VNI, 1..0xffffff */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_identity_vni_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VNI_MAX);
	__type(key, __u32); /* VNI */
	__type(value, struct ipcache_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_vni_v1 SEC(".maps");

/* Connections, keyed by the tuple of the packet that opened them. A packet whose
 * tuple or reversed tuple is here is established or a reply, and skips policy. */
struct ct_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__be16 sport; /* ICMP echo: the identifier, in both */
	__be16 dport;
	__u8 protocol;
	__u8 family;
	__u8 pad[2];
};
_Static_assert(sizeof(struct ct_key) == 40, "ct_key layout");

#define CT_F_REPLY_SEEN (1U << 0)
/* The connection reached the pod through the host stack (to_pod). Its replies go
 * back through the stack too, never straight to a local pod: the host's own
 * conntrack must see them to undo NAT (a kube-proxy Service's DNAT, for one). */
#define CT_F_VIA_STACK (1U << 1)
/* (1U << 2) is unused: never give it a meaning an older build's entries may carry */
#define CT_F_FIN_ORIG (1U << 3)  /* TCP: FIN seen from the side that opened it */
#define CT_F_FIN_REPLY (1U << 4) /* TCP: FIN seen from the other side */
#define CT_F_CLOSED (1U << 5)    /* TCP: RST, or FIN in both directions */
/* The agent cut it: policy no longer allows it. Its packets are dropped (both ways)
 * rather than the entry deleted, so a mid-stream packet cannot recreate it. */
#define CT_F_REVOKED (1U << 6)
/* from_pod translated the connection's first packet from a Service to a backend
 * (lb.h): its replies get the Service's address back from strait_lb_rev_v1 where
 * they are delivered to the client. */
#define CT_F_SERVICE (1U << 7)

struct ct_value {
	__u64 last_seen_ns; /* bpf_ktime_get_ns(); an entry idle past its lifetime is a miss */
	__u32 flags;        /* CT_F_* */
	__u32 rule_id;      /* the rule that allowed the first packet (0: no policy applied) */
};
_Static_assert(sizeof(struct ct_value) == 16, "ct_value layout");

#define CT_MAX (1 << 18)
#define CT_PENDING_MAX (1 << 16)

/* Answered connections (a packet of each direction seen). Only an answer moves an
 * entry here, so tuples nobody answers cannot evict these. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CT_MAX);
	__type(key, struct ct_key);
	__type(value, struct ct_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_ct_v1 SEC(".maps");

/* Connections not answered yet (a SYN, a UDP query, a one-way flow): same key and
 * value, short lifetime, and their own LRU, so spraying new tuples evicts only
 * other unanswered ones. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CT_PENDING_MAX);
	__type(key, struct ct_key);
	__type(value, struct ct_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_ct_pending_v1 SEC(".maps");

/*
 * IP fragments: the first fragment's ports, for the later fragments that carry no L4
 * header. The key is what every fragment of one packet shares (RFC 791, 8200): the
 * addresses, the identification, and the protocol of the IPv4 header or the next
 * header of the IPv6 fragment header.
 */
struct frag_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__be32 id; /* IPv4: the 16-bit identification in the first two bytes */
	__u8 protocol;
	__u8 family;
	__u8 pad[2];
};
_Static_assert(sizeof(struct frag_key) == 40, "frag_key layout");

#define FRAG_F_ICMP_ERROR (1U << 0) /* the first fragment was an ICMP error that passed */

struct frag_value {
	__be16 sport;
	__be16 dport;
	__u8 protocol; /* the L4 protocol behind the first fragment's extension headers */
	__u8 flags;    /* FRAG_F_* */
	__u8 pad[2];
};
_Static_assert(sizeof(struct frag_value) == 8, "frag_value layout");

#define FRAG_MAX 8192

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FRAG_MAX);
	__type(key, struct frag_key);
	__type(value, struct frag_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_frag_v1 SEC(".maps");

/*
 * Services (lb.h). A pod's packet to (ClusterIP, port, protocol) is a Service's
 * when strait_lb_services_v1 has that key; from_pod picks one of its backends for
 * a new connection, remembers the pick per connection (strait_lb_flows_v1), DNATs
 * the packet and only then runs conntrack and policy on it, so policy sees the real
 * backend. The reply's way back is in strait_lb_rev_v1. Everything but the two LRU
 * connection tables is written by the agent from Services and EndpointSlices.
 *
 * Ids: service_id (>= 1) names one (ClusterIP, port, protocol); backend_id (>= 1)
 * one (service_id, address, target port). A backend id belongs to one service, so
 * "the backend exists" is "it is still that Service's". The agent never reuses an
 * id while a connection entry may name it (it purges those entries first).
 */
#define LB_SERVICES_MAX (1 << 16)
#define LB_BACKENDS_MAX (1 << 18)
#define LB_FLOWS_MAX (1 << 18)
#define LB_AFFINITY_MAX (1 << 16)

/* The address a pod reaching itself through its own Service sees the connection
 * come from (169.254.42.1, 100::42:1): its own address would be answered inside the
 * pod, never coming back through from_pod to be translated back. */
#define LB_HAIRPIN_IPV4 0xa9fe2a01U    /* 169.254.42.1, host order: bpf_htonl() it */
#define LB_HAIRPIN_IPV6_HI 0x01000000U /* 100::42:1: first and last 32-bit words, host */
#define LB_HAIRPIN_IPV6_LO 0x00420001U /* order (bpf_htonl() each), the middle two zero */

struct lb_service_key {
	__u32 addr[4]; /* the ClusterIP (network order; IPv4 in addr[0]) */
	__be16 port;   /* the Service port */
	__u8 protocol; /* IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP */
	__u8 family;   /* 4 or 6 */
};
_Static_assert(sizeof(struct lb_service_key) == 20, "lb_service_key layout");

#define LB_SVC_F_AFFINITY (1U << 0) /* sessionAffinity: ClientIP (strait_lb_affinity_v1) */

struct lb_service_value {
	__u32 service_id;
	__u16 count; /* ready backends, in slots 1..count; 0: none, answered with RST or ICMP */
	__u16 flags; /* LB_SVC_F_* */
	__u32 affinity_timeout_s; /* LB_SVC_F_AFFINITY: idle seconds before a client is re-picked */
	__u32 pad;                /* reserved, 0 */
};
_Static_assert(sizeof(struct lb_service_value) == 16, "lb_service_value layout");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_SERVICES_MAX);
	__type(key, struct lb_service_key);
	__type(value, struct lb_service_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_lb_services_v1 SEC(".maps");

/* A service's ready backends, slot 1..count (the agent writes new slots before it
 * raises count, and lowers count before it deletes slots). */
struct lb_slot_key {
	__u32 service_id;
	__u32 slot;
};
_Static_assert(sizeof(struct lb_slot_key) == 8, "lb_slot_key layout");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_BACKENDS_MAX);
	__type(key, struct lb_slot_key);
	__type(value, __u32); /* backend_id */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_lb_slots_v1 SEC(".maps");

#define LB_BE_F_READY (1U << 0) /* ready: new connections may go to it (it is in a slot) */

/* Every backend a connection may use: the ready ones, and those still listed but
 * not ready or terminating (their connections continue). Deleted when the endpoint
 * leaves the EndpointSlice: then its connections are moved (UDP) or reset (TCP). */
struct lb_backend_value {
	__u32 addr[4]; /* network order; IPv4 in addr[0] */
	__be16 port;   /* target port */
	__u8 family;   /* 4 or 6 */
	__u8 flags;    /* LB_BE_F_* */
	__u32 service_id;
};
_Static_assert(sizeof(struct lb_backend_value) == 24, "lb_backend_value layout");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_BACKENDS_MAX);
	__type(key, __u32); /* backend_id */
	__type(value, struct lb_backend_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_lb_backends_v1 SEC(".maps");

/* A connection to a Service, keyed by its tuple as the client sends it (client ->
 * ClusterIP): the backend it was given. Written by from_pod. */
#define LB_FLOW_F_HAIRPIN (1U << 0) /* the backend is the client itself */

struct lb_flow_value {
	__u32 backend_id;
	__u32 service_id;
	__u32 flags; /* LB_FLOW_F_* */
	__u32 pad;
};
_Static_assert(sizeof(struct lb_flow_value) == 16, "lb_flow_value layout");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_FLOWS_MAX);
	__type(key, struct ct_key);
	__type(value, struct lb_flow_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_lb_flows_v1 SEC(".maps");

/* The way back, keyed by the reply's tuple as the backend sends it (backend ->
 * client; hairpin: backend -> LB_HAIRPIN_*): the source to write back (the ClusterIP
 * and Service port) and, for hairpin, the destination (the pod itself). */
struct lb_rev_value {
	__u32 vip[4];
	__u32 client[4]; /* hairpin: the pod's own address; else zero */
	__be16 vport;
	__u16 flags;      /* LB_FLOW_F_* of the connection */
	__u32 backend_id; /* a reply of a backend that is gone is dropped */
};
_Static_assert(sizeof(struct lb_rev_value) == 40, "lb_rev_value layout");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_FLOWS_MAX);
	__type(key, struct ct_key);
	__type(value, struct lb_rev_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_lb_rev_v1 SEC(".maps");

/* sessionAffinity: ClientIP: the backend each client address was last given. */
struct lb_affinity_key {
	__u32 service_id;
	__u32 client[4];
	__u8 family;
	__u8 pad[3];
};
_Static_assert(sizeof(struct lb_affinity_key) == 24, "lb_affinity_key layout");

struct lb_affinity_value {
	__u64 last_seen_ns;
	__u32 backend_id;
	__u32 pad;
};
_Static_assert(sizeof(struct lb_affinity_value) == 16, "lb_affinity_value layout");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_AFFINITY_MAX);
	__type(key, struct lb_affinity_key);
	__type(value, struct lb_affinity_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_lb_affinity_v1 SEC(".maps");

/*
 * Flow events (events.h; docs/observability.md is the contract): one record per new
 * connection that passed, per change of a connection's state (its first answer, a
 * FIN from either side, its close), and per dropped packet, handed to the agent in
 * one ring buffer shared by all CPUs. The agent drains it on a timer: programs
 * submit with BPF_RB_NO_WAKEUP (bench/event-transport.mjs measured this against a
 * per-CPU perf event array, with and without wakeups). Nothing is lost silently: a
 * record that finds the ring full, or that the per-CPU rate limit refuses, is
 * counted in strait_event_cpu_v1.
 */
#define FLOW_EV_NEW 1   /* a new connection passed: its conntrack entry was created */
#define FLOW_EV_STATE 2 /* a known connection changed state: FLOW_EV_F_ANSWERED, _FIN, _CLOSED */
#define FLOW_EV_DROP 3  /* a packet was dropped: reason */

/* flow_event.point: the program that saw it. */
#define OBS_FROM_POD 1
#define OBS_TO_POD 2
#define OBS_FROM_UPLINK 3
#define OBS_FROM_TUNNEL 4
#define OBS_TO_TUNNEL 5
#define OBS_XDP_UPLINK 6

/* flow_event.flags */
#define FLOW_EV_F_SERVICE \
	(1U << 0) /* from_pod translated it from a Service (lb.h): the tuple is the backend's */
#define FLOW_EV_F_BY_RULE \
	(1U << 1) /* NEW: a policy rule allowed it (rule_id); else no policy applied */
#define FLOW_EV_F_REPLY (1U << 2)     /* the packet went against its connection's direction */
#define FLOW_EV_F_ANSWERED (1U << 3)  /* STATE: the connection's first packet the other way */
#define FLOW_EV_F_FIN (1U << 4)       /* STATE: a FIN (from the side FLOW_EV_F_REPLY says) */
#define FLOW_EV_F_CLOSED (1U << 5)    /* STATE: closed (a RST, or the second FIN) */
#define FLOW_EV_F_RECREATED (1U << 6) /* NEW: a TCP packet mid-stream recreated a lost entry */

struct flow_event {
	__u64 time_ns;  /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u32 saddr[4]; /* the packet's tuple as conntrack keys it (ct_key): IPv4 in [0], */
	__u32 daddr[4]; /* network order; after Service translation */
	__be16 sport;   /* 0 for protocols without ports; ICMP echo: the identifier */
	__be16 dport;
	__u8 protocol;
	__u8 family;        /* 4 or 6; 0: not IP (no tuple: ARP, an unknown L3, too short) */
	__u8 type;          /* FLOW_EV_* */
	__u8 reason;        /* FLOW_EV_DROP: enum drop_reason; else 0 */
	__u32 src_identity; /* the pod identity of each address, else its CIDR identity */
	__u32 dst_identity; /* (IDENTITY_WORLD for none); 0 where not looked up */
	__u32 rule_id;      /* NEW with FLOW_EV_F_BY_RULE: the receiver's rule when both sides */
	__u32 egress_rule;  /* had policy, else the one; egress_rule: the sender's, or 0 */
	__u32 ifindex;      /* host veth of the endpoint whose event it is; 0: none */
	__u32 len;          /* skb->len */
	__u8 point;         /* OBS_* */
	__u8 direction;     /* EP_DIR_* from that endpoint's side */
	__u8 tcp_flags;     /* the packet's TCP flags; 0 without a TCP header */
	__u8 flags;         /* FLOW_EV_F_* */
	__u32 pad;
};
_Static_assert(sizeof(struct flow_event) == 80, "flow_event layout");

#define EVENTS_RING_SIZE (4U << 20) /* ~47,000 records of 88 bytes (header included) */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_RING_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_events_v1 SEC(".maps");

/* The agent's settings for flow events, one entry (key 0). All zero: no events. */
#define EVENTS_F_ENABLED (1U << 0)

struct event_config_value {
	__u32 flags;        /* EVENTS_F_* */
	__u32 rate_per_cpu; /* records a second each CPU may send; 0: no limit */
	__u32 burst;        /* how many above the rate one CPU may send at once */
	__u32 pad;
};
_Static_assert(sizeof(struct event_config_value) == 16, "event_config_value layout");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_config_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_event_config_v1 SEC(".maps");

/*
 * Each CPU's record of what it sent and what it could not (key 0), and its token
 * bucket for the rate limit: tokens (scaled by 1e9, so one record costs 1e9 and a
 * nanosecond refills rate_per_cpu) as of bucket_ns.
 */
struct event_cpu_state {
	__u64 sent;         /* records submitted */
	__u64 ring_full;    /* records lost: the ring had no room (the agent is behind) */
	__u64 rate_limited; /* records lost: over this CPU's rate */
	__u64 bucket_ns;
	__u64 bucket_tokens;
};
_Static_assert(sizeof(struct event_cpu_state) == 40, "event_cpu_state layout");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_cpu_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_event_cpu_v1 SEC(".maps");

#endif /* STRAIT_MAPS_H */
