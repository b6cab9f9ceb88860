// TypeScript mirror of bpf/include/maps.h, part 8: struct ct_key and struct
// ct_value of strait_ct_v1 (answered connections) and strait_ct_pending_v1 (not
// answered yet), keyed by the tuple of the packet that opened them, plus the
// lifetimes of bpf/include/conntrack.h, for the agent's conntrack flush and
// straitctl. Addresses and ports are network order in the key
// (ports are numbers here); an IPv4 address sits in the first word, the rest zero.
// ICMP echo flows carry the identifier as both ports; other portless flows 0.
// last_seen_ns is bpf_ktime_get_ns(), CLOCK_MONOTONIC: the clock of
// process.hrtime.bigint() on Linux, so the two compare directly.
import { ipByteLength } from '../addr-bytes.js';
import { addrAt, addrOf, bytesOf, family, int, LE, object, u32, u64, view, zeroRange } from './codec.js';
import { LAYOUT } from './layout.js';

export const CT_KEY_SIZE = LAYOUT.ct_key.size;
export const CT_VALUE_SIZE = LAYOUT.ct_value.size;

/** ct_value.flags: a packet of the reverse direction has been seen. */
export const CT_F_REPLY_SEEN = 1 << 0;
/** The connection reached the pod through the host stack; its replies go back through it (NAT). */
export const CT_F_VIA_STACK = 1 << 1;
// 1 << 2 is unused (maps.h says why).
export const CT_F_FIN_ORIG = 1 << 3;
export const CT_F_FIN_REPLY = 1 << 4;
/** TCP: RST, or FIN from both sides. */
export const CT_F_CLOSED = 1 << 5;
/** The agent cut it (policy no longer allows it): the datapath drops its packets. */
export const CT_F_REVOKED = 1 << 6;
/** from_pod translated it from a Service to a backend: its replies get the Service's address back (lb.h). */
export const CT_F_SERVICE = 1 << 7;

/** Idle lifetimes (conntrack.h): an entry idle longer is a miss in the datapath. */
export const CT_LIFETIME_TCP_NS = 6n * 3600n * 1_000_000_000n;
export const CT_LIFETIME_OTHER_NS = 120n * 1_000_000_000n;
/** not answered yet (no CT_F_REPLY_SEEN) */
export const CT_LIFETIME_PENDING_NS = 60n * 1_000_000_000n;
/** CT_F_CLOSED */
export const CT_LIFETIME_CLOSED_NS = 10n * 1_000_000_000n;

const IPPROTO_TCP = 6;

export interface CtKey {
  family: 4 | 6;
  /** bare addresses, canonical on decode */
  saddr: string;
  daddr: string;
  /** host order; ICMP echo: the identifier, in both */
  sport: number;
  dport: number;
  protocol: number;
}

export interface CtValue {
  /** bpf_ktime_get_ns() of the last refresh (at most once a second per flow) */
  lastSeenNs: bigint;
  /** CT_F_* */
  flags: number;
  /** the rule that allowed the first packet; 0: no policy applied */
  ruleId: number;
}

const K = LAYOUT.ct_key.members;
const V = LAYOUT.ct_value.members;
const ADDR_BYTES = 16;

export function encodeCtKey(key: CtKey): Uint8Array {
  object(key, 'ct key');
  family(key.family, 'ct key family');
  const saddr = addrOf(key.saddr, key.family, 'ct key saddr');
  const daddr = addrOf(key.daddr, key.family, 'ct key daddr');
  const sport = int(key.sport, 'ct key sport', 0, 0xffff);
  const dport = int(key.dport, 'ct key dport', 0, 0xffff);
  const protocol = int(key.protocol, 'ct key protocol', 0, 255);
  const out = new Uint8Array(CT_KEY_SIZE);
  const dv = view(out);
  out.set(saddr, K.saddr);
  out.set(daddr, K.daddr);
  dv.setUint16(K.sport, sport, false);
  dv.setUint16(K.dport, dport, false);
  out[K.protocol] = protocol;
  out[K.family] = key.family;
  return out;
}

export function decodeCtKey(buf: Uint8Array): CtKey {
  const b = bytesOf(buf, CT_KEY_SIZE, 'ct key');
  const fam = family(b[K.family], 'ct key family');
  const len = ipByteLength(fam);
  zeroRange(b, K.saddr + len, K.saddr + ADDR_BYTES, 'ct key saddr past the IPv4 address');
  zeroRange(b, K.daddr + len, K.daddr + ADDR_BYTES, 'ct key daddr past the IPv4 address');
  zeroRange(b, K.pad, CT_KEY_SIZE, 'ct key pad');
  const dv = view(b);
  return {
    family: fam,
    saddr: addrAt(b, K.saddr, fam),
    daddr: addrAt(b, K.daddr, fam),
    sport: dv.getUint16(K.sport, false),
    dport: dv.getUint16(K.dport, false),
    protocol: b[K.protocol] ?? 0,
  };
}

/** The key of the other direction: what a reply's tuple is. */
export function reverseCtKey(key: CtKey): CtKey {
  return { ...key, saddr: key.daddr, daddr: key.saddr, sport: key.dport, dport: key.sport };
}

export function encodeCtValue(value: CtValue): Uint8Array {
  object(value, 'ct value');
  const out = new Uint8Array(CT_VALUE_SIZE);
  const dv = view(out);
  dv.setBigUint64(V.last_seen_ns, u64(value.lastSeenNs, 'ct value lastSeenNs'), LE);
  dv.setUint32(V.flags, u32(value.flags, 'ct value flags'), LE);
  dv.setUint32(V.rule_id, u32(value.ruleId, 'ct value ruleId'), LE);
  return out;
}

export function decodeCtValue(buf: Uint8Array): CtValue {
  const dv = view(bytesOf(buf, CT_VALUE_SIZE, 'ct value'));
  return {
    lastSeenNs: dv.getBigUint64(V.last_seen_ns, LE),
    flags: dv.getUint32(V.flags, LE),
    ruleId: dv.getUint32(V.rule_id, LE),
  };
}

/** The idle lifetime of an entry with these flags, as ct_lifetime() in conntrack.h. */
export function ctLifetimeNs(protocol: number, flags: number): bigint {
  if (flags & CT_F_CLOSED) return CT_LIFETIME_CLOSED_NS;
  if (!(flags & CT_F_REPLY_SEEN)) return CT_LIFETIME_PENDING_NS;
  return protocol === IPPROTO_TCP ? CT_LIFETIME_TCP_NS : CT_LIFETIME_OTHER_NS;
}

/**
 * Whether the datapath treats the entry as gone at `nowNs` (default: now, from the
 * same clock). A last_seen ahead of now (a refresh racing the clock read) is fresh,
 * as in conntrack.h.
 */
export function ctExpired(protocol: number, value: CtValue, nowNs: bigint = process.hrtime.bigint()): boolean {
  return nowNs > value.lastSeenNs && nowNs - value.lastSeenNs > ctLifetimeNs(protocol, value.flags);
}
