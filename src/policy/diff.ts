// The map writes that take the datapath from one DesiredState to the next, in an
// order that never lets a packet see a half-written policy.
//
//  1. ipcache and cidr upserts: every address and prefix the new policies name is
//     classified before any entry refers to its identity.
//  2. per endpoint whose entries change: write the new entries under the generation
//     that is not live (invisible to the datapath), then ONE endpoint update flips
//     its live generation together with the isolation flags and identity, then delete the
//     old generation's entries. A hash-map update replaces the value as a whole, so a
//     packet sees the old (flags, entries) or the new ones, never a mix.
//  3. ipcache and cidr removals last: nothing live refers to them any more.
//
// When an endpoint's set of entry keys is unchanged, no generation flip is needed:
//  - changed isolation flags or identity: the single endpoint update is already
//    atomic, and the entries it pairs with are the same before and after;
//  - changed rule ids only (rule ids are renumbered when a policy sorting earlier is
//    added): the values are rewritten in place. Each write swaps one entry's value;
//    which keys match, and so every verdict, is the same throughout; only the rule
//    id a new connection is attributed to may be the old one for a moment.
//
// The classification maps are shared by all endpoints and cannot flip with them: an
// address whose identity changes is seen under its new identity from step 1 on, by
// endpoints not yet switched too. compile()'s `previous` option keeps identities
// from changing meaning between two states, which bounds this to addresses whose own
// classification really changes (a pod relabelled, a prefix added or removed).
import type { DesiredState, EndpointPolicy, PolicyEntry } from './types.js';

export type Generation = 0 | 1;

export const otherGeneration = (g: Generation): Generation => (g === 0 ? 1 : 0);

/** The live generation of an endpoint as a state holds it; absent endpoints and fields are 0. */
export const generationOf = (ep: EndpointPolicy | null | undefined): Generation => ep?.generation ?? 0;

/** The part of an entry that is its map key (everything but the rule id). */
export const entryKey = (e: PolicyEntry): string =>
  `${e.identity}/${e.egress ? 'e' : 'i'}/${e.protocol}/${e.port}/${e.portPrefixLen}`;

export type PlanOp =
  | { op: 'ipcache-set'; ip: string; identity: number; namespace: number }
  | { op: 'cidr-set'; cidr: string; identity: number }
  | { op: 'policy-set'; ifindex: number; generation: Generation; entry: PolicyEntry }
  | { op: 'policy-del'; ifindex: number; generation: Generation; entry: PolicyEntry }
  | {
      op: 'endpoint-flags';
      ifindex: number;
      /** the generation that is live once this update is written */
      generation: Generation;
      identity: number;
      ingressIsolated: boolean;
      egressIsolated: boolean;
    }
  | { op: 'ipcache-del'; ip: string }
  | { op: 'cidr-del'; cidr: string };

export interface Plan {
  /** apply in order; stop at the first failure and diff again from what the maps hold */
  ops: PlanOp[];
  /** the desired state with each endpoint's live generation: the `current` of the next diff once `ops` are applied */
  next: DesiredState;
}

const EMPTY: DesiredState = { ipcache: new Map(), cidrs: new Map(), endpoints: new Map(), rules: new Map() };

/** The namespace identity a state writes with the addresses of a pod identity (-1: they disagree in the maps). */
export const namespaceOf = (s: DesiredState, identity: number): number => s.podNamespaces?.get(identity) ?? 0;

