// TypeScript mirror of bpf/include/maps.h: the Service maps (lb_* structs). The
// agent writes services, slots and backends (src/lb/); the datapath writes flows,
// rev and affinity, which the agent reads and purges. Ports are numbers here and
// network order in the map; integers are host order. docs/services.md says what
// each map means.
import { addrAt, addrOf, bytesOf, family, int, LE, object, u32, u64, view, zeroRange } from './codec.js';
import { LAYOUT } from './layout.js';

export const LB_SERVICE_KEY_SIZE = LAYOUT.lb_service_key.size;
export const LB_SERVICE_VALUE_SIZE = LAYOUT.lb_service_value.size;
export const LB_SLOT_KEY_SIZE = LAYOUT.lb_slot_key.size;
export const LB_BACKEND_VALUE_SIZE = LAYOUT.lb_backend_value.size;
export const LB_FLOW_VALUE_SIZE = LAYOUT.lb_flow_value.size;
export const LB_REV_VALUE_SIZE = LAYOUT.lb_rev_value.size;
export const LB_AFFINITY_KEY_SIZE = LAYOUT.lb_affinity_key.size;
export const LB_AFFINITY_VALUE_SIZE = LAYOUT.lb_affinity_value.size;

/** lb_service_value.flags: sessionAffinity ClientIP */
export const LB_SVC_F_AFFINITY = 1 << 0;
/** lb_backend_value.flags: ready, so in a slot */
export const LB_BE_F_READY = 1 << 0;
/** lb_flow_value.flags, lb_rev_value.flags: the backend is the client itself */
export const LB_FLOW_F_HAIRPIN = 1 << 0;

/** The source a pod reaching itself through its Service sees (maps.h LB_HAIRPIN_*). */
export const LB_HAIRPIN_IPV4 = '169.254.42.1';
export const LB_HAIRPIN_IPV6 = '100::42:1';

/** IPPROTO_* of the protocols a Service port may have. */
export const LB_PROTOCOLS = { TCP: 6, UDP: 17, SCTP: 132 } as const;

const ADDR_BYTES = 16;
const MAX_ID = 0xffff_ffff;

export interface LbServiceKey {
  family: 4 | 6;
  /** the ClusterIP, canonical text */
  addr: string;
  port: number;
  /** IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP */
  protocol: number;
}

export interface LbServiceValue {
  serviceId: number;
  /** ready backends, in slots 1..count */
  count: number;
  /** LB_SVC_F_* */
  flags: number;
  affinityTimeoutS: number;
}

export interface LbSlotKey {
  serviceId: number;
  /** 1..count */
  slot: number;
}

export interface LbBackendValue {
  family: 4 | 6;
  addr: string;
  port: number;
  /** LB_BE_F_* */
  flags: number;
  serviceId: number;
}

export interface LbFlowValue {
  backendId: number;
  serviceId: number;
  /** LB_FLOW_F_* */
  flags: number;
}

export interface LbRevValue {
  family: 4 | 6;
  /** written back as the reply's source: the ClusterIP */
  vip: string;
  /** hairpin: written back as the reply's destination (the pod); else null */
  client: string | null;
  /** the Service port */
  vport: number;
  /** LB_FLOW_F_* */
  flags: number;
  backendId: number;
}

export interface LbAffinityKey {
  serviceId: number;
  family: 4 | 6;
  client: string;
}

export interface LbAffinityValue {
  /** bpf_ktime_get_ns() of the client's last new connection */
  lastSeenNs: bigint;
  backendId: number;
}

const port = (v: unknown, what: string): number => int(v, what, 0, 0xffff);
const id = (v: unknown, what: string): number => int(v, what, 1, MAX_ID);

function addrField(out: Uint8Array, at: number, fam: 4 | 6, v: unknown, what: string): void {
  out.set(addrOf(v, fam, what), at);
}

function readAddr(b: Uint8Array, at: number, fam: 4 | 6, what: string): string {
  if (fam === 4) zeroRange(b, at + 4, at + ADDR_BYTES, `${what} past the IPv4 address`);
  return addrAt(b, at, fam);
}

const SK = LAYOUT.lb_service_key.members;

export function encodeLbServiceKey(key: LbServiceKey): Uint8Array {
  object(key, 'lb service key');
  const fam = family(key.family, 'lb service key family');
  const out = new Uint8Array(LB_SERVICE_KEY_SIZE);
  addrField(out, SK.addr, fam, key.addr, 'lb service key addr');
  view(out).setUint16(SK.port, port(key.port, 'lb service key port'), false);
  out[SK.protocol] = int(key.protocol, 'lb service key protocol', 0, 255);
  out[SK.family] = fam;
  return out;
}

