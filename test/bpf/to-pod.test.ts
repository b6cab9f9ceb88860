// to_pod through BPF_PROG_TEST_RUN: frames as the host stack hands them to a pod's
// host veth on egress. Passes and counts what a ready endpoint receives; drops
// what would reach an endpoint whose policy is not written yet, anything on a veth
// with no pod behind it, and anything addressed to someone else (fail closed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EP_F_INGRESS_ISOLATED, EP_F_READY } from '../../src/datapath/maps/index.js';
import {
  createHostVeth,
  openTestDatapath,
  runCounted,
  TC_ACT_OK,
  TC_ACT_SHOT,
  type HostVeth,
  type TestDatapath,
} from '../helpers/bpf-datapath.js';
import { ipBytes } from '../../src/datapath/addr-bytes.js';
import { arpRequest, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, ethFrame, ipv4, ipv6, neighborSolicitation } from '../helpers/pktgen.js';
import { ndFrame, routerAdvertisement } from '../helpers/ndgen.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/to-pod.test.ts (BPF_PROG_TEST_RUN on to_pod, veth pairs, a private bpffs)');

interface Pod {
  v4: string;
  v6: string;
  podMac: string;
  hostMac: string;
  ready: boolean;
  veth?: HostVeth;
}

const R: Pod = { v4: '10.244.1.10', v6: 'fd00:244:1::10', podMac: '0a:58:0a:f4:01:0a', hostMac: 'ee:00:00:00:01:0a', ready: true };
const N: Pod = { v4: '10.244.1.11', v6: 'fd00:244:1::11', podMac: '0a:58:0a:f4:01:0b', hostMac: 'ee:00:00:00:01:0b', ready: false };

const ifindexOf = (p: Pod): number => {
  if (!p.veth) throw new Error('pod has no veth yet');
  return p.veth.ifindex;
};

/** A frame the host stack sends out of `to`'s veth: gateway MAC to pod MAC. */
function toPodFrame(to: Pod, l3: { family: 4 | 6; src: string; dst: string }): Uint8Array {
  const eth = { src: to.hostMac, dst: to.podMac };
  return l3.family === 4
    ? ethFrame(eth, ETH_P_IP, ipv4({ src: l3.src, dst: l3.dst }))
    : ethFrame(eth, ETH_P_IPV6, ipv6({ src: l3.src, dst: l3.dst }));
}

/** The node asking for p's MAC: an ARP request, and an NS to p's solicited-node group. */
function nodeResolving(p: Pod): Uint8Array[] {
  const low24 = ipBytes(p.v6).bytes.subarray(13);
  const group = `ff02::1:ff${low24[0]!.toString(16).padStart(2, '0')}:${Buffer.from(low24.subarray(1)).toString('hex')}`;
  return [
    ethFrame({ src: p.hostMac, dst: p.podMac }, ETH_P_ARP, arpRequest(p.hostMac, '169.254.1.1', p.v4)),
    ndFrame({ ethSrc: p.hostMac, ethDst: p.podMac, src: 'fe80::1', dst: group }, neighborSolicitation(p.v6)),
  ];
}

