// The applier: a plan's groups written in order, each group stopping at its first
// failed op (the rest of that Service waits for the next pass, so its safe order
// holds), every other group still written. Then one purge: the connection entries
// (flows, rev, affinity) naming a deleted backend go, one iteration of each table,
// and only then may the backend's id be handed out again.
import { decodeCtKey } from '../datapath/maps/ct.js';
import { decodeLbAffinityValue, decodeLbFlowValue, decodeLbRevValue } from '../datapath/maps/lb.js';
import type { LbPlan } from './plan.js';
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

/** pending: backend ids of earlier passes still waiting for their purge. */
export function applyLbPlan(plan: LbPlan, maps: LbMaps, pending: ReadonlySet<number>): LbApplyResult {
  let written = 0;
  const failures: LbWriteFailure[] = [];
  const deleted = new Set(pending);
  for (const g of plan.groups) {
    for (const op of g.ops) {
      try {
        run(maps, op);
      } catch (e) {
        failures.push({ subject: g.subject, op: describeOp(op), error: (e as Error).message });
        break;
      }
      written++;
      if (op.op === 'backend-del') deleted.add(op.id);
    }
  }
  if (deleted.size === 0) return { written, failures, unpurged: new Set(), purged: 0 };
  try {
    const purged = purgeConnections(maps, (id) => deleted.has(id));
    return { written, failures, unpurged: new Set(), purged };
  } catch (e) {
    failures.push({ subject: 'connection tables', op: 'purge', error: (e as Error).message });
    return { written, failures, unpurged: deleted, purged: 0 };
  }
}

type BackendOf = (key: Uint8Array, value: Uint8Array) => number;

const TABLES: readonly ['flows' | 'rev' | 'affinity', BackendOf][] = [
  ['flows', (_k, v) => decodeLbFlowValue(v).backendId],
  ['rev', (k, v) => decodeLbRevValue(v, decodeCtKey(k).family).backendId],
  ['affinity', (_k, v) => decodeLbAffinityValue(v).backendId],
];

/** Deletes every flows, rev and affinity entry whose backend is gone; returns how many. Throws on the first failure. */
export function purgeConnections(maps: LbMaps, gone: (backendId: number) => boolean): number {
  let n = 0;
  for (const [name, backendOf] of TABLES) {
    const table: LbConnTable = maps[name];
    for (const { key, value } of table.dump()) {
      if (!gone(backendOf(key, value))) continue;
      table.delete(key);
      n++;
    }
  }
  return n;
}
