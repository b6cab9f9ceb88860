// IP and MAC addresses as the bytes the kernel and the maps hold, and back: text
// in, validated, bytes out (network order); the kernel's bytes in, canonical text
// out (dotted quad, RFC 5952, lower-case MAC). Shared by the netlink wrapper and
// the map codecs; every check fails with InvalidArgError (ERR_INVALID_ARG).
import { Address4, Address6 } from 'ip-address';

import { bitsOf, formatIp } from '../ipam/addr.js';
import { fail } from './invalid-arg.js';

export interface IpBytes {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** A bare address ("198.18.0.10", "fd5a::10"): no prefix, no zone. */
export function ipBytes(value: unknown, what = 'address'): IpBytes {
  if (typeof value !== 'string') return fail(what, 'must be a string', value);
  if (value.includes('/') || value.includes('%')) return fail(what, 'must be a bare address (no prefix or zone)', value);
  if (Address4.isValid(value)) return { family: 4, bytes: Uint8Array.from(new Address4(value).toArray()) };
  if (Address6.isValid(value)) {
    // From the 128-bit integer, so the array is always 16 bytes long.
    let n = new Address6(value).bigInt();
    const bytes = new Uint8Array(16);
    for (let i = 15; i >= 0; i--, n >>= 8n) bytes[i] = Number(n & 0xffn);
    return { family: 6, bytes };
  }
  return fail(what, 'is not an IPv4 or IPv6 address', value);
}

export function prefixLen(value: unknown, family: 4 | 6, what = 'prefix length'): number {
  const max = bitsOf(family);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max)
    return fail(what, `must be an integer in 0..${max} for IPv${family}`, value);
  return value;
}

/** Bytes of an address of the family: 4 or 16. */
export const ipByteLength = (family: 4 | 6): number => bitsOf(family) / 8;

/** Address text for bytes the kernel returned, in the one canonical form (src/ipam/addr.ts formatIp). */
export function formatIpBytes(bytes: Uint8Array): string {
  if (bytes.length !== 4 && bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  // IPv4 has one text form; written directly, as flow records need it thousands of times a second.
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return formatIp(6, value);
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function macBytes(value: unknown, what = 'MAC address'): Uint8Array {
  if (typeof value !== 'string' || !MAC_RE.test(value)) return fail(what, 'must look like aa:bb:cc:dd:ee:ff', value);
  return Uint8Array.from(value.split(':'), (h) => parseInt(h, 16));
}

/** "aa:bb:..." in lower case; any length, so a tunnel's non-Ethernet address still shows. */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}
