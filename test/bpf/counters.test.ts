// The always-on counters through BPF_PROG_TEST_RUN, in the policy world
// (test/helpers/policy-world.ts): strait_ep_counters_v1 moves by endpoint (its host
// veth), direction and reason — drops where exit_verdict counts them, new
// connections that passed in the EP_REASON_NEW_CONN slot, established packets not
// at all — and strait_rule_counters_v1 by the rule that allowed a new connection,
// each side's rule when both an egress and an ingress policy allowed it. From
// another node (from_uplink, from_tunnel) a drop is the local destination's.
import { beforeEach, describe, expect, it } from 'vitest';

import { DatapathWriter } from '../../src/agent/datapath-writer.js';

import {
  DropReason,
  EP_F_EGRESS_ISOLATED,
  EP_F_INGRESS_ISOLATED,
  EP_REASON_NEW_CONN,
  MapName,
  type CounterDirection,
  type TrafficCounter,
} from '../../src/datapath/maps/index.js';
import { runCounted, TC_ACT_REDIRECT, TC_ACT_SHOT } from '../helpers/bpf-datapath.js';
import { ETH_P_IP, ETH_P_IPV6, ethFrame, TCP_ACK } from '../helpers/pktgen.js';
import * as world from '../helpers/policy-world.js';
import { A, B, fromPodFrame, ifindexOf, ip, l3, REMOTE, TCP, toPodFrame, UPLINK, WORLD, type Pod } from '../helpers/policy-world.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/counters.test.ts (BPF_PROG_TEST_RUN on from_pod, to_pod and from_uplink, veth pairs, a private bpffs)');

const n = (c: TrafficCounter): { packets: number; bytes: number } => ({ packets: Number(c.packets), bytes: Number(c.bytes) });
const one = (frame: Uint8Array) => ({ packets: 1, bytes: frame.length });
const none = { packets: 0, bytes: 0 };

