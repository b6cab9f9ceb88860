// TypeScript mirror of bpf/include/maps.h, part 6: struct cidr_key and struct
// cidr_value of strait_cidr_v1, the LPM trie of ipBlock prefixes and this node's
// addresses. family and pad sit between prefixlen and the address and are always
// matched, so a prefix of n bits has prefixlen 32 + n. Keys are canonical: the
// kernel keeps whatever host bits it is given and hands them back on a dump, so an
// encoder that accepted "10.1.2.3/8" would make a key that never diffs equal to
// "10.0.0.0/8". Addresses are network order, like the rest of a cidr_key's data.
import { formatIpBytes, ipByteLength, ipBytes, prefixLen } from '../addr-bytes.js';
import { bytesOf, fail, family, LE, object, u32, view, zeroRange } from './codec.js';
import { LAYOUT } from './layout.js';

export const CIDR_KEY_SIZE = LAYOUT.cidr_key.size;
export const CIDR_VALUE_SIZE = LAYOUT.cidr_value.size;
/** Bits of cidr_key before the address: family and pad. */
export const CIDR_PREFIX_BIAS = 32;

export interface CidrValue {
  identity: number;
}

const K = LAYOUT.cidr_key.members;
const V = LAYOUT.cidr_value.members;

/** Bytes of addr past the first `bits` bits that are set: a non-canonical prefix. */
function hostBitsSet(addr: Uint8Array, bits: number): boolean {
  for (let i = 0; i < addr.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    if ((addr[i] ?? 0) & (0xff >> keep)) return true;
  }
  return false;
}

/** "198.18.0.0/16" or "fd00::/64" → cidr_key; refuses host bits and bare addresses. */
export function encodeCidrKey(cidr: string): Uint8Array {
  if (typeof cidr !== 'string') return fail('cidr', 'must be a string', cidr);
  const slash = cidr.indexOf('/');
  if (slash < 0) return fail('cidr', 'must be address/prefix', cidr);
  const ip = ipBytes(cidr.slice(0, slash), 'cidr address');
  const lenText = cidr.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return fail('cidr prefix length', 'must be a decimal integer', cidr);
  const bits = prefixLen(Number(lenText), ip.family, 'cidr prefix length');
  if (hostBitsSet(ip.bytes, bits)) return fail('cidr', 'has host bits set past its prefix (not canonical)', cidr);
  const out = new Uint8Array(CIDR_KEY_SIZE);
  view(out).setUint32(K.prefixlen, CIDR_PREFIX_BIAS + bits, LE);
  out[K.family] = ip.family;
  out.set(ip.bytes, K.ip);
  return out;
}

/** The canonical text of a key, e.g. "198.18.0.0/16" or "fd00::/64". */
export function decodeCidrKey(buf: Uint8Array): string {
  const b = bytesOf(buf, CIDR_KEY_SIZE, 'cidr key');
  const fam = family(b[K.family], 'cidr key family');
  const len = ipByteLength(fam);
  const prefixlen = view(b).getUint32(K.prefixlen, LE);
  const bits = prefixlen - CIDR_PREFIX_BIAS;
  if (bits < 0 || bits > len * 8) return fail('cidr key prefixlen', `must be ${CIDR_PREFIX_BIAS}..${CIDR_PREFIX_BIAS + len * 8} for IPv${fam}`, prefixlen);
  zeroRange(b, K.pad, K.ip, 'cidr key pad');
  zeroRange(b, K.ip + len, CIDR_KEY_SIZE, `cidr key past the IPv${fam} address`);
  const addr = b.slice(K.ip, K.ip + len);
  if (hostBitsSet(addr, bits)) return fail('cidr key', 'has host bits set past its prefix', [...addr]);
  return `${formatIpBytes(addr)}/${bits}`;
}

export function encodeCidrValue(value: CidrValue): Uint8Array {
  object(value, 'cidr value');
  const out = new Uint8Array(CIDR_VALUE_SIZE);
  view(out).setUint32(V.identity, u32(value.identity, 'cidr identity'), LE);
  return out;
}

export function decodeCidrValue(buf: Uint8Array): CidrValue {
  return { identity: view(bytesOf(buf, CIDR_VALUE_SIZE, 'cidr value')).getUint32(V.identity, LE) };
}
