// Plans from the pure differ, written to the maps in their order; and the state the
// maps hold, read back in the differ's terms so that a starting agent adopts it.
//
// One endpoint's failure never holds back the others: the ops of each endpoint are
// written as a unit, a failure ends that unit only, and the plan goes on. A failed
// unit fails closed: when writing its new entries fails, the endpoint still flips
// to them (a subset of its new policy, never more than it allows), and when
// anything else fails it keeps what it had. Either way the next reconcile diffs from
// what the maps hold and finishes the job. Classification upserts (ipcache, cidr)
// come before every endpoint and are not per endpoint: their failure stops the plan.
import { otherGeneration, type Plan, type PlanOp } from '../policy/diff.js';
import type { DesiredState, EndpointPolicy, PolicyEntry } from '../policy/types.js';
import type { EndpointEntry } from '../datapath/endpoints.js';
import type { EndpointFlags, MapsContent } from './datapath-writer.js';

/** What applyPlan and adoptCurrent need of the maps (DatapathWriter; a fake in tests). */
export interface PolicyMaps {
  setIpcache(ip: string, identity: number, namespace: number): void;
  delIpcache(ip: string): void;
  setCidr(cidr: string, identity: number): void;
  delCidr(cidr: string): void;
  setPolicy(ifindex: number, generation: 0 | 1, e: PolicyEntry): void;
  delPolicy(ifindex: number, generation: 0 | 1, e: PolicyEntry): void;
  endpointsByIfindex(): Map<number, EndpointEntry[]>;
  setEndpointFlags(entries: readonly EndpointEntry[], f: EndpointFlags): void;
  read(): MapsContent;
}

export interface WriteFailure {
  /** the endpoint whose unit failed; null for a removal of the shared maps */
  ifindex: number | null;
  op: PlanOp['op'] | 'vni-sync';
  error: string;
}

export interface ApplyResult {
  written: number;
  failures: WriteFailure[];
}

const isEndpointOp = (op: PlanOp): op is Extract<PlanOp, { ifindex: number }> =>
  op.op === 'policy-set' || op.op === 'policy-del' || op.op === 'endpoint-flags';

/** Writes every operation in order; throws only when a classification upsert fails. */
export function applyPlan(plan: Plan, w: PolicyMaps): ApplyResult {
  const failures: WriteFailure[] = [];
  let written = 0;
  let endpoints: Map<number, EndpointEntry[]> | null = null;
  const write = (op: PlanOp): void => {
    switch (op.op) {
      case 'ipcache-set':
        return w.setIpcache(op.ip, op.identity, op.namespace);
      case 'cidr-set':
        return w.setCidr(op.cidr, op.identity);
      case 'policy-set':
        return w.setPolicy(op.ifindex, op.generation, op.entry);
      case 'policy-del':
        return w.delPolicy(op.ifindex, op.generation, op.entry);
      case 'endpoint-flags':
        endpoints ??= w.endpointsByIfindex();
        return w.setEndpointFlags(endpoints.get(op.ifindex) ?? [], op);
      case 'ipcache-del':
        return w.delIpcache(op.ip);
      case 'cidr-del':
        return w.delCidr(op.cidr);
    }
  };

  const ops = plan.ops;
  for (let i = 0; i < ops.length; ) {
    const op = ops[i]!;
    if (!isEndpointOp(op)) {
      try {
        write(op);
        written++;
      } catch (e) {
        if (op.op === 'ipcache-set' || op.op === 'cidr-set') throw e;
        failures.push({ ifindex: null, op: op.op, error: (e as Error).message });
      }
      i++;
      continue;
    }
    let end = i;
    while (end < ops.length && isEndpointOp(ops[end]!) && (ops[end] as { ifindex: number }).ifindex === op.ifindex) end++;
    written += writeUnit(ops.slice(i, end) as Extract<PlanOp, { ifindex: number }>[], write, failures);
    i = end;
  }
  return { written, failures };
}

/** One endpoint's ops (idle writes, one flip, cleanup of the old generation); returns how many were written. */
function writeUnit(unit: Extract<PlanOp, { ifindex: number }>[], write: (op: PlanOp) => void, failures: WriteFailure[]): number {
  const flip = unit.findIndex((o) => o.op === 'endpoint-flags');
  const flipTo = flip >= 0 ? (unit[flip] as { generation: 0 | 1 }).generation : null;
  let written = 0;
  for (let j = 0; j < unit.length; j++) {
    const op = unit[j]!;
    try {
      write(op);
      written++;
    } catch (e) {
      failures.push({ ifindex: op.ifindex, op: op.op, error: (e as Error).message });
      if (j < flip) {
        // New entries that could not all be written: flip to the ones that were (every
        // leftover of that generation is gone by now, or we would have stopped).
        if (op.op === 'policy-set' && op.generation === flipTo) {
          j = flip - 1;
          continue;
        }
        return written; // a leftover that is still there must never go live: keep the old policy
      }
      if (j === flip) return written; // not flipped: what was written stays invisible
      // Removing the old generation: the rest still goes; what stays is an inactive leftover.
    }
  }
  return written;
}

/** What the maps hold, as the `current` of the next diff. */
export function adoptCurrent(w: PolicyMaps): DesiredState {
  const maps = w.read();
  const endpoints = new Map<number, EndpointPolicy>();
  for (const [ifindex, ep] of maps.endpoints) {
    const { generation, ready, ingressIsolated, egressIsolated } = ep.flags;
    endpoints.set(ifindex, {
      ifindex,
      identity: ep.identity,
      ingressIsolated,
      egressIsolated,
      entries: ep.entries[generation],
      inactiveEntries: ep.entries[otherGeneration(generation)],
      generation,
      ready,
    });
  }
  return { ipcache: maps.ipcache, podNamespaces: maps.podNamespaces, cidrs: maps.cidrs, endpoints, rules: new Map() };
}
