// PKTGEN for the frame fuzz test: packets described field by field (addresses from
// the test world and outside it, IPv4 options and fragments, IPv6 extension header
// chains, TCP/UDP/SCTP/ICMP/ICMPv6 of every kind a pod could send, ICMP errors
// quoting another packet), built into bytes, then sometimes cut short or with a
// few bytes changed. Replies and errors can be derived from an earlier packet, so
// conntrack's reply and related paths are reached too.
import fc from 'fast-check';
import { ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, arpRequest, ethFrame, ipv4, ipv6, sctp, tcp, udp } from '../helpers/pktgen.js';

export type Ext = { type: 0 | 43 | 60 | 51; len: number } | { type: 44; offset: number; more: boolean; id: number };

export type L4Spec =
  | { kind: 'tcp' | 'udp' | 'sctp'; sport: number; dport: number; flags: number }
  | { kind: 'icmp'; type: number; code: number; id: number }
  | { kind: 'icmpError'; type: number; code: number; quoted: IpSpec }
  | { kind: 'raw'; proto: number; bytes: Uint8Array };

export interface IpSpec {
  family: 4 | 6;
  src: string;
  dst: string;
  /** IPv4: header length in words (> 5: options), fragment fields */
  ihl: number;
  fragOffset: number;
  more: boolean;
  fragId: number;
  /** IPv6: the extension header chain before the upper layer */
  exts: Ext[];
  l4: L4Spec;
}

export interface FrameSpec {
  ethSrc: string;
  ethDst: string;
  /** an ethertype other than the packet's (VLAN, ARP, junk), or null */
  ethType: number | null;
  ip: IpSpec;
  /** applied to the built bytes: cut at `cut` (null: whole), then bytes overwritten */
  cut: number | null;
  flips: [number, number][];
}

export interface Pools {
  srcMacs: string[];
  dstMacs: string[];
  src4: string[];
  dst4: string[];
  src6: string[];
  dst6: string[];
}

const PORTS = [80, 8080, 8081, 53, 40000, 0, 65535];
const port = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PORTS) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 65535 }) });
const TCP_FLAGS = [0x02, 0x12, 0x10, 0x11, 0x04, 0x14, 0x01, 0x00, 0x3f];

const ICMP4_TYPES = [0, 8, 3, 11, 12, 5, 13, 9];
// echo, errors, and the ND/MLD family: RS 133, RA 134, NS 135, NA 136, Redirect 137, MLD 130-132 and 143
const ICMP6_TYPES = [128, 129, 1, 2, 3, 4, 133, 134, 135, 136, 137, 130, 131, 132, 143];

const l4Plain = (family: 4 | 6): fc.Arbitrary<L4Spec> =>
  fc.oneof(
    fc.record({ kind: fc.constantFrom<'tcp' | 'udp' | 'sctp'>('tcp', 'udp', 'sctp'), sport: port, dport: port, flags: fc.constantFrom(...TCP_FLAGS) }),
    fc.record({
      kind: fc.constant<'icmp'>('icmp'),
      type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...(family === 4 ? ICMP4_TYPES : ICMP6_TYPES)) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
      code: fc.constantFrom(0, 0, 0, 4, 255),
      id: fc.constantFrom(77, 0, 1234),
    }),
    fc.record({ kind: fc.constant<'raw'>('raw'), proto: fc.constantFrom(0, 2, 41, 47, 50, 59, 89, 255, 6, 17), bytes: fc.uint8Array({ maxLength: 24 }) }),
  );

const ext: fc.Arbitrary<Ext> = fc.oneof(
  fc.record({ type: fc.constantFrom<0 | 43 | 60 | 51>(0, 43, 60, 51), len: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ type: fc.constant<44>(44), offset: fc.constantFrom(0, 0, 1, 185, 8191), more: fc.boolean(), id: fc.constantFrom(1, 7, 0xdeadbeef) }),
);

