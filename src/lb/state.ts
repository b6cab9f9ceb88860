// What the Service maps hold, indexed the way the differ asks (by service key, by
// service id, a service's backends by address and port), and the plan operations
// applied to it: the applier's effect on the maps, done to the state in place once
// a plan is written, so the next pass starts from it without reading the maps.
import type { LbBackendValue, LbServiceKey, LbServiceValue, LbSlotKey } from '../datapath/maps/lb.js';
import { serviceKeyText, type LbContent } from './types.js';

export interface LbState {
  /** by serviceKeyText */
  services: Map<string, { key: LbServiceKey; value: LbServiceValue }>;
  /** service id -> slot -> backend id */
  slots: Map<number, Map<number, number>>;
  backends: Map<number, LbBackendValue>;
  /** service id -> backendKey -> backend id: the index of `backends` */
  byService: Map<number, Map<string, number>>;
}

export type LbOp =
  | { op: 'backend-set'; id: number; value: LbBackendValue }
  | { op: 'backend-del'; id: number }
  | { op: 'slot-set'; key: LbSlotKey; backendId: number }
  | { op: 'slot-del'; key: LbSlotKey }
  | { op: 'service-set'; key: LbServiceKey; value: LbServiceValue }
  | { op: 'service-del'; key: LbServiceKey };

/** A backend's identity within its service. */
export const backendKey = (addr: string, port: number): string => `${addr} ${port}`;

export const emptyState = (): LbState => ({ services: new Map(), slots: new Map(), backends: new Map(), byService: new Map() });

export function stateOf(c: LbContent): LbState {
  const s = emptyState();
  for (const e of c.services) s.services.set(serviceKeyText(e.key), e);
  for (const e of c.slots) setSlot(s, e.key, e.backendId);
  for (const e of c.backends) setBackend(s, e.id, e.value);
  return s;
}

function setSlot(s: LbState, key: LbSlotKey, backendId: number): void {
  const m = s.slots.get(key.serviceId) ?? new Map<number, number>();
  m.set(key.slot, backendId);
  s.slots.set(key.serviceId, m);
}

function setBackend(s: LbState, id: number, value: LbBackendValue): void {
  deleteBackend(s, id);
  s.backends.set(id, value);
  const m = s.byService.get(value.serviceId) ?? new Map<string, number>();
  m.set(backendKey(value.addr, value.port), id);
  s.byService.set(value.serviceId, m);
}

function deleteBackend(s: LbState, id: number): void {
  const old = s.backends.get(id);
  if (old === undefined) return;
  s.backends.delete(id);
  const m = s.byService.get(old.serviceId);
  m?.delete(backendKey(old.addr, old.port));
  if (m?.size === 0) s.byService.delete(old.serviceId);
}

/** The op's effect on the state, in place. */
export function applyOp(s: LbState, op: LbOp): void {
  switch (op.op) {
    case 'backend-set':
      return setBackend(s, op.id, op.value);
    case 'backend-del':
      return deleteBackend(s, op.id);
    case 'slot-set':
      return setSlot(s, op.key, op.backendId);
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
