// IP fragments and IPv6 extension headers through BPF_PROG_TEST_RUN: the tuple
// policy and conntrack see is the real L4 one behind the extension headers, later
// fragments take the first fragment's ports (strait_frag_v1) or are dropped, and
// no fragment or extension header ever opens a ports-0 entry that lets other
// traffic through (issue #8, item 2).
import { describe, expect, it } from 'vitest';

import * as bpf from '../../src/datapath/bpf.js';
import { decodeCtKey, EP_F_EGRESS_ISOLATED, EP_F_INGRESS_ISOLATED, MapName } from '../../src/datapath/maps/index.js';
import { TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT } from '../helpers/bpf-datapath.js';
import {
  ETH_P_IP,
  ETH_P_IPV6,
  ethFrame,
  ICMP_ECHO,
  ICMP_ECHOREPLY,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  icmpEcho,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4,
  ipv6,
  ipv6Ext,
  ipv6Frag,
  NEXTHDR_AUTH,
  NEXTHDR_DEST,
  NEXTHDR_FRAGMENT,
  NEXTHDR_HOP,
  NEXTHDR_ROUTING,
  tcp,
  TCP_SYN,
  udp,
} from '../helpers/pktgen.js';
import * as world from '../helpers/policy-world.js';
import { A, B, ip, one, WORLD, WORLD_BLOCK, type Pod } from '../helpers/policy-world.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/fragments.test.ts (BPF_PROG_TEST_RUN on from_pod and to_pod, veth pairs, a private bpffs)');

interface Frag {
  id: number;
  /** in 8-byte units; 0: the first fragment (or an atomic one without `more`) */
  offset?: number;
  more?: boolean;
}

/** One fragment of an IP packet of protocol `proto` (IPv6: behind a fragment header). */
function fragL3(family: 4 | 6, src: string, dst: string, proto: number, f: Frag, payload: Uint8Array): Uint8Array {
  if (family === 4) return ipv4({ src, dst, proto, id: f.id, fragOffset: f.offset ?? 0, moreFragments: f.more ?? false }, payload);
  return ipv6({ src, dst, next: NEXTHDR_FRAGMENT }, ipv6Frag(proto, { id: f.id, offset: f.offset ?? 0, more: f.more ?? false }, payload));
}
const ethType = (family: 4 | 6): number => (family === 4 ? ETH_P_IP : ETH_P_IPV6);
const fromPod = (p: Pod, family: 4 | 6, l3: Uint8Array): Uint8Array => ethFrame({ src: p.podMac, dst: p.hostMac }, ethType(family), l3);
const toPod = (p: Pod, family: 4 | 6, l3: Uint8Array): Uint8Array => ethFrame({ src: p.hostMac, dst: p.podMac }, ethType(family), l3);
const filler = (n: number) => new Uint8Array(n).fill(0xab);
const EXT_PROTOCOLS = new Set([NEXTHDR_HOP, NEXTHDR_ROUTING, NEXTHDR_FRAGMENT, NEXTHDR_AUTH, NEXTHDR_DEST]);

