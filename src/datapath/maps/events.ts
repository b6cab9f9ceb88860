// TypeScript mirror of bpf/include/maps.h, the flow events: struct flow_event (the
// records of the ring buffer strait_events_v1), struct event_config_value
// (strait_event_config_v1, key 0) and struct event_cpu_state (the per-CPU
// strait_event_cpu_v1, key 0). docs/observability.md says what each field means.
import { addrAt, addrOf, bytesOf, fail, int, LE, object, u32, u64, view, zeroRange } from './codec.js';
import { LAYOUT } from './layout.js';

export const FLOW_EVENT_SIZE = LAYOUT.flow_event.size;
export const EVENT_CONFIG_VALUE_SIZE = LAYOUT.event_config_value.size;
export const EVENT_CPU_STATE_SIZE = LAYOUT.event_cpu_state.size;
/** The key of strait_event_config_v1 and strait_event_cpu_v1: their one entry, 0. */
export const EVENT_MAP_KEY = new Uint8Array(4);

/** flow_event.type (FLOW_EV_*) */
export const FlowEventType = { new: 1, state: 2, drop: 3 } as const;
export type FlowEventTypeName = keyof typeof FlowEventType;

/** flow_event.point (OBS_*): the program that saw the packet. */
export const ObservationPoint = {
  'from-pod': 1,
  'to-pod': 2,
  'from-uplink': 3,
  'from-tunnel': 4,
  'to-tunnel': 5,
  'xdp-uplink': 6,
} as const;
export type ObservationPointName = keyof typeof ObservationPoint;

/** flow_event.flags (FLOW_EV_F_*) */
export const FlowEventFlag = {
  service: 1 << 0,
  byRule: 1 << 1,
  reply: 1 << 2,
  answered: 1 << 3,
  fin: 1 << 4,
  closed: 1 << 5,
  recreated: 1 << 6,
} as const;

/** event_config_value.flags (EVENTS_F_*) */
export const EVENTS_F_ENABLED = 1 << 0;

/** One record of strait_events_v1, decoded but not yet named (src/flows/ does that). */
export interface FlowEvent {
  /** bpf_ktime_get_ns(): CLOCK_MONOTONIC, as process.hrtime.bigint() reads it */
  timeNs: bigint;
  type: FlowEventTypeName;
  /** 0: the packet was not IP, and the address and port fields are empty */
  family: 0 | 4 | 6;
  saddr: string | null;
  daddr: string | null;
  sport: number;
  dport: number;
  protocol: number;
  /** enum drop_reason for a drop, else 0 */
  reason: number;
  srcIdentity: number;
  dstIdentity: number;
  ruleId: number;
  egressRule: number;
  ifindex: number;
  len: number;
  point: ObservationPointName;
  /** EP_DIR_*: 0 ingress (the endpoint receives), 1 egress (it sends) */
  direction: 0 | 1;
  tcpFlags: number;
  /** FlowEventFlag bits */
  flags: number;
}

const E = LAYOUT.flow_event.members;

/** A value -> name lookup of table, built once: decoding runs for every record. */
function namesOf<T extends Record<string, number>>(table: T, what: string): (n: number) => keyof T & string {
  const names = new Map((Object.entries(table) as [keyof T & string, number][]).map(([k, v]) => [v, k]));
  return (n) => names.get(n) ?? fail(what, `is not one of ${Object.values(table).join(', ')}`, n);
}
const typeName = namesOf(FlowEventType, 'flow event type');
const pointName = namesOf(ObservationPoint, 'flow event point');

/** One 80-byte record. A record no program writes (unknown type, point, family) is refused. */
export function decodeFlowEvent(buf: Uint8Array): FlowEvent {
  const b = bytesOf(buf, FLOW_EVENT_SIZE, 'flow event');
  const dv = view(b);
  const fam = b[E.family] ?? 0;
  if (fam !== 0 && fam !== 4 && fam !== 6) return fail('flow event family', 'must be 0, 4 or 6', fam);
  const direction = b[E.direction] ?? 0;
  if (direction !== 0 && direction !== 1) return fail('flow event direction', 'must be 0 or 1', direction);
  zeroRange(b, E.pad, FLOW_EVENT_SIZE, 'flow event pad');
  return {
    timeNs: dv.getBigUint64(E.time_ns, LE),
    type: typeName(b[E.type] ?? 0),
    family: fam,
    saddr: fam === 0 ? null : addrAt(b, E.saddr, fam),
    daddr: fam === 0 ? null : addrAt(b, E.daddr, fam),
    sport: dv.getUint16(E.sport, false),
    dport: dv.getUint16(E.dport, false),
    protocol: b[E.protocol] ?? 0,
    reason: b[E.reason] ?? 0,
    srcIdentity: dv.getUint32(E.src_identity, LE),
    dstIdentity: dv.getUint32(E.dst_identity, LE),
    ruleId: dv.getUint32(E.rule_id, LE),
    egressRule: dv.getUint32(E.egress_rule, LE),
    ifindex: dv.getUint32(E.ifindex, LE),
    len: dv.getUint32(E.len, LE),
    point: pointName(b[E.point] ?? 0),
    direction,
    tcpFlags: b[E.tcp_flags] ?? 0,
    flags: b[E.flags] ?? 0,
  };
}

