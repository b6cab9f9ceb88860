/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of strait's datapath and every key/value struct, in one place. The
 * TypeScript mirror is src/datapath/maps/ (it says so, and a test compares both
 * against the BTF of the compiled objects). A changed layout gets a new version
 * suffix in the map name (strait_endpoints_v1 -> _v2) and a migration in the loader:
 * maps are pinned by name under the pin dir and outlive every program and process.
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

/* One entry per pod address on this node. */
struct endpoint_value {
	__u32 ifindex;      /* host-side veth: redirect target and where the pod's packets arrive */
	__u32 flags;        /* EP_F_* */
	__u8 pod_mac[6];    /* MAC of the pod's interface */
	__u8 host_mac[6];   /* MAC of the host-side veth: the pod's gateway */
	__u32 identity;     /* security identity (policy); 0 until assigned */
};
_Static_assert(sizeof(struct endpoint_value) == 24, "endpoint_value layout");

struct traffic_counter {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct traffic_counter) == 16, "traffic_counter layout");

/* Where packets went that were not dropped: keys of strait_stats_v1. */
enum stat_id {
	STAT_REDIRECT_PEER = 0, /* from a pod, straight into another local pod */
	STAT_TO_STACK = 1,      /* from a pod, handed to the host stack */
	STAT_TO_POD = 2,        /* delivered to a pod by the host stack (tc egress) */
	STAT_MAX = 8,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENDPOINTS_MAX);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_endpoints_v1 SEC(".maps");

/* Per-CPU counters by drop reason (enum drop_reason). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_MAX);
	__type(key, __u32);
	__type(value, struct traffic_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_drops_v1 SEC(".maps");

/* Per-CPU counters by verdict (enum stat_id). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, struct traffic_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_stats_v1 SEC(".maps");

#endif /* STRAIT_MAPS_H */
