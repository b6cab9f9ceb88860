// The differ: the Services this node wants against what the maps hold, as groups of
// map operations in the safe order (docs/services.md, "Backend changes"). Pure.
//
// - Ids are adopted: an entry already in the maps keeps its service id, a backend
//   already there (same service, address, port) its backend id; a new one gets the
//   smallest id in use nowhere (nor waiting for its connections to be purged).
// - Per entry: backends, then slots, then the service value (a raised count); then
//   slots past the new count and the backends that left. A removed entry goes
//   service first, then its slots and backends. So a packet never picks a slot that
//   is not there, nor a slot naming a backend that is not there.
// - Capacity: a Service that does not fit what is left is refused whole. Services
//   the maps hold already are admitted first, so a new one never pushes one out.
import { LB_BE_F_READY, type LbBackendValue, type LbServiceValue } from '../datapath/maps/lb.js';
import { applyOp, backendKey, type LbOp, type LbState } from './state.js';
import { serviceKeyText, type DesiredEntry, type DesiredService, type LbCapacity } from './types.js';

/** The ops of one Service (or of one entry no Service wants any more): on a failed op the rest of its group waits. */
export interface LbGroup {
  subject: string;
  ops: LbOp[];
}

export interface LbRefusal {
  service: string;
  reason: string;
}

export interface LbPlan {
  /** whole removals first, then Services that shrink before those that grow */
  groups: LbGroup[];
  /** the Services written, by name */
  accepted: DesiredService[];
  refused: LbRefusal[];
}

/** A service's count is a __u16. */
const MAX_SLOTS = 0xffff;

/** A desired entry's service key as text, computed once per entry (entries are reused across passes). */
const keyTexts = new WeakMap<DesiredEntry, string>();
function keyText(e: DesiredEntry): string {
  let t = keyTexts.get(e);
  if (t === undefined) {
    t = serviceKeyText(e.key);
    keyTexts.set(e, t);
  }
  return t;
}

function sameService(a: LbServiceValue, b: LbServiceValue): boolean {
  return a.serviceId === b.serviceId && a.count === b.count && a.flags === b.flags && a.affinityTimeoutS === b.affinityTimeoutS;
}

function sameBackend(a: LbBackendValue, b: LbBackendValue): boolean {
  return a.family === b.family && a.addr === b.addr && a.port === b.port && a.flags === b.flags && a.serviceId === b.serviceId;
}

/** Smallest ids >= 1 not in use, handed out in order; what is in use is looked at only when one is asked for. */
function allocator(used: () => Set<number>): () => number {
  let next = 1;
  let taken: Set<number> | null = null;
  return () => {
    taken ??= used();
    while (taken.has(next)) next++;
    taken.add(next);
    return next;
  };
}

/**
 * reserved: backend ids deleted from the maps whose connection entries are not
 * purged yet; they are not handed out again until they are. written: Services (the
 * very objects) the last pass wrote whole, with `current` what it left: they are
 * as they should be, and are kept without being diffed again.
 */
export function planServices(
  desired: readonly DesiredService[],
  current: LbState,
  capacity: LbCapacity,
  reserved: ReadonlySet<number> = new Set(),
  written: ReadonlySet<DesiredService> = new Set(),
): LbPlan {
  const { accepted, refused } = admit(desired, current, capacity);
  const listed = new Set<number>();
  for (const e of current.services.values()) listed.add(e.value.serviceId);
  const serviceId = allocator(() => new Set([...listed, ...current.slots.keys(), ...current.byService.keys()]));
  const backendId = allocator(() => {
    const used = new Set<number>([...current.backends.keys(), ...reserved]);
    for (const m of current.slots.values()) for (const id of m.values()) used.add(id);
    return used;
  });

  const wanted = new Set<string>();
  const changes: { group: LbGroup; delta: number }[] = [];
  for (const svc of accepted) {
    if (written.has(svc)) {
      for (const entry of svc.entries) wanted.add(keyText(entry));
      continue;
    }
    const ops: LbOp[] = [];
    let delta = 0;
    for (const entry of svc.entries) {
      const text = keyText(entry);
      wanted.add(text);
      const have = current.services.get(text);
      const id = have?.value.serviceId ?? serviceId();
      const r = entryOps(entry, id, have?.value ?? null, current, current.byService.get(id) ?? new Map<string, number>(), backendId);
      ops.push(...r.ops);
      delta += r.delta;
    }
    if (ops.length > 0) changes.push({ group: { subject: svc.name, ops }, delta });
  }

  // Entries no admitted Service wants, and what an interrupted pass left without one.
  const removals: LbGroup[] = [];
  for (const [text, e] of current.services) {
    if (wanted.has(text)) continue;
    removals.push({ subject: text, ops: [{ op: 'service-del', key: e.key }, ...dropService(e.value.serviceId, current)] });
  }
  for (const id of new Set([...current.slots.keys(), ...current.byService.keys()])) {
    if (listed.has(id)) continue;
    const ops = dropService(id, current);
    if (ops.length > 0) removals.push({ subject: `service id ${id} (no service entry)`, ops });
  }

  changes.sort((a, b) => a.delta - b.delta);
  return { groups: [...removals, ...changes.map((c) => c.group)], accepted, refused };
}

