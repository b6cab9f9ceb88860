// Services in the datapath (lb.h, docs/services.md) through BPF_PROG_TEST_RUN, in
// the policy world (test/helpers/policy-world.ts) plus a third pod C: Services and
// backends written with the lb codecs (SETUP), frames with correct checksums as a
// pod or another node sends them (PKTGEN), then the verdict, the frame that comes
// out — byte for byte against one built from scratch, so every address, port and
// checksum — the connection entries written and exactly which counters moved
// (CHECK). The real kernel's view of the checksums is test/netns/lb-datapath.test.ts.
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  EP_F_EGRESS_ISOLATED,
  IDENTITY_CIDR_FLAG,
  LB_FLOW_F_HAIRPIN,
  LB_HAIRPIN_IPV4,
  LB_HAIRPIN_IPV6,
  LB_SVC_F_AFFINITY,
  MapName,
  type CtKey,
} from '../../src/datapath/maps/index.js';
import { createHostVeth, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, type HostVeth } from '../helpers/bpf-datapath.js';
import { frameFacts, withIcmpChecksum, withSctpCrc } from '../helpers/checksum.js';
import { deleteBackend, deleteRev, deleteSlot, LB_MAPS, lbFlow, lbRev, markNotReady, writeService, type TestService } from '../helpers/lb-maps.js';
import { ETH_P_IP, ETH_P_IPV6, ethFrame, icmpError, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, ipv4, ipv6, routedFrame, sctp, tcp, TCP_ACK, TCP_SYN, udp, withL4Checksum } from '../helpers/pktgen.js';
import * as world from '../helpers/policy-world.js';
import { A, B, ip, NODE, NS_Q, one, POD_BLOCK, REMOTE, WORLD, type Pod } from '../helpers/policy-world.js';
import { ipBytes } from '../../src/datapath/addr-bytes.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/lb.test.ts (BPF_PROG_TEST_RUN on from_pod, to_pod and from_uplink, veth pairs, a private bpffs)');

/** A second backend pod beside B. */
const C: Pod & { veth?: HostVeth } = { v4: '10.244.2.12', v6: 'fd00:244:2::12', podMac: '0a:58:0a:f4:02:0c', hostMac: 'ee:00:00:00:02:0c', identity: 2500, namespace: NS_Q };
const VIP = { v4: '10.96.0.10', v6: 'fd00:96::10' };
const HAIRPIN = { v4: LB_HAIRPIN_IPV4, v6: LB_HAIRPIN_IPV6 };
const UPLINK_MAC = '02:00:5e:00:00:01';
const PEER_MAC = '02:00:5e:00:00:02';

/** Service port and target port per protocol: SCTP keeps its port (nat.h). */
const PORTS: Record<number, { port: number; target: number }> = {
  [IPPROTO_TCP]: { port: 80, target: 8080 },
  [IPPROTO_UDP]: { port: 53, target: 5353 },
  [IPPROTO_SCTP]: { port: 9000, target: 9000 },
};
const PROTOS = [
  ['TCP', IPPROTO_TCP],
  ['UDP', IPPROTO_UDP],
  ['SCTP', IPPROTO_SCTP],
] as const;

interface Seg {
  proto: number;
  sport: number;
  dport: number;
  flags?: number;
  /** UDP/IPv4 without a checksum (0) */
  noChecksum?: boolean;
}

/** The IP packet src -> dst with every checksum right. */
function packet(family: 4 | 6, src: string, dst: string, s: Seg): Uint8Array {
  let l4: Uint8Array;
  if (s.proto === IPPROTO_TCP) l4 = withL4Checksum(tcp(s.sport, s.dport, s.flags ?? TCP_SYN, new Uint8Array(12).fill(7)), s.proto, src, dst);
  else if (s.proto === IPPROTO_UDP) l4 = s.noChecksum ? udp(s.sport, s.dport) : withL4Checksum(udp(s.sport, s.dport, new Uint8Array(9).fill(5)), s.proto, src, dst);
  else l4 = withSctpCrc(sctp(s.sport, s.dport));
  return family === 4 ? ipv4({ src, dst, proto: s.proto }, l4) : ipv6({ src, dst, next: s.proto }, l4);
}

