// The verdict the datapath gives a new connection, worked out from the maps with the
// same lookups the BPF programs make. `straitctl explain` shows it with its steps and
// the policy behind it; conntrack revalidation uses it to cut connections that a
// changed policy no longer allows.
import type { EndpointFlagState } from '../datapath/maps/endpoints.js';
import { FIRST_POD_IDENTITY, IDENTITY_ANY, IDENTITY_CLUSTER, IDENTITY_HOST, IDENTITY_REMOTE_NODE, IDENTITY_WORLD, IPPROTO, type DesiredState } from '../policy/types.js';
import type { ExplainRequest, ExplainResult } from './core.js';

/** The lookups the datapath makes, answered as the maps would (LPM tries: longest match). */
export interface MapLookups {
  /** the endpoint-map entry of an address, or null */
  endpointOf(ip: string): { ifindex: number; flags: EndpointFlagState; identity: number } | null;
  /** the pod and namespace identity of an address (0 and 0 for no pod) */
  podIdentityOf(ip: string): { identity: number; namespace: number };
  /** the identity of the longest CIDR prefix holding the address, or null */
  cidrIdentityOf(ip: string): number | null;
  /** the rule that allows it, or null */
  policyLookup(ifindex: number, generation: 0 | 1, identity: number, egress: boolean, protocol: number, port: number): number | null;
}

interface Flow {
  src: string;
  dst: string;
  /** IP protocol number */
  protocol: number;
  /** destination port; 0 for protocols without ports */
  port: number;
}

interface Judgement {
  allowed: boolean;
  steps: string[];
  reason: string;
}

interface Peer {
  pod: number;
  ns: number;
  cidr: number;
}

/**
 * The identities policy_check looks up for a peer, most specific first; IDENTITY_ANY
 * last. "Any pod" only for a pod identity: another node's address is no pod.
 */
const peerLookups = (p: Peer): number[] => [
  ...(p.pod !== 0 ? [p.pod] : []),
  ...(p.ns !== 0 ? [p.ns] : []),
  ...(p.pod >= FIRST_POD_IDENTITY ? [IDENTITY_CLUSTER] : []),
  ...(p.cidr !== 0 ? [p.cidr] : []),
  IDENTITY_ANY,
];

export function judge(maps: MapLookups, current: DesiredState | null, flow: Flow, what = `${flow.protocol}/${flow.port}`): Judgement {
  const steps: string[] = [];
  const classify = (ip: string): Peer => {
    const found = maps.podIdentityOf(ip);
    // Another node's address is in the ipcache, but is no pod: its CIDR classifies it.
    const pod = found.identity === IDENTITY_REMOTE_NODE ? 0 : found.identity;
    const ns = found.namespace;
    const cidr = maps.cidrIdentityOf(ip) ?? IDENTITY_WORLD;
    steps.push(`${ip}: pod identity ${pod === 0 ? 'none' : `${pod} (namespace identity ${ns})`}, CIDR identity ${cidr}`);
    return { pod, ns: pod === 0 ? 0 : ns, cidr };
  };
  const origin = (ruleId: number) => {
    const o = current?.rules.get(ruleId);
    return o === undefined ? `rule ${ruleId}` : `NetworkPolicy ${o.policy} ${o.direction}[${o.index}]`;
  };
  const src = classify(flow.src);
  const dst = classify(flow.dst);
  if (src.cidr === IDENTITY_HOST || dst.cidr === IDENTITY_HOST) {
    return { allowed: true, steps, reason: 'traffic between a pod and the node it runs on is always allowed' };
  }

  const allowedBy: string[] = [];
  const check = (side: 'egress' | 'ingress', epIp: string, peer: Peer): Judgement | null => {
    const ep = maps.endpointOf(epIp);
    const who = side === 'egress' ? 'source' : 'destination';
    if (ep === null) {
      steps.push(`${who} ${epIp} is not an endpoint on this node: no ${side} policy here`);
      return null;
    }
    if (!ep.flags.ready) {
      return { allowed: false, steps, reason: `${who} endpoint ${epIp} is not ready (its policy is not written yet)` };
    }
    const isolated = side === 'egress' ? ep.flags.egressIsolated : ep.flags.ingressIsolated;
    if (!isolated) {
      steps.push(`${who} ${epIp} is not isolated for ${side}`);
      return null;
    }
    const gen = ep.flags.generation;
    // The datapath's lookups (bpf/include/policy.h policy_check), in its order.
    for (const id of peerLookups(peer)) {
      const rule = maps.policyLookup(ep.ifindex, gen, id, side === 'egress', flow.protocol, flow.port);
      if (rule !== null) {
        steps.push(`${side} of ${epIp}: identity ${id === IDENTITY_ANY ? 'any' : id === IDENTITY_CLUSTER ? 'any pod' : id} ${what} allowed by ${origin(rule)}`);
        allowedBy.push(origin(rule));
        return null;
      }
    }
    const peerIp = side === 'egress' ? flow.dst : flow.src;
    const reason = `${who} ${epIp} is isolated for ${side} and no rule allows ${what} ${side === 'egress' ? 'to' : 'from'} ${peerIp}`;
    steps.push(reason);
    return { allowed: false, steps, reason };
  };

  const denied = check('egress', flow.src, dst) ?? check('ingress', flow.dst, src);
  if (denied !== null) return denied;
  return {
    allowed: true,
    steps,
    reason: allowedBy.length > 0 ? `allowed by ${allowedBy.join(' and ')}` : 'no policy isolates either side',
  };
}

export function explainVerdict(maps: MapLookups, current: DesiredState | null, req: ExplainRequest): ExplainResult {
  const j = judge(maps, current, { src: req.src, dst: req.dst, protocol: IPPROTO[req.protocol], port: req.port }, `${req.protocol}/${req.port}`);
  return { verdict: j.allowed ? 'allow' : 'deny', steps: j.steps, reason: j.reason };
}
