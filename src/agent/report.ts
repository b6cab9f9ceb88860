// `straitctl policy`: each local endpoint's isolation and the rules that apply to
// it, traced back to the NetworkPolicy objects they came from, with how many new
// connections each rule allowed (the datapath counts them by rule id).
import type { ClusterState, DesiredState, LocalEndpoint, PolicyRule } from '../policy/types.js';
import { describePeer, describePort } from '../policy/explain.js';
import type { EffectiveRule, EndpointPolicyReport } from './core.js';

export function policyReports(
  cluster: ClusterState | null,
  current: DesiredState | null,
  endpoints: LocalEndpoint[],
  pod: string | null,
  ruleConnections: ReadonlyMap<number, bigint>,
): EndpointPolicyReport[] {
  const out: EndpointPolicyReport[] = [];
  for (const ep of endpoints) {
    const podRef = ep.podNamespace !== null && ep.podName !== null ? `${ep.podNamespace}/${ep.podName}` : null;
    if (pod !== null && podRef !== pod) continue;
    const compiled = current?.endpoints.get(ep.ifindex);
    const ruleIds = [...new Set((compiled?.entries ?? []).map((e) => e.ruleId))].sort((a, b) => a - b);
    const rules: EffectiveRule[] = [];
    for (const id of ruleIds) {
      const origin = current?.rules.get(id);
      if (origin === undefined) continue;
      const [ns, name] = origin.policy.split('/');
      const np = cluster?.policies.find((p) => p.namespace === ns && p.name === name);
      const rule: PolicyRule | undefined = np?.[origin.direction][origin.index];
      rules.push({
        direction: origin.direction,
        policy: origin.policy,
        index: origin.index,
        peers: rule === undefined ? [] : rule.peers === null ? ['any peer'] : rule.peers.map((p) => describePeer(p, np!.namespace)),
        ports: rule === undefined ? [] : rule.ports.length === 0 ? ['any port'] : rule.ports.map(describePort),
        connections: Number(ruleConnections.get(id) ?? 0n),
      });
    }
    out.push({
      endpoint: ep.id,
      pod: podRef,
      ips: ep.ips,
      identity: compiled?.identity ?? 0,
      ingressIsolated: compiled?.ingressIsolated ?? false,
      egressIsolated: compiled?.egressIsolated ?? false,
      rules,
    });
  }
  return out;
}