export function decodeLbServiceKey(buf: Uint8Array): LbServiceKey {
  const b = bytesOf(buf, LB_SERVICE_KEY_SIZE, 'lb service key');
  const fam = family(b[SK.family], 'lb service key family');
  return {
    family: fam,
    addr: readAddr(b, SK.addr, fam, 'lb service key addr'),
    port: view(b).getUint16(SK.port, false),
    protocol: b[SK.protocol] ?? 0,
  };
}

const SV = LAYOUT.lb_service_value.members;

export function encodeLbServiceValue(value: LbServiceValue): Uint8Array {
  object(value, 'lb service value');
  const out = new Uint8Array(LB_SERVICE_VALUE_SIZE);
  const dv = view(out);
  dv.setUint32(SV.service_id, id(value.serviceId, 'lb service id'), LE);
  dv.setUint16(SV.count, int(value.count, 'lb service count', 0, 0xffff), LE);
  dv.setUint16(SV.flags, int(value.flags, 'lb service flags', 0, 0xffff), LE);
  dv.setUint32(SV.affinity_timeout_s, u32(value.affinityTimeoutS, 'lb service affinity timeout'), LE);
  return out;
}

export function decodeLbServiceValue(buf: Uint8Array): LbServiceValue {
  const b = bytesOf(buf, LB_SERVICE_VALUE_SIZE, 'lb service value');
  zeroRange(b, SV.pad, LB_SERVICE_VALUE_SIZE, 'lb service value pad');
  const dv = view(b);
  return {
    serviceId: dv.getUint32(SV.service_id, LE),
    count: dv.getUint16(SV.count, LE),
    flags: dv.getUint16(SV.flags, LE),
    affinityTimeoutS: dv.getUint32(SV.affinity_timeout_s, LE),
  };
}

const SL = LAYOUT.lb_slot_key.members;

export function encodeLbSlotKey(key: LbSlotKey): Uint8Array {
  object(key, 'lb slot key');
  const out = new Uint8Array(LB_SLOT_KEY_SIZE);
  view(out).setUint32(SL.service_id, id(key.serviceId, 'lb slot service id'), LE);
  view(out).setUint32(SL.slot, id(key.slot, 'lb slot'), LE);
  return out;
}

export function decodeLbSlotKey(buf: Uint8Array): LbSlotKey {
  const b = bytesOf(buf, LB_SLOT_KEY_SIZE, 'lb slot key');
  return { serviceId: view(b).getUint32(SL.service_id, LE), slot: view(b).getUint32(SL.slot, LE) };
}

/** A u32 map key or value: a backend id (strait_lb_backends_v1's key, a slot's value). */
export function encodeLbId(value: number, what = 'lb backend id'): Uint8Array {
  const out = new Uint8Array(4);
  view(out).setUint32(0, id(value, what), LE);
  return out;
}

export function decodeLbId(buf: Uint8Array, what = 'lb backend id'): number {
  return view(bytesOf(buf, 4, what)).getUint32(0, LE);
}

const BV = LAYOUT.lb_backend_value.members;

export function encodeLbBackendValue(value: LbBackendValue): Uint8Array {
  object(value, 'lb backend value');
  const fam = family(value.family, 'lb backend family');
  const out = new Uint8Array(LB_BACKEND_VALUE_SIZE);
  const dv = view(out);
  addrField(out, BV.addr, fam, value.addr, 'lb backend addr');
  dv.setUint16(BV.port, port(value.port, 'lb backend port'), false);
  out[BV.family] = fam;
  out[BV.flags] = int(value.flags, 'lb backend flags', 0, 255);
  dv.setUint32(BV.service_id, id(value.serviceId, 'lb backend service id'), LE);
  return out;
}

export function decodeLbBackendValue(buf: Uint8Array): LbBackendValue {
  const b = bytesOf(buf, LB_BACKEND_VALUE_SIZE, 'lb backend value');
  const fam = family(b[BV.family], 'lb backend family');
  const dv = view(b);
  return {
    family: fam,
    addr: readAddr(b, BV.addr, fam, 'lb backend addr'),
    port: dv.getUint16(BV.port, false),
    flags: b[BV.flags] ?? 0,
    serviceId: dv.getUint32(BV.service_id, LE),
  };
}

