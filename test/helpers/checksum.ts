// CHECK helper for rewritten frames: every checksum of an Ethernet + IPv4/IPv6 +
// TCP/UDP/SCTP frame recomputed from scratch (RFC 1071 over the IPv4 header and
// over the pseudo-header and segment; CRC32c for SCTP, RFC 4960 appendix B), and the
// frame's addresses and ports, so a test can say exactly what a NAT left.
import { addrAt } from '../../src/datapath/maps/codec.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from './pktgen.js';

function sum16(data: Uint8Array, sum = 0): number {
  for (let i = 0; i < data.length; i += 2) sum += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

let crcTable: Uint32Array | null = null;

/** CRC32c (Castagnoli, reflected 0x82f63b78), as SCTP carries it. */
export function crc32c(data: Uint8Array): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of data) crc = (crcTable[(crc ^ b) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const SCTP_CRC_AT = 8;

/** An SCTP packet with its CRC32c filled in (little-endian on the wire, as Linux writes it). */
export function withSctpCrc(segment: Uint8Array): Uint8Array {
  const out = segment.slice();
  out.fill(0, SCTP_CRC_AT, SCTP_CRC_AT + 4);
  new DataView(out.buffer).setUint32(SCTP_CRC_AT, crc32c(out), true);
  return out;
}

export interface FrameFacts {
  family: 4 | 6;
  src: string;
  dst: string;
  protocol: number;
  sport: number;
  dport: number;
  /** IPv4: the header sums to 0xffff; IPv6: true (no header checksum) */
  ipHeaderOk: boolean;
  /** the L4 checksum field as found */
  l4Checksum: number;
  /** TCP/UDP over the pseudo-header (UDP/IPv4 0: none, which is valid); SCTP: the CRC32c */
  l4ChecksumOk: boolean;
}

/** Addresses, ports and checksum validity of an Ethernet frame holding IPv4 or IPv6 and TCP, UDP or SCTP. */
export function frameFacts(frame: Uint8Array): FrameFacts {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const v4 = dv.getUint16(12) === 0x0800;
  const ipAt = 14;
  const hdrLen = v4 ? ((frame[ipAt] ?? 0) & 0x0f) * 4 : 40;
  const protocol = frame[ipAt + (v4 ? 9 : 6)] ?? 0;
  const family = v4 ? 4 : 6;
  const srcAt = ipAt + (v4 ? 12 : 8);
  const dstAt = ipAt + (v4 ? 16 : 24);
  const alen = v4 ? 4 : 16;
  const l4At = ipAt + hdrLen;
  const totalLen = v4 ? dv.getUint16(ipAt + 2) - hdrLen : dv.getUint16(ipAt + 4);
  const seg = frame.subarray(l4At, l4At + totalLen);
  const csumAt = protocol === IPPROTO_TCP ? 16 : protocol === IPPROTO_UDP ? 6 : SCTP_CRC_AT;
  const l4Checksum = protocol === IPPROTO_SCTP ? dv.getUint32(l4At + csumAt, true) : dv.getUint16(l4At + csumAt);
  let l4ChecksumOk: boolean;
  if (protocol === IPPROTO_SCTP) {
    const zeroed = seg.slice();
    zeroed.fill(0, SCTP_CRC_AT, SCTP_CRC_AT + 4);
    l4ChecksumOk = crc32c(zeroed) === l4Checksum;
  } else if (protocol === IPPROTO_UDP && v4 && l4Checksum === 0) {
    l4ChecksumOk = true;
  } else {
    const pseudo = new Uint8Array(alen * 2 + 4);
    pseudo.set(frame.subarray(srcAt, srcAt + alen), 0);
    pseudo.set(frame.subarray(dstAt, dstAt + alen), alen);
    new DataView(pseudo.buffer).setUint16(alen * 2, protocol);
    new DataView(pseudo.buffer).setUint16(alen * 2 + 2, seg.length);
    l4ChecksumOk = sum16(seg, sum16(pseudo)) === 0xffff;
  }
  return {
    family,
    src: addrAt(frame, srcAt, family),
    dst: addrAt(frame, dstAt, family),
    protocol,
    sport: dv.getUint16(l4At),
    dport: dv.getUint16(l4At + 2),
    ipHeaderOk: !v4 || sum16(frame.subarray(ipAt, ipAt + hdrLen)) === 0xffff,
    l4Checksum,
    l4ChecksumOk,
  };
}