describe.skipIf(!isRoot)('IP fragments and IPv6 extension headers', () => {
  const bpfWorld = world.useWorld();
  const { send, deliver, setFlags, allow } = bpfWorld;

  /** No entry in either conntrack table has an extension header as its protocol. */
  const noExtensionEntries = (): void => {
    for (const m of [MapName.ct, MapName.ctPending])
      for (const key of bpf.mapKeys(bpfWorld.dp.mapFd(m))) expect(EXT_PROTOCOLS.has(decodeCtKey(key).protocol), m).toBe(false);
  };

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const a = ip(A, family);
    const b = ip(B, family);
    const w = ip(WORLD, family);

    it('fragmented UDP to an allowed port passes, every fragment; to a denied port none does', () => {
      setFlags(A, EP_F_EGRESS_ISOLATED);
      allow(A, { identity: WORLD_BLOCK.identity, egress: true, protocol: IPPROTO_UDP, port: 53 });
      const first = fromPod(A, family, fragL3(family, a, w, IPPROTO_UDP, { id: 0x1234, more: true }, udp(40000, 53, filler(64))));
      expect(send(A, first).moved).toEqual({ STAT_POLICY_ALLOWED: one(first), STAT_TO_STACK: one(first) });
      expect(bpfWorld.dp.frag({ family, saddr: a, daddr: w, id: 0x1234, protocol: IPPROTO_UDP })).toEqual({
        sport: 40000,
        dport: 53,
        protocol: IPPROTO_UDP,
        flags: 0,
      });
      for (const f of [{ id: 0x1234, offset: 9, more: true }, { id: 0x1234, offset: 18 }]) {
        const later = fromPod(A, family, fragL3(family, a, w, IPPROTO_UDP, f, filler(72)));
        const r = send(A, later);
        expect(r.retval).toBe(TC_ACT_OK);
        expect(r.moved).toEqual({ STAT_CT_HIT: one(later), STAT_TO_STACK: one(later) });
      }

      const denied = fromPod(A, family, fragL3(family, a, w, IPPROTO_UDP, { id: 0x1235, more: true }, udp(40000, 54, filler(64))));
      expect(send(A, denied).moved).toEqual({ DROP_POLICY_EGRESS: one(denied) });
      const deniedLater = fromPod(A, family, fragL3(family, a, w, IPPROTO_UDP, { id: 0x1235, offset: 9 }, filler(72)));
      expect(send(A, deniedLater).moved).toEqual({ DROP_FRAG_NO_FIRST: one(deniedLater) });
      noExtensionEntries();
    });

    it("a later fragment matches only its own packet's first: not another id, protocol or direction", () => {
      const first = fromPod(A, family, fragL3(family, a, w, IPPROTO_UDP, { id: 7, more: true }, udp(40000, 53, filler(64))));
      expect(send(A, first).retval).toBe(TC_ACT_OK);
      for (const [src, l3] of [
        [A, fragL3(family, a, w, IPPROTO_UDP, { id: 8, offset: 9 }, filler(32))],
        [A, fragL3(family, a, w, IPPROTO_TCP, { id: 7, offset: 9 }, filler(32))],
      ] as const) {
        const later = fromPod(src, family, l3);
        expect(send(src, later).moved).toEqual({ DROP_FRAG_NO_FIRST: one(later) });
      }
      const reversed = toPod(A, family, fragL3(family, w, a, IPPROTO_UDP, { id: 7, offset: 9 }, filler(32)));
      expect(deliver(A, reversed).moved).toEqual({ DROP_FRAG_NO_FIRST: one(reversed) });
    });

    it('a fragmented ping and its fragmented reply pass by the identifier, every fragment', () => {
      setFlags(A, EP_F_INGRESS_ISOLATED);
      const icmp = family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
      const [req, rep] = family === 4 ? [ICMP_ECHO, ICMP_ECHOREPLY] : [ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY];
      const ping = fromPod(A, family, fragL3(family, a, w, icmp, { id: 21, more: true }, icmpEcho(req, 77)));
      expect(send(A, ping).moved).toEqual({ STAT_TO_STACK: one(ping) });
      const pingRest = fromPod(A, family, fragL3(family, a, w, icmp, { id: 21, offset: 2 }, filler(64)));
      expect(send(A, pingRest).moved).toEqual({ STAT_CT_HIT: one(pingRest), STAT_TO_STACK: one(pingRest) });
      const pong = toPod(A, family, fragL3(family, w, a, icmp, { id: 99, more: true }, icmpEcho(rep, 77)));
      expect(deliver(A, pong).moved).toEqual({ STAT_CT_HIT: one(pong), STAT_CT_PROMOTED: one(pong), STAT_TO_POD: one(pong) });
      const pongRest = toPod(A, family, fragL3(family, w, a, icmp, { id: 99, offset: 2 }, filler(64)));
      expect(deliver(A, pongRest).moved).toEqual({ STAT_CT_HIT: one(pongRest), STAT_TO_POD: one(pongRest) });
    });

    it('a fragment from outside does not let an egress-isolated pod send anything', () => {
      setFlags(A, EP_F_EGRESS_ISOLATED);
      const fromOutside = toPod(A, family, fragL3(family, w, a, IPPROTO_UDP, { id: 5, more: true }, udp(53, 40000, filler(64))));
      expect(deliver(A, fromOutside).retval).toBe(TC_ACT_OK);
      // Anything A sends back behind a fragment header is judged by its own tuple.
      const l3 =
        family === 4
          ? fragL3(family, a, w, IPPROTO_TCP, { id: 6, offset: 9 }, filler(32))
          : fragL3(family, a, w, IPPROTO_TCP, { id: 6 }, tcp(40000, 22, TCP_SYN));
      const out = fromPod(A, family, l3);
      const r = send(A, out);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual(family === 4 ? { DROP_FRAG_NO_FIRST: one(out) } : { DROP_POLICY_EGRESS: one(out) });
      noExtensionEntries();
    });

    it("the issue's reproduction: after V sent A a fragmented packet, A still reaches only V's allowed port", () => {
      // V (B here) is isolated and allows only TCP/80 from A.
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(B, { identity: A.identity, port: 80 });
      const big = fromPod(B, family, fragL3(family, b, a, IPPROTO_UDP, { id: 11, more: true }, udp(5353, 5353, filler(64))));
      expect(send(B, big).retval).toBe(TC_ACT_REDIRECT);
      const bigRest = fromPod(B, family, fragL3(family, b, a, IPPROTO_UDP, { id: 11, offset: 9 }, filler(64)));
      expect(send(B, bigRest).retval).toBe(TC_ACT_REDIRECT);

      if (family === 6) {
        // An atomic fragment (offset 0, M clear) is just the packet it carries.
        const to22 = fromPod(A, family, fragL3(family, a, b, IPPROTO_TCP, { id: 12 }, tcp(40000, 22, TCP_SYN)));
        expect(send(A, to22).moved).toEqual({ DROP_POLICY_INGRESS: one(to22) });
        const to80 = fromPod(A, family, fragL3(family, a, b, IPPROTO_TCP, { id: 13 }, tcp(40000, 80, TCP_SYN)));
        expect(send(A, to80).moved).toEqual({ STAT_POLICY_ALLOWED: one(to80), STAT_REDIRECT_PEER: one(to80) });
        expect(bpfWorld.dp.ctPending({ family, saddr: a, daddr: b, sport: 40000, dport: 80, protocol: IPPROTO_TCP })).not.toBeNull();
        expect(bpfWorld.dp.frag({ family, saddr: a, daddr: b, id: 13, protocol: IPPROTO_TCP })).toBeNull();
      }
      // A later fragment of nothing V let in.
      const stray = fromPod(A, family, fragL3(family, a, b, IPPROTO_UDP, { id: 11, offset: 9 }, filler(64)));
      expect(send(A, stray).moved).toEqual({ DROP_FRAG_NO_FIRST: one(stray) });
      noExtensionEntries();
    });
  });

  describe('IPv6 extension headers', () => {
    const a = A.v6;
    const w = WORLD.v6;
    const out = (next: number, rest: Uint8Array): Uint8Array => fromPod(A, 6, ipv6({ src: a, dst: w, next }, rest));
    /** A chain of extension headers (types in order) in front of TCP to `dport`. */
    const chain = (types: number[], dport: number): Uint8Array => {
      let rest = tcp(40000, dport, TCP_SYN);
      let next = IPPROTO_TCP;
      for (const t of [...types].reverse()) {
        rest = t === NEXTHDR_FRAGMENT ? ipv6Frag(next, { id: 3 }, rest) : ipv6Ext(t, next, rest, t === NEXTHDR_AUTH ? 4 : 1);
        next = t;
      }
      return out(next, rest);
    };

    it('are walked: the TCP behind them is what policy and conntrack see', () => {
      setFlags(A, EP_F_EGRESS_ISOLATED);
      allow(A, { identity: WORLD_BLOCK.identity, egress: true, port: 443 });
      for (const types of [[NEXTHDR_HOP], [NEXTHDR_HOP, NEXTHDR_DEST, NEXTHDR_ROUTING, NEXTHDR_FRAGMENT, NEXTHDR_AUTH, NEXTHDR_DEST]]) {
        bpfWorld.dp.clear(MapName.ctPending);
        const ok = chain(types, 443);
        expect(send(A, ok).moved, types.join(',')).toEqual({ STAT_POLICY_ALLOWED: one(ok), STAT_TO_STACK: one(ok) });
        expect(bpfWorld.dp.ctPending({ family: 6, saddr: a, daddr: w, sport: 40000, dport: 443, protocol: IPPROTO_TCP })).not.toBeNull();
        const no = chain(types, 444);
        expect(send(A, no).moved, types.join(',')).toEqual({ DROP_POLICY_EGRESS: one(no) });
      }
      noExtensionEntries();
    });

    it('more than six, hop-by-hop not first, or two fragment headers: DROP_IPV6_EXT; one cut short: DROP_MALFORMED', () => {
      for (const types of [
        Array<number>(7).fill(NEXTHDR_DEST),
        [NEXTHDR_DEST, NEXTHDR_HOP],
        [NEXTHDR_FRAGMENT, NEXTHDR_FRAGMENT],
      ]) {
        const bad = chain(types, 443);
        expect(send(A, bad).moved, types.join(',')).toEqual({ DROP_IPV6_EXT: one(bad) });
      }
      const cut = out(NEXTHDR_DEST, Uint8Array.of(NEXTHDR_DEST));
      expect(send(A, cut).moved).toEqual({ DROP_MALFORMED: one(cut) });
      // A length that runs past the packet leaves no room for the TCP ports.
      const long = out(NEXTHDR_DEST, ipv6Ext(NEXTHDR_DEST, IPPROTO_TCP, new Uint8Array(), 0).map((x, i) => (i === 1 ? 200 : x)));
      expect(send(A, long).moved).toEqual({ DROP_MALFORMED: one(long) });
    });

    it('a pod that is not isolated opens no entry for an extension-header protocol either', () => {
      for (const t of [NEXTHDR_HOP, NEXTHDR_DEST, NEXTHDR_ROUTING]) expect(send(A, chain([t], 443)).retval).toBe(TC_ACT_OK);
      expect(send(A, chain([NEXTHDR_FRAGMENT], 443)).retval).toBe(TC_ACT_OK);
      expect(deliver(A, toPod(A, 6, ipv6({ src: w, dst: a, next: NEXTHDR_HOP }, ipv6Ext(NEXTHDR_HOP, IPPROTO_UDP, udp(53, 40000)))))).toMatchObject({ retval: TC_ACT_OK });
      expect(bpfWorld.dp.count(MapName.ctPending)).toBe(2);
      noExtensionEntries();
    });
  });
});