/** An ICMP (ICMPv6) error src -> dst quoting `quoted`, every checksum right. */
function icmpErrorPacket(family: 4 | 6, src: string, dst: string, type: number, code: number, quoted: Uint8Array): Uint8Array {
  const msg = withIcmpChecksum(icmpError(type, code, quoted), family, ipBytes(src).bytes, ipBytes(dst).bytes);
  return family === 4 ? ipv4({ src, dst, proto: IPPROTO_ICMP }, msg) : ipv6({ src, dst, next: IPPROTO_ICMPV6 }, msg);
}

const ethType = (family: 4 | 6): number => (family === 4 ? ETH_P_IP : ETH_P_IPV6);
/** What `from` sends through its gateway. */
const podSends = (from: Pod, family: 4 | 6, src: string, dst: string, s: Seg): Uint8Array =>
  ethFrame({ src: from.podMac, dst: from.hostMac }, ethType(family), packet(family, src, dst, s));
/** What the host stack hands `to` (to_pod). */
const stackSends = (to: Pod, family: 4 | 6, src: string, dst: string, s: Seg): Uint8Array =>
  ethFrame({ src: to.hostMac, dst: to.podMac }, ethType(family), packet(family, src, dst, s));
/** What another node sends this one (from_uplink). */
const nodeSends = (family: 4 | 6, src: string, dst: string, s: Seg): Uint8Array =>
  ethFrame({ src: PEER_MAC, dst: UPLINK_MAC }, ethType(family), packet(family, src, dst, s));
/** `frame` as `to` receives it straight from a redirect: its MACs, one hop spent. */
const redirectedTo = (to: Pod, frame: Uint8Array): number[] => routedFrame(frame, { dst: to.podMac, src: to.hostMac });

const tuple = (family: 4 | 6, saddr: string, sport: number, daddr: string, dport: number, protocol: number): CtKey => ({ family, saddr, daddr, sport, dport, protocol });

