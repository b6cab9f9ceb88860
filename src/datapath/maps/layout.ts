// TypeScript mirror of bpf/include/maps.h, part 1: the byte layout of every key and
// value struct as the codecs in this directory assume it. maps.h is the source of
// truth; test/bpf/maps-btf.test.ts compares this table with the BTF of the compiled
// objects, so a change on either side that the other does not follow fails CI.
// Integer members are in host byte order (the kernel copies map values as bytes);
// addresses and ports (__be16) stay in network order.

export interface StructLayout {
  /** sizeof(struct) */
  readonly size: number;
  /** byte offset of each member, by its C name */
  readonly members: Readonly<Record<string, number>>;
}

export const LAYOUT = {
  endpoint_key: {
    size: 20,
    members: { ip: 0, family: 16, pad: 17 },
  },
  endpoint_value: {
    size: 24,
    members: { ifindex: 0, flags: 4, pod_mac: 8, host_mac: 14, identity: 20 },
  },
  link_value: {
    size: 20,
    members: { endpoint: 0 },
  },
  traffic_counter: {
    size: 16,
    members: { packets: 0, bytes: 8 },
  },
  ep_counter_key: {
    size: 8,
    members: { ifindex: 0, direction: 4, reason: 5, pad: 6 },
  },
  ipcache_value: {
    size: 8,
    members: { identity: 0, namespace: 4 },
  },
  cidr_key: {
    size: 24,
    members: { prefixlen: 0, family: 4, pad: 5, ip: 8 },
  },
  cidr_value: {
    size: 4,
    members: { identity: 0 },
  },
  policy_key: {
    size: 16,
    members: { prefixlen: 0, slot: 4, identity: 8, egress: 12, protocol: 13, dport: 14 },
  },
  policy_value: {
    size: 8,
    members: { rule_id: 0, pad: 4 },
  },
  ct_key: {
    size: 40,
    members: { saddr: 0, daddr: 16, sport: 32, dport: 34, protocol: 36, family: 37, pad: 38 },
  },
  ct_value: {
    size: 16,
    members: { last_seen_ns: 0, flags: 8, rule_id: 12 },
  },
  frag_key: {
    size: 40,
    members: { saddr: 0, daddr: 16, id: 32, protocol: 36, family: 37, pad: 38 },
  },
  frag_value: {
    size: 8,
    members: { sport: 0, dport: 2, protocol: 4, flags: 5, pad: 6 },
  },
  remote_value: {
    size: 24,
    members: { node_ip: 0, node_family: 16, pad: 17, flags: 20 },
  },
  config_value: {
    size: 16,
    members: { routing: 0, uplink_ifindex: 4, tunnel_ifindex: 8, flags: 12 },
  },
  lb_service_key: {
    size: 20,
    members: { addr: 0, port: 16, protocol: 18, family: 19 },
  },
  lb_service_value: {
    size: 16,
    members: { service_id: 0, count: 4, flags: 6, affinity_timeout_s: 8, pad: 12 },
  },
  lb_slot_key: {
    size: 8,
    members: { service_id: 0, slot: 4 },
  },
  lb_backend_value: {
    size: 24,
    members: { addr: 0, port: 16, family: 18, flags: 19, service_id: 20 },
  },
  lb_flow_value: {
    size: 16,
    members: { backend_id: 0, service_id: 4, flags: 8, pad: 12 },
  },
  lb_rev_value: {
    size: 40,
    members: { vip: 0, client: 16, vport: 32, flags: 34, backend_id: 36 },
  },
  lb_affinity_key: {
    size: 24,
    members: { service_id: 0, client: 4, family: 20, pad: 21 },
  },
  lb_affinity_value: {
    size: 16,
    members: { last_seen_ns: 0, backend_id: 8, pad: 12 },
  },
  flow_event: {
    size: 80,
    members: {
      time_ns: 0,
      saddr: 8,
      daddr: 24,
      sport: 40,
      dport: 42,
      protocol: 44,
      family: 45,
      type: 46,
      reason: 47,
      src_identity: 48,
      dst_identity: 52,
      rule_id: 56,
      egress_rule: 60,
      ifindex: 64,
      len: 68,
      point: 72,
      direction: 73,
      tcp_flags: 74,
      flags: 75,
      pad: 76,
    },
  },
  event_config_value: {
    size: 16,
    members: { flags: 0, rate_per_cpu: 4, burst: 8, pad: 12 },
  },
  event_cpu_state: {
    size: 40,
    members: { sent: 0, ring_full: 8, rate_limited: 16, bucket_ns: 24, bucket_tokens: 32 },
  },
} as const satisfies Record<string, StructLayout>;

export type StructName = keyof typeof LAYOUT;
