// Flow events (bpf/include/events.h, docs/observability.md) through BPF_PROG_TEST_RUN
// on the real objects, in the policy world (test/helpers/policy-world.ts): the ring
// read with the addon's reader and decodeFlowEvents, the loss counters with
// sumEventCpuStates (test/helpers/flow-events.ts). One NEW record per connection that
// passed, one STATE record per change conntrack saw (first answer, a FIN, the close),
// none for an established packet, one DROP record per drop in every program, each
// saying where it was seen; nothing while the agent's switch is off; the per-CPU rate
// limit and a full ring refuse records and count exactly those.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import * as bpf from '../../src/datapath/bpf.js';
import {
  DropReason,
  EP_F_EGRESS_ISOLATED,
  EP_F_INGRESS_ISOLATED,
  FlowEventFlag,
  MapName,
  type FlowEvent,
} from '../../src/datapath/maps/index.js';
import { TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT } from '../helpers/bpf-datapath.js';
import { openFlowEvents, type FlowEvents } from '../helpers/flow-events.js';
import { LB_MAPS, writeService } from '../helpers/lb-maps.js';
import { ETH_P_IP, ETH_P_IPV6, ethFrame, IPPROTO_TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../helpers/pktgen.js';
import * as world from '../helpers/policy-world.js';
import { A, B, fromPodFrame, ifindexOf, ip, l3, REMOTE, TCP, toPodFrame, UPLINK, WORLD, WORLD_BLOCK } from '../helpers/policy-world.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/events.test.ts (BPF_PROG_TEST_RUN on every tc program, veth pairs, a private bpffs)');

const ON = { enabled: true, ratePerCpu: 0, burst: 0 };
const OFF = { enabled: false, ratePerCpu: 0, burst: 0 };
const EGRESS = 1;
const INGRESS = 0;
/** records of 88 bytes (80 and the ring's 8-byte header) in a 4 MiB ring */
const RING_RECORDS = Math.floor((4 << 20) / 88);
const F = FlowEventFlag;
const PEER_MACS = { src: '02:00:5e:00:00:02', dst: '02:00:5e:00:00:01' };

