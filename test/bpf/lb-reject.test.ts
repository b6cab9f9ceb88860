// lb_reject() (bpf/include/reject.h) through BPF_PROG_TEST_RUN, on its test-only entry
// program (test/helpers/reject-fixture.ts): a pod's packet to a Service with no ready
// backend is answered in place, as the ClusterIP would answer it, and sent straight
// back into the pod. TCP gets a RST (RFC 793's reset rules), UDP an ICMP / ICMPv6 port
// unreachable quoting the packet (RFC 792, 1812, 4443); what cannot be answered is
// DROP_LB_NO_BACKEND. Each answer is compared byte for byte with one built here,
// checksums computed independently (pktgen), and its checksums are checked on their own.
import { endianness } from 'node:os';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import * as bpf from '../../src/datapath/bpf.js';
import { EP_F_READY } from '../../src/datapath/maps/index.js';
import { countersMovedBy, createHostVeth, runCounted, TC_ACT_REDIRECT, TC_ACT_SHOT, type HostVeth } from '../helpers/bpf-datapath.js';
import {
  concat,
  ETH_P_IP,
  ETH_P_IPV6,
  ethFrame,
  ICMP_DEST_UNREACH,
  ICMP_ECHO,
  ICMP_PORT_UNREACH,
  icmpEcho,
  icmpError,
  ICMPV6_DEST_UNREACH,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_PORT_UNREACH,
  ipv4,
  ipv4Checksum,
  ipv6,
  ipv6Frag,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  NEXTHDR_FRAGMENT,
  pseudoHeader,
  sctp,
  tcp,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  u16,
  udp,
  withL4Checksum,
  type Ipv4Args,
} from '../helpers/pktgen.js';
import { openRejectFixture, type RejectFixture } from '../helpers/reject-fixture.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/lb-reject.test.ts (BPF_PROG_TEST_RUN on lb_reject(), a veth pair, a private bpffs)');

const CLIENT = { v4: '10.244.0.10', v6: 'fd00:244::10', podMac: '0a:58:0a:f4:00:0a', hostMac: 'ee:00:00:00:00:0a' };
const SERVICE = { v4: '10.96.0.10', v6: 'fd00:96::10' };
const CLIENT_PORT = 40000;
const SERVICE_PORT = 80;
const TCP_PSH = 0x08;

interface TcpArgs {
  sport: number;
  dport: number;
  flags: number;
  seq?: number;
  ack?: number;
  window?: number;
  options?: Uint8Array;
  payload?: Uint8Array;
}

/** pktgen's TCP header with sequence numbers, options and a window of its own. */
function tcpSegment(a: TcpArgs): Uint8Array {
  const options = a.options ?? new Uint8Array();
  const out = concat(tcp(a.sport, a.dport, a.flags), options, a.payload ?? new Uint8Array());
  const view = new DataView(out.buffer);
  view.setUint32(4, (a.seq ?? 0) >>> 0);
  view.setUint32(8, (a.ack ?? 0) >>> 0);
  out[12] = ((20 + options.length) / 4) << 4;
  if (a.window !== undefined) view.setUint16(14, a.window);
  return out;
}

const addrs = (family: 4 | 6) =>
  family === 4 ? { client: CLIENT.v4, service: SERVICE.v4 } : { client: CLIENT.v6, service: SERVICE.v6 };

/** What the client pod sends to the Service: `l4` behind a plain IPv4 (with `v4` changes) or IPv6 header. */
function toService(family: 4 | 6, proto: number, l4: Uint8Array, v4: Partial<Ipv4Args> = {}): Uint8Array {
  const eth = { src: CLIENT.podMac, dst: CLIENT.hostMac };
  return family === 4
    ? ethFrame(eth, ETH_P_IP, ipv4({ src: CLIENT.v4, dst: SERVICE.v4, proto, ...v4 }, l4))
    : ethFrame(eth, ETH_P_IPV6, ipv6({ src: CLIENT.v6, dst: SERVICE.v6, next: proto }, l4));
}

