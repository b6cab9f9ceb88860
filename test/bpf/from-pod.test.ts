// from_pod through BPF_PROG_TEST_RUN: crafted frames as a pod sends them (PKTGEN),
// endpoints written with the maps.h mirror into a private pin dir (SETUP), then
// the verdict, the frame that comes out and exactly which counter moved (CHECK).
// The redirect itself is not performed by a test run; its target is the real
// veth's, which is why the kernel must know the ifindexes (host veth pairs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EP_F_EGRESS_ISOLATED, EP_F_READY } from '../../src/datapath/maps/index.js';
import {
  countersMovedBy,
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
  IPPROTO_ICMPV6,
  ipv4,
  ipv6,
  neighborSolicitation,
} from '../helpers/pktgen.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';

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

const bytes = (mac: string): number[] => mac.split(':').map((h) => parseInt(h, 16));

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

    it('to a ready local pod: redirect_peer with the destination pod and gateway MACs', () => {
      const frame = fromPodFrame(A, { family, src: ip(A), dst: ip(B) });
      const r = send(frame);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect([...r.data.subarray(0, 6)]).toEqual(bytes(B.podMac));
      expect([...r.data.subarray(6, 12)]).toEqual(bytes(B.hostMac));
      expect([...r.data.subarray(12)]).toEqual([...frame.subarray(12)]);
      expect(r.moved).toEqual({ STAT_REDIRECT_PEER: one(frame) });
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

  it('ARP for the gateway passes to the stack untouched', () => {
    const frame = ethFrame({ src: A.podMac, dst: BROADCAST }, ETH_P_ARP, arpRequest(A.podMac, A.v4, '169.254.1.1'));
    const r = send(frame);
    expect(r.retval).toBe(TC_ACT_OK);
    expect([...r.data]).toEqual([...frame]);
    expect(r.moved).toEqual({ STAT_TO_STACK: one(frame) });
  });

  it.each([
    ['a neighbour solicitation from fe80::', 'fe80::858:aff:fef4:a', 'ff02::1:ff00:1', 'fe80::1'],
    ['a DAD probe from ::', '::', 'ff02::1:fff4:a', 'fd00:244::10'],
    ['a unicast NS from fe80:: to the gateway', 'fe80::858:aff:fef4:a', 'fe80::1', 'fe80::1'],
  ])('IPv6 link control passes before anti-spoofing: %s', (_what, src, dst, target) => {
    const frame = ethFrame(
      { src: A.podMac, dst: '33:33:ff:00:00:01' },
      ETH_P_IPV6,
      ipv6({ src, dst, next: IPPROTO_ICMPV6, hopLimit: 255 }, neighborSolicitation(target)),
    );
    const r = send(frame);
    expect(r.retval).toBe(TC_ACT_OK);
    expect([...r.data]).toEqual([...frame]);
    expect(r.moved).toEqual({ STAT_TO_STACK: one(frame) });
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
