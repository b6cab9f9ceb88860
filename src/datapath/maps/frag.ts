// TypeScript mirror of bpf/include/maps.h, part 9: struct frag_key and struct
// frag_value of strait_frag_v1 (IP fragments: the first fragment's ports for the
// later ones, bpf/include/frag.h), for tests and straitctl. The identification is
// network order as the packet has it: IPv4's 16 bits in the first two bytes of
// the field, IPv6's 32 bits whole.
import { addrAt, addrOf, bytesOf, family, int, object, view } from './codec.js';
import { LAYOUT } from './layout.js';

export const FRAG_KEY_SIZE = LAYOUT.frag_key.size;
export const FRAG_VALUE_SIZE = LAYOUT.frag_value.size;

/** frag_value.flags: the first fragment was an ICMP error that passed. */
export const FRAG_F_ICMP_ERROR = 1 << 0;

export interface FragKey {
  family: 4 | 6;
  saddr: string;
  daddr: string;
  /** IPv4: 0..0xffff; IPv6: 0..0xffffffff */
  id: number;
  /** IPv4 protocol, or the next header of the IPv6 fragment header */
  protocol: number;
}

export interface FragValue {
  sport: number;
  dport: number;
  /** the L4 protocol behind the first fragment's extension headers */
  protocol: number;
  flags: number;
}

const K = LAYOUT.frag_key.members;
const V = LAYOUT.frag_value.members;

export function encodeFragKey(key: FragKey): Uint8Array {
  object(key, 'frag key');
  family(key.family, 'frag key family');
  const out = new Uint8Array(FRAG_KEY_SIZE);
  const dv = view(out);
  out.set(addrOf(key.saddr, key.family, 'frag key saddr'), K.saddr);
  out.set(addrOf(key.daddr, key.family, 'frag key daddr'), K.daddr);
  if (key.family === 4) dv.setUint16(K.id, int(key.id, 'frag key id', 0, 0xffff), false);
  else dv.setUint32(K.id, int(key.id, 'frag key id', 0, 0xffff_ffff), false);
  out[K.protocol] = int(key.protocol, 'frag key protocol', 0, 255);
  out[K.family] = key.family;
  return out;
}

export function decodeFragKey(buf: Uint8Array): FragKey {
  const b = bytesOf(buf, FRAG_KEY_SIZE, 'frag key');
  const fam = family(b[K.family], 'frag key family');
  const dv = view(b);
  return {
    family: fam,
    saddr: addrAt(b, K.saddr, fam),
    daddr: addrAt(b, K.daddr, fam),
    id: fam === 4 ? dv.getUint16(K.id, false) : dv.getUint32(K.id, false),
    protocol: b[K.protocol] ?? 0,
  };
}

export function decodeFragValue(buf: Uint8Array): FragValue {
  const b = bytesOf(buf, FRAG_VALUE_SIZE, 'frag value');
  const dv = view(b);
  return {
    sport: dv.getUint16(V.sport, false),
    dport: dv.getUint16(V.dport, false),
    protocol: b[V.protocol] ?? 0,
    flags: b[V.flags] ?? 0,
  };
}