describe.skipIf(!isRoot)('per-endpoint and per-rule counters', () => {
  const bpfWorld = world.useWorld();
  const { send, deliver, receive, setFlags, allow } = bpfWorld;
  const ep = (p: Pod, direction: CounterDirection, reason: number) =>
    n(bpfWorld.dp.epCounter({ ifindex: ifindexOf(p), direction, reason }));
  const rule = (id: number) => n(bpfWorld.dp.ruleCounter(id));

  beforeEach(() => {
    bpfWorld.dp.clear(MapName.epCounters);
    bpfWorld.dp.clear(MapName.ruleCounters);
  });

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const b = ip(B, family);

    it('a drop in from_pod counts on the sender, egress, by its reason, and nowhere else', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      const frame = fromPodFrame(A, family, b, TCP(8080));
      expect(send(A, frame).retval).toBe(TC_ACT_SHOT);
      expect(ep(A, 'egress', DropReason.POLICY_INGRESS)).toEqual(one(frame));
      expect(bpfWorld.dp.count(MapName.epCounters)).toBe(1);
      expect(bpfWorld.dp.count(MapName.ruleCounters)).toBe(0);
      // Counted again, not re-created: the second drop adds to the same entry.
      send(A, frame);
      expect(ep(A, 'egress', DropReason.POLICY_INGRESS)).toEqual({ packets: 2, bytes: 2 * frame.length });
    });

    it('a drop in to_pod counts on the receiver, ingress', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      const frame = toPodFrame(B, family, ip(WORLD, family), TCP(8080));
      expect(deliver(B, frame).retval).toBe(TC_ACT_SHOT);
      expect(ep(B, 'ingress', DropReason.POLICY_INGRESS)).toEqual(one(frame));
      expect(ep(B, 'egress', DropReason.POLICY_INGRESS)).toEqual(none);
      expect(bpfWorld.dp.count(MapName.epCounters)).toBe(1);
    });

    it('a drop in from_uplink counts on the local destination, ingress', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      const frame = ethFrame({ src: '02:00:5e:00:00:02', dst: '02:00:5e:00:00:01' }, family === 4 ? ETH_P_IP : ETH_P_IPV6, l3(family, ip(REMOTE, family), b, TCP(8080)));
      expect(receive(frame).retval).toBe(TC_ACT_SHOT);
      expect(ep(B, 'ingress', DropReason.POLICY_INGRESS)).toEqual(one(frame));
      expect(bpfWorld.dp.count(MapName.epCounters)).toBe(1);
    });

    it("from_tunnel: a drop before the inner packet is parsed still counts on the inner destination; to_tunnel's on nobody", () => {
      const frame = ethFrame({ src: '02:00:5e:00:00:02', dst: '02:00:5e:00:00:01' }, family === 4 ? ETH_P_IP : ETH_P_IPV6, l3(family, ip(REMOTE, family), b, TCP(8080)));
      // A test run carries no tunnel metadata: DROP_TUNNEL_KEY, as on a device that is not collect_md.
      const r = runCounted(bpfWorld.dp, bpfWorld.dp.fromTunnel, ifindexOf(UPLINK), frame);
      expect(r.moved).toEqual({ DROP_TUNNEL_KEY: one(frame) });
      expect(ep(B, 'ingress', DropReason.TUNNEL_KEY)).toEqual(one(frame));
      const out = fromPodFrame(A, family, family === 4 ? '198.51.100.7' : '2001:db8:100::7', TCP(80));
      expect(runCounted(bpfWorld.dp, bpfWorld.dp.toTunnel, ifindexOf(UPLINK), out).moved).toEqual({ DROP_TUNNEL_NO_REMOTE: one(out) });
      expect(bpfWorld.dp.count(MapName.epCounters)).toBe(1);
    });

    it('a new connection both policies allow: one per side in the new-connection slot, one per rule; its next packet moves neither', () => {
      setFlags(A, EP_F_EGRESS_ISOLATED);
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(A, { identity: B.identity, egress: true }, 11);
      allow(B, { identity: A.identity }, 41);
      const syn = fromPodFrame(A, family, b, TCP(8080));
      expect(send(A, syn).retval).toBe(TC_ACT_REDIRECT);
      expect(ep(A, 'egress', EP_REASON_NEW_CONN)).toEqual(one(syn));
      expect(ep(B, 'ingress', EP_REASON_NEW_CONN)).toEqual(one(syn));
      expect([rule(11), rule(41)]).toEqual([one(syn), one(syn)]);
      expect([bpfWorld.dp.count(MapName.epCounters), bpfWorld.dp.count(MapName.ruleCounters)]).toEqual([2, 2]);

      // The same connection's next segment is a conntrack hit: no counter here moves.
      expect(send(A, fromPodFrame(A, family, b, TCP(8080, 40000, TCP_ACK))).retval).toBe(TC_ACT_REDIRECT);
      expect([ep(A, 'egress', EP_REASON_NEW_CONN), rule(11), rule(41)]).toEqual([one(syn), one(syn), one(syn)]);
    });

    it('a new connection no policy isolates is counted per endpoint, but by no rule', () => {
      const syn = fromPodFrame(A, family, b, TCP(8080));
      expect(send(A, syn).retval).toBe(TC_ACT_REDIRECT);
      expect([ep(A, 'egress', EP_REASON_NEW_CONN), ep(B, 'ingress', EP_REASON_NEW_CONN)]).toEqual([one(syn), one(syn)]);
      expect(bpfWorld.dp.count(MapName.ruleCounters)).toBe(0);
    });

    it("the agent's reader (DatapathWriter) sums a rule's connections over CPUs and deletes a gone veth's entries only", () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(B, { identity: A.identity }, 63);
      for (const sport of [40001, 40002, 40003]) send(A, fromPodFrame(A, family, b, TCP(8080, sport)));
      const writer = new DatapathWriter(bpfWorld.dp.pinRoot);
      try {
        expect(writer.ruleConnections()).toEqual(new Map([[63, 3n]]));
        expect(writer.deleteEndpointCounters((i) => i === ifindexOf(A))).toBe(1);
        expect([ep(A, 'egress', EP_REASON_NEW_CONN), ep(B, 'ingress', EP_REASON_NEW_CONN).packets]).toEqual([none, 3]);
      } finally {
        writer.close();
      }
    });

    it('to_pod: a new connection the ingress rule allows counts for the receiver and its rule', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(B, { identity: REMOTE.identity }, 52);
      const frame = toPodFrame(B, family, ip(REMOTE, family), TCP(8080));
      deliver(B, frame);
      expect([ep(B, 'ingress', EP_REASON_NEW_CONN), rule(52)]).toEqual([one(frame), one(frame)]);
    });
  });
});
