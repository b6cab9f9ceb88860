// What the Service maps hold, indexed the way the differ asks (by service key, by
// service id), and the plan operations applied to it: the applier's effect on the
// maps, simulated, so a plan carries the state it leaves behind. Pure.
import type { LbBackendValue, LbServiceKey, LbServiceValue, LbSlotKey } from '../datapath/maps/lb.js';
import { serviceKeyText, type LbContent } from './types.js';

export interface LbState {
  /** by serviceKeyText */
  services: Map<string, { key: LbServiceKey; value: LbServiceValue }>;
  /** service id -> slot -> backend id */
  slots: Map<number, Map<number, number>>;
  backends: Map<number, LbBackendValue>;
}

export type LbOp =
  | { op: 'backend-set'; id: number; value: LbBackendValue }
  | { op: 'backend-del'; id: number }
  | { op: 'slot-set'; key: LbSlotKey; backendId: number }
  | { op: 'slot-del'; key: LbSlotKey }
  | { op: 'service-set'; key: LbServiceKey; value: LbServiceValue }
  | { op: 'service-del'; key: LbServiceKey };

export const emptyState = (): LbState => ({ services: new Map(), slots: new Map(), backends: new Map() });

export function stateOf(c: LbContent): LbState {
  const s = emptyState();
  for (const e of c.services) s.services.set(serviceKeyText(e.key), e);
  for (const e of c.slots) setSlot(s, e.key, e.backendId);
  for (const e of c.backends) s.backends.set(e.id, e.value);
  return s;
}

function setSlot(s: LbState, key: LbSlotKey, backendId: number): void {
  const m = s.slots.get(key.serviceId) ?? new Map<number, number>();
  m.set(key.slot, backendId);
  s.slots.set(key.serviceId, m);
}

export function cloneState(s: LbState): LbState {
  return { services: new Map(s.services), slots: new Map([...s.slots].map(([k, v]) => [k, new Map(v)])), backends: new Map(s.backends) };
}

/** The op's effect on the state, in place. */
export function applyOp(s: LbState, op: LbOp): void {
  switch (op.op) {
    case 'backend-set':
      s.backends.set(op.id, op.value);
      return;
    case 'backend-del':
      s.backends.delete(op.id);
      return;
    case 'slot-set':
      setSlot(s, op.key, op.backendId);
      return;
    case 'slot-del': {
      const m = s.slots.get(op.key.serviceId);
      m?.delete(op.key.slot);
      if (m?.size === 0) s.slots.delete(op.key.serviceId);
      return;
    }
    case 'service-set':
      s.services.set(serviceKeyText(op.key), { key: op.key, value: op.value });
      return;
    case 'service-del':
      s.services.delete(serviceKeyText(op.key));
  }
}

/** Entries the state holds in each agent-written map. */
export function countsOf(s: LbState): { services: number; slots: number; backends: number } {
  let slots = 0;
  for (const m of s.slots.values()) slots += m.size;
  return { services: s.services.size, slots, backends: s.backends.size };
}
