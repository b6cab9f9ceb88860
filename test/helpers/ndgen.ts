// PKTGEN for link-layer control: ICMPv6 neighbour discovery, router messages and
// MLD, with a correct ICMPv6 checksum (the netns tests hand these to a real kernel,
// which drops a frame whose checksum is wrong before it could do any harm).
// Message layouts are RFC 4861 (ND, RA, Redirect) and RFC 3810 (MLDv2); a
// Neighbor Solicitation is pktgen.ts's neighborSolicitation.
import { ipBytes, macBytes } from '../../src/datapath/addr-bytes.js';
import { concat, ETH_P_IPV6, ethFrame, ipv4Checksum, IPPROTO_ICMPV6, u16 } from './pktgen.js';

export const ND_ROUTER_SOLICIT = 133;
export const ND_ROUTER_ADVERT = 134;
export const ND_NEIGHBOR_ADVERT = 136;
export const ND_REDIRECT = 137;
export const MLD_QUERY = 130;
export const MLD2_REPORT = 143;
const IPPROTO_HOPOPTS = 0;

const v6 = (text: string): Uint8Array => {
  const ip = ipBytes(text);
  if (ip.family !== 6) throw new Error(`${text} is not IPv6`);
  return ip.bytes;
};

const u32 = (n: number): Uint8Array => Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);

/** Source (1) or target (2) link-layer address option. */
const llOption = (type: 1 | 2, mac: string): Uint8Array => concat(Uint8Array.of(type, 1), macBytes(mac));

/** An ICMPv6 message: type, code, checksum 0 for now, then the body. */
const icmp6 = (type: number, body: Uint8Array): Uint8Array => concat(Uint8Array.of(type, 0, 0, 0), body);

/** Router Advertisement: default router for `lifetime` s and, with `prefix`, a /64 for SLAAC. */
export function routerAdvertisement(opts: { lifetime: number; prefix?: string; mac?: string }): Uint8Array {
  const fixed = concat(Uint8Array.of(64, 0), u16(opts.lifetime), u32(0), u32(0));
  const options: Uint8Array[] = [];
  if (opts.mac) options.push(llOption(1, opts.mac));
  if (opts.prefix) {
    // Prefix information: /64, on-link and autonomous, valid and preferred an hour.
    options.push(concat(Uint8Array.of(3, 4, 64, 0xc0), u32(3600), u32(3600), u32(0), v6(opts.prefix)));
  }
  return icmp6(ND_ROUTER_ADVERT, concat(fixed, ...options));
}

/** Redirect: "to reach `dest`, use `target`" (RFC 4861 4.5), at `mac` if given. */
export function redirect(target: string, dest: string, mac?: string): Uint8Array {
  return icmp6(ND_REDIRECT, concat(u32(0), v6(target), v6(dest), ...(mac ? [llOption(2, mac)] : [])));
}

/** Unsolicited, overriding Neighbor Advertisement: "`target` is at `mac`". */
export function neighborAdvertisement(target: string, mac: string): Uint8Array {
  return icmp6(ND_NEIGHBOR_ADVERT, concat(u32(0x2000_0000), v6(target), llOption(2, mac)));
}

export function routerSolicitation(): Uint8Array {
  return icmp6(ND_ROUTER_SOLICIT, u32(0));
}

/** MLDv2 report joining `group` (one record, MODE_IS_EXCLUDE, no sources). */
export function mld2Report(group: string): Uint8Array {
  return icmp6(MLD2_REPORT, concat(u16(0), u16(1), Uint8Array.of(2, 0), u16(0), v6(group)));
}

export function mldQuery(): Uint8Array {
  return icmp6(MLD_QUERY, concat(u16(1000), u16(0), v6('::'), Uint8Array.of(0, 0), u16(0)));
}

/** The ICMPv6 checksum over the pseudo-header (RFC 8200 8.1) written into `msg`. */
function withChecksum(src: string, dst: string, msg: Uint8Array): Uint8Array {
  const pseudo = concat(v6(src), v6(dst), u32(msg.length), u32(IPPROTO_ICMPV6));
  const out = msg.slice();
  out.set(u16(ipv4Checksum(concat(pseudo, msg))), 2); // odd lengths pad with a zero byte
  return out;
}

/** Ethernet multicast MAC of an IPv6 group (RFC 2464 7), or `unicastMac`. */
function ethDst(dst: string, unicastMac: string): string {
  const b = v6(dst);
  if (b[0] !== 0xff) return unicastMac;
  return ['33', '33', ...[...b.subarray(12)].map((x) => x.toString(16).padStart(2, '0'))].join(':');
}

export interface NdFrameArgs {
  ethSrc: string;
  /** the destination MAC when `dst` is unicast */
  ethDst: string;
  src: string;
  dst: string;
  /** default 255, as ND requires (MLD: 1) */
  hopLimit?: number;
  /** wrap the message in a Hop-by-Hop header with a Router Alert option, as MLD is sent */
  routerAlert?: boolean;
}

/** A whole frame carrying one ICMPv6 message, checksum filled in. */
export function ndFrame(a: NdFrameArgs, msg: Uint8Array): Uint8Array {
  const icmp = withChecksum(a.src, a.dst, msg);
  // Hop-by-Hop: next header, length 0 (8 bytes), Router Alert (MLD), PadN of 0.
  const payload = a.routerAlert ? concat(Uint8Array.of(IPPROTO_ICMPV6, 0, 5, 2, 0, 0, 1, 0), icmp) : icmp;
  const h = new Uint8Array(40);
  h[0] = 6 << 4;
  h.set(u16(payload.length), 4);
  h[6] = a.routerAlert ? IPPROTO_HOPOPTS : IPPROTO_ICMPV6;
  h[7] = a.hopLimit ?? 255;
  h.set(v6(a.src), 8);
  h.set(v6(a.dst), 24);
  return ethFrame({ src: a.ethSrc, dst: ethDst(a.dst, a.ethDst) }, ETH_P_IPV6, concat(h, payload));
}
