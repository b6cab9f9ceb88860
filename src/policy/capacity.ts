// How full a plan makes each map at its fullest moment. A plan writes before it
// deletes: an endpoint's new entries go under its idle generation while the live
// ones stay, and ipcache/cidr removals come last. So the peak is what the maps hold
// plus what the plan adds before it removes; a map update beyond max_entries fails
// (E2BIG/ENOSPC), half-way through a plan. Simulating the ops in order gives the
// exact peak, so a plan can be refused before its first write. Pure.
import { entryKey, generationOf, type Plan } from './diff.js';
import type { DesiredState } from './types.js';

/** Entries each map may hold: max_entries of maps.h, smaller in tests. */
export interface Capacity {
  policy: number;
  ipcache: number;
  cidr: number;
}

export interface Usage {
  /** entries at the plan's fullest moment */
  peak: number;
  /** entries once the plan is written */
  final: number;
}

export interface MapUsage {
  policy: Usage;
  ipcache: Usage;
  cidr: Usage;
}

export type MapKind = keyof Capacity;

/** The map a plan does not fit in, first by the order policy, cidr, ipcache; null when it fits. */
export function overflow(usage: MapUsage, capacity: Capacity): MapKind | null {
  for (const kind of ['policy', 'cidr', 'ipcache'] as const) if (usage[kind].peak > capacity[kind]) return kind;
  return null;
}

export function planUsage(current: DesiredState | null, plan: Plan): MapUsage {
  const ipcache = setUsage(current?.ipcache, plan, 'ipcache-set', 'ipcache-del');
  const cidr = setUsage(current?.cidrs, plan, 'cidr-set', 'cidr-del');

  // Policy entries by slot, built from `current` for the slots a plan touches.
  const slots = new Map<string, Set<string>>();
  const slot = (ifindex: number, generation: 0 | 1): Set<string> => {
    const name = `${ifindex}/${generation}`;
    let s = slots.get(name);
    if (s === undefined) {
      const ep = current?.endpoints.get(ifindex);
      const entries = ep === undefined ? [] : generation === generationOf(ep) ? ep.entries : (ep.inactiveEntries ?? []);
      s = new Set(entries.map(entryKey));
      slots.set(name, s);
    }
    return s;
  };
  let n = 0;
  for (const ep of current?.endpoints.values() ?? []) n += ep.entries.length + (ep.inactiveEntries?.length ?? 0);
  let peak = n;
  for (const op of plan.ops) {
    if (op.op !== 'policy-set' && op.op !== 'policy-del') continue;
    const s = slot(op.ifindex, op.generation);
    const k = entryKey(op.entry);
    if (op.op === 'policy-set' && !s.has(k)) {
      s.add(k);
      peak = Math.max(peak, ++n);
    } else if (op.op === 'policy-del' && s.delete(k)) {
      n--;
    }
  }
  return { policy: { peak, final: n }, ipcache, cidr };
}

/** A keyed map whose upserts all come before its removals. */
function setUsage(
  have: ReadonlyMap<string, unknown> | undefined,
  plan: Plan,
  set: 'ipcache-set' | 'cidr-set',
  del: 'ipcache-del' | 'cidr-del',
): Usage {
  let added = 0;
  let removed = 0;
  for (const op of plan.ops) {
    if (op.op === set) {
      const key = op.op === 'ipcache-set' ? op.ip : op.cidr;
      if (!have?.has(key)) added++;
    } else if (op.op === del) {
      removed++;
    }
  }
  const start = have?.size ?? 0;
  return { peak: start + added, final: start + added - removed };
}