describe.skipIf(!isRoot)('Services in from_pod, to_pod and from_uplink (lb.h)', () => {
  const bpfWorld = world.useWorld();
  const { send, deliver, receive, setFlags, allow } = bpfWorld;
  const fd = (m: Parameters<typeof bpfWorld.dp.mapFd>[0]): number => bpfWorld.dp.mapFd(m);

  beforeAll(() => {
    C.veth = createHostVeth();
    for (const f of [4, 6] as const) bpfWorld.dp.setIpcache(ip(C, f), C.identity, C.namespace);
  });
  beforeEach(() => {
    for (const m of LB_MAPS) bpfWorld.dp.clear(m);
    setFlags(C, 0);
  });

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const a = ip(A, family);
    const b = ip(B, family);
    const c = ip(C, family);
    const vip = ip(VIP, family);
    const hairpin = ip(HAIRPIN, family);
    /** Service id p (the protocol number) to B (backend 10 + p) and, with `withC`, C (20 + p). */
    const service = (proto: number, extra: Partial<TestService> = {}, withC = false): TestService => {
      const { port, target } = PORTS[proto] ?? { port: 0, target: 0 };
      const s: TestService = {
        family,
        vip,
        port,
        protocol: proto,
        serviceId: proto,
        backends: [{ id: 10 + proto, addr: b, port: target }, ...(withC ? [{ id: 20 + proto, addr: c, port: target }] : [])],
        ...extra,
      };
      writeService(fd, s);
      return s;
    };

    describe.each(PROTOS)('%s', (_name, proto) => {
      const { port, target } = PORTS[proto] ?? { port: 0, target: 0 };
      const toVip: Seg = { proto, sport: 40000, dport: port };

      it('to the ClusterIP: DNATed to the backend with every checksum right, flows and rev written, into the local backend', () => {
        service(proto);
        const r = send(A, podSends(A, family, a, vip, toVip));
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        const want = podSends(A, family, a, b, { ...toVip, dport: target });
        expect([...r.data]).toEqual(redirectedTo(B, want));
        expect(frameFacts(r.data)).toMatchObject({ src: a, dst: b, sport: 40000, dport: target, ipHeaderOk: true, l4ChecksumOk: true });
        if (proto === IPPROTO_SCTP) expect(frameFacts(r.data).l4Checksum).toBe(frameFacts(podSends(A, family, a, vip, toVip)).l4Checksum);
        expect(r.moved).toMatchObject({ STAT_LB_TRANSLATED: expect.anything(), STAT_REDIRECT_PEER: expect.anything() });
        expect(lbFlow(fd, tuple(family, a, 40000, vip, port, proto))).toEqual({ backendId: 10 + proto, serviceId: proto, flags: 0 });
        expect(lbRev(fd, tuple(family, b, target, a, 40000, proto))).toEqual({ family, vip, client: null, vport: port, flags: 0, backendId: 10 + proto });
      });

      it("the local backend's reply through from_pod: the ClusterIP and Service port back as its source, checksums right", () => {
        service(proto);
        send(A, podSends(A, family, a, vip, toVip));
        const reply: Seg = { proto, sport: target, dport: 40000, flags: TCP_SYN | TCP_ACK };
        const r = send(B, podSends(B, family, b, a, reply));
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect([...r.data]).toEqual(redirectedTo(A, podSends(B, family, vip, a, { ...reply, sport: port })));
        expect(frameFacts(r.data)).toMatchObject({ src: vip, sport: port, ipHeaderOk: true, l4ChecksumOk: true });
        expect(r.moved).toMatchObject({ STAT_LB_REV_NAT: expect.anything(), STAT_REDIRECT_PEER: expect.anything() });
      });

      it('the same connection keeps its backend; new ones spread over both', () => {
        service(proto, {}, true);
        const backendOf = (sport: number): number | undefined => {
          const r = send(A, podSends(A, family, a, vip, { ...toVip, sport }));
          expect(r.retval).toBe(TC_ACT_REDIRECT);
          return lbFlow(fd, tuple(family, a, sport, vip, port, proto))?.backendId;
        };
        const seen = new Set<number | undefined>();
        for (let sport = 41000; sport < 41024; sport++) {
          const first = backendOf(sport);
          seen.add(first);
          expect(backendOf(sport)).toBe(first);
        }
        expect(seen).toEqual(new Set([10 + proto, 20 + proto]));
      });
    });

    it('UDP/IPv4 without a checksum keeps 0 (BPF_F_MARK_MANGLED_0); the IPv6 one is always there', () => {
      service(IPPROTO_UDP);
      const seg: Seg = { proto: IPPROTO_UDP, sport: 40000, dport: 53, noChecksum: family === 4 };
      const r = send(A, podSends(A, family, a, vip, seg));
      expect([...r.data]).toEqual(redirectedTo(B, podSends(A, family, a, b, { ...seg, dport: 5353 })));
      expect(frameFacts(r.data).l4Checksum === 0).toBe(family === 4);
    });

    it('sessionAffinity sticks per client, and re-picks when its backend is deleted; so does a connection of a deleted backend', () => {
      const s = service(IPPROTO_TCP, { flags: LB_SVC_F_AFFINITY, affinityTimeoutS: 10800 }, true);
      const pick = (sport: number): number | undefined => {
        expect(send(A, podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport, dport: 80 })).retval).toBe(TC_ACT_REDIRECT);
        return lbFlow(fd, tuple(family, a, sport, vip, 80, IPPROTO_TCP))?.backendId;
      };
      const first = pick(42000);
      for (let sport = 42001; sport < 42016; sport++) expect(pick(sport)).toBe(first);
      // The agent: count lowered (the other backend alone in slot 1), then the backend deleted.
      const other = s.backends.find((x) => x.id !== first);
      if (!other) throw new Error('no other backend');
      writeService(fd, { ...s, backends: [other] });
      deleteSlot(fd, s.serviceId, 2);
      deleteBackend(fd, first ?? 0);
      expect(pick(42100)).toBe(other.id);
      expect(pick(42000)).toBe(other.id);
    });

    it('sessionAffinity never hands a new connection to a backend that is no longer ready', () => {
      const s = service(IPPROTO_TCP, { flags: LB_SVC_F_AFFINITY, affinityTimeoutS: 10800 }, true);
      const pick = (sport: number): number | undefined => {
        expect(send(A, podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport, dport: 80 })).retval).toBe(TC_ACT_REDIRECT);
        return lbFlow(fd, tuple(family, a, sport, vip, 80, IPPROTO_TCP))?.backendId;
      };
      const first = pick(44000);
      const stale = s.backends.find((x) => x.id === first);
      const other = s.backends.find((x) => x.id !== first);
      if (!stale || !other) throw new Error('two backends expected');
      // The agent: the other backend alone in slot 1, the first kept (its connections
      // continue) but no longer ready; the affinity entry still names it.
      writeService(fd, { ...s, backends: [other] });
      deleteSlot(fd, s.serviceId, 2);
      markNotReady(fd, s, stale);
      expect(pick(44100)).toBe(other.id);
      // Its established connection keeps it.
      const ack = send(A, podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport: 44000, dport: 80, flags: TCP_ACK }));
      expect(frameFacts(ack.data).dst).toBe(stale.addr);
    });

    it('a SYN on a tuple whose earlier connection went to a backend no longer ready picks a ready one; its segments stay', () => {
      const s = service(IPPROTO_TCP, {}, true);
      const seg = (flags: number): Seg => ({ proto: IPPROTO_TCP, sport: 45000, dport: 80, flags });
      const key = tuple(family, a, 45000, vip, 80, IPPROTO_TCP);
      send(A, podSends(A, family, a, vip, seg(TCP_SYN)));
      const first = s.backends.find((x) => x.id === lbFlow(fd, key)?.backendId);
      const other = s.backends.find((x) => x !== first);
      if (!first || !other) throw new Error('two backends expected');
      writeService(fd, { ...s, backends: [other] });
      deleteSlot(fd, s.serviceId, 2);
      markNotReady(fd, s, first);
      // The connection it has goes on where it is.
      expect(frameFacts(send(A, podSends(A, family, a, vip, seg(TCP_ACK))).data).dst).toBe(first.addr);
      // A new one on the same tuple (the port reused) is a new pick.
      const r = send(A, podSends(A, family, a, vip, seg(TCP_SYN)));
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect(frameFacts(r.data).dst).toBe(other.addr);
      expect(lbFlow(fd, key)?.backendId).toBe(other.id);
    });

    it('a deleted backend: the next packet of its connection picks a live one', () => {
      const s = service(IPPROTO_UDP, {}, true);
      const seg: Seg = { proto: IPPROTO_UDP, sport: 43000, dport: 53 };
      send(A, podSends(A, family, a, vip, seg));
      const key = tuple(family, a, 43000, vip, 53, IPPROTO_UDP);
      const gone = lbFlow(fd, key)?.backendId;
      const live = s.backends.find((x) => x.id !== gone);
      if (!live) throw new Error('no live backend');
      writeService(fd, { ...s, backends: [live] });
      deleteSlot(fd, s.serviceId, 2);
      deleteBackend(fd, gone ?? 0);
      const r = send(A, podSends(A, family, a, vip, seg));
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect(frameFacts(r.data).dst).toBe(live.addr);
      expect(lbFlow(fd, key)?.backendId).toBe(live.id);
    });

    describe('a backend on another node (remote pod, host stack routing)', () => {
      const remote = ip(REMOTE, family);
      const setup = (): void => {
        writeService(fd, { family, vip, port: 80, protocol: IPPROTO_TCP, serviceId: 6, backends: [{ id: 66, addr: remote, port: 8080 }] });
        const r = send(A, podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport: 40000, dport: 80 }));
        expect(r.retval).toBe(TC_ACT_OK);
        expect([...r.data]).toEqual([...podSends(A, family, a, remote, { proto: IPPROTO_TCP, sport: 40000, dport: 8080 })]);
        expect(r.moved).toMatchObject({ STAT_LB_TRANSLATED: expect.anything(), STAT_TO_STACK: expect.anything() });
      };
      const reply: Seg = { proto: IPPROTO_TCP, sport: 8080, dport: 40000, flags: TCP_SYN | TCP_ACK };

      it('its reply from the uplink (deliver_from_node) is translated back and redirected into the client', () => {
        setup();
        const r = receive(nodeSends(family, remote, a, reply));
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect([...r.data]).toEqual(redirectedTo(A, nodeSends(family, vip, a, { ...reply, sport: 80 })));
        expect(r.moved).toMatchObject({ STAT_LB_REV_NAT: expect.anything(), STAT_FROM_NODE: expect.anything() });
      });

      it('its reply through the host stack (to_pod) is translated back', () => {
        setup();
        const r = deliver(A, stackSends(A, family, remote, a, reply));
        expect(r.retval).toBe(TC_ACT_OK);
        expect([...r.data]).toEqual([...stackSends(A, family, vip, a, { ...reply, sport: 80 })]);
        expect(frameFacts(r.data)).toMatchObject({ ipHeaderOk: true, l4ChecksumOk: true });
        expect(r.moved).toMatchObject({ STAT_LB_REV_NAT: expect.anything(), STAT_TO_POD: expect.anything() });
      });

      it('a reply of a deleted backend is DROP_LB_BACKEND_GONE', () => {
        setup();
        deleteBackend(fd, 66);
        const frame = stackSends(A, family, remote, a, reply);
        const r = deliver(A, frame);
        expect(r.retval).toBe(TC_ACT_SHOT);
        expect(r.moved).toEqual({ STAT_CT_HIT: one(frame), STAT_CT_PROMOTED: one(frame), DROP_LB_BACKEND_GONE: one(frame) });
      });

      it('a reply whose rev entry is gone (evicted) is DROP_LB_REV_MISS', () => {
        setup();
        deleteRev(fd, tuple(family, remote, 8080, a, 40000, IPPROTO_TCP));
        const frame = receive(nodeSends(family, remote, a, reply));
        expect(frame.retval).toBe(TC_ACT_SHOT);
        expect(frame.moved).toEqual({ STAT_CT_HIT: one(frame.data), STAT_CT_PROMOTED: one(frame.data), DROP_LB_REV_MISS: one(frame.data) });
      });
    });

    describe('ICMP errors about a Service connection reach the client about the ClusterIP', () => {
      const unreach = family === 4 ? { type: 3, code: 3 } : { type: 1, code: 4 };
      const tooBig = family === 4 ? { type: 3, code: 4 } : { type: 2, code: 0 };

      it("the backend's port unreachable (from_pod): outer source and quoted destination rewritten back, every checksum right", () => {
        service(IPPROTO_UDP);
        const seg: Seg = { proto: IPPROTO_UDP, sport: 40000, dport: 53 };
        send(A, podSends(A, family, a, vip, seg));
        const quoted = packet(family, a, b, { ...seg, dport: 5353 });
        const err = ethFrame({ src: B.podMac, dst: B.hostMac }, ethType(family), icmpErrorPacket(family, b, a, unreach.type, unreach.code, quoted));
        const r = send(B, err);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        const want = ethFrame({ src: B.podMac, dst: B.hostMac }, ethType(family), icmpErrorPacket(family, vip, a, unreach.type, unreach.code, packet(family, a, vip, seg)));
        expect([...r.data]).toEqual(redirectedTo(A, want));
        expect(r.moved).toMatchObject({ STAT_CT_HIT: one(err), STAT_LB_REV_NAT: one(err), STAT_REDIRECT_PEER: one(err) });
      });

      it("a router's fragmentation needed / packet too big (to_pod): the quote rewritten back, the router's address kept", () => {
        service(IPPROTO_TCP);
        const seg: Seg = { proto: IPPROTO_TCP, sport: 40000, dport: 80 };
        send(A, podSends(A, family, a, vip, seg));
        const node = ip(NODE, family);
        const frame = (quote: Uint8Array): Uint8Array => ethFrame({ src: A.hostMac, dst: A.podMac }, ethType(family), icmpErrorPacket(family, node, a, tooBig.type, tooBig.code, quote));
        const r = deliver(A, frame(packet(family, a, b, { ...seg, dport: 8080 })));
        expect(r.retval).toBe(TC_ACT_OK);
        expect([...r.data]).toEqual([...frame(packet(family, a, vip, seg))]);
        expect(r.moved).toMatchObject({ STAT_LB_REV_NAT: expect.anything(), STAT_TO_POD: expect.anything() });
      });

      it('an error toward the backend, about its reply, is not translated back', () => {
        service(IPPROTO_UDP);
        const seg: Seg = { proto: IPPROTO_UDP, sport: 40000, dport: 53 };
        send(A, podSends(A, family, a, vip, seg));
        // B's answer, and a port unreachable about it from A to B: it goes to the side that
        // did not open the connection, so it is no client's business.
        send(B, podSends(B, family, b, a, { proto: IPPROTO_UDP, sport: 5353, dport: 40000 }));
        const quoted = packet(family, b, a, { proto: IPPROTO_UDP, sport: 5353, dport: 40000 });
        const err = ethFrame({ src: A.podMac, dst: A.hostMac }, ethType(family), icmpErrorPacket(family, a, b, unreach.type, unreach.code, quoted));
        const r = send(A, err);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect([...r.data]).toEqual(redirectedTo(B, err));
        expect(r.moved).toEqual({ STAT_CT_HIT: one(err), STAT_REDIRECT_PEER: one(err) });
      });
    });

    it('hairpin: a pod its own backend is answered straight back from 169.254.42.1 (100::42:1), and its answer from the ClusterIP', () => {
      writeService(fd, { family, vip, port: 80, protocol: IPPROTO_TCP, serviceId: 7, backends: [{ id: 77, addr: a, port: 8080 }] });
      setFlags(A, EP_F_EGRESS_ISOLATED); // no policy applies to a pod reaching itself
      const r = send(A, podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport: 40000, dport: 80 }));
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect([...r.data]).toEqual(redirectedTo(A, podSends(A, family, hairpin, a, { proto: IPPROTO_TCP, sport: 40000, dport: 8080 })));
      expect(r.moved).toMatchObject({ STAT_LB_TRANSLATED: expect.anything(), STAT_LB_HAIRPIN: expect.anything() });
      expect(lbFlow(fd, tuple(family, a, 40000, vip, 80, IPPROTO_TCP))?.flags).toBe(LB_FLOW_F_HAIRPIN);
      expect(lbRev(fd, tuple(family, a, 8080, hairpin, 40000, IPPROTO_TCP))).toEqual({ family, vip, client: a, vport: 80, flags: LB_FLOW_F_HAIRPIN, backendId: 77 });

      const answer: Seg = { proto: IPPROTO_TCP, sport: 8080, dport: 40000, flags: TCP_SYN | TCP_ACK };
      const back = send(A, podSends(A, family, a, hairpin, answer));
      expect(back.retval).toBe(TC_ACT_REDIRECT);
      expect([...back.data]).toEqual(redirectedTo(A, podSends(A, family, vip, a, { ...answer, sport: 80 })));
      expect(back.moved).toEqual({ STAT_LB_HAIRPIN: one(back.data) });
    });

    // What the answer looks like is test/bpf/lb-reject.test.ts's; here, that lb.h asks for it.
    it('no ready backend (count 0), or a missing slot: TCP answered (lb_reject), SCTP DROP_LB_NO_BACKEND', () => {
      for (const s of [
        { count: 0, backends: [] },
        { count: 2, backends: [] },
      ]) {
        for (const m of LB_MAPS) bpfWorld.dp.clear(m);
        writeService(fd, { family, vip, port: 80, protocol: IPPROTO_TCP, serviceId: 8, ...s });
        writeService(fd, { family, vip, port: 9000, protocol: IPPROTO_SCTP, serviceId: 9, ...s });
        const syn = podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport: 40000 + s.count, dport: 80 });
        const r = send(A, syn);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect(Object.keys(r.moved)).toEqual(['STAT_LB_REJECTED']);
        const init = podSends(A, family, a, vip, { proto: IPPROTO_SCTP, sport: 40000 + s.count, dport: 9000 });
        const d = send(A, init);
        expect(d.retval).toBe(TC_ACT_SHOT);
        expect(d.moved).toEqual({ DROP_LB_NO_BACKEND: one(init) });
        expect(bpfWorld.dp.count(MapName.lbFlows)).toBe(0);
      }
    });

    it('traffic that is no Service passes byte for byte as before', () => {
      service(IPPROTO_TCP);
      const toPod = podSends(A, family, a, b, { proto: IPPROTO_TCP, sport: 40000, dport: 80 });
      const r1 = send(A, toPod);
      expect([...r1.data]).toEqual(redirectedTo(B, toPod));
      expect(r1.moved).toEqual({ STAT_REDIRECT_PEER: one(toPod) });
      for (const frame of [
        podSends(A, family, a, ip(WORLD, family), { proto: IPPROTO_TCP, sport: 40000, dport: 80 }),
        podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport: 40000, dport: 81 }),
        podSends(A, family, a, vip, { proto: IPPROTO_UDP, sport: 40000, dport: 80 }),
      ]) {
        const r = send(A, frame);
        expect(r.retval).toBe(TC_ACT_OK);
        expect([...r.data]).toEqual([...frame]);
        expect(r.moved).toEqual({ STAT_TO_STACK: one(frame) });
      }
      expect(bpfWorld.dp.count(MapName.lbFlows)).toBe(0);
    });

    describe('egress policy judges the backend, not the ClusterIP', () => {
      const EXCEPT = IDENTITY_CIDR_FLAG | 40;
      beforeEach(() => setFlags(A, EP_F_EGRESS_ISOLATED));

      it("an ipBlock whose except holds the backend's address drops it; the same ipBlock passes the other backend", () => {
        bpfWorld.dp.setCidr(`${b}/${family === 4 ? 32 : 128}`, EXCEPT);
        allow(A, { identity: POD_BLOCK.identity, egress: true });
        service(IPPROTO_TCP);
        const frame = podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport: 40000, dport: 80 });
        const r = send(A, frame);
        expect(r.retval).toBe(TC_ACT_SHOT);
        expect(r.moved).toEqual({ STAT_LB_TRANSLATED: one(frame), DROP_POLICY_EGRESS: one(frame) });
        writeService(fd, { family, vip, port: 80, protocol: IPPROTO_TCP, serviceId: 9, backends: [{ id: 99, addr: c, port: 8080 }] });
        const toC = podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport: 40001, dport: 80 });
        expect(send(A, toC).retval).toBe(TC_ACT_REDIRECT);
        // No way to delete one prefix here: the /32 (/128) now says what the block says.
        bpfWorld.dp.setCidr(`${b}/${family === 4 ? 32 : 128}`, POD_BLOCK.identity);
      });

      it("a podSelector allowing the backend's identity on the target port passes it", () => {
        service(IPPROTO_TCP);
        const frame = podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport: 40000, dport: 80 });
        expect(send(A, frame).moved).toEqual({ STAT_LB_TRANSLATED: one(frame), DROP_POLICY_EGRESS: one(frame) });
        allow(A, { identity: B.identity, egress: true, port: 8080 });
        const r = send(A, frame);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect(r.moved).toEqual({ STAT_LB_TRANSLATED: one(frame), STAT_POLICY_ALLOWED: one(frame), STAT_REDIRECT_PEER: one(frame) });
        const ack = podSends(A, family, a, vip, { proto: IPPROTO_TCP, sport: 40000, dport: 80, flags: TCP_ACK });
        expect(send(A, ack).moved).toEqual({ STAT_LB_TRANSLATED: one(ack), STAT_CT_HIT: one(ack), STAT_REDIRECT_PEER: one(ack) });
        expect(bpfWorld.dp.ctPending(tuple(family, a, 40000, b, 8080, IPPROTO_TCP))?.flags).toBe(1 << 7); // CT_F_SERVICE
      });
    });
  });
});
