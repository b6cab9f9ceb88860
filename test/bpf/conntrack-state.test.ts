// Conntrack under pressure, through BPF_PROG_TEST_RUN: TCP state (closed
// connections live 10 s, a SYN is never a reply), the two tables (unanswered
// connections cannot evict answered ones), an entry lost to eviction (a mid-stream
// packet is judged as a new connection: recreated when allowed, counted as
// DROP_CT_MISS when denied, never taken for a reply), and forged packets with
// another pod's tuple (anti-spoofing first).
import { beforeEach, describe, expect, it } from 'vitest';

import * as bpf from '../../src/datapath/bpf.js';
import {
  CT_F_CLOSED,
  CT_F_FIN_ORIG,
  CT_F_REPLY_SEEN,
  CT_F_REVOKED,
  CT_F_VIA_STACK,
  CT_LIFETIME_CLOSED_NS,
  CT_MAX,
  CT_PENDING_MAX,
  EP_F_EGRESS_ISOLATED,
  EP_F_INGRESS_ISOLATED,
  encodeCtKey,
  encodeCtValue,
  MapName,
  type CtKey,
} from '../../src/datapath/maps/index.js';
import { TC_ACT_SHOT } from '../helpers/bpf-datapath.js';
import { icmpError, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../helpers/pktgen.js';
import * as world from '../helpers/policy-world.js';
import { A, B, fromPodFrame, ifindexOf, ip, l3, one, TCP, toPodFrame, WORLD, WORLD_BLOCK } from '../helpers/policy-world.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/conntrack-state.test.ts (BPF_PROG_TEST_RUN on from_pod and to_pod, veth pairs, a private bpffs)');

const SEC = 1_000_000_000n;
const now = (): bigint => process.hrtime.bigint();
const BOTH = EP_F_INGRESS_ISOLATED | EP_F_EGRESS_ISOLATED;