describe.skipIf(!isRoot)('flow events', () => {
  const w = world.useWorld();
  const { send, deliver, receive, setFlags, allow } = w;
  let ev: FlowEvents;

  beforeAll(() => {
    ev = openFlowEvents(w.dp);
  });
  afterAll(() => ev?.close());
  beforeEach(() => {
    for (const m of LB_MAPS) w.dp.clear(m);
    ev.configure(ON);
    ev.drain();
    ev.reset();
  });

  /** The one record fn made. */
  const only = (fn: () => void): FlowEvent => {
    fn();
    const got = ev.drain();
    expect(got).toHaveLength(1);
    return got[0]!;
  };
  const run = (prog: number, ifindex: number, frame: Uint8Array, repeat: number): number =>
    bpf.progTestRun(prog, frame, { repeat, ctx: bpf.skbContext({ ifindex }) }).retval;

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const a = ip(A, family);
    const b = ip(B, family);
    const tuple = { family, saddr: a, daddr: b, sport: 40000, dport: 8080, protocol: IPPROTO_TCP };
    const reply = { family, saddr: b, daddr: a, sport: 8080, dport: 40000, protocol: IPPROTO_TCP };
    const spoofed = fromPodFrame({ ...A, v4: ip(WORLD, 4), v6: ip(WORLD, 6) }, family, b, TCP(8080));
    const fromNode = (dst: string) =>
      ethFrame(PEER_MACS, family === 4 ? ETH_P_IP : ETH_P_IPV6, l3(family, ip(REMOTE, family), dst, TCP(8080)));

    it('a new connection both policies allow: one NEW record with its tuple, both identities, both rules, the sender, SYN, BY_RULE', () => {
      setFlags(A, EP_F_EGRESS_ISOLATED);
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(A, { identity: B.identity, egress: true }, 11);
      allow(B, { identity: A.identity }, 41);
      const syn = fromPodFrame(A, family, b, TCP(8080));
      const e = only(() => expect(send(A, syn).retval).toBe(TC_ACT_REDIRECT));
      expect(e).toMatchObject({
        type: 'new',
        ...tuple,
        reason: 0,
        srcIdentity: A.identity,
        dstIdentity: B.identity,
        ruleId: 41,
        egressRule: 11,
        ifindex: ifindexOf(A),
        direction: EGRESS,
        point: 'from-pod',
        tcpFlags: TCP_SYN,
        flags: F.byRule,
        len: syn.length,
      });
      expect(e.timeNs).toBeGreaterThan(0n);
      expect(ev.totals()).toEqual({ sent: 1n, ringFull: 0n, rateLimited: 0n });
    });

    it('not isolated: NEW without BY_RULE or a rule; to_pod: the receiver, ingress, its own point', () => {
      expect(only(() => send(A, fromPodFrame(A, family, b, TCP(8080))))).toMatchObject({ type: 'new', ...tuple, ruleId: 0, egressRule: 0, flags: 0 });
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(B, { identity: WORLD_BLOCK.identity }, 52);
      const e = only(() => expect(deliver(B, toPodFrame(B, family, ip(WORLD, family), TCP(8080))).retval).toBe(TC_ACT_OK));
      expect(e).toMatchObject({ type: 'new', saddr: ip(WORLD, family), daddr: b, srcIdentity: WORLD_BLOCK.identity, dstIdentity: B.identity, ruleId: 52, egressRule: 0, ifindex: ifindexOf(B), direction: INGRESS, point: 'to-pod', flags: F.byRule });
    });

    it('from another node (from_uplink): NEW for the receiver, ingress, its identity from the ipcache', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(B, { identity: REMOTE.identity }, 63);
      expect(only(() => expect(receive(fromNode(b)).retval).toBe(TC_ACT_REDIRECT))).toMatchObject({
        type: 'new',
        saddr: ip(REMOTE, family),
        daddr: b,
        srcIdentity: REMOTE.identity,
        dstIdentity: B.identity,
        ruleId: 63,
        ifindex: ifindexOf(B),
        direction: INGRESS,
        point: 'from-uplink',
        flags: F.byRule,
      });
    });

    it("a Service connection: NEW with SERVICE and the backend's tuple", () => {
      const vip = family === 4 ? '10.96.0.10' : 'fd00:96::10';
      writeService((m) => w.dp.mapFd(m), { family, vip, port: 80, protocol: IPPROTO_TCP, serviceId: 6, backends: [{ id: 16, addr: b, port: 8080 }] });
      const e = only(() => expect(send(A, fromPodFrame(A, family, vip, TCP(80))).retval).toBe(TC_ACT_REDIRECT));
      expect(e).toMatchObject({ type: 'new', ...tuple, dstIdentity: B.identity, flags: F.service });
    });

    it('the answer: STATE ANSWERED+REPLY; an established ACK: nothing; a FIN from each side: FIN, then FIN+CLOSED+REPLY', () => {
      send(A, fromPodFrame(A, family, b, TCP(8080)));
      ev.drain();
      const synAck = fromPodFrame(B, family, a, TCP(40000, 8080, TCP_SYN | TCP_ACK));
      const e = only(() => expect(send(B, synAck).retval).toBe(TC_ACT_REDIRECT));
      expect(e).toMatchObject({ type: 'state', ...reply, srcIdentity: B.identity, dstIdentity: A.identity, ifindex: ifindexOf(B), direction: EGRESS, tcpFlags: TCP_SYN | TCP_ACK, flags: F.answered | F.reply });

      for (let i = 0; i < 3; i++) expect(send(A, fromPodFrame(A, family, b, TCP(8080, 40000, TCP_ACK))).retval).toBe(TC_ACT_REDIRECT);
      expect(send(B, fromPodFrame(B, family, a, TCP(40000, 8080, TCP_ACK))).retval).toBe(TC_ACT_REDIRECT);
      expect(ev.drain()).toEqual([]);

      expect(only(() => send(A, fromPodFrame(A, family, b, TCP(8080, 40000, TCP_FIN | TCP_ACK))))).toMatchObject({ type: 'state', ...tuple, flags: F.fin });
      // A FIN again changes nothing.
      send(A, fromPodFrame(A, family, b, TCP(8080, 40000, TCP_FIN | TCP_ACK)));
      expect(ev.drain()).toEqual([]);
      expect(only(() => send(B, fromPodFrame(B, family, a, TCP(40000, 8080, TCP_FIN | TCP_ACK))))).toMatchObject({ type: 'state', ...reply, flags: F.fin | F.closed | F.reply });
    });

    it('a RST closes: STATE CLOSED (from the answering side: REPLY too)', () => {
      send(A, fromPodFrame(A, family, b, TCP(8080)));
      ev.drain();
      expect(only(() => send(B, fromPodFrame(B, family, a, TCP(40000, 8080, TCP_RST | TCP_ACK))))).toMatchObject({ type: 'state', ...reply, flags: F.closed | F.reply });
      send(A, fromPodFrame(A, family, b, TCP(8080, 40001)));
      send(B, fromPodFrame(B, family, a, TCP(40001, 8080, TCP_SYN | TCP_ACK)));
      ev.drain();
      expect(only(() => send(A, fromPodFrame(A, family, b, TCP(8080, 40001, TCP_RST))))).toMatchObject({ type: 'state', ...tuple, sport: 40001, flags: F.closed });
    });

    it('a TCP packet conntrack lost, allowed again: NEW with RECREATED', () => {
      expect(only(() => send(A, fromPodFrame(A, family, b, TCP(8080, 40000, TCP_ACK))))).toMatchObject({ type: 'new', ...tuple, tcpFlags: TCP_ACK, flags: F.recreated });
    });

    it('a denied SYN: DROP with the reason, both identities, the sender and the point; egress likewise', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      const syn = fromPodFrame(A, family, b, TCP(8080));
      const e = only(() => expect(send(A, syn).retval).toBe(TC_ACT_SHOT));
      expect(e).toMatchObject({ type: 'drop', ...tuple, reason: DropReason.POLICY_INGRESS, srcIdentity: A.identity, dstIdentity: B.identity, ruleId: 0, ifindex: ifindexOf(A), direction: EGRESS, point: 'from-pod', tcpFlags: TCP_SYN, flags: 0, len: syn.length });
      setFlags(B, 0);
      setFlags(A, EP_F_EGRESS_ISOLATED);
      expect(only(() => send(A, syn))).toMatchObject({ type: 'drop', ...tuple, reason: DropReason.POLICY_EGRESS, srcIdentity: A.identity, dstIdentity: B.identity });
    });

    it('a spoofed source: DROP_SPOOF_IP with the address it claimed and its CIDR identity', () => {
      expect(only(() => expect(send(A, spoofed).retval).toBe(TC_ACT_SHOT))).toMatchObject({
        type: 'drop',
        family,
        saddr: ip(WORLD, family),
        daddr: b,
        reason: DropReason.SPOOF_IP,
        srcIdentity: WORLD_BLOCK.identity,
        dstIdentity: B.identity,
        ifindex: ifindexOf(A),
      });
    });

    it('drops in from_uplink, from_tunnel, to_pod and to_tunnel record their own point and whose drop it is', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      expect(only(() => expect(receive(fromNode(b)).retval).toBe(TC_ACT_SHOT))).toMatchObject({
        type: 'drop',
        saddr: ip(REMOTE, family),
        daddr: b,
        reason: DropReason.POLICY_INGRESS,
        srcIdentity: REMOTE.identity,
        dstIdentity: B.identity,
        ifindex: ifindexOf(B),
        direction: INGRESS,
        point: 'from-uplink',
      });
      // A test run carries no tunnel metadata: DROP_TUNNEL_KEY, the inner destination's.
      expect(only(() => run(w.dp.fromTunnel, ifindexOf(UPLINK), fromNode(b), 1))).toMatchObject({ type: 'drop', daddr: b, reason: DropReason.TUNNEL_KEY, ifindex: ifindexOf(B), direction: INGRESS, point: 'from-tunnel' });
      expect(only(() => deliver(B, toPodFrame(B, family, ip(WORLD, family), TCP(8080))))).toMatchObject({ type: 'drop', saddr: ip(WORLD, family), reason: DropReason.POLICY_INGRESS, ifindex: ifindexOf(B), direction: INGRESS, point: 'to-pod' });
      const out = fromPodFrame(A, family, family === 4 ? '198.51.100.7' : '2001:db8:100::7', TCP(80));
      expect(only(() => run(w.dp.toTunnel, ifindexOf(UPLINK), out, 1))).toMatchObject({ type: 'drop', saddr: a, reason: DropReason.TUNNEL_NO_REMOTE, ifindex: 0, direction: EGRESS, point: 'to-tunnel' });
    });
  });

  it('a drop before any IP header (an unknown L3, ARP to to_tunnel): a record with family 0 and no tuple', () => {
    const frame = ethFrame({ src: A.podMac, dst: A.hostMac }, 0x88b5, new Uint8Array(46));
    expect(only(() => expect(send(A, frame).retval).toBe(TC_ACT_SHOT))).toMatchObject({
      type: 'drop',
      family: 0,
      saddr: null,
      daddr: null,
      sport: 0,
      dport: 0,
      protocol: 0,
      reason: DropReason.UNKNOWN_L3,
      srcIdentity: 0,
      dstIdentity: 0,
      ifindex: ifindexOf(A),
      point: 'from-pod',
    });
    const arp = ethFrame({ src: A.podMac, dst: 'ff:ff:ff:ff:ff:ff' }, 0x0806, new Uint8Array(28));
    expect(only(() => run(w.dp.toTunnel, ifindexOf(UPLINK), arp, 1))).toMatchObject({ type: 'drop', family: 0, reason: DropReason.TUNNEL_NO_REMOTE, point: 'to-tunnel' });
  });

  it('events off (config all zero): no record and no counter moves; on again: records', () => {
    setFlags(B, EP_F_INGRESS_ISOLATED);
    const denied = fromPodFrame(A, 4, B.v4, TCP(8080));
    const allowed = fromPodFrame(A, 4, REMOTE.v4, TCP(8080));
    for (const off of [OFF, { enabled: false, ratePerCpu: 5, burst: 5 }]) {
      ev.configure(off);
      expect(send(A, denied).retval).toBe(TC_ACT_SHOT);
      send(A, allowed);
      expect(ev.drain()).toEqual([]);
      expect(ev.totals()).toEqual({ sent: 0n, ringFull: 0n, rateLimited: 0n });
      w.dp.clear(MapName.ctPending);
    }
    ev.configure(ON);
    send(A, denied);
    send(A, allowed);
    expect(ev.drain().map((e) => e.type)).toEqual(['drop', 'new']);
    expect(ev.totals().sent).toBe(2n);
  });

  it('the rate limit: a burst of 3 passes, the rest is counted rate_limited; the bucket refills with time', async () => {
    const spoofed = fromPodFrame({ ...A, v4: WORLD.v4 }, 4, B.v4, TCP(8080));
    // One run of 50 stays on one CPU; at one record a second nothing refills meanwhile.
    ev.configure({ enabled: true, ratePerCpu: 1, burst: 3 });
    expect(run(w.dp.fromPod, ifindexOf(A), spoofed, 50)).toBe(TC_ACT_SHOT);
    expect(ev.drain()).toHaveLength(3);
    expect(ev.totals()).toEqual({ sent: 3n, ringFull: 0n, rateLimited: 47n });

    // Every CPU's bucket empty as of now, at 1000 a second: after 20 ms it holds
    // its burst again, whichever CPU the next run takes.
    ev.configure({ enabled: true, ratePerCpu: 1000, burst: 3 });
    ev.setBuckets(process.hrtime.bigint(), 0n);
    await new Promise((r) => setTimeout(r, 20));
    run(w.dp.fromPod, ifindexOf(A), spoofed, 50);
    const refilled = ev.drain().length;
    expect(refilled).toBeGreaterThanOrEqual(1);
    const t = ev.totals();
    expect(t.sent).toBe(3n + BigInt(refilled));
    expect(t.sent + t.rateLimited).toBe(100n);
  });

  it('a full ring: ring_full counts exactly what did not fit, and a drained ring takes records again', () => {
    const spoofed = fromPodFrame({ ...A, v4: WORLD.v4 }, 4, B.v4, TCP(8080));
    const runs = RING_RECORDS + 1000;
    // A signal may cut a long repeated run short (EINTR) after some of its runs: start
    // again from an empty ring and zero counters, so the counts stay exact.
    for (let tries = 0; ; tries++) {
      ev.drain();
      ev.reset();
      try {
        expect(run(w.dp.fromPod, ifindexOf(A), spoofed, runs)).toBe(TC_ACT_SHOT);
        break;
      } catch (e) {
        if ((e as { errnoName?: string }).errnoName !== 'EINTR' || tries >= 5) throw e;
      }
    }
    const t = ev.totals();
    expect(t).toEqual({ sent: BigInt(RING_RECORDS), ringFull: 1000n, rateLimited: 0n });
    const got = ev.drain();
    expect(got).toHaveLength(RING_RECORDS);
    expect(got.every((e) => e.type === 'drop' && e.reason === DropReason.SPOOF_IP)).toBe(true);
    expect(only(() => send(A, spoofed))).toMatchObject({ type: 'drop', reason: DropReason.SPOOF_IP });
    expect(ev.totals()).toEqual({ sent: BigInt(RING_RECORDS) + 1n, ringFull: 1000n, rateLimited: 0n });
  });
});
