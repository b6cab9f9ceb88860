// Plans from the pure differ, written to the maps in their order; and the state the
// maps hold, read back in the differ's terms so that a starting agent adopts it.
import { EP_F_EGRESS_ISOLATED, EP_F_INGRESS_ISOLATED, EP_F_READY } from '../datapath/maps/endpoints.js';
import { generationFromFlags, otherGeneration, type Plan } from '../policy/diff.js';
import type { DesiredState, EndpointPolicy } from '../policy/types.js';
import type { EndpointEntry } from '../datapath/endpoints.js';
import type { DatapathWriter } from './datapath-writer.js';

/** Writes every operation in order; throws at the first failure (the caller diffs again from the maps). */
export function applyPlan(plan: Plan, w: DatapathWriter): number {
  let endpoints: Map<number, EndpointEntry[]> | null = null;
  for (const op of plan.ops) {
    switch (op.op) {
      case 'ipcache-set':
        w.setIpcache(op.ip, op.identity, op.namespace);
        break;
      case 'cidr-set':
        w.setCidr(op.cidr, op.identity);
        break;
      case 'policy-set':
        w.setPolicy(op.ifindex, op.generation, op.entry);
        break;
      case 'policy-del':
        w.delPolicy(op.ifindex, op.generation, op.entry);
        break;
      case 'endpoint-flags':
        endpoints ??= w.endpointsByIfindex();
        w.setEndpointFlags(endpoints.get(op.ifindex) ?? [], op);
        break;
      case 'ipcache-del':
        w.delIpcache(op.ip);
        break;
      case 'cidr-del':
        w.delCidr(op.cidr);
        break;
    }
  }
  return plan.ops.length;
}

/** What the maps hold, as the `current` of the next diff. */
export function adoptCurrent(w: DatapathWriter): DesiredState {
  const maps = w.read();
  const endpoints = new Map<number, EndpointPolicy>();
  for (const [ifindex, ep] of maps.endpoints) {
    const generation = generationFromFlags(ep.flags);
    endpoints.set(ifindex, {
      ifindex,
      identity: ep.identity,
      ingressIsolated: (ep.flags & EP_F_INGRESS_ISOLATED) !== 0,
      egressIsolated: (ep.flags & EP_F_EGRESS_ISOLATED) !== 0,
      entries: ep.entries[generation],
      inactiveEntries: ep.entries[otherGeneration(generation)],
      generation,
      ready: (ep.flags & EP_F_READY) !== 0,
    });
  }
  return { ipcache: maps.ipcache, podNamespaces: maps.podNamespaces, cidrs: maps.cidrs, endpoints, rules: new Map() };
}
