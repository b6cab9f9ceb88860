// SETUP for the Service datapath tests: a Service as the agent writes it (its key,
// its value, slots 1..count and every backend), written with the lb codecs into the
// maps behind `fd` (a private test datapath or the pinned maps of a CNI bpfDir),
// and the connection tables the datapath writes, read back.
import * as bpf from '../../src/datapath/bpf.js';
import {
  decodeLbFlowValue,
  decodeLbRevValue,
  encodeCtKey,
  encodeLbBackendValue,
  encodeLbId,
  encodeLbServiceKey,
  encodeLbServiceValue,
  encodeLbSlotKey,
  LB_BE_F_READY,
  MapName,
  type CtKey,
  type LbFlowValue,
  type LbRevValue,
  type MapNameValue,
} from '../../src/datapath/maps/index.js';

export type MapFd = (map: MapNameValue) => number;

export interface TestBackend {
  id: number;
  addr: string;
  port: number;
}

export interface TestService {
  family: 4 | 6;
  vip: string;
  port: number;
  protocol: number;
  serviceId: number;
  /** the ready ones, in slots 1..n */
  backends: TestBackend[];
  /** LB_SVC_F_* */
  flags?: number;
  affinityTimeoutS?: number;
  /** count written, if not backends.length (a missing slot, a Service with none) */
  count?: number;
}

/** Backends and slots first, then the Service: the order the agent writes in. */
export function writeService(fd: MapFd, s: TestService): void {
  s.backends.forEach((b, i) => {
    bpf.mapUpdate(fd(MapName.lbBackends), encodeLbId(b.id), encodeLbBackendValue({ family: s.family, addr: b.addr, port: b.port, flags: LB_BE_F_READY, serviceId: s.serviceId }));
    bpf.mapUpdate(fd(MapName.lbSlots), encodeLbSlotKey({ serviceId: s.serviceId, slot: i + 1 }), encodeLbId(b.id));
  });
  bpf.mapUpdate(
    fd(MapName.lbServices),
    encodeLbServiceKey({ family: s.family, addr: s.vip, port: s.port, protocol: s.protocol }),
    encodeLbServiceValue({ serviceId: s.serviceId, count: s.count ?? s.backends.length, flags: s.flags ?? 0, affinityTimeoutS: s.affinityTimeoutS ?? 0 }),
  );
}

/** The backend leaves the EndpointSlice: out of strait_lb_backends_v1 (its slot is the caller's). */
export function deleteBackend(fd: MapFd, id: number): void {
  bpf.mapDelete(fd(MapName.lbBackends), encodeLbId(id));
}

export function deleteSlot(fd: MapFd, serviceId: number, slot: number): void {
  bpf.mapDelete(fd(MapName.lbSlots), encodeLbSlotKey({ serviceId, slot }));
}

export function lbFlow(fd: MapFd, key: CtKey): LbFlowValue | null {
  const v = bpf.mapLookup(fd(MapName.lbFlows), encodeCtKey(key));
  return v === null ? null : decodeLbFlowValue(v);
}

export function lbRev(fd: MapFd, key: CtKey): LbRevValue | null {
  const v = bpf.mapLookup(fd(MapName.lbRev), encodeCtKey(key));
  return v === null ? null : decodeLbRevValue(v, key.family);
}

export function deleteRev(fd: MapFd, key: CtKey): void {
  bpf.mapDelete(fd(MapName.lbRev), encodeCtKey(key));
}

/** Every Service map emptied. */
export const LB_MAPS: MapNameValue[] = [MapName.lbServices, MapName.lbSlots, MapName.lbBackends, MapName.lbFlows, MapName.lbRev, MapName.lbAffinity];
