// FUZZ: random and mutated frames through from_pod and to_pod with BPF_PROG_TEST_RUN
// (root: veths and a private bpffs, as test/bpf). The oracle is the intended
// behaviour from issue #8, judged on frame-truth.ts's own reading of each frame:
// - from_pod never passes or redirects a frame that is not the sender's own: its
//   MAC, and its IPv4/IPv6 source, except the ND/MLD messages (RS, NS, NA, MLD) a pod
//   sends from fe80::/10 or :: and ARP, which still need its MAC;
// - a frame to an isolated pod is passed only when its policy allows it (TCP/8080
//   from A), when it answers or is an ICMP error about a flow the pod opened (the
//   error from a peer of that flow); traffic from the node itself is always
//   allowed, and to_pod also lets ND/MLD through to the pod;
// - a pod that is not ready sends nothing, and nothing reaches its address;
// - every run ends in TC_ACT_OK, SHOT or REDIRECT.
// A violation is labelled with the class of hole it belongs to (each one a defect
// issue #8 closed), so a regression says at once which defence gave way.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errnoOf } from '../../src/errors.js';
import * as bpf from '../../src/datapath/bpf.js';
import { EP_F_INGRESS_ISOLATED, MapName } from '../../src/datapath/maps/index.js';
import { TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT } from '../helpers/bpf-datapath.js';
import { A, B, ifindexOf, ip, NODE, OTHER_WORLD, REMOTE, useWorld, WORLD, type Pod } from '../helpers/policy-world.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';
import { anyFrame, arpFrame, derived, frameBytes, frameSpec, ipPacket, type FrameSpec, type Pools } from './frame-inputs.js';
import { isIcmpError, isLinkLocalOrUnspecified, isMulticast6, parseFrame, reverse, sameTuple, type FrameTruth, type L3Truth } from './frame-truth.js';
import { FUZZ_SEED } from './seed.js';

/** The classes of hole issue #8 closed, for the label of a violation. */
type Hole = 'ipv6-link-traffic-skips-checks' | 'arp-skips-mac-check' | 'fragments-and-extension-headers' | 'icmp-error-sender-not-checked';

const SPOOF_FRAMES = 8_000;
const ARP_FRAMES = 1_000;
const NOT_READY_FRAMES = 2_000; // each way
const FROM_POD_CASES = 3_500; // two frames each: the isolated pod's packet, then the probe
const TO_POD_CASES = 2_500;

const ALLOWED_PORT = 8080;
/** every conntrack and fragment table (strait_ct_v1, and any the datapath adds): emptied per case */
const STATE_MAPS = Object.values(MapName).filter((n) => /_(ct|frag)(_|$)/.test(n));
/** ND and MLD a pod needs from its link-local (or unspecified) address: RS, NS, NA, MLDv1/v2 */
const POD_ND_MLD = new Set([130, 131, 132, 133, 135, 136, 143]);
const ETH_P_ARP = 0x0806;
const OUTSIDE_MAC = '02:00:00:00:00:99';

const ndOrMld = (l3: L3Truth): boolean =>
  l3.family === 6 && isLinkLocalOrUnspecified(l3.src) && l3.proto === 58 && l3.icmp !== null && POD_ND_MLD.has(l3.icmp.type);

const linkBypass = (l3: L3Truth | null): boolean => l3 !== null && l3.family === 6 && (isLinkLocalOrUnspecified(l3.src) || isMulticast6(l3.dst));
/** The early exits before from_pod's checks (parse.h, from_pod.bpf.c) that h1-link narrows. */
const linkHole = (t: FrameTruth): Hole | null =>
  t.ethType === ETH_P_ARP ? 'arp-skips-mac-check' : linkBypass(t.l3) ? 'ipv6-link-traffic-skips-checks' : null;
/**
 * The node's own NS/NA reach a pod that is not ready: they carry hop limit 255, which
 * no forwarded packet has (RFC 4861), the node is always allowed to reach its pods,
 * and without them the node could not resolve the pod the moment it becomes ready.
 */
const IPV6_HOP_LIMIT_OFFSET = 14 + 7;
const nodeNeighbourDiscovery = (frame: Uint8Array, l3: L3Truth): boolean =>
  l3.family === 6 && l3.proto === 58 && (l3.icmp?.type === 135 || l3.icmp?.type === 136) && frame[IPV6_HOP_LIMIT_OFFSET] === 255;