/**
 * The answer as it must reach the pod: from its gateway's MAC to its own, from the
 * ClusterIP to the client, behind a fresh header (IPv4: TTL 64, id 0, DF, no options;
 * IPv6: hop limit 64).
 */
function answer(family: 4 | 6, proto: number, l4: Uint8Array): number[] {
  const eth = { src: CLIENT.hostMac, dst: CLIENT.podMac };
  if (family === 6) return [...ethFrame(eth, ETH_P_IPV6, ipv6({ src: SERVICE.v6, dst: CLIENT.v6, next: proto, hopLimit: 64 }, l4))];
  const ip = ipv4({ src: SERVICE.v4, dst: CLIENT.v4, proto, ttl: 64 }, l4);
  ip[6] = 0x40; // DF
  ip.set(u16(0), 10);
  ip.set(u16(ipv4Checksum(ip.subarray(0, 20))), 10);
  return [...ethFrame(eth, ETH_P_IP, ip)];
}

/** The RST the ClusterIP sends back, its checksum computed here. */
function rst(family: 4 | 6, flags: number, seq: number, ack: number): number[] {
  const { client, service } = addrs(family);
  const seg = tcpSegment({ sport: SERVICE_PORT, dport: CLIENT_PORT, flags, seq, ack, window: 0 });
  return answer(family, IPPROTO_TCP, withL4Checksum(seg, IPPROTO_TCP, service, client));
}

/** ICMP (ICMPv6) port unreachable quoting `quoted`, its checksum computed here (ICMPv6: with the pseudo-header). */
function portUnreachable(family: 4 | 6, quoted: Uint8Array): number[] {
  const { client, service } = addrs(family);
  if (family === 4) {
    const msg = icmpError(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, quoted);
    msg.set(u16(ipv4Checksum(msg)), 2);
    return answer(4, IPPROTO_ICMP, msg);
  }
  const msg = icmpError(ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, quoted);
  msg.set(u16(ipv4Checksum(concat(pseudoHeader(IPPROTO_ICMPV6, service, client, msg.length), msg))), 2);
  return answer(6, IPPROTO_ICMPV6, msg);
}

/**
 * The checksums of a frame the program sent, each as what RFC 1071 leaves over the
 * bytes it covers: 0 when right. IPv4 has two (header, L4), IPv6 one (L4).
 */
