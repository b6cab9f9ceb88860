// TypeScript mirror of bpf/include/maps.h, part 2: the names maps are pinned by
// (LIBBPF_PIN_BY_NAME, under the pin dir) and the programs in each object. The
// version suffix changes with a map's layout; see maps.h.

export const MapName = {
  endpoints: 'strait_endpoints_v1',
  drops: 'strait_drops_v1',
  stats: 'strait_stats_v2',
  epCounters: 'strait_ep_counters_v1',
  ruleCounters: 'strait_rule_counters_v1',
  ipcache: 'strait_ipcache_v1',
  cidr: 'strait_cidr_v1',
  policy: 'strait_policy_v1',
  ct: 'strait_ct_v1',
  links: 'strait_links_v1',
  ctPending: 'strait_ct_pending_v1',
  frag: 'strait_frag_v1',
  remote: 'strait_remote_v1',
  config: 'strait_config_v1',
  fib: 'strait_fib_v1',
  identityVni: 'strait_identity_vni_v1',
  vni: 'strait_vni_v1',
  lbServices: 'strait_lb_services_v1',
  lbSlots: 'strait_lb_slots_v1',
  lbBackends: 'strait_lb_backends_v1',
  lbFlows: 'strait_lb_flows_v1',
  lbRev: 'strait_lb_rev_v1',
  lbAffinity: 'strait_lb_affinity_v1',
  events: 'strait_events_v1',
  eventConfig: 'strait_event_config_v1',
  eventCpu: 'strait_event_cpu_v1',
} as const;
export type MapNameValue = (typeof MapName)[keyof typeof MapName];

/** Both conntrack tables (same key and value): answered, and not answered yet. */
export const CT_TABLES = ['ct', 'ctPending'] as const satisfies readonly (keyof typeof MapName)[];

/** Entry programs: SEC("tc") function name = object file bpf/<name>.bpf.c. */
export const ProgramName = {
  fromPod: 'from_pod',
  toPod: 'to_pod',
  fromUplink: 'from_uplink',
  /** tc ingress and egress of the VXLAN device (config.tunnelIfindex) */
  fromTunnel: 'from_tunnel',
  toTunnel: 'to_tunnel',
} as const;

/**
 * SEC("xdp") in bpf/xdp_uplink.bpf.c: built, verified and tested, but not in
 * ProgramName, so the loader neither loads nor pins it and no uplink runs it. On a
 * veth uplink it cost more than it saved (bench/xdp-uplink.mjs).
 */
export const XDP_UPLINK_PROGRAM = 'xdp_uplink';
export type ProgramNameValue = (typeof ProgramName)[keyof typeof ProgramName];

/** max_entries as maps.h declares them. */
export const ENDPOINTS_MAX = 65536;
/** one per host veth: no more veths than endpoint addresses */
export const LINKS_MAX = ENDPOINTS_MAX;
export const IPCACHE_MAX = 1 << 18;
/** strait_ep_counters_v1 (by endpoint, direction, reason) and strait_rule_counters_v1 (by rule id) */
export const EP_COUNTERS_MAX = 1 << 18;
export const RULE_COUNTERS_MAX = 1 << 16;
export const CIDR_MAX = 1 << 16;
export const POLICY_MAX = 1 << 19;
export const CT_MAX = 1 << 18;
export const CT_PENDING_MAX = 1 << 16;
export const FRAG_MAX = 8192;
export const REMOTE_MAX = 1 << 14;
/** strait_identity_vni_v1 and strait_vni_v1 */
export const VNI_MAX = 1 << 18;
/** Services (lb.h): compiled sizes, the defaults the agent's config may change */
export const LB_SERVICES_MAX = 1 << 16;
/** strait_lb_backends_v1 and strait_lb_slots_v1 */
export const LB_BACKENDS_MAX = 1 << 18;
/** strait_lb_flows_v1 and strait_lb_rev_v1 */
export const LB_FLOWS_MAX = 1 << 18;
export const LB_AFFINITY_MAX = 1 << 16;
/** strait_events_v1, the flow events' ring buffer, in bytes */
export const EVENTS_RING_SIZE = 4 << 20;
