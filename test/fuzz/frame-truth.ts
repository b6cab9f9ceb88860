// The oracle's own reading of an Ethernet frame, written from the RFCs and not from
// bpf/: what a receiving host would take the frame to be. IPv6 extension headers are
// walked (hop-by-hop, routing, fragment, destination options, AH), fragments are
// told apart, ICMP errors carry the packet they quote. The fuzz test compares the
// datapath's verdict with what this says the frame is.

export interface Tuple {
  family: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  /** ports; ICMP echo: the identifier twice (as conntrack keys it); other ICMP: 0, 0 */
  sport: number;
  dport: number;
}

export interface L3Truth {
  family: 4 | 6;
  src: string;
  dst: string;
  /** the upper-layer protocol after every extension header */
  proto: number;
  /** IPv6 extension headers before it (any at all) */
  extHeaders: boolean;
  /** 'nonfirst': offset > 0, no L4 header of its own */
  fragment: 'none' | 'first' | 'nonfirst';
  /** IPv4 identification or the IPv6 fragment header's */
  fragId: number;
  /** null when the L4 header is missing or cut short (or the fragment has none) */
  tuple: Tuple | null;
  icmp: { type: number; code: number } | null;
  /** an ICMP error's quoted packet, when it can be read */
  quoted: L3Truth | null;
}

export interface FrameTruth {
  ethSrc: string;
  ethDst: string;
  ethType: number;
  /** null: not IPv4/IPv6, or a header no host would accept */
  l3: L3Truth | null;
}

const hex = (b: Uint8Array, from: number, n: number): string[] => [...b.subarray(from, from + n)].map((x) => x.toString(16).padStart(2, '0'));
const mac = (b: Uint8Array, at: number): string => hex(b, at, 6).join(':');
const u16 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const u32 = (b: Uint8Array, at: number): number => ((u16(b, at) << 16) | u16(b, at + 2)) >>> 0;