const fragmentedOrExt = (l3: L3Truth | null | undefined): boolean =>
  l3 != null && (l3.extHeaders || l3.fragment !== 'none' || fragmentedOrExt(l3.quoted));

warnIfNotRoot('test/fuzz/frames.test.ts (BPF_PROG_TEST_RUN on from_pod and to_pod, veths, a private bpffs)');

describe.skipIf(!isRoot)('fuzz: random frames through from_pod and to_pod', () => {
  const world = useWorld();
  /** frames the kernel's test harness refuses (EINVAL): an IP ethertype with less than an IP header */
  let unrunnable = 0;
  const run = (prog: number, p: Pod, frame: Uint8Array): number => {
    let retval: number;
    try {
      ({ retval } = bpf.progTestRun(prog, frame, { ctx: bpf.skbContext({ ifindex: ifindexOf(p) }) }));
    } catch (e) {
      if (errnoOf(e) === 'EINVAL' && frame.length < 14 + 40) {
        unrunnable++;
        return TC_ACT_SHOT; // judged as dropped: the oracle never counts it as passed
      }
      throw new Error(`${(e as Error).message}: frame ${Buffer.from(frame).toString('hex')}`, { cause: e });
    }
    expect([TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT], `retval ${retval}`).toContain(retval);
    return retval;
  };
  const passed = (retval: number): boolean => retval !== TC_ACT_SHOT;

  /** Violations, each labelled with its class of hole: any one fails the test. */
  class Findings {
    failed = 0;
    /** the first few, with their bytes */
    readonly examples: string[] = [];
    add(hole: Hole | null, what: string): void {
      this.failed++;
      if (this.examples.length < 5) this.examples.push(`${hole ?? 'violation'}: ${what}`);
    }
    expectNone(name: string): void {
      console.log(`${name}: ${unrunnable} frames so far too short for BPF_PROG_TEST_RUN`);
      expect({ failed: this.failed, examples: this.examples }).toEqual({ failed: 0, examples: [] });
    }
  }
  const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

  it(`from_pod passes only the sender's own frames (${SPOOF_FRAMES} IP frames, ${ARP_FRAMES} ARP)`, () => {
    const pools: Pools = {
      srcMacs: [A.podMac, A.podMac, A.podMac, B.podMac, OUTSIDE_MAC],
      dstMacs: [A.hostMac, 'ff:ff:ff:ff:ff:ff', '33:33:00:00:00:01'],
      src4: [A.v4, A.v4, B.v4, REMOTE.v4, WORLD.v4, '0.0.0.0', '169.254.1.1'],
      dst4: [B.v4, REMOTE.v4, WORLD.v4, NODE.v4, '255.255.255.255', '224.0.0.1', A.v4],
      src6: [A.v6, A.v6, B.v6, REMOTE.v6, 'fe80::1', 'fe80::858:aff:fef4:20a', '::', 'ff02::1'],
      dst6: [B.v6, REMOTE.v6, WORLD.v6, NODE.v6, 'ff02::1', 'ff02::2', 'ff02::16', 'ff02::1:ff00:10', 'fe80::1', A.v6],
    };
    const own = (t: FrameTruth): boolean => {
      if (t.ethSrc !== A.podMac) return false;
      if (t.ethType === ETH_P_ARP) return true;
      const l3 = t.l3;
      return l3 !== null && (l3.src === ip(A, l3.family) || ndOrMld(l3));
    };
    const findings = new Findings();
    let passes = 0;
    const check = (frame: Uint8Array): void => {
      if (!passed(run(world.dp.fromPod, A, frame))) return;
      passes++;
      const t = parseFrame(frame);
      if (own(t)) return;
      findings.add(linkHole(t), `from_pod on A passed ${hexOf(frame)}`);
    };
    for (const spec of fc.sample(anyFrame(pools), { numRuns: SPOOF_FRAMES, seed: FUZZ_SEED })) check(frameBytes(spec));
    for (const frame of fc.sample(arpFrame(pools), { numRuns: ARP_FRAMES, seed: FUZZ_SEED })) check(frame);
    expect(passes).toBeGreaterThan(SPOOF_FRAMES / 10); // the generator reaches the passing paths
    findings.expectNone('anti-spoofing');
  });

  it(`a pod that is not ready sends and receives nothing (${NOT_READY_FRAMES} frames each way)`, () => {
    for (const p of [A, B]) {
      const value = { ifindex: ifindexOf(p), flags: 0, podMac: p.podMac, hostMac: p.hostMac, identity: p.identity };
      world.dp.setEndpoint(4, p.v4, value);
      world.dp.setEndpoint(6, p.v6, value);
    }
    const fromA: Pools = {
      srcMacs: [A.podMac],
      dstMacs: [A.hostMac, '33:33:00:00:00:01'],
      src4: [A.v4],
      dst4: [B.v4, REMOTE.v4, WORLD.v4],
      src6: [A.v6, A.v6, 'fe80::858:aff:fef4:20a', '::'],
      dst6: [B.v6, REMOTE.v6, 'ff02::2', 'ff02::16'],
    };
    const toB: Pools = { srcMacs: [B.hostMac], dstMacs: [B.podMac], src4: [REMOTE.v4, NODE.v4, A.v4], dst4: [B.v4], src6: [REMOTE.v6, NODE.v6, 'fe80::1'], dst6: [B.v6] };
    const findings = new Findings();
    for (const spec of fc.sample(anyFrame(fromA), { numRuns: NOT_READY_FRAMES, seed: FUZZ_SEED })) {
      const frame = frameBytes(spec);
      if (!passed(run(world.dp.fromPod, A, frame))) continue;
      findings.add(linkHole(parseFrame(frame)), `from_pod on A (not ready) passed ${hexOf(frame)}`);
    }
    for (const frame of fc.sample(arpFrame(fromA), { numRuns: NOT_READY_FRAMES / 4, seed: FUZZ_SEED })) {
      if (passed(run(world.dp.fromPod, A, frame))) findings.add('arp-skips-mac-check', `from_pod on A (not ready) passed ARP ${hexOf(frame)}`);
    }
    for (const spec of fc.sample(anyFrame(toB), { numRuns: NOT_READY_FRAMES, seed: FUZZ_SEED })) {
      const frame = frameBytes(spec);
      const t = parseFrame(frame).l3;
      // eslint-disable-next-line @typescript-eslint/prefer-optional-chain -- the right side reads t.family, which a chain would not guard
      if (t === null || t.dst !== ip(B, t.family) || nodeNeighbourDiscovery(frame, t)) continue;
      if (passed(run(world.dp.toPod, B, frame))) findings.add(null, `to_pod on B (not ready) passed ${hexOf(frame)}`);
    }
    findings.expectNone('not ready');
  });

  /**
   * B is ingress-isolated and allows TCP/8080 from A only. Each case: conntrack and
   * fragment state emptied, B sends one packet (`primer`), then `probe` reaches B
   * through `via`.
   */
  function policyFuzz(via: 'from_pod' | 'to_pod', cases: fc.Arbitrary<{ primer: FrameSpec; probe: FrameSpec }>, n: number): void {
    world.setFlags(B, EP_F_INGRESS_ISOLATED);
    world.allow(B, { identity: A.identity, port: ALLOWED_PORT });
    const findings = new Findings();
    let allowedPasses = 0;
    let statefulPasses = 0;
    for (const { primer, probe } of fc.sample(cases, { numRuns: n, seed: FUZZ_SEED })) {
      for (const map of STATE_MAPS) world.dp.clear(map);
      const primerBytes = frameBytes(primer);
      const primerPassed = passed(run(world.dp.fromPod, B, primerBytes));
      const probeBytes = frameBytes(probe);
      const retval = run(via === 'from_pod' ? world.dp.fromPod : world.dp.toPod, via === 'from_pod' ? A : B, probeBytes);
      const t = parseFrame(probeBytes).l3;
      // eslint-disable-next-line @typescript-eslint/prefer-optional-chain -- the right side reads t.family, which a chain would not guard
      if (t === null || t.dst !== ip(B, t.family)) continue; // the oracle judges frames to B only
      const first = primerPassed ? parseFrame(primerBytes).l3 : null;
      const opened = first?.tuple && !isIcmpError(first) && first.fragment !== 'nonfirst' ? first.tuple : null;

      // A later fragment has no first fragment before it in a case: never allowed here.
      const allowedNew = t.src === ip(A, t.family) && t.proto === 6 && t.tuple !== null && t.tuple.dport === ALLOWED_PORT && t.fragment !== 'nonfirst';
      const reply = opened !== null && t.tuple !== null && !isIcmpError(t) && sameTuple(t.tuple, reverse(opened));
      const quoted = t.quoted?.tuple ?? null;
      const aboutFlow = isIcmpError(t) && opened !== null && quoted !== null && t.quoted!.src === t.dst && sameTuple(quoted, opened);
      // to_pod: an error may come from a router on the path; from a pod, only from the flow's peer.
      const related = aboutFlow && (via === 'to_pod' || t.quoted!.dst === t.src);
      const link = via === 'to_pod' && (ndOrMld(t) || nodeNeighbourDiscovery(probeBytes, t));
      const fromNode = t.src === ip(NODE, t.family); // the node reaches its pods whatever their policy (kubelet probes)
      if (!passed(retval)) continue;
      if (allowedNew) allowedPasses++;
      if (reply || related) statefulPasses++;
      if (allowedNew || reply || related || link || fromNode) continue;

      const hole: Hole | null = linkBypass(t)
        ? 'ipv6-link-traffic-skips-checks'
        : fragmentedOrExt(t) || fragmentedOrExt(first)
          ? 'fragments-and-extension-headers'
          : aboutFlow
            ? 'icmp-error-sender-not-checked'
            : null;
      findings.add(hole, `${via} passed ${hexOf(probeBytes)} to isolated B after B sent ${hexOf(primerBytes)} (${primerPassed ? 'passed' : 'dropped'})`);
    }
    expect(allowedPasses).toBeGreaterThan(0); // the allowed port and the stateful paths were reached
    expect(statefulPasses).toBeGreaterThan(0);
    findings.expectNone(`policy via ${via}`);
  }

  const bPools = (dst4: string[], dst6: string[]): Pools => ({
    srcMacs: [B.podMac],
    dstMacs: [B.hostMac],
    src4: [B.v4],
    dst4,
    src6: [B.v6],
    dst6,
  });

  it(`from_pod (redirect to a local pod) never passes what isolated B's policy denies (${FROM_POD_CASES} cases)`, () => {
    const primerPools = bPools([A.v4, A.v4, REMOTE.v4], [A.v6, A.v6, REMOTE.v6]);
    const probePools: Pools = { srcMacs: [A.podMac], dstMacs: [A.hostMac], src4: [A.v4], dst4: [B.v4], src6: [A.v6, A.v6, A.v6, 'fe80::1'], dst6: [B.v6] };
    const cases = fc.constantFrom<4 | 6>(4, 6).chain((family) =>
      frameSpec(primerPools, ipPacket(family, primerPools)).chain((primer) =>
        frameSpec(probePools, fc.oneof(derived(primer.ip, ip(A, family), probePools), ipPacket(family, probePools))).map((probe) => ({ primer, probe })),
      ),
    );
    policyFuzz('from_pod', cases, FROM_POD_CASES);
  });

  it(`to_pod (what the host stack delivers) never passes what isolated B's policy denies (${TO_POD_CASES} cases)`, () => {
    const others4 = [REMOTE.v4, WORLD.v4, NODE.v4, OTHER_WORLD.v4, A.v4];
    const others6 = [REMOTE.v6, WORLD.v6, NODE.v6, OTHER_WORLD.v6, A.v6, 'fe80::1'];
    const primerPools = bPools(others4, others6);
    const probePools: Pools = { srcMacs: [B.hostMac], dstMacs: [B.podMac], src4: others4, dst4: [B.v4], src6: others6, dst6: [B.v6] };
    const cases = fc.constantFrom<4 | 6>(4, 6).chain((family) =>
      frameSpec(primerPools, ipPacket(family, primerPools)).chain((primer) =>
        frameSpec(probePools, fc.oneof(derived(primer.ip, primer.ip.dst, probePools), ipPacket(family, probePools))).map((probe) => ({ primer, probe })),
      ),
    );
    policyFuzz('to_pod', cases, TO_POD_CASES);
  });
});
