// PKTGEN for the BPF program tests: whole Ethernet frames built byte by byte, so a
// test states exactly what the program sees (Cilium's bpf/tests PKTGEN step). Only
// the IPv4 header checksum is filled in: the programs read no checksum, and the
// stack that would is not on the BPF_PROG_TEST_RUN path. Frames sent to a real
// stack (netns drills) get their TCP/UDP checksum from withL4Checksum().
import { ipBytes, macBytes } from '../../src/datapath/addr-bytes.js';

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

export interface EthArgs {
  src: string;
  dst: string;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const u16 = (n: number): Uint8Array => Uint8Array.of((n >> 8) & 0xff, n & 0xff);

export function ethFrame(eth: EthArgs, type: number, payload: Uint8Array): Uint8Array {
  return concat(macBytes(eth.dst), macBytes(eth.src), u16(type), payload);
}

function addr(text: string, family: 4 | 6): Uint8Array {
  const ip = ipBytes(text);
  if (ip.family !== family) throw new Error(`${text} is not IPv${family}`);
  return ip.bytes;
}

/** The Internet checksum (RFC 1071) of `h`, as the header field holds it (0 over bytes whose checksum is right). */
export function ipv4Checksum(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += ((h[i] ?? 0) << 8) | (h[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * `frame` (Ethernet, then IPv4 or IPv6) as one routed hop leaves it: these MACs, the
 * TTL / hop limit down by one, and the IPv4 header checksum following them.
 */
export function routedFrame(frame: Uint8Array, eth: EthArgs): number[] {
  const out = frame.slice();
  out.set(macBytes(eth.dst), 0);
  out.set(macBytes(eth.src), 6);
  const ipv4 = out[12] === ETH_P_IP >> 8 && out[13] === (ETH_P_IP & 0xff);
  const ttlAt = 14 + (ipv4 ? 8 : 7);
  out[ttlAt] = (out[ttlAt] ?? 0) - 1;
  if (ipv4) {
    const headerEnd = 14 + ((out[14] ?? 0) & 0x0f) * 4;
    out.set([0, 0], 24);
    out.set(u16(ipv4Checksum(out.subarray(14, headerEnd))), 24);
  }
  return [...out];
}

/** The pseudo-header an L4 checksum covers (RFC 793, 768; 8200 8.1 for IPv6, ICMPv6 too). */
export function pseudoHeader(proto: number, src: string, dst: string, len: number): Uint8Array {
  const s = ipBytes(src).bytes;
  const d = ipBytes(dst).bytes;
  return s.length === 4
    ? concat(s, d, Uint8Array.of(0, proto), u16(len))
    : concat(s, d, u16(len >>> 16), u16(len & 0xffff), Uint8Array.of(0, 0, 0, proto));
}

/**
 * A TCP or UDP segment with its checksum filled in over the pseudo-header of src
 * and dst (RFC 793, 768, 8200 8.1), for frames a real stack receives.
 */
export function withL4Checksum(segment: Uint8Array, proto: number, src: string, dst: string): Uint8Array {
  const out = segment.slice();
  const at = proto === IPPROTO_TCP ? 16 : 6;
  out[at] = 0;
  out[at + 1] = 0;
  const c = ipv4Checksum(concat(pseudoHeader(proto, src, dst, out.length), out)) || (proto === IPPROTO_UDP ? 0xffff : 0);
  out.set(u16(c), at);
  return out;
}

/** 8-byte UDP header (checksum 0) and a payload. */
export function udp(sport: number, dport: number, payload = new Uint8Array(8)): Uint8Array {
  return concat(u16(sport), u16(dport), u16(8 + payload.length), u16(0), payload);
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

/** 20-byte TCP header (no options, checksum 0), a SYN unless flags say otherwise. */
export function tcp(sport: number, dport: number, flags = TCP_SYN, payload = new Uint8Array()): Uint8Array {
  const h = new Uint8Array(20);
  h.set(u16(sport), 0);
  h.set(u16(dport), 2);
  h[12] = 5 << 4; // data offset
  h[13] = flags;
  h.set(u16(65535), 14); // window
  return concat(h, payload);
}

/** SCTP common header (checksum 0) and one INIT chunk: ports where UDP has them. */
export function sctp(sport: number, dport: number): Uint8Array {
  const common = concat(u16(sport), u16(dport), new Uint8Array(8)); // verification tag, checksum
  const init = new Uint8Array(20);
  init[0] = 1; // INIT
  init.set(u16(20), 2);
  return concat(common, init);
}

export const ICMP_ECHOREPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_PORT_UNREACH = 3; // code
export const ICMP_ECHO = 8;
export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PORT_UNREACH = 4; // code
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;

/** ICMP or ICMPv6 echo (the type says which): type, code 0, identifier, sequence, 8 bytes of data. */
export function icmpEcho(type: number, id: number, seq = 1): Uint8Array {
  return concat(Uint8Array.of(type, 0, 0, 0), u16(id), u16(seq), new Uint8Array(8));
}

/** An ICMP or ICMPv6 error quoting `quoted` (an IP packet as its sender sent it). */
export function icmpError(type: number, code: number, quoted: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(type, code, 0, 0), new Uint8Array(4), quoted);
}

export interface Ipv4Args {
  src: string;
  dst: string;
  proto?: number;
  /** fragment offset in 8-byte units (non-zero: a non-first fragment) */
  fragOffset?: number;
  moreFragments?: boolean;
  /** identification (what the fragments of one packet share) */
  id?: number;
  /** header length in 32-bit words; > 5 adds zeroed option bytes unless `truncate` */
  ihl?: number;
  version?: number;
  /** write ihl as given but emit only the 20 fixed header bytes */
  truncate?: boolean;
  /** default 64 */
  ttl?: number;
}

export function ipv4(a: Ipv4Args, payload: Uint8Array = udp(40000, 8080)): Uint8Array {
  const ihl = a.ihl ?? 5;
  const hdrLen = a.truncate ? 20 : Math.max(20, ihl * 4);
  const h = new Uint8Array(hdrLen);
  h[0] = ((a.version ?? 4) << 4) | (ihl & 0xf);
  h.set(u16(hdrLen + payload.length), 2);
  h.set(u16(a.id ?? 0), 4);
  h.set(u16(((a.moreFragments ? 1 : 0) << 13) | ((a.fragOffset ?? 0) & 0x1fff)), 6);
  h[8] = a.ttl ?? 64;
  h[9] = a.proto ?? IPPROTO_UDP;
  h.set(addr(a.src, 4), 12);
  h.set(addr(a.dst, 4), 16);
  h.set(u16(ipv4Checksum(h)), 10);
  return concat(h, payload);
}

export interface Ipv6Args {
  src: string;
  dst: string;
  next?: number;
  hopLimit?: number;
  version?: number;
}

export function ipv6(a: Ipv6Args, payload: Uint8Array = udp(40000, 8080)): Uint8Array {
  const h = new Uint8Array(40);
  h[0] = (a.version ?? 6) << 4;
  h.set(u16(payload.length), 4);
  h[6] = a.next ?? IPPROTO_UDP;
  h[7] = a.hopLimit ?? 64;
  h.set(addr(a.src, 6), 8);
  h.set(addr(a.dst, 6), 24);
  return concat(h, payload);
}

export const NEXTHDR_HOP = 0;
export const NEXTHDR_ROUTING = 43;
export const NEXTHDR_FRAGMENT = 44;
export const NEXTHDR_AUTH = 51;
export const NEXTHDR_DEST = 60;

/**
 * An IPv6 extension header in front of `rest`: hop-by-hop, routing or destination
 * options of (1 + extra) 8-byte units (AH: (2 + extra) 4-byte units). Options
 * headers carry one PadN option, the others are zero-filled. A real stack takes only
 * the 8-byte ones: Linux rejects more than 7 bytes of padding.
 */
export function ipv6Ext(type: number, next: number, rest: Uint8Array, extra = 0): Uint8Array {
  const len = type === NEXTHDR_AUTH ? (extra + 2) * 4 : (extra + 1) * 8;
  const h = new Uint8Array(len);
  h[0] = next;
  h[1] = extra;
  if (type === NEXTHDR_HOP || type === NEXTHDR_DEST) {
    h[2] = 1; // PadN
    h[3] = len - 4;
  }
  return concat(h, rest);
}

/** An IPv6 fragment header (offset in 8-byte units) in front of `rest`. */
export function ipv6Frag(next: number, f: { offset?: number; more?: boolean; id: number }, rest: Uint8Array): Uint8Array {
  const h = new Uint8Array(8);
  h[0] = next;
  h.set(u16((((f.offset ?? 0) & 0x1fff) << 3) | (f.more ? 1 : 0)), 2);
  new DataView(h.buffer).setUint32(4, f.id >>> 0, false);
  return concat(h, rest);
}

/** ICMPv6 neighbour solicitation for `target` (type 135, checksum left 0). */
export function neighborSolicitation(target: string): Uint8Array {
  const m = new Uint8Array(24);
  m[0] = 135;
  m.set(addr(target, 6), 8);
  return m;
}

/** ARP request (Ethernet/IPv4) asking who has `target`. */
export function arpRequest(senderMac: string, senderIp: string, target: string): Uint8Array {
  return concat(
    u16(1), // htype Ethernet
    u16(ETH_P_IP),
    Uint8Array.of(6, 4),
    u16(1), // request
    macBytes(senderMac),
    addr(senderIp, 4),
    new Uint8Array(6),
    addr(target, 4),
  );
}

export const BROADCAST = 'ff:ff:ff:ff:ff:ff';
