// `straitctl explain`: the verdict the datapath would give a new connection, worked
// out from the maps themselves with the same lookups the BPF programs make, and
// attributed to the policy behind the rule that allowed it.
import { EP_F_EGRESS_ISOLATED, EP_F_INGRESS_ISOLATED, EP_F_POLICY_GEN, EP_F_READY } from '../datapath/maps/endpoints.js';
import { IDENTITY_ANY, IDENTITY_HOST, IDENTITY_WORLD, IPPROTO, type DesiredState } from '../policy/types.js';
import type { ExplainRequest, ExplainResult } from './core.js';
import type { DatapathWriter } from './datapath-writer.js';

export function explainVerdict(maps: DatapathWriter, current: DesiredState | null, req: ExplainRequest): ExplainResult {
  const steps: string[] = [];
  const protocol = IPPROTO[req.protocol];
  const what = `${req.protocol}/${req.port}`;
  const classify = (ip: string) => {
    const pod = maps.podIdentityOf(ip);
    const cidr = maps.cidrIdentityOf(ip) ?? IDENTITY_WORLD;
    steps.push(`${ip}: pod identity ${pod === 0 ? 'none' : pod}, CIDR identity ${cidr}`);
    return { pod, cidr };
  };
  const origin = (ruleId: number) => {
    const o = current?.rules.get(ruleId);
    return o === undefined ? `rule ${ruleId}` : `NetworkPolicy ${o.policy} ${o.direction}[${o.index}]`;
  };
  const src = classify(req.src);
  const dst = classify(req.dst);
  if (src.cidr === IDENTITY_HOST || dst.cidr === IDENTITY_HOST) {
    return { verdict: 'allow', steps, reason: 'traffic between a pod and the node it runs on is always allowed' };
  }

  const check = (side: 'egress' | 'ingress', epIp: string, peer: { pod: number; cidr: number }): ExplainResult | null => {
    const ep = maps.endpointOf(epIp);
    const who = side === 'egress' ? 'source' : 'destination';
    if (ep === null) {
      steps.push(`${who} ${epIp} is not an endpoint on this node: no ${side} policy here`);
      return null;
    }
    if ((ep.flags & EP_F_READY) === 0) {
      return { verdict: 'deny', steps, reason: `${who} endpoint ${epIp} is not ready (its policy is not written yet)` };
    }
    const isolated = (ep.flags & (side === 'egress' ? EP_F_EGRESS_ISOLATED : EP_F_INGRESS_ISOLATED)) !== 0;
    if (!isolated) {
      steps.push(`${who} ${epIp} is not isolated for ${side}`);
      return null;
    }
    const gen = (ep.flags & EP_F_POLICY_GEN) !== 0 ? 1 : 0;
    // The datapath's three lookups: the peer's pod identity (if it is a pod), its
    // CIDR identity, and "any peer".
    for (const id of [...(peer.pod !== 0 ? [peer.pod] : []), peer.cidr, IDENTITY_ANY]) {
      const rule = maps.policyLookup(ep.ifindex, gen, id, side === 'egress', protocol, req.port);
      if (rule !== null) {
        steps.push(`${side} of ${epIp}: identity ${id === IDENTITY_ANY ? 'any' : id} ${what} allowed by ${origin(rule)}`);
        return null;
      }
    }
    const reason = `${who} ${epIp} is isolated for ${side} and no rule allows ${what} ${side === 'egress' ? 'to' : 'from'} ${side === 'egress' ? req.dst : req.src}`;
    steps.push(reason);
    return { verdict: 'deny', steps, reason };
  };

  const egress = check('egress', req.src, dst);
  if (egress !== null) return egress;
  const ingress = check('ingress', req.dst, src);
  if (ingress !== null) return ingress;
  const allowedBy = steps.filter((s) => s.includes('allowed by')).map((s) => s.replace(/^.* allowed by /, ''));
  return {
    verdict: 'allow',
    steps,
    reason: allowedBy.length > 0 ? `allowed by ${allowedBy.join(' and ')}` : 'no policy isolates either side',
  };
}