const ipSpec = (family: 4 | 6, srcs: string[], dsts: string[], l4: fc.Arbitrary<L4Spec>): fc.Arbitrary<IpSpec> =>
  fc.record({
    family: fc.constant(family),
    src: fc.constantFrom(...srcs),
    dst: fc.constantFrom(...dsts),
    ihl: family === 4 ? fc.oneof({ weight: 5, arbitrary: fc.constant(5) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }) : fc.constant(5),
    fragOffset: family === 4 ? fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 185, 8191) }) : fc.constant(0),
    more: family === 4 ? fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) : fc.constant(false),
    fragId: fc.constantFrom(0, 7, 0xffff),
    exts: family === 6 ? fc.oneof({ weight: 3, arbitrary: fc.constant<Ext[]>([]) }, { weight: 2, arbitrary: fc.array(ext, { minLength: 1, maxLength: 3 }) }) : fc.constant<Ext[]>([]),
    l4,
  });

/** The packet an ICMP error quotes: anything the world could have sent (not itself an error). */
const quotedSpec = (family: 4 | 6, p: Pools): fc.Arbitrary<IpSpec> =>
  ipSpec(family, family === 4 ? [...p.src4, ...p.dst4] : [...p.src6, ...p.dst6], family === 4 ? [...p.src4, ...p.dst4] : [...p.src6, ...p.dst6], l4Plain(family));

export function ipPacket(family: 4 | 6, p: Pools): fc.Arbitrary<IpSpec> {
  const errTypes = family === 4 ? [3, 11, 12] : [1, 2, 3, 4];
  const l4 = fc.oneof(
    { weight: 5, arbitrary: l4Plain(family) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant<'icmpError'>('icmpError'), type: fc.constantFrom(...errTypes), code: fc.constantFrom(0, 3, 4), quoted: quotedSpec(family, p) }) },
  );
  return ipSpec(family, family === 4 ? p.src4 : p.src6, family === 4 ? p.dst4 : p.dst6, l4);
}

const mutation = fc.record({
  ethType: fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(0x8100, 0x88a8, ETH_P_ARP, 0x0000, 0xffff, ETH_P_IP, ETH_P_IPV6) }),
  cut: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 14, max: 120 }) }), // BPF_PROG_TEST_RUN needs an Ethernet header
  flips: fc.oneof({ weight: 6, arbitrary: fc.constant<[number, number][]>([]) }, { weight: 1, arbitrary: fc.array(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }) }),
});

export function frameSpec(p: Pools, ip: fc.Arbitrary<IpSpec>): fc.Arbitrary<FrameSpec> {
  return fc.tuple(fc.constantFrom(...p.srcMacs), fc.constantFrom(...p.dstMacs), ip, mutation).map(([ethSrc, ethDst, spec, m]) => ({ ethSrc, ethDst, ip: spec, ...m }));
}

/** Any frame from the pools: IPv4, IPv6 or ARP. */
export function anyFrame(p: Pools): fc.Arbitrary<FrameSpec> {
  return frameSpec(p, fc.oneof(ipPacket(4, p), ipPacket(6, p)));
}

/**
 * A second packet shaped after `first`: its reply (ports swapped, same shape), an
 * ICMP error quoting it, or the same packet again with other ports; sent by `src`.
 */
export function derived(first: IpSpec, src: string, p: Pools): fc.Arbitrary<IpSpec> {
  const errTypes = first.family === 4 ? [3, 11] : [1, 2, 3];
  const swapped = (l4: L4Spec): L4Spec =>
    l4.kind === 'tcp' || l4.kind === 'udp' || l4.kind === 'sctp' ? { ...l4, sport: l4.dport, dport: l4.sport } : l4.kind === 'icmp' ? { ...l4, type: first.family === 4 ? 0 : 129 } : l4;
  return fc.oneof(
    fc.constant<IpSpec>({ ...first, src, dst: first.src, l4: swapped(first.l4) }),
    fc.record({ type: fc.constantFrom(...errTypes), code: fc.constantFrom(0, 3, 4) }).map((e): IpSpec => ({ ...first, src, dst: first.src, exts: [], fragOffset: 0, more: false, ihl: 5, l4: { kind: 'icmpError', ...e, quoted: first } })),
    l4Plain(first.family).map((l4): IpSpec => ({ ...first, src, dst: first.src, l4 })),
    ipPacket(first.family, p).map((ip): IpSpec => ({ ...ip, src })),
  );
}

// ---- bytes ------------------------------------------------------------------------

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of parts) {
    out.set(x, at);
    at += x.length;
  }
  return out;
};