function ip6Text(b: Uint8Array, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(u16(b, at + 2 * i).toString(16));
  // canonical compression of the longest zero run, as canonicalIp would print it
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export const ICMP_ERRORS_V4 = new Set([3, 11, 12]);
export const ICMP_ERRORS_V6 = new Set([1, 2, 3, 4]);
const ICMP_ECHO_V4 = new Set([0, 8]);
const ICMP_ECHO_V6 = new Set([128, 129]);
const PORT_PROTOS = new Set([6, 17, 132]);
const EXT_HEADERS = new Set([0, 43, 44, 51, 60]);
const MAX_EXT_HEADERS = 16;

export const isIcmpError = (t: L3Truth): boolean =>
  t.icmp !== null && (t.family === 4 ? ICMP_ERRORS_V4 : ICMP_ERRORS_V6).has(t.icmp.type);

/** The IP packet at `at` (IPv4 or IPv6 by its version nibble), or null if unreadable. */
export function parseIp(b: Uint8Array, at: number, depth = 0): L3Truth | null {
  if (b.length < at + 1) return null;
  const version = (b[at] ?? 0) >> 4;
  if (version === 4) return parseIpv4(b, at, depth);
  if (version === 6) return parseIpv6(b, at, depth);
  return null;
}

function parseIpv4(b: Uint8Array, at: number, depth: number): L3Truth | null {
  if (b.length < at + 20) return null;
  const ihl = (b[at] ?? 0) & 0xf;
  if (ihl < 5 || b.length < at + ihl * 4) return null;
  const frag = u16(b, at + 6);
  const offset = frag & 0x1fff;
  const more = (frag & 0x2000) !== 0;
  const t: L3Truth = {
    family: 4,
    src: [...b.subarray(at + 12, at + 16)].join('.'),
    dst: [...b.subarray(at + 16, at + 20)].join('.'),
    proto: b[at + 9] ?? 0,
    extHeaders: false,
    fragment: offset > 0 ? 'nonfirst' : more ? 'first' : 'none',
    fragId: u16(b, at + 4),
    tuple: null,
    icmp: null,
    quoted: null,
  };
  if (t.fragment !== 'nonfirst') readL4(b, at + ihl * 4, t, depth);
  return t;
}

function parseIpv6(b: Uint8Array, at: number, depth: number): L3Truth | null {
  if (b.length < at + 40) return null;
  const t: L3Truth = {
    family: 6,
    src: ip6Text(b, at + 8),
    dst: ip6Text(b, at + 24),
    proto: b[at + 6] ?? 0,
    extHeaders: false,
    fragment: 'none',
    fragId: 0,
    tuple: null,
    icmp: null,
    quoted: null,
  };
  let off = at + 40;
  for (let n = 0; EXT_HEADERS.has(t.proto); n++) {
    t.extHeaders = true;
    if (n === MAX_EXT_HEADERS || b.length < off + 8) return { ...t, proto: -1 }; // a chain no one reads to its end
    const next = b[off] ?? 0;
    if (t.proto === 44) {
      const fo = u16(b, off + 2);
      t.fragId = u32(b, off + 4);
      t.fragment = fo >> 3 > 0 ? 'nonfirst' : 'first'; // offset 0: the first (or an atomic) fragment
      off += 8;
    } else if (t.proto === 51) off += ((b[off + 1] ?? 0) + 2) * 4;
    else off += ((b[off + 1] ?? 0) + 1) * 8;
    t.proto = next;
    if (t.fragment === 'nonfirst') return t;
  }
  readL4(b, off, t, depth);
  return t;
}

function readL4(b: Uint8Array, off: number, t: L3Truth, depth: number): void {
  const base = { family: t.family, src: t.src, dst: t.dst, proto: t.proto };
  if (PORT_PROTOS.has(t.proto)) {
    if (b.length >= off + 4) t.tuple = { ...base, sport: u16(b, off), dport: u16(b, off + 2) };
    return;
  }
  const icmpProto = t.family === 4 ? 1 : 58;
  if (t.proto !== icmpProto) {
    t.tuple = { ...base, sport: 0, dport: 0 };
    return;
  }
  // Type, code, checksum and the echo identifier identify the message; the rest of the
  // 8-byte header can be cut off (as in a quote) without changing what it is.
  if (b.length < off + 6) return;
  t.icmp = { type: b[off] ?? 0, code: b[off + 1] ?? 0 };
  const echo = (t.family === 4 ? ICMP_ECHO_V4 : ICMP_ECHO_V6).has(t.icmp.type);
  const id = echo ? u16(b, off + 4) : 0;
  t.tuple = { ...base, sport: id, dport: id };
  if (isIcmpError(t) && depth === 0) t.quoted = parseIp(b, off + 8, depth + 1);
}

export function parseFrame(b: Uint8Array): FrameTruth {
  if (b.length < 14) return { ethSrc: '', ethDst: '', ethType: -1, l3: null };
  const ethType = u16(b, 12);
  const l3 = ethType === 0x0800 ? parseIpv4(b, 14, 0) : ethType === 0x86dd ? parseIpv6(b, 14, 0) : null;
  // The version nibble must agree with the ethertype.
  const agrees = l3 === null || (ethType === 0x0800 ? (b[14] ?? 0) >> 4 === 4 : (b[14] ?? 0) >> 4 === 6);
  return { ethSrc: mac(b, 6), ethDst: mac(b, 0), ethType, l3: agrees ? l3 : null };
}

export const sameTuple = (a: Tuple, b: Tuple): boolean =>
  a.family === b.family && a.src === b.src && a.dst === b.dst && a.proto === b.proto && a.sport === b.sport && a.dport === b.dport;

export const reverse = (t: Tuple): Tuple => ({ ...t, src: t.dst, dst: t.src, sport: t.dport, dport: t.sport });

/** fe80::/10 or :: (the sources of ND, DAD and MLD) */
export const isLinkLocalOrUnspecified = (ip6: string): boolean => ip6 === '::' || /^fe[89ab][0-9a-f]:/.test(ip6);
/** ff00::/8 */
export const isMulticast6 = (ip6: string): boolean => /^ff[0-9a-f]{2}:/.test(ip6);