function checksumResidues(frame: Uint8Array): number[] {
  const ip = frame.subarray(14);
  const text = (b: Uint8Array, family: 4 | 6): string =>
    family === 4 ? [...b].join('.') : [...Array(8).keys()].map((i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':');
  if (frame[12] === ETH_P_IP >> 8) {
    const hl = (ip[0]! & 0x0f) * 4;
    const l4 = ip.subarray(hl, (ip[2]! << 8) | ip[3]!);
    const proto = ip[9]!;
    const covered = proto === IPPROTO_ICMP ? l4 : concat(pseudoHeader(proto, text(ip.subarray(12, 16), 4), text(ip.subarray(16, 20), 4), l4.length), l4);
    return [ipv4Checksum(ip.subarray(0, hl)), ipv4Checksum(covered)];
  }
  const l4 = ip.subarray(40, 40 + ((ip[4]! << 8) | ip[5]!));
  return [ipv4Checksum(concat(pseudoHeader(ip[6]!, text(ip.subarray(8, 24), 6), text(ip.subarray(24, 40), 6), l4.length), l4))];
}

describe.skipIf(!isRoot)('lb_reject(): the answer for a Service with no ready backend', () => {
  let fx: RejectFixture;
  let veth: HostVeth;

  const send = (frame: Uint8Array) => runCounted(fx, fx.prog, veth.ifindex, frame);
  const one = (frame: Uint8Array) => ({ packets: 1, bytes: frame.length });
  const expectAnswered = (frame: Uint8Array, expected: number[]): void => {
    const r = send(frame);
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect([...r.data]).toEqual(expected);
    for (const residue of checksumResidues(r.data)) expect(residue).toBe(0);
    expect(r.moved).toEqual({ STAT_LB_REJECTED: one(frame) });
  };
  const expectDropped = (frame: Uint8Array): void => {
    const r = send(frame);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.moved).toEqual({ DROP_LB_NO_BACKEND: one(frame) });
  };

  beforeAll(() => {
    fx = openRejectFixture();
    veth = createHostVeth();
    const value = { ifindex: veth.ifindex, flags: EP_F_READY, podMac: CLIENT.podMac, hostMac: CLIENT.hostMac, identity: 0 };
    fx.setEndpoint(CLIENT.v4, value);
    fx.setEndpoint(CLIENT.v6, value);
  });

  afterAll(() => {
    fx?.close();
    cleanupAll();
  });

  describe.each([4, 6] as const)('IPv%i', (family) => {
    it('a SYN: RST|ACK from the ClusterIP and port to the client, ack = seq + 1 (mod 2^32), into the pod', () => {
      const syn = tcpSegment({ sport: CLIENT_PORT, dport: SERVICE_PORT, flags: TCP_SYN, seq: 0xffffffff });
      expectAnswered(toService(family, IPPROTO_TCP, syn), rst(family, TCP_RST | TCP_ACK, 0, 0));
    });

    it('a segment with ACK and data: RST with seq = its ack and no ACK, the data gone', () => {
      const seg = tcpSegment({ sport: CLIENT_PORT, dport: SERVICE_PORT, flags: TCP_PSH | TCP_ACK, seq: 1000, ack: 0xdeadbeef, payload: new Uint8Array(100).fill(7) });
      expectAnswered(toService(family, IPPROTO_TCP, seg), rst(family, TCP_RST, 0xdeadbeef, 0));
    });

    it('a SYN with options and data: options and data gone, ack = seq + data + SYN', () => {
      const options = Uint8Array.of(2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7, 1, 1); // MSS, SACK permitted, NOP, window scale, NOPs
      const syn = tcpSegment({ sport: CLIENT_PORT, dport: SERVICE_PORT, flags: TCP_SYN, seq: 5000, options, payload: new Uint8Array(7) });
      expectAnswered(toService(family, IPPROTO_TCP, syn), rst(family, TCP_RST | TCP_ACK, 0, 5008));
    });

    it('a FIN without ACK: ack = seq + data + FIN', () => {
      const fin = tcpSegment({ sport: CLIENT_PORT, dport: SERVICE_PORT, flags: TCP_FIN, seq: 77, payload: new Uint8Array(3) });
      expectAnswered(toService(family, IPPROTO_TCP, fin), rst(family, TCP_RST | TCP_ACK, 0, 81));
    });

    it.each([
      ['RST', TCP_RST],
      ['RST|ACK', TCP_RST | TCP_ACK],
    ])('a %s is never answered: DROP_LB_NO_BACKEND', (_name, flags) => {
      expectDropped(toService(family, IPPROTO_TCP, tcpSegment({ sport: CLIENT_PORT, dport: SERVICE_PORT, flags, seq: 1, ack: 1 })));
    });

    it('UDP: port unreachable from the ClusterIP, quoting exactly the IP header and the first 8 bytes after it', () => {
      const frame = toService(family, IPPROTO_UDP, udp(CLIENT_PORT, 53, new Uint8Array(64).fill(0xab)));
      const quoted = frame.subarray(14, 14 + (family === 4 ? 20 : 40) + 8);
      expectAnswered(frame, portUnreachable(family, quoted));
    });

    it.each([
      ['SCTP', IPPROTO_SCTP, () => sctp(CLIENT_PORT, SERVICE_PORT)],
      ['ICMP echo', family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, () => icmpEcho(family === 4 ? ICMP_ECHO : ICMPV6_ECHO_REQUEST, 7)],
    ])('%s: not answered, DROP_LB_NO_BACKEND', (_name, proto, l4) => {
      expectDropped(toService(family, proto, l4()));
    });

    it('a TCP header cut short: DROP_LB_NO_BACKEND', () => {
      expectDropped(toService(family, IPPROTO_TCP, tcpSegment({ sport: CLIENT_PORT, dport: SERVICE_PORT, flags: TCP_SYN }).subarray(0, 12)));
    });

    it('a GSO packet (several segments in one skb): DROP_LB_NO_BACKEND', () => {
      const frame = toService(family, IPPROTO_TCP, tcpSegment({ sport: CLIENT_PORT, dport: SERVICE_PORT, flags: TCP_ACK, ack: 1, payload: new Uint8Array(2800) }));
      // struct __sk_buff is uapi and only grows at its end: gso_segs follows wire_len,
      // gso_size the 8-byte sk pointer after it. The test run copies both into the skb.
      const ctx = bpf.skbContext({ ifindex: veth.ifindex });
      const view = new DataView(ctx.buffer);
      const little = endianness() === 'LE';
      view.setUint32(bpf.skbLayout().wireLen + 4, 2, little);
      view.setUint32(bpf.skbLayout().wireLen + 16, 1400, little);
      let retval = -1;
      const moved = countersMovedBy(fx, () => {
        retval = bpf.progTestRun(fx.prog, frame, { ctx }).retval;
      });
      expect(retval).toBe(TC_ACT_SHOT);
      expect(moved).toEqual({ DROP_LB_NO_BACKEND: one(frame) });
    });
  });

  describe('IPv4 only', () => {
    const syn = () => tcpSegment({ sport: CLIENT_PORT, dport: SERVICE_PORT, flags: TCP_SYN, seq: 9 });
    const datagram = () => udp(CLIENT_PORT, 53, new Uint8Array(32).fill(1));

    it('IP options: the RST has a fresh 20-byte header', () => {
      expectAnswered(toService(4, IPPROTO_TCP, syn(), { ihl: 7 }), rst(4, TCP_RST | TCP_ACK, 0, 10));
    });

    it('UDP with IP options: the quote holds the whole header, options and all, and 8 bytes', () => {
      const frame = toService(4, IPPROTO_UDP, datagram(), { ihl: 15 });
      expectAnswered(frame, portUnreachable(4, frame.subarray(14, 14 + 60 + 8)));
    });

    it('a UDP first fragment (MF, offset 0): answered, quoting its header', () => {
      const frame = toService(4, IPPROTO_UDP, datagram(), { moreFragments: true, id: 4242 });
      expectAnswered(frame, portUnreachable(4, frame.subarray(14, 14 + 28)));
    });

    it.each([
      ['UDP', IPPROTO_UDP],
      ['TCP', IPPROTO_TCP],
    ])('a later %s fragment (no L4 header): DROP_LB_NO_BACKEND', (_name, proto) => {
      expectDropped(toService(4, proto, new Uint8Array(40).fill(3), { fragOffset: 8, id: 4242 }));
    });

    it('a TCP first fragment: DROP_LB_NO_BACKEND (its length is not the segment\'s, so no ack can be right)', () => {
      expectDropped(toService(4, IPPROTO_TCP, syn(), { moreFragments: true, id: 4243 }));
    });
  });

  describe('IPv6 only', () => {
    it('a fragment header before UDP (even the first fragment): DROP_LB_NO_BACKEND', () => {
      const l4 = ipv6Frag(IPPROTO_UDP, { id: 77, more: true }, udp(CLIENT_PORT, 53));
      expectDropped(toService(6, NEXTHDR_FRAGMENT, l4));
    });
  });
});
