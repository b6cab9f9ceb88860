// TypeScript mirror of bpf/include/drop.h (enum drop_reason) and of enum stat_id
// in bpf/include/maps.h: the keys of strait_drops_v1 and strait_stats_v2, with a
// name and a one-line description each for logs, metrics and straitctl. Values are
// stable (they index pinned maps); new ones go at the end, in C first.
// test/bpf/maps-btf.test.ts checks DropReason against the enum in the object's BTF.

export const DropReason = {
  NONE: 0,
  MALFORMED: 1,
  SPOOF_IP: 2,
  SPOOF_MAC: 3,
  UNKNOWN_L3: 4,
  NOT_READY: 5,
  POLICY_EGRESS: 6,
  POLICY_INGRESS: 7,
  REDIRECT_FAILED: 8,
  ROUTER_MSG: 9,
  NO_LINK: 10,
  NOT_FOR_POD: 11,
  FRAG_NO_FIRST: 13,
  IPV6_EXT: 14,
  CT_REVOKED: 15,
  CT_MISS: 16,
  SPOOF_UPLINK: 17,
  TUNNEL_NO_REMOTE: 21,
  TUNNEL_UNKNOWN_NODE: 22,
  TUNNEL_SPOOF: 23,
  TUNNEL_KEY: 24,
  LB_NO_BACKEND: 25,
  LB_BACKEND_GONE: 26,
  LB_REV_MISS: 27,
} as const;
export type DropReasonName = keyof typeof DropReason;
export type DropReasonValue = (typeof DropReason)[DropReasonName];

/** max_entries of strait_drops_v1: reasons are < DROP_MAX. */
export const DROP_MAX = 32;

const DROP_DESCRIPTIONS: Record<DropReasonName, string> = {
  NONE: 'not dropped (never recorded)',
  MALFORMED: 'headers truncated or inconsistent',
  SPOOF_IP: 'source address is not the sending endpoint’s',
  SPOOF_MAC: 'source MAC is not the sending endpoint’s',
  UNKNOWN_L3: 'neither IPv4, IPv6 nor ARP',
  NOT_READY: 'endpoint exists but its policy is not written yet',
  POLICY_EGRESS: 'egress policy of the source denies it',
  POLICY_INGRESS: 'ingress policy of the destination denies it',
  REDIRECT_FAILED: 'redirect into the destination pod failed: its veth is gone',
  ROUTER_MSG: 'a pod sent a message only routers send (Router Advertisement, Redirect, MLD query)',
  NO_LINK: 'a strait veth with no pod behind it in strait_links_v1',
  NOT_FOR_POD: 'to a pod veth, addressed to something that is not that pod',
  FRAG_NO_FIRST: 'a later IP fragment whose first fragment did not pass here',
  IPV6_EXT: 'IPv6 extension headers: too many, a second fragment header, or hop-by-hop not first',
  CT_REVOKED: 'a packet of a connection the agent cut: policy no longer allows it',
  CT_MISS: 'TCP other than a SYN, unknown to conntrack (evicted, expired or never opened), that policy denies as a new connection',
  SPOOF_UPLINK: 'from the uplink with a local pod’s source address: a pod’s packets never come from outside',
  TUNNEL_NO_REMOTE: 'into the VXLAN device from the host stack for an address in no other node’s pod CIDR (link-local and multicast noise too)',
  TUNNEL_UNKNOWN_NODE: 'from the VXLAN device, but the outer source is no node of the cluster',
  TUNNEL_SPOOF: 'from the VXLAN device with a source address of a pod of this node',
  TUNNEL_KEY: 'the tunnel metadata could not be set (to another node) or read (from one: the device is not collect_md)',
  LB_NO_BACKEND: 'to a Service with no ready backend, where no RST or ICMP answer could be made (SCTP, GSO, a fragment)',
  LB_BACKEND_GONE: 'a reply from a Service backend that has been removed',
  LB_REV_MISS: 'a reply of a Service connection whose way back was evicted from strait_lb_rev_v1: it would reach the client from the wrong address',
};