describe.skipIf(!isRoot)('to_pod (tc egress of the host veth)', () => {
  let dp: TestDatapath;

  const deliver = (frame: Uint8Array, on: Pod) => runCounted(dp, dp.toPod, ifindexOf(on), frame);
  const one = (frame: Uint8Array) => ({ packets: 1, bytes: frame.length });

  beforeAll(() => {
    dp = openTestDatapath();
    for (const p of [R, N]) {
      p.veth = createHostVeth();
      const value = { ifindex: p.veth.ifindex, flags: p.ready ? EP_F_READY : 0, podMac: p.podMac, hostMac: p.hostMac, identity: 0 };
      dp.setEndpoint(4, p.v4, value);
      dp.setEndpoint(6, p.v6, value);
    }
  });

  afterAll(() => {
    dp?.close();
    cleanupAll();
  });

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const ip = (p: Pod): string => (family === 4 ? p.v4 : p.v6);
    const remote = family === 4 ? '192.0.2.80' : '2001:db8::80';

    it('delivered to a ready endpoint: passes untouched, STAT_TO_POD', () => {
      const frame = toPodFrame(R, { family, src: remote, dst: ip(R) });
      const r = deliver(frame, R);
      expect(r.retval).toBe(TC_ACT_OK);
      expect([...r.data]).toEqual([...frame]);
      expect(r.moved).toEqual({ STAT_TO_POD: one(frame) });
    });

    it('delivered to an endpoint whose policy is not written: DROP_NOT_READY', () => {
      const frame = toPodFrame(N, { family, src: remote, dst: ip(N) });
      const r = deliver(frame, N);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_NOT_READY: one(frame) });
    });

    it('an isolated endpoint whose policy is not written: DROP_NOT_READY, not a policy drop', () => {
      const value = { ifindex: ifindexOf(N), flags: EP_F_INGRESS_ISOLATED, podMac: N.podMac, hostMac: N.hostMac, identity: 0 };
      dp.setEndpoint(family, ip(N), value);
      try {
        const frame = toPodFrame(N, { family, src: remote, dst: ip(N) });
        expect(deliver(frame, N).moved).toEqual({ DROP_NOT_READY: one(frame) });
      } finally {
        dp.setEndpoint(family, ip(N), { ...value, flags: 0 });
      }
    });

    it.each([
      ["another veth's endpoint", (): string => ip(N)],
      ['no endpoint at all', (): string => (family === 4 ? '10.244.1.99' : 'fd00:244:1::99')],
    ])('unicast to %s on this veth: DROP_NOT_FOR_POD', (_what, dst) => {
      const frame = toPodFrame(R, { family, src: remote, dst: dst() });
      const r = deliver(frame, R);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_NOT_FOR_POD: one(frame) });
    });

    it('anything on a strait veth with no strait_links_v1 entry: DROP_NO_LINK', () => {
      dp.deleteLink(ifindexOf(R));
      try {
        const frame = toPodFrame(R, { family, src: remote, dst: ip(R) });
        const r = deliver(frame, R);
        expect(r.retval).toBe(TC_ACT_SHOT);
        expect(r.moved).toEqual({ DROP_NO_LINK: one(frame) });
      } finally {
        dp.setLink(ifindexOf(R), { family: 4, ip: R.v4 });
      }
    });
  });

  it('ARP and ND on a veth with no strait_links_v1 entry: DROP_NO_LINK', () => {
    const orphan = createHostVeth();
    for (const frame of nodeResolving(R)) {
      const r = runCounted(dp, dp.toPod, orphan.ifindex, frame);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_NO_LINK: one(frame) });
    }
  });

  it('ND the node forwarded from elsewhere (hop limit below 255) is no link control: DROP_NOT_FOR_POD', () => {
    const frame = ndFrame({ ethSrc: R.hostMac, ethDst: R.podMac, src: 'fd00:244:1::99', dst: 'ff02::1', hopLimit: 254 }, neighborSolicitation(R.v6));
    const r = deliver(frame, R);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.moved).toEqual({ DROP_NOT_FOR_POD: one(frame) });
  });

  it('a Router Advertisement from the node to all nodes is no ND the pod needs: DROP_NOT_FOR_POD', () => {
    const frame = ndFrame({ ethSrc: R.hostMac, ethDst: R.podMac, src: 'fe80::1', dst: 'ff02::1' }, routerAdvertisement({ lifetime: 1800 }));
    const r = deliver(frame, R);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.moved).toEqual({ DROP_NOT_FOR_POD: one(frame) });
  });

  it('ARP from the gateway and ND to a solicited-node group pass, even to a pod that is not ready', () => {
    for (const frame of nodeResolving(N)) {
      const r = deliver(frame, N);
      expect(r.retval).toBe(TC_ACT_OK);
      expect([...r.data]).toEqual([...frame]);
      expect(r.moved).toEqual({ STAT_TO_POD: one(frame) });
    }
  });

  it('an IPv4 header that runs past the frame: DROP_MALFORMED', () => {
    const frame = ethFrame({ src: R.hostMac, dst: R.podMac }, ETH_P_IP, ipv4({ src: '192.0.2.80', dst: R.v4, ihl: 15, truncate: true }));
    const r = deliver(frame, R);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.moved).toEqual({ DROP_MALFORMED: one(frame) });
  });
});
