// The agent's view of the datapath's always-on counters (strait_ep_counters_v1 and
// strait_rule_counters_v1, bpf/include/maps.h): connections by rule for
// `straitctl policy`, and removal of a gone endpoint's entries, so a veth that gets
// its ifindex later starts from zero.

export interface CounterMaps {
  /** new connections each rule id allowed on this node, summed over CPUs */
  ruleConnections(): Map<number, bigint>;
  /** deletes these rule ids' counters (their rule has another id now) */
  deleteRuleCounters(ids: readonly number[]): void;
  /** deletes the endpoint counters of every veth `gone` says is gone; returns how many */
  deleteEndpointCounters(gone: (ifindex: number) => boolean): number;
}