/** Records back to back, as the addon's ring reader hands them over. */
export function decodeFlowEvents(buf: Uint8Array): FlowEvent[] {
  if (!(buf instanceof Uint8Array) || buf.byteLength % FLOW_EVENT_SIZE !== 0)
    return fail('flow events', `must be a multiple of ${FLOW_EVENT_SIZE} bytes`, buf instanceof Uint8Array ? buf.byteLength : typeof buf);
  const out: FlowEvent[] = [];
  for (let off = 0; off < buf.byteLength; off += FLOW_EVENT_SIZE) out.push(decodeFlowEvent(buf.subarray(off, off + FLOW_EVENT_SIZE)));
  return out;
}

/**
 * The record a program would write for e (only tests and tools write them: the
 * agent's pipeline is tested with records made here).
 */
export function encodeFlowEvent(e: FlowEvent): Uint8Array {
  object(e, 'flow event');
  const out = new Uint8Array(FLOW_EVENT_SIZE);
  const dv = view(out);
  dv.setBigUint64(E.time_ns, u64(e.timeNs, 'flow event time'), LE);
  if (e.family !== 0) {
    out.set(addrOf(e.saddr, e.family, 'flow event saddr'), E.saddr);
    out.set(addrOf(e.daddr, e.family, 'flow event daddr'), E.daddr);
  } else if (e.saddr !== null || e.daddr !== null) return fail('flow event', 'has addresses but family 0', e.saddr);
  dv.setUint16(E.sport, int(e.sport, 'flow event sport', 0, 0xffff), false);
  dv.setUint16(E.dport, int(e.dport, 'flow event dport', 0, 0xffff), false);
  out[E.protocol] = int(e.protocol, 'flow event protocol', 0, 255);
  out[E.family] = e.family;
  out[E.type] = FlowEventType[e.type] ?? fail('flow event type', 'is unknown', e.type);
  out[E.reason] = int(e.reason, 'flow event reason', 0, 255);
  dv.setUint32(E.src_identity, u32(e.srcIdentity, 'flow event src identity'), LE);
  dv.setUint32(E.dst_identity, u32(e.dstIdentity, 'flow event dst identity'), LE);
  dv.setUint32(E.rule_id, u32(e.ruleId, 'flow event rule id'), LE);
  dv.setUint32(E.egress_rule, u32(e.egressRule, 'flow event egress rule'), LE);
  dv.setUint32(E.ifindex, u32(e.ifindex, 'flow event ifindex'), LE);
  dv.setUint32(E.len, u32(e.len, 'flow event len'), LE);
  out[E.point] = ObservationPoint[e.point] ?? fail('flow event point', 'is unknown', e.point);
  out[E.direction] = int(e.direction, 'flow event direction', 0, 1);
  out[E.tcp_flags] = int(e.tcpFlags, 'flow event tcp flags', 0, 255);
  out[E.flags] = int(e.flags, 'flow event flags', 0, 255);
  return out;
}

export interface EventConfig {
  enabled: boolean;
  /** records a second each CPU may send; 0: no limit */
  ratePerCpu: number;
  /** how many above the rate one CPU may send at once */
  burst: number;
}

const C = LAYOUT.event_config_value.members;

export function encodeEventConfig(value: EventConfig): Uint8Array {
  object(value, 'event config');
  if (typeof value.enabled !== 'boolean') return fail('event config enabled', 'must be a boolean', value.enabled);
  const out = new Uint8Array(EVENT_CONFIG_VALUE_SIZE);
  const v = view(out);
  v.setUint32(C.flags, value.enabled ? EVENTS_F_ENABLED : 0, LE);
  v.setUint32(C.rate_per_cpu, u32(value.ratePerCpu, 'event config rate per CPU'), LE);
  v.setUint32(C.burst, u32(value.burst, 'event config burst'), LE);
  return out;
}

export function decodeEventConfig(buf: Uint8Array): EventConfig {
  const b = bytesOf(buf, EVENT_CONFIG_VALUE_SIZE, 'event config');
  const v = view(b);
  const flags = v.getUint32(C.flags, LE);
  if (flags & ~EVENTS_F_ENABLED) return fail('event config flags', 'has bits no agent writes', flags);
  zeroRange(b, C.pad, EVENT_CONFIG_VALUE_SIZE, 'event config pad');
  return { enabled: (flags & EVENTS_F_ENABLED) !== 0, ratePerCpu: v.getUint32(C.rate_per_cpu, LE), burst: v.getUint32(C.burst, LE) };
}

/** What the CPUs sent and lost, summed (the bucket fields are the datapath's own). */
export interface EventCpuTotals {
  sent: bigint;
  ringFull: bigint;
  rateLimited: bigint;
}

const S = LAYOUT.event_cpu_state.members;

/** Sums a per-CPU lookup of strait_event_cpu_v1 (ncpus slots of 40 bytes: already 8-aligned). */
export function sumEventCpuStates(buf: Uint8Array, ncpus: number): EventCpuTotals {
  if (!Number.isInteger(ncpus) || ncpus < 1) return fail('ncpus', 'must be a positive integer', ncpus);
  const b = bytesOf(buf, ncpus * EVENT_CPU_STATE_SIZE, 'event cpu states');
  const dv = view(b);
  const total: EventCpuTotals = { sent: 0n, ringFull: 0n, rateLimited: 0n };
  for (let cpu = 0; cpu < ncpus; cpu++) {
    const base = cpu * EVENT_CPU_STATE_SIZE;
    total.sent += dv.getBigUint64(base + S.sent, LE);
    total.ringFull += dv.getBigUint64(base + S.ring_full, LE);
    total.rateLimited += dv.getBigUint64(base + S.rate_limited, LE);
  }
  return total;
}
