// The applier: a plan's groups written in order, each group stopping at its first
// failed op (the rest of that Service waits for the next pass, so its safe order
// holds), every other group still written. Then one purge: the connection entries
// (flows, rev, affinity) naming a deleted backend go, one iteration of each table,
// and only then may the backend's id be handed out again.
import { LE, view } from '../datapath/maps/codec.js';
import { LB_BE_F_READY } from '../datapath/maps/lb.js';
import { LAYOUT } from '../datapath/maps/layout.js';
import type { LbGroup, LbPlan } from './plan.js';
import type { LbOp } from './state.js';
import { serviceKeyText, type LbConnTable, type LbMaps } from './types.js';

export interface LbWriteFailure {
  subject: string;
  op: string;
  error: string;
}

export interface LbApplyResult {
  written: number;
  failures: LbWriteFailure[];
  /** backend ids deleted whose connection entries are not purged yet (the purge failed) */
  unpurged: Set<number>;
  /** connection entries deleted */
  purged: number;
}

function run(maps: LbMaps, op: LbOp): void {
  switch (op.op) {
    case 'backend-set':
      return maps.setBackend(op.id, op.value);
    case 'backend-del':
      return maps.delBackend(op.id);
    case 'slot-set':
      return maps.setSlot(op.key, op.backendId);
    case 'slot-del':
      return maps.delSlot(op.key);
    case 'service-set':
      return maps.setService(op.key, op.value);
    case 'service-del':
      return maps.delService(op.key);
  }
}

export function describeOp(op: LbOp): string {
  switch (op.op) {
    case 'backend-set':
    case 'backend-del':
      return `${op.op} ${op.id}`;
    case 'slot-set':
    case 'slot-del':
      return `${op.op} ${op.key.serviceId}/${op.key.slot}`;
    case 'service-set':
    case 'service-del':
      return `${op.op} ${serviceKeyText(op.key)}`;
  }
}

export interface LbGroupsResult {
  written: number;
  failures: LbWriteFailure[];
  /** backend ids deleted */
  deleted: number[];
  /** backend ids written not ready (out of their slots): sessionAffinity must not bring new connections back to them */
  unready: number[];
}

/** Writes the groups in order, each up to its first failed op. */
export function applyGroups(groups: readonly LbGroup[], maps: LbMaps): LbGroupsResult {
  const out: LbGroupsResult = { written: 0, failures: [], deleted: [], unready: [] };
  for (const g of groups) {
    for (const op of g.ops) {
      try {
        run(maps, op);
      } catch (e) {
        out.failures.push({ subject: g.subject, op: describeOp(op), error: (e as Error).message });
        break;
      }
      out.written++;
      if (op.op === 'backend-del') out.deleted.push(op.id);
      if (op.op === 'backend-set' && !(op.value.flags & LB_BE_F_READY)) out.unready.push(op.id);
    }
  }
  return out;
}

/**
 * The connection entries naming a deleted backend go, and the affinity entries of
 * backends no longer ready (their connections stay; no new one is sent to them). A
 * failure keeps every id waiting (unpurged, unreadyLeft) for the next try.
 */
export function purgeDeleted(
  maps: LbMaps,
  deleted: ReadonlySet<number>,
  unready: ReadonlySet<number> = new Set(),
): Pick<LbApplyResult, 'failures' | 'unpurged' | 'purged'> & { unreadyLeft: Set<number> } {
  if (deleted.size === 0 && unready.size === 0) return { failures: [], unpurged: new Set(), unreadyLeft: new Set(), purged: 0 };
  try {
    const purged = purgeConnections(maps, (id) => deleted.has(id), (id) => unready.has(id));
    return { failures: [], unpurged: new Set(), unreadyLeft: new Set(), purged };
  } catch (e) {
    return { failures: [{ subject: 'connection tables', op: 'purge', error: (e as Error).message }], unpurged: new Set(deleted), unreadyLeft: new Set(unready), purged: 0 };
  }
}

/** The whole plan at once, then the purge. pending: backend ids of earlier passes still waiting for their purge. */
export function applyLbPlan(plan: LbPlan, maps: LbMaps, pending: ReadonlySet<number>): LbApplyResult {
  const g = applyGroups(plan.groups, maps);
  const p = purgeDeleted(maps, new Set([...pending, ...g.deleted]), new Set(g.unready));
  return { written: g.written, failures: [...g.failures, ...p.failures], unpurged: p.unpurged, purged: p.purged };
}

// Only the backend id of each entry is read (a full table is 256k entries, read on
// the agent's event loop): its u32 at the offset maps.h gives it, host order.
const BACKEND_ID_AT: readonly ['flows' | 'rev' | 'affinity', number][] = [
  ['flows', LAYOUT.lb_flow_value.members.backend_id],
  ['rev', LAYOUT.lb_rev_value.members.backend_id],
  ['affinity', LAYOUT.lb_affinity_value.members.backend_id],
];

const backendIdAt = (value: Uint8Array, at: number): number => view(value).getUint32(at, LE);

/**
 * Deletes every flows, rev and affinity entry whose backend is gone, and the
 * affinity entries of `unready` ones; returns how many. Throws on the first failure.
 */
export function purgeConnections(maps: LbMaps, gone: (backendId: number) => boolean, unready: (backendId: number) => boolean = () => false): number {
  let n = 0;
  for (const [name, at] of BACKEND_ID_AT) {
    const table: LbConnTable = maps[name];
    const doomed = table
      .dump()
      .filter((e) => {
        const id = backendIdAt(e.value, at);
        return gone(id) || (name === 'affinity' && unready(id));
      })
      .map((e) => e.key);
    if (doomed.length > 0) n += table.deleteMany(doomed);
  }
  return n;
}