/** What the maps hold once every group of the plan is written: the state, advanced in place. */
export function advance(state: LbState, plan: LbPlan): LbState {
  for (const g of plan.groups) for (const op of g.ops) applyOp(state, op);
  return state;
}

/** A service id's slots and backends, slots first. */
function dropService(id: number, current: LbState): LbOp[] {
  const ops: LbOp[] = [];
  for (const slot of current.slots.get(id)?.keys() ?? []) ops.push({ op: 'slot-del', key: { serviceId: id, slot } });
  for (const bid of current.byService.get(id)?.values() ?? []) ops.push({ op: 'backend-del', id: bid });
  return ops;
}

function entryOps(
  entry: DesiredEntry,
  serviceId: number,
  have: LbServiceValue | null,
  current: LbState,
  haveBackends: ReadonlyMap<string, number>,
  newBackendId: () => number,
): { ops: LbOp[]; delta: number } {
  const fam = entry.key.family;
  const sets: LbOp[] = [];
  let added = 0;
  const ids = new Map<string, number>();
  const ready: number[] = [];
  for (const b of entry.backends) {
    const k = backendKey(b.addr, b.port);
    const id = haveBackends.get(k) ?? newBackendId();
    ids.set(k, id);
    if (b.ready) ready.push(id);
    const value: LbBackendValue = { family: fam, addr: b.addr, port: b.port, flags: b.ready ? LB_BE_F_READY : 0, serviceId };
    const old = current.backends.get(id);
    if (old === undefined) added++;
    if (old === undefined || !sameBackend(old, value)) sets.push({ op: 'backend-set', id, value });
  }
  // Slots: the ready backends in the slots they hold (so a restart or an unrelated
  // change moves nothing), the newly ready after them.
  const haveSlots = current.slots.get(serviceId) ?? new Map<number, number>();
  const readySet = new Set(ready);
  const order: number[] = [];
  for (let s = 1; s <= (have?.count ?? 0); s++) {
    const id = haveSlots.get(s);
    if (id !== undefined && readySet.has(id) && !order.includes(id)) order.push(id);
  }
  for (const id of ready) if (!order.includes(id)) order.push(id);
  const slotSets: LbOp[] = [];
  order.forEach((id, i) => {
    if (haveSlots.get(i + 1) !== id) slotSets.push({ op: 'slot-set', key: { serviceId, slot: i + 1 }, backendId: id });
  });
  const value: LbServiceValue = { serviceId, count: order.length, flags: entry.flags, affinityTimeoutS: entry.affinityTimeoutS };
  const svcSet: LbOp[] = have !== null && sameService(have, value) ? [] : [{ op: 'service-set', key: entry.key, value }];
  const slotDels: LbOp[] = [...haveSlots.keys()].filter((s) => s > order.length).sort((a, b) => a - b).map((slot) => ({ op: 'slot-del', key: { serviceId, slot } }));
  const keep = new Set(ids.values());
  const backendDels: LbOp[] = [...haveBackends.values()].filter((id) => !keep.has(id)).map((id) => ({ op: 'backend-del', id }));
  return { ops: [...sets, ...slotSets, ...svcSet, ...slotDels, ...backendDels], delta: added - backendDels.length };
}

/** Which Services are written: those the maps hold first, then the new ones, each by name, while they fit. */
function admit(desired: readonly DesiredService[], current: LbState, capacity: LbCapacity): { accepted: DesiredService[]; refused: LbRefusal[] } {
  const present = (s: DesiredService): boolean => s.entries.some((e) => current.services.has(keyText(e)));
  const isPresent = desired.map(present);
  const ordered = [...desired.filter((_, i) => isPresent[i]), ...desired.filter((_, i) => !isPresent[i])];
  const claimed = new Map<string, string>();
  const accepted: DesiredService[] = [];
  const refused: LbRefusal[] = [];
  let services = 0;
  let backends = 0;
  for (const svc of ordered) {
    const taken = svc.entries.map((e) => [keyText(e), claimed.get(keyText(e))] as const).find(([, by]) => by !== undefined);
    if (taken !== undefined) {
      refused.push({ service: svc.name, reason: `${taken[0]} is already Service ${taken[1]!}'s` });
      continue;
    }
    const big = svc.entries.find((e) => e.backends.filter((b) => b.ready).length > MAX_SLOTS);
    if (big !== undefined) {
      refused.push({ service: svc.name, reason: `${serviceKeyText(big.key)} has more than ${MAX_SLOTS} ready backends` });
      continue;
    }
    const needServices = svc.entries.length;
    const needBackends = svc.entries.reduce((n, e) => n + e.backends.length, 0);
    if (services + needServices > capacity.services || backends + needBackends > capacity.backends) {
      refused.push({
        service: svc.name,
        reason: `does not fit: it needs ${needServices} service entries and ${needBackends} backends, ${capacity.services - services} and ${capacity.backends - backends} are left (of ${capacity.services} and ${capacity.backends})`,
      });
      continue;
    }
    services += needServices;
    backends += needBackends;
    for (const e of svc.entries) claimed.set(keyText(e), svc.name);
    accepted.push(svc);
  }
  accepted.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { accepted, refused };
}