const FV = LAYOUT.lb_flow_value.members;

export function encodeLbFlowValue(value: LbFlowValue): Uint8Array {
  object(value, 'lb flow value');
  const out = new Uint8Array(LB_FLOW_VALUE_SIZE);
  const dv = view(out);
  dv.setUint32(FV.backend_id, id(value.backendId, 'lb flow backend id'), LE);
  dv.setUint32(FV.service_id, id(value.serviceId, 'lb flow service id'), LE);
  dv.setUint32(FV.flags, u32(value.flags, 'lb flow flags'), LE);
  return out;
}

export function decodeLbFlowValue(buf: Uint8Array): LbFlowValue {
  const b = bytesOf(buf, LB_FLOW_VALUE_SIZE, 'lb flow value');
  const dv = view(b);
  return { backendId: dv.getUint32(FV.backend_id, LE), serviceId: dv.getUint32(FV.service_id, LE), flags: dv.getUint32(FV.flags, LE) };
}

const RV = LAYOUT.lb_rev_value.members;

export function encodeLbRevValue(value: LbRevValue): Uint8Array {
  object(value, 'lb rev value');
  const fam = family(value.family, 'lb rev family');
  const out = new Uint8Array(LB_REV_VALUE_SIZE);
  const dv = view(out);
  addrField(out, RV.vip, fam, value.vip, 'lb rev vip');
  if (value.client !== null) addrField(out, RV.client, fam, value.client, 'lb rev client');
  dv.setUint16(RV.vport, port(value.vport, 'lb rev vport'), false);
  dv.setUint16(RV.flags, int(value.flags, 'lb rev flags', 0, 0xffff), LE);
  dv.setUint32(RV.backend_id, id(value.backendId, 'lb rev backend id'), LE);
  return out;
}

/** The value has no family of its own: it is its key's (the reply's tuple). */
export function decodeLbRevValue(buf: Uint8Array, fam: 4 | 6): LbRevValue {
  const b = bytesOf(buf, LB_REV_VALUE_SIZE, 'lb rev value');
  const dv = view(b);
  const flags = dv.getUint16(RV.flags, LE);
  return {
    family: fam,
    vip: readAddr(b, RV.vip, fam, 'lb rev vip'),
    client: flags & LB_FLOW_F_HAIRPIN ? readAddr(b, RV.client, fam, 'lb rev client') : null,
    vport: dv.getUint16(RV.vport, false),
    flags,
    backendId: dv.getUint32(RV.backend_id, LE),
  };
}

const AK = LAYOUT.lb_affinity_key.members;

export function encodeLbAffinityKey(key: LbAffinityKey): Uint8Array {
  object(key, 'lb affinity key');
  const fam = family(key.family, 'lb affinity family');
  const out = new Uint8Array(LB_AFFINITY_KEY_SIZE);
  view(out).setUint32(AK.service_id, id(key.serviceId, 'lb affinity service id'), LE);
  addrField(out, AK.client, fam, key.client, 'lb affinity client');
  out[AK.family] = fam;
  return out;
}

export function decodeLbAffinityKey(buf: Uint8Array): LbAffinityKey {
  const b = bytesOf(buf, LB_AFFINITY_KEY_SIZE, 'lb affinity key');
  const fam = family(b[AK.family], 'lb affinity family');
  zeroRange(b, AK.pad, LB_AFFINITY_KEY_SIZE, 'lb affinity key pad');
  return { serviceId: view(b).getUint32(AK.service_id, LE), family: fam, client: readAddr(b, AK.client, fam, 'lb affinity client') };
}

const AV = LAYOUT.lb_affinity_value.members;

export function encodeLbAffinityValue(value: LbAffinityValue): Uint8Array {
  object(value, 'lb affinity value');
  const out = new Uint8Array(LB_AFFINITY_VALUE_SIZE);
  const dv = view(out);
  dv.setBigUint64(AV.last_seen_ns, u64(value.lastSeenNs, 'lb affinity lastSeenNs'), LE);
  dv.setUint32(AV.backend_id, id(value.backendId, 'lb affinity backend id'), LE);
  return out;
}

export function decodeLbAffinityValue(buf: Uint8Array): LbAffinityValue {
  const b = bytesOf(buf, LB_AFFINITY_VALUE_SIZE, 'lb affinity value');
  const dv = view(b);
  return { lastSeenNs: dv.getBigUint64(AV.last_seen_ns, LE), backendId: dv.getUint32(AV.backend_id, LE) };
}
