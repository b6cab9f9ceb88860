// IP addresses as (family, bigint) pairs, and their one canonical text form.
//
// IPAM compares and steps through addresses as integers, and uses the text form as
// a key (lease file names, the in-use map), so every string that leaves this module
// is canonical: dotted quad without leading zeros, RFC 5952 for IPv6. IPv6 goes
// through ip-address; IPv4 has a strict hand-written fast path because the
// allocator may format tens of thousands of candidates in one ADD on a full /16,
// and ip-address's regex-based parser costs ~3 µs per call (test/unit cross-checks
// the fast path against ip-address).
import { Address6 } from 'ip-address';

export type Family = 4 | 6;

export interface Ip {
  family: Family;
  value: bigint;
}

/** An address with a prefix length, exactly as written (host bits may be set). */
export interface Cidr extends Ip {
  prefixLen: number;
}

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128);

/** Address family of an IP or CIDR. Cheap on purpose: only IPv6 text contains ':'. */
export const ipFamily = (cidrOrIp: string): Family => (cidrOrIp.includes(':') ? 6 : 4);

/** An address as the prefix that holds only it: /32 or /128. */
export const hostCidr = (ip: string): string => `${ip}/${bitsOf(ipFamily(ip))}`;

const OCTET = /^(?:0|[1-9]\d{0,2})$/;
const PREFIX = /^(?:0|[1-9]\d{0,2})$/;

function parseIp4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return null;
    const o = Number(p);
    if (o > 255) return null;
    n = n * 256 + o;
  }
  return BigInt(n);
}

function parseIp6(text: string): bigint | null {
  // Zones (fe80::1%eth0) name an interface, not an address: not meaningful in IPAM.
  if (text.includes('%') || text.includes('/')) return null;
  try {
    return new Address6(text).bigInt();
  } catch {
    return null;
  }
}

/** Parses a bare address (no prefix, no zone). Returns null when it is not one. */
export function parseIp(text: string): Ip | null {
  if (text.includes(':')) {
    const value = parseIp6(text);
    return value === null ? null : { family: 6, value };
  }
  const value = parseIp4(text);
  return value === null ? null : { family: 4, value };
}

/** Parses "address/prefix". The prefix is required and must fit the family. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIp(text.slice(0, slash));
  const prefix = text.slice(slash + 1);
  if (ip === null || !PREFIX.test(prefix)) return null;
  const prefixLen = Number(prefix);
  if (prefixLen > bitsOf(ip.family)) return null;
  return { ...ip, prefixLen };
}

export function formatIp(family: Family, value: bigint): string {
  if (family === 4) {
    const n = Number(value);
    return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  return Address6.fromBigInt(value).correctForm();
}

export const formatCidr = (family: Family, value: bigint, prefixLen: number): string =>
  `${formatIp(family, value)}/${prefixLen}`;

/** "198.18.0.10/24" → "198.18.0.10"; a bare address is returned as is. */
export function withoutPrefix(text: string): string {
  const slash = text.indexOf('/');
  return slash < 0 ? text : text.slice(0, slash);
}

/** The canonical text of an address, or null if `text` is not a bare address. */
export function canonicalIp(text: string): string | null {
  const ip = parseIp(text);
  return ip === null ? null : formatIp(ip.family, ip.value);
}

const hostMask = (family: Family, prefixLen: number): bigint =>
  (1n << BigInt(bitsOf(family) - prefixLen)) - 1n;

export const networkOf = (family: Family, value: bigint, prefixLen: number): bigint =>
  value & ~hostMask(family, prefixLen);

/** The last address of the prefix (the IPv4 broadcast address). */
export const lastOf = (family: Family, value: bigint, prefixLen: number): bigint =>
  networkOf(family, value, prefixLen) | hostMask(family, prefixLen);