describe.skipIf(!isRoot)('conntrack state and pressure', () => {
  const bpfWorld = world.useWorld();
  const { send, deliver, setFlags, allow } = bpfWorld;

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const a = ip(A, family);
    const w = ip(WORLD, family);
    // A, isolated both ways, may open TCP to WORLD:443 and nothing else.
    const key: CtKey = { family, saddr: a, daddr: w, sport: 40000, dport: 443, protocol: IPPROTO_TCP };
    const out = (flags: number, dport = 443): Uint8Array => fromPodFrame(A, family, w, TCP(dport, 40000, flags));
    const back = (flags: number, sport = 443): Uint8Array => toPodFrame(A, family, w, TCP(40000, sport, flags));
    const open = (): void => {
      expect(send(A, out(TCP_SYN)).moved).toHaveProperty('STAT_POLICY_ALLOWED');
      expect(deliver(A, back(TCP_SYN | TCP_ACK)).moved).toHaveProperty('STAT_CT_PROMOTED');
    };
    beforeEach(() => {
      setFlags(A, BOTH);
      allow(A, { identity: WORLD_BLOCK.identity, egress: true, port: 443 }, 5);
    });

    it('a RST closes the connection at once; closed, it lives 10 s idle', () => {
      open();
      expect(deliver(A, back(TCP_RST | TCP_ACK)).moved).toHaveProperty('STAT_CT_HIT');
      expect(bpfWorld.dp.ct(key)?.flags).toBe(CT_F_REPLY_SEEN | CT_F_CLOSED);
      bpfWorld.dp.setCt(key, { lastSeenNs: now() - CT_LIFETIME_CLOSED_NS + SEC, flags: CT_F_REPLY_SEEN | CT_F_CLOSED, ruleId: 5 });
      expect(deliver(A, back(TCP_ACK)).moved).toHaveProperty('STAT_CT_HIT');
      // Idle past 10 s: gone. Policy would still let A open it, so a mid-stream
      // packet recreates it (see below); with the rule revoked it is denied.
      bpfWorld.dp.clear(MapName.policy);
      bpfWorld.dp.setCt(key, { lastSeenNs: now() - CT_LIFETIME_CLOSED_NS - SEC, flags: CT_F_REPLY_SEEN | CT_F_CLOSED, ruleId: 5 });
      const late = back(TCP_ACK);
      expect(deliver(A, late).moved).toEqual({ DROP_CT_MISS: one(late) });
    });

    it('a FIN from each side closes it; one FIN (half-closed) does not', () => {
      open();
      expect(send(A, out(TCP_FIN | TCP_ACK)).moved).toHaveProperty('STAT_CT_HIT');
      expect(bpfWorld.dp.ct(key)?.flags).toBe(CT_F_REPLY_SEEN | CT_F_FIN_ORIG);
      expect(send(A, out(TCP_FIN | TCP_ACK)).moved).toHaveProperty('STAT_CT_HIT');
      expect((bpfWorld.dp.ct(key)?.flags ?? 0) & CT_F_CLOSED).toBe(0);
      expect(deliver(A, back(TCP_FIN | TCP_ACK)).moved).toHaveProperty('STAT_CT_HIT');
      expect((bpfWorld.dp.ct(key)?.flags ?? 0) & CT_F_CLOSED).toBe(CT_F_CLOSED);
    });

    it('a SYN on a closed tuple is a new connection: it faces policy and replaces the entry', () => {
      open();
      expect(deliver(A, back(TCP_RST)).moved).toHaveProperty('STAT_CT_HIT');
      bpfWorld.dp.clear(MapName.policy);
      const syn = out(TCP_SYN);
      expect(send(A, syn).moved).toEqual({ DROP_POLICY_EGRESS: one(syn) });
      allow(A, { identity: WORLD_BLOCK.identity, egress: true, port: 443 }, 6);
      expect(send(A, syn).moved).toEqual({ STAT_POLICY_ALLOWED: one(syn), STAT_TO_STACK: one(syn) });
      expect(bpfWorld.dp.ct(key)).toBeNull();
      expect(bpfWorld.dp.ctPending(key)).toMatchObject({ flags: 0, ruleId: 6 });
    });

    it('a SYN is never a reply: the reverse of a live connection does not let the peer open one', () => {
      open();
      // WORLD:443 -> A:40000 is the reverse tuple of A's connection, but a SYN opens,
      // it does not answer: A's ingress policy judges it.
      const syn = back(TCP_SYN);
      expect(deliver(A, syn).moved).toEqual({ DROP_POLICY_INGRESS: one(syn) });
    });

    it('a RST answering a SYN closes the pending entry without promoting it', () => {
      expect(send(A, out(TCP_SYN)).moved).toHaveProperty('STAT_POLICY_ALLOWED');
      const rst = back(TCP_RST | TCP_ACK);
      expect(deliver(A, rst).moved).toEqual({ STAT_CT_HIT: one(rst), STAT_TO_POD: one(rst) });
      expect(bpfWorld.dp.ct(key)).toBeNull();
      expect(bpfWorld.dp.ctPending(key)?.flags).toBe(CT_F_CLOSED);
    });

    it('a connection the agent cut (CT_F_REVOKED) is dropped both ways and not recreated; a SYN reopens it under policy', () => {
      open();
      bpfWorld.dp.setCt(key, { ...bpfWorld.dp.ct(key)!, flags: CT_F_REPLY_SEEN | CT_F_REVOKED });
      // Policy still allows A -> WORLD:443 (the agent would not have cut it; here the
      // point is that only the mark decides), and still the packets are dropped.
      for (const [frame, run] of [[out(TCP_ACK), send], [back(TCP_ACK), deliver]] as const) {
        const r = run(A, frame);
        expect(r.moved).toEqual({ DROP_CT_REVOKED: one(frame) });
      }
      expect(bpfWorld.dp.count(MapName.ctPending)).toBe(0);
      // Nor is an error about it related any more: A's ingress policy judges it.
      const err = toPodFrame(A, family, w, {
        proto: family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6,
        payload: icmpError(family === 4 ? 3 : 1, family === 4 ? 3 : 4, l3(family, a, w, TCP(443))),
      });
      expect(deliver(A, err).moved).toEqual({ DROP_POLICY_INGRESS: one(err) });
      const syn = out(TCP_SYN);
      expect(send(A, syn).moved).toEqual({ STAT_POLICY_ALLOWED: one(syn), STAT_TO_STACK: one(syn) });
      expect(bpfWorld.dp.ct(key)).toBeNull();
      expect(bpfWorld.dp.ctPending(key)?.flags).toBe(0);
    });

    describe('an entry lost to eviction or expiry', () => {
      it('from the answering side, denied as a new connection: DROP_CT_MISS, never taken for a reply; the opening side brings it back', () => {
        open();
        bpfWorld.dp.clear(MapName.ct); // what the LRU did to it
        // WORLD -> A is denied by A's ingress policy as a new connection. Taking it
        // for the reply of A -> WORLD:443 would let any peer A may reach send A
        // segments its ingress policy denies.
        const ack = back(TCP_ACK);
        const r = deliver(A, ack);
        expect(r.retval).toBe(TC_ACT_SHOT);
        expect(r.moved).toEqual({ DROP_CT_MISS: one(ack) });
        expect(bpfWorld.dp.count(MapName.ct) + bpfWorld.dp.count(MapName.ctPending)).toBe(0);
        // A's next packet (its ACK, a retransmission) is allowed as new: recreated...
        const next = out(TCP_ACK);
        expect(send(A, next).moved).toEqual({ STAT_CT_RECREATED: one(next), STAT_POLICY_ALLOWED: one(next), STAT_TO_STACK: one(next) });
        // ...and the answer passes again, promoting it.
        const answer = back(TCP_ACK);
        expect(deliver(A, answer).moved).toEqual({ STAT_CT_HIT: one(answer), STAT_CT_PROMOTED: one(answer), STAT_TO_POD: one(answer) });
        expect(bpfWorld.dp.ct(key)).toMatchObject({ flags: CT_F_REPLY_SEEN | CT_F_VIA_STACK, ruleId: 5 });
      });

      it('from the opening side, allowed as a new connection: recreated in that direction', () => {
        open();
        bpfWorld.dp.clear(MapName.ct);
        const ack = out(TCP_ACK);
        expect(send(A, ack).moved).toEqual({ STAT_CT_RECREATED: one(ack), STAT_POLICY_ALLOWED: one(ack), STAT_TO_STACK: one(ack) });
        expect(bpfWorld.dp.ctPending(key)).toMatchObject({ flags: CT_F_VIA_STACK, ruleId: 5 });
        expect(deliver(A, back(TCP_ACK)).moved).toHaveProperty('STAT_CT_PROMOTED');
      });

      it('a stray mid-stream packet policy denies either way: DROP_CT_MISS, nothing recreated', () => {
        const stray = back(TCP_ACK, 444);
        expect(deliver(A, stray).moved).toEqual({ DROP_CT_MISS: one(stray) });
        const strayOut = out(TCP_ACK, 444);
        expect(send(A, strayOut).moved).toEqual({ DROP_CT_MISS: one(strayOut) });
        expect(bpfWorld.dp.count(MapName.ct) + bpfWorld.dp.count(MapName.ctPending)).toBe(0);
      });
    });

    it("a pod sending with another pod's tuple is dropped by anti-spoofing before conntrack", () => {
      open();
      const before = bpfWorld.dp.ct(key);
      // B forges A's half of A's live connection, with A's address and even A's MAC.
      const forged = fromPodFrame({ ...A, veth: B.veth }, family, w, TCP(443, 40000, TCP_RST | TCP_ACK));
      const r = send(B, forged);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_SPOOF_IP: one(forged) });
      // ...and with its own MAC.
      const forgedMac = fromPodFrame({ ...A, podMac: B.podMac, veth: B.veth }, family, w, TCP(443, 40000, TCP_ACK));
      expect(send(B, forgedMac).moved).toEqual({ DROP_SPOOF_IP: one(forgedMac) });
      // The connection's entry is untouched (no RST took effect).
      expect(bpfWorld.dp.ct(key)).toEqual(before);
    });
  });

  describe('full tables (IPv4)', () => {
    const w = WORLD.v4;
    const fill = (map: number, n: number, base: number): void => {
      const value = encodeCtValue({ lastSeenNs: now(), flags: CT_F_REPLY_SEEN, ruleId: 0 });
      for (let i = 0; i < n; i++) {
        const k = encodeCtKey({ family: 4, saddr: '10.99.0.1', daddr: '10.98.0.1', sport: (base + i) & 0xffff, dport: 1 + ((base + i) >>> 16), protocol: IPPROTO_TCP });
        bpf.mapUpdate(map, k, value);
      }
    };

    it('strait_ct_v1 at capacity: an evicted connection is recreated by policy, a denied one dropped', () => {
      setFlags(A, BOTH);
      allow(A, { identity: WORLD_BLOCK.identity, egress: true, port: 443 }, 5);
      const key: CtKey = { family: 4, saddr: A.v4, daddr: w, sport: 40000, dport: 443, protocol: IPPROTO_TCP };
      expect(send(A, fromPodFrame(A, 4, w, TCP(443))).moved).toHaveProperty('STAT_POLICY_ALLOWED');
      expect(deliver(A, toPodFrame(A, 4, w, TCP(40000, 443, TCP_SYN | TCP_ACK))).moved).toHaveProperty('STAT_CT_PROMOTED');
      fill(bpfWorld.dp.mapFd(MapName.ct), CT_MAX, 0);
      expect(bpfWorld.dp.count(MapName.ct)).toBeLessThanOrEqual(CT_MAX);
      // Whether the LRU picked A's entry or not, the outcome asserted is the evicted one's.
      bpf.mapDelete(bpfWorld.dp.mapFd(MapName.ct), encodeCtKey(key));

      // The answer alone is not taken for a reply: counted, not silently denied...
      const ack = toPodFrame(A, 4, w, TCP(40000, 443, TCP_ACK));
      expect(deliver(A, ack).moved).toEqual({ DROP_CT_MISS: one(ack) });
      // ...A's next packet is allowed as new and recreates the entry...
      const next = fromPodFrame(A, 4, w, TCP(443, 40000, TCP_ACK));
      expect(send(A, next).moved).toEqual({ STAT_CT_RECREATED: one(next), STAT_POLICY_ALLOWED: one(next), STAT_TO_STACK: one(next) });
      // ...and the retransmitted answer passes and promotes it.
      const again = toPodFrame(A, 4, w, TCP(40000, 443, TCP_ACK));
      expect(deliver(A, again).moved).toEqual({ STAT_CT_HIT: one(again), STAT_CT_PROMOTED: one(again), STAT_TO_POD: one(again) });
      expect(bpfWorld.dp.ct(key)?.flags).toBe(CT_F_REPLY_SEEN | CT_F_VIA_STACK);

      const denied = toPodFrame(A, 4, w, TCP(40000, 444, TCP_ACK));
      expect(deliver(A, denied).moved).toEqual({ DROP_CT_MISS: one(denied) });
    });

    it('unanswered tuples, however many, evict only each other: answered connections stay', () => {
      // A <-> B answered; then A sprays more SYNs than both tables hold.
      expect(send(A, fromPodFrame(A, 4, B.v4, TCP(8080))).retval).toBe(7);
      expect(send(B, fromPodFrame(B, 4, A.v4, TCP(40000, 8080, TCP_SYN | TCP_ACK))).moved).toHaveProperty('STAT_CT_PROMOTED');
      const established: CtKey = { family: 4, saddr: A.v4, daddr: B.v4, sport: 40000, dport: 8080, protocol: IPPROTO_TCP };
      expect(bpfWorld.dp.ct(established)).not.toBeNull();

      const frame = fromPodFrame(A, 4, w, TCP(443, 1));
      const ctx = bpf.skbContext({ ifindex: ifindexOf(A) });
      const spray = CT_MAX + 4096; // more than strait_ct_v1 holds, let alone strait_ct_pending_v1
      for (let i = 0; i < spray; i++) {
        const port = 1 + (i % 65000);
        frame[34] = port >> 8;
        frame[35] = port & 0xff;
        frame[36] = 0x01 + Math.floor(i / 65000); // dport 256.. : a new tuple each time
        bpf.progTestRun(bpfWorld.dp.fromPod, frame, { ctx });
      }
      expect(bpfWorld.dp.count(MapName.ctPending)).toBeLessThanOrEqual(CT_PENDING_MAX);
      expect(bpfWorld.dp.count(MapName.ct)).toBe(1);
      const ack = fromPodFrame(A, 4, B.v4, TCP(8080, 40000, TCP_ACK));
      expect(send(A, ack).moved).toEqual({ STAT_CT_HIT: one(ack), STAT_REDIRECT_PEER: one(ack) });
    });
  });
});