function icmpBytes(type: number, code: number, rest: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(type, code, 0, 0), rest);
}

function l4Bytes(spec: IpSpec): { proto: number; bytes: Uint8Array } {
  const l4 = spec.l4;
  const icmpProto = spec.family === 4 ? 1 : 58;
  switch (l4.kind) {
    case 'tcp':
      return { proto: 6, bytes: tcp(l4.sport, l4.dport, l4.flags) };
    case 'udp':
      return { proto: 17, bytes: udp(l4.sport, l4.dport) };
    case 'sctp':
      return { proto: 132, bytes: sctp(l4.sport, l4.dport) };
    case 'icmp': {
      // echo: identifier, sequence; ND: reserved/flags and a target address; the rest: zeros
      const body = new Uint8Array(28);
      body[0] = l4.id >> 8;
      body[1] = l4.id & 0xff;
      return { proto: icmpProto, bytes: icmpBytes(l4.type, l4.code, body) };
    }
    case 'icmpError':
      return { proto: icmpProto, bytes: icmpBytes(l4.type, l4.code, concat(new Uint8Array(4), ipBytes(l4.quoted))) };
    case 'raw':
      return { proto: l4.proto, bytes: l4.bytes };
  }
}

function extBytes(exts: Ext[], proto: number): { first: number; bytes: Uint8Array } {
  let next = proto;
  const parts: Uint8Array[] = [];
  for (let i = exts.length - 1; i >= 0; i--) {
    const e = exts[i]!;
    let h: Uint8Array;
    if (e.type === 44) {
      h = new Uint8Array(8);
      const fo = (e.offset << 3) | (e.more ? 1 : 0);
      h.set([next, 0, fo >> 8, fo & 0xff, e.id >>> 24, (e.id >>> 16) & 0xff, (e.id >>> 8) & 0xff, e.id & 0xff]);
    } else if (e.type === 51) {
      h = new Uint8Array((e.len + 2) * 4 + 4); // AH: length in 4-byte units minus 2
      h[0] = next;
      h[1] = e.len + 1;
    } else {
      h = new Uint8Array((e.len + 1) * 8);
      h[0] = next;
      h[1] = e.len;
      h[2] = 1; // PadN
      h[3] = h.length - 4;
    }
    parts.unshift(h);
    next = e.type;
  }
  return { first: next, bytes: concat(...parts) };
}

export function ipBytes(spec: IpSpec): Uint8Array {
  const { proto, bytes } = l4Bytes(spec);
  if (spec.family === 4) {
    const pkt = ipv4({ src: spec.src, dst: spec.dst, proto, ihl: spec.ihl, fragOffset: spec.fragOffset, moreFragments: spec.more }, bytes);
    pkt[4] = spec.fragId >> 8;
    pkt[5] = spec.fragId & 0xff;
    return pkt;
  }
  const chain = extBytes(spec.exts, proto);
  return ipv6({ src: spec.src, dst: spec.dst, next: chain.first, hopLimit: 255 }, concat(chain.bytes, bytes));
}

export function frameBytes(f: FrameSpec): Uint8Array {
  const type = f.ethType ?? (f.ip.family === 4 ? ETH_P_IP : ETH_P_IPV6);
  let b = ethFrame({ src: f.ethSrc, dst: f.ethDst }, type, ipBytes(f.ip));
  if (f.cut !== null) b = b.subarray(0, Math.min(b.length, f.cut));
  b = new Uint8Array(b);
  for (const [at, v] of f.flips) if (at < b.length) b[at] = v;
  return b;
}

/** ARP as a pod may send it: for its gateway, for another pod, gratuitous, or cut short. */
export function arpFrame(p: Pools): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.constantFrom(...p.srcMacs), fc.constantFrom(...p.srcMacs), fc.constantFrom(...p.src4), fc.constantFrom(...p.dst4, '169.254.1.1'), fc.option(fc.integer({ min: 14, max: 41 })))
    .map(([ethSrc, arpSrc, senderIp, target, cut]) => {
      const b = ethFrame({ src: ethSrc, dst: 'ff:ff:ff:ff:ff:ff' }, ETH_P_ARP, arpRequest(arpSrc, senderIp, target));
      return cut === null ? b : b.subarray(0, cut);
    });
}