const sortedKeys = <K extends string | number>(m: ReadonlyMap<K, unknown>): K[] =>
  [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

export function diff(current: DesiredState | null, desired: DesiredState): Plan {
  const cur = current ?? EMPTY;
  const ops: PlanOp[] = [];

  for (const ip of sortedKeys(desired.ipcache)) {
    const identity = desired.ipcache.get(ip)!;
    const namespace = namespaceOf(desired, identity);
    if (cur.ipcache.get(ip) !== identity || namespaceOf(cur, identity) !== namespace) {
      ops.push({ op: 'ipcache-set', ip, identity, namespace });
    }
  }
  for (const cidr of sortedKeys(desired.cidrs)) {
    const identity = desired.cidrs.get(cidr)!;
    if (cur.cidrs.get(cidr) !== identity) ops.push({ op: 'cidr-set', cidr, identity });
  }

  const nextEndpoints = new Map<number, EndpointPolicy>();
  const ifindexes = [...new Set([...cur.endpoints.keys(), ...desired.endpoints.keys()])].sort((a, b) => a - b);
  for (const ifindex of ifindexes) {
    const c = cur.endpoints.get(ifindex);
    const d = desired.endpoints.get(ifindex);
    if (d === undefined) {
      // The endpoint is gone (CNI DEL removes its endpoint entry): drop what it left.
      if (c !== undefined) {
        const g = generationOf(c);
        for (const entry of c.entries) ops.push({ op: 'policy-del', ifindex, generation: g, entry });
        for (const entry of c.inactiveEntries ?? []) {
          ops.push({ op: 'policy-del', ifindex, generation: otherGeneration(g), entry });
        }
      }
      continue;
    }
    const generation = endpointOps(ops, ifindex, c, d);
    nextEndpoints.set(ifindex, {
      ifindex: d.ifindex,
      identity: d.identity,
      ingressIsolated: d.ingressIsolated,
      egressIsolated: d.egressIsolated,
      entries: d.entries,
      generation,
    });
  }

  for (const ip of sortedKeys(cur.ipcache)) if (!desired.ipcache.has(ip)) ops.push({ op: 'ipcache-del', ip });
  for (const cidr of sortedKeys(cur.cidrs)) if (!desired.cidrs.has(cidr)) ops.push({ op: 'cidr-del', cidr });

  return { ops, next: { ...desired, endpoints: nextEndpoints } };
}

/** Appends one endpoint's operations; returns its live generation afterwards. */
function endpointOps(ops: PlanOp[], ifindex: number, c: EndpointPolicy | undefined, d: EndpointPolicy): Generation {
  const live = generationOf(c);
  const idle = otherGeneration(live);
  const wanted = new Map(d.entries.map((e) => [entryKey(e), e]));
  const inactive = new Map((c?.inactiveEntries ?? []).map((e) => [entryKey(e), e]));
  const flagsChanged =
    c === undefined ||
    c.ready === false ||
    c.identity !== d.identity ||
    c.ingressIsolated !== d.ingressIsolated ||
    c.egressIsolated !== d.egressIsolated;
  const flags = (generation: Generation): PlanOp => ({
    op: 'endpoint-flags',
    ifindex,
    generation,
    identity: d.identity,
    ingressIsolated: d.ingressIsolated,
    egressIsolated: d.egressIsolated,
  });

  const had = new Map((c?.entries ?? []).map((e) => [entryKey(e), e]));
  const sameKeys = c !== undefined && had.size === wanted.size && [...wanted.keys()].every((k) => had.has(k));
  if (sameKeys) {
    // Leftovers of an interrupted plan are not live: remove them in any order.
    for (const entry of inactive.values()) ops.push({ op: 'policy-del', ifindex, generation: idle, entry });
    for (const [k, entry] of wanted) {
      if (had.get(k)?.ruleId !== entry.ruleId) ops.push({ op: 'policy-set', ifindex, generation: live, entry });
    }
    if (flagsChanged) ops.push(flags(live));
    return live;
  }

  for (const [k, entry] of inactive) {
    if (!wanted.has(k)) ops.push({ op: 'policy-del', ifindex, generation: idle, entry });
  }
  for (const [k, entry] of wanted) {
    if (inactive.get(k)?.ruleId !== entry.ruleId) ops.push({ op: 'policy-set', ifindex, generation: idle, entry });
  }
  ops.push(flags(idle));
  for (const entry of had.values()) ops.push({ op: 'policy-del', ifindex, generation: live, entry });
  return idle;
}
