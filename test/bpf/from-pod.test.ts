// from_pod through BPF_PROG_TEST_RUN: crafted frames as a pod sends them (PKTGEN),
// endpoints written with the maps.h mirror into a private pin dir (SETUP), then
// the verdict, the frame that comes out and exactly which counter moved (CHECK).
// The redirect itself is not performed by a test run; its target is the real
// veth's, which is why the kernel must know the ifindexes (host veth pairs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EP_F_EGRESS_ISOLATED, EP_F_READY } from '../../src/datapath/maps/index.js';
import {
  createHostVeth,
  openTestDatapath,
  runCounted,
  TC_ACT_OK,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  type HostVeth,
  type TestDatapath,
} from '../helpers/bpf-datapath.js';
import {
  arpRequest,
  BROADCAST,
  ETH_P_ARP,
  ETH_P_IP,
  ETH_P_IPV6,
  ethFrame,
  ipv4,
  ipv6,
  neighborSolicitation,
  routedFrame,
  udp,
} from '../helpers/pktgen.js';
import { mld2Report, mldQuery, ndFrame, neighborAdvertisement, redirect, routerAdvertisement, routerSolicitation } from '../helpers/ndgen.js';
import { cleanupAll, isRoot, sh, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/from-pod.test.ts (BPF_PROG_TEST_RUN on from_pod, veth pairs, a private bpffs)');

interface Pod {
  v4: string;
  v6: string;
  podMac: string;
  hostMac: string;
  ready: boolean;
  veth?: HostVeth;
}

// A sends; B is a ready local destination; C exists but its policy is not written.
// Each has its veth's strait_links_v1 entry (setEndpoint writes it, as attachEndpoint does).
const A: Pod = { v4: '10.244.0.10', v6: 'fd00:244::10', podMac: '0a:58:0a:f4:00:0a', hostMac: 'ee:00:00:00:00:0a', ready: true };
const B: Pod = { v4: '10.244.0.11', v6: 'fd00:244::11', podMac: '0a:58:0a:f4:00:0b', hostMac: 'ee:00:00:00:00:0b', ready: true };
const C: Pod = { v4: '10.244.0.12', v6: 'fd00:244::12', podMac: '0a:58:0a:f4:00:0c', hostMac: 'ee:00:00:00:00:0c', ready: false };

const ifindexOf = (p: Pod): number => {
  if (!p.veth) throw new Error('pod has no veth yet');
  return p.veth.ifindex;
};

/** A frame leaving `from` through its gateway, as the pod's stack builds it. */
function fromPodFrame(from: Pod, l3: { family: 4 | 6; src: string; dst: string }): Uint8Array {
  const eth = { src: from.podMac, dst: from.hostMac };
  return l3.family === 4
    ? ethFrame(eth, ETH_P_IP, ipv4({ src: l3.src, dst: l3.dst }))
    : ethFrame(eth, ETH_P_IPV6, ipv6({ src: l3.src, dst: l3.dst }));
}


describe.skipIf(!isRoot)('from_pod (tc ingress of the host veth)', () => {
  let dp: TestDatapath;

  /** Runs from_pod on `frame` as if `on` (default A) received it from its pod. */
  const send = (frame: Uint8Array, on: Pod = A) => runCounted(dp, dp.fromPod, ifindexOf(on), frame);
  const one = (frame: Uint8Array) => ({ packets: 1, bytes: frame.length });

  const setFlags = (p: Pod, flags: number): void => {
    const value = { ifindex: ifindexOf(p), flags, podMac: p.podMac, hostMac: p.hostMac, identity: 0 };
    dp.setEndpoint(4, p.v4, value);
    dp.setEndpoint(6, p.v6, value);
  };

  beforeAll(() => {
    dp = openTestDatapath();
    for (const p of [A, B, C]) {
      p.veth = createHostVeth();
      setFlags(p, p.ready ? EP_F_READY : 0);
    }
  });

  afterAll(() => {
    dp?.close();
    cleanupAll();
  });

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const ip = (p: Pod): string => (family === 4 ? p.v4 : p.v6);
    const outside = family === 4 ? '192.0.2.80' : '2001:db8::80';

    // Where the TTL (IPv4, byte 8 of the header) or hop limit (IPv6, byte 7) is.

    it('to a ready local pod: redirect_peer with the destination pod and gateway MACs, one hop spent', () => {
      const frame = fromPodFrame(A, { family, src: ip(A), dst: ip(B) });
      const r = send(frame);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      // One routed hop: TTL / hop limit down by one, the IPv4 checksum following it.
      expect([...r.data]).toEqual(routedFrame(frame, { dst: B.podMac, src: B.hostMac }));
      expect(r.moved).toEqual({ STAT_REDIRECT_PEER: one(frame) });
    });

    it('to a local pod with TTL/hop limit 1: the host stack gets it untouched (it answers time exceeded)', () => {
      // A flow of its own: one the earlier tests opened would count a conntrack hit too.
      const l4 = udp(40001, 8080);
      const frame = family === 4
        ? ethFrame({ src: A.podMac, dst: A.hostMac }, ETH_P_IP, ipv4({ src: A.v4, dst: B.v4, ttl: 1 }, l4))
        : ethFrame({ src: A.podMac, dst: A.hostMac }, ETH_P_IPV6, ipv6({ src: A.v6, dst: B.v6, hopLimit: 1 }, l4));
      const r = send(frame);
      expect(r.retval).toBe(TC_ACT_OK);
      expect([...r.data]).toEqual([...frame]);
      expect(r.moved).toEqual({ STAT_TTL_EXPIRED: one(frame) });
    });

    it('to an endpoint whose veth is gone: DROP_REDIRECT_FAILED, not a redirect', () => {
      const gone = createHostVeth();
      sh('ip', ['link', 'del', gone.name]);
      const dst = family === 4 ? '10.244.0.13' : 'fd00:244::13';
      dp.setEndpoint(family, dst, { ifindex: gone.ifindex, flags: EP_F_READY, podMac: B.podMac, hostMac: B.hostMac, identity: 0 });
      const frame = fromPodFrame(A, { family, src: ip(A), dst });
      const r = send(frame);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_REDIRECT_FAILED: one(frame) });
    });

    it('to anything that is not a local endpoint: host stack, frame unchanged', () => {
      const frame = fromPodFrame(A, { family, src: ip(A), dst: outside });
      const r = send(frame);
      expect(r.retval).toBe(TC_ACT_OK);
      expect([...r.data]).toEqual([...frame]);
      expect(r.moved).toEqual({ STAT_TO_STACK: one(frame) });
    });

    it('from an address that is no endpoint: DROP_SPOOF_IP', () => {
      const frame = fromPodFrame(A, { family, src: family === 4 ? '10.244.0.99' : 'fd00:244::99', dst: ip(B) });
      const r = send(frame);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_SPOOF_IP: one(frame) });
    });

    it("from another endpoint's address on this veth: DROP_SPOOF_IP", () => {
      const frame = fromPodFrame(A, { family, src: ip(B), dst: outside });
      const r = send(frame);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_SPOOF_IP: one(frame) });
    });

    it("from the right address with another MAC: DROP_SPOOF_MAC", () => {
      const frame = fromPodFrame({ ...A, podMac: B.podMac }, { family, src: ip(A), dst: ip(B) });
      const r = send(frame);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_SPOOF_MAC: one(frame) });
    });

    it('from an endpoint whose policy is not written: DROP_NOT_READY (fail closed)', () => {
      const frame = fromPodFrame(C, { family, src: ip(C), dst: outside });
      const r = send(frame, C);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_NOT_READY: one(frame) });
    });

    it('to a local endpoint that is not ready: DROP_NOT_READY', () => {
      const frame = fromPodFrame(A, { family, src: ip(A), dst: ip(C) });
      const r = send(frame);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_NOT_READY: one(frame) });
    });

    it('readiness is judged before policy: DROP_NOT_READY even from an egress-isolated sender', () => {
      setFlags(A, EP_F_READY | EP_F_EGRESS_ISOLATED);
      try {
        const frame = fromPodFrame(A, { family, src: ip(A), dst: ip(C) });
        expect(send(frame).moved).toEqual({ DROP_NOT_READY: one(frame) });
      } finally {
        setFlags(A, EP_F_READY);
      }
    });
  });

  it('ARP for the gateway, sent as itself, passes to the stack untouched', () => {
    const frame = ethFrame({ src: A.podMac, dst: BROADCAST }, ETH_P_ARP, arpRequest(A.podMac, A.v4, '169.254.1.1'));
    const r = send(frame);
    expect(r.retval).toBe(TC_ACT_OK);
    expect([...r.data]).toEqual([...frame]);
    expect(r.moved).toEqual({ STAT_TO_STACK: one(frame) });
  });

  const LL_A = 'fe80::858:aff:fef4:a';
  const nd = (msg: Uint8Array, o: { src?: string; dst?: string; mac?: string; routerAlert?: boolean } = {}) =>
    ndFrame({ ethSrc: o.mac ?? A.podMac, ethDst: A.hostMac, src: o.src ?? LL_A, dst: o.dst ?? 'ff02::1', routerAlert: o.routerAlert ?? false }, msg);

  it.each([
    ['a neighbour solicitation from fe80::', nd(neighborSolicitation('fe80::1'), { dst: 'ff02::1:ff00:1' })],
    ['a DAD probe from ::', nd(neighborSolicitation(A.v6), { src: '::', dst: 'ff02::1:fff4:a' })],
    ['a unicast NS from fe80:: to the gateway', nd(neighborSolicitation('fe80::1'), { dst: 'fe80::1' })],
    ['a neighbour advertisement for its own address', nd(neighborAdvertisement(A.v6, A.podMac), { dst: 'fe80::1' })],
    ['a neighbour advertisement for its own link-local address', nd(neighborAdvertisement(LL_A, A.podMac))],
    ['a router solicitation', nd(routerSolicitation(), { dst: 'ff02::2' })],
    ['an MLDv2 report behind a Hop-by-Hop header', nd(mld2Report('ff02::1:fff4:a'), { dst: 'ff02::16', routerAlert: true })],
    ['an MLDv2 report from :: (no link-local address yet)', nd(mld2Report('ff02::1:fff4:a'), { src: '::', dst: 'ff02::16', routerAlert: true })],
    ['an NS from its own global address', nd(neighborSolicitation('fe80::1'), { src: A.v6, dst: 'fe80::1' })],
  ])('IPv6 link control a pod needs goes to the stack once its sender checks out: %s', (_what, frame) => {
    const r = send(frame);
    expect(r.retval).toBe(TC_ACT_OK);
    expect([...r.data]).toEqual([...frame]);
    expect(r.moved).toEqual({ STAT_TO_STACK: one(frame) });
  });

  it.each([
    ['a Router Advertisement to all nodes', nd(routerAdvertisement({ lifetime: 1800, prefix: '2001:db8:1::' }))],
    ['a Router Advertisement behind a Hop-by-Hop header', nd(routerAdvertisement({ lifetime: 1800 }), { routerAlert: true })],
    ['a Router Advertisement from its own global address', nd(routerAdvertisement({ lifetime: 1800 }), { src: A.v6 })],
    ['a Redirect', nd(redirect('fe80::e71', '2001:db8:77::1'), { dst: 'fe80::2' })],
    ['an MLD query', nd(mldQuery(), { routerAlert: true })],
  ])('a router-only message from a pod: DROP_ROUTER_MSG (%s)', (_what, frame) => {
    const r = send(frame);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.moved).toEqual({ DROP_ROUTER_MSG: one(frame) });
  });

  it.each([
    ['an NS with another MAC', nd(neighborSolicitation('fe80::1'), { mac: B.podMac }), A, 'DROP_SPOOF_MAC'],
    ['an MLD report from a pod that is not ready', nd(mld2Report('ff02::1:fff4:c'), { mac: C.podMac, dst: 'ff02::16', routerAlert: true }), C, 'DROP_NOT_READY'],
    ["an NA claiming another pod's address", nd(neighborAdvertisement(B.v6, A.podMac)), A, 'DROP_SPOOF_IP'],
    ["an NA claiming the gateway's address", nd(neighborAdvertisement('fe80::1', A.podMac)), A, 'DROP_SPOOF_IP'],
    ['an NS from a global address that is not its own', nd(neighborSolicitation('fe80::1'), { src: B.v6 }), A, 'DROP_SPOOF_IP'],
    ['UDP from a link-local address (not link control)', ethFrame({ src: A.podMac, dst: '33:33:00:00:00:fb' }, ETH_P_IPV6, ipv6({ src: LL_A, dst: 'ff02::fb' })), A, 'DROP_SPOOF_IP'],
  ])('IPv6 link control faces the MAC and readiness checks: %s', (_what, frame, on, reason) => {
    const r = send(frame, on);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.moved).toEqual({ [reason]: one(frame) });
  });

  it('ND addressed to another pod is no link control: it takes the ordinary path (policy, then the redirect)', () => {
    // To the stack it would be forwarded to that pod past its ingress policy.
    const frame = nd(neighborAdvertisement(A.v6, A.podMac), { src: A.v6, dst: B.v6 });
    const r = send(frame);
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.moved).toEqual({ STAT_REDIRECT_PEER: one(frame) });
  });

  it('link control on a veth with no strait_links_v1 entry: DROP_NO_LINK', () => {
    dp.deleteLink(ifindexOf(A));
    try {
      const frame = nd(neighborSolicitation('fe80::1'), { dst: 'ff02::1:ff00:1' });
      const r = send(frame);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_NO_LINK: one(frame) });
    } finally {
      dp.setLink(ifindexOf(A), { family: 6, ip: A.v6 });
    }
  });

  const arp = (o: { eth?: string; sha?: string; spa?: string }) =>
    ethFrame({ src: o.eth ?? A.podMac, dst: BROADCAST }, ETH_P_ARP, arpRequest(o.sha ?? A.podMac, o.spa ?? A.v4, '169.254.1.1'));

  it.each([
    ["claiming another pod's address", arp({ spa: B.v4 }), A, 'DROP_SPOOF_IP'],
    ["claiming the gateway's address", arp({ spa: '169.254.1.1' }), A, 'DROP_SPOOF_IP'],
    ['with a sender MAC that is not the frame source', arp({ sha: B.podMac }), A, 'DROP_SPOOF_MAC'],
    ["with another pod's MAC in both places", arp({ eth: B.podMac, sha: B.podMac }), A, 'DROP_SPOOF_MAC'],
    ['from a pod that is not ready', arp({ eth: C.podMac, sha: C.podMac, spa: C.v4 }), C, 'DROP_NOT_READY'],
    ['with 8-byte hardware addresses', (() => { const f = arp({}); f[14 + 4] = 8; return f; })(), A, 'DROP_MALFORMED'],
  ])('ARP %s: dropped', (_what, frame, on, reason) => {
    const r = send(frame, on);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.moved).toEqual({ [reason]: one(frame) });
  });

  it.each([
    ['IPv4 options past the end of the frame', ETH_P_IP, ipv4({ src: A.v4, dst: B.v4, ihl: 15, truncate: true })],
    ['an IPv4 header length below 20 bytes', ETH_P_IP, ipv4({ src: A.v4, dst: B.v4, ihl: 4 })],
    ['an IPv4 ethertype carrying version 6', ETH_P_IP, ipv4({ src: A.v4, dst: B.v4, version: 6 })],
    ['an IPv6 ethertype carrying version 4', ETH_P_IPV6, ipv6({ src: A.v6, dst: B.v6, version: 4 })],
  ])('%s: DROP_MALFORMED', (_what, type, l3) => {
    const frame = ethFrame({ src: A.podMac, dst: A.hostMac }, type, l3);
    const r = send(frame);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.moved).toEqual({ DROP_MALFORMED: one(frame) });
  });

  it('an ethertype that is neither IPv4, IPv6 nor ARP: DROP_UNKNOWN_L3', () => {
    const frame = ethFrame({ src: A.podMac, dst: A.hostMac }, 0x88b5, new Uint8Array(46));
    const r = send(frame);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.moved).toEqual({ DROP_UNKNOWN_L3: one(frame) });
  });
});