export const StatId = {
  REDIRECT_PEER: 0,
  TO_STACK: 1,
  TO_POD: 2,
  CT_HIT: 3,
  POLICY_ALLOWED: 4,
  CT_RECREATED: 5,
  CT_PROMOTED: 6,
  TTL_EXPIRED: 7,
  TO_NODE: 8,
  FROM_NODE: 9,
  FIB_FALLBACK: 10,
  TUNNEL_TX: 11,
  TUNNEL_RX: 12,
  NODE_TO_STACK: 13,
  LB_TRANSLATED: 14,
  LB_REV_NAT: 15,
  LB_REJECTED: 16,
  LB_HAIRPIN: 17,
} as const;
export type StatIdName = keyof typeof StatId;
export type StatIdValue = (typeof StatId)[StatIdName];

/** max_entries of strait_stats_v2. */
export const STAT_MAX = 32;

const STAT_DESCRIPTIONS: Record<StatIdName, string> = {
  REDIRECT_PEER: 'from a pod, straight into another local pod',
  TO_STACK: 'from a pod, handed to the host stack',
  TO_POD: 'delivered to a pod by the host stack',
  CT_HIT: 'an established connection, its reply, or an ICMP error about it',
  POLICY_ALLOWED: 'a new connection an isolated endpoint’s policy allowed',
  CT_RECREATED: 'a TCP packet without SYN missed conntrack (evicted or expired) and policy allowed it as a new connection: entry recreated',
  CT_PROMOTED: 'a connection’s first answer moved it from the pending to the established conntrack table',
  TTL_EXPIRED: 'to a local pod with TTL or hop limit 1: handed to the host stack, which answers time exceeded',
  TO_NODE: 'from a pod, routed natively out of the uplink to another node',
  FROM_NODE: 'from another node through the uplink (native routing), straight into a local pod',
  FIB_FALLBACK: 'for another node’s pod, but the FIB lookup failed: handed to the host stack',
  TUNNEL_TX: 'from a pod, encapsulated into the VXLAN device',
  TUNNEL_RX: 'from the VXLAN device, straight into a local pod',
  NODE_TO_STACK: 'from another node, of no known flow and opening none (UDP, mid-stream TCP): to the host stack, which may hold its NAT, then to_pod',
  LB_TRANSLATED: 'from a pod to a Service: sent to one of its backends',
  LB_REV_NAT: 'a Service backend’s reply given the Service’s address back',
  LB_REJECTED: 'to a Service with no ready backend: answered with a TCP RST or ICMP port unreachable',
  LB_HAIRPIN: 'a pod reaching itself through its own Service',
};

export interface CounterInfo {
  value: number;
  /** the C enumerator, e.g. DROP_SPOOF_IP or STAT_TO_POD */
  name: string;
  description: string;
}

function infos<N extends string>(
  values: Record<N, number>,
  descriptions: Record<N, string>,
  prefix: string,
): readonly CounterInfo[] {
  return (Object.keys(values) as N[]).map((k) => ({
    value: values[k],
    name: `${prefix}${k}`,
    description: descriptions[k],
  }));
}

/** Every drop reason in value order, DROP_NONE included. */
export const DROP_REASONS = infos(DropReason, DROP_DESCRIPTIONS, 'DROP_');
/** Every verdict counter in value order. */
export const STATS = infos(StatId, STAT_DESCRIPTIONS, 'STAT_');

/**
 * Name and description for a key of strait_drops_v1. A value this build does not
 * know (a newer datapath wrote it) still gets a readable entry rather than a throw.
 */
export function describeDrop(value: number): CounterInfo {
  return DROP_REASONS.find((d) => d.value === value) ?? { value, name: `DROP_#${value}`, description: 'unknown drop reason' };
}

export function describeStat(value: number): CounterInfo {
  return STATS.find((s) => s.value === value) ?? { value, name: `STAT_#${value}`, description: 'unknown counter' };
}
