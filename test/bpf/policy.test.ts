// NetworkPolicy in from_pod and to_pod through BPF_PROG_TEST_RUN: endpoints,
// identities, CIDRs and policy entries written with the maps.h mirror (SETUP),
// crafted first packets of new connections (PKTGEN), then the verdict, exactly
// which counters moved and the conntrack entry it opened (CHECK). Conntrack and
// policy entries are emptied before every test, so each packet here is the first
// of its connection; test/bpf/conntrack.test.ts covers what comes after.
import { beforeEach, describe, expect, it } from 'vitest';

import {
  EP_F_EGRESS_ISOLATED,
  EP_F_INGRESS_ISOLATED,
  EP_F_POLICY_GEN,
  IDENTITY_ANY,
  IDENTITY_CLUSTER,
  IDENTITY_WORLD,
  MapName,
} from '../../src/datapath/maps/index.js';
import { TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT } from '../helpers/bpf-datapath.js';
import { ETH_P_IPV6, ethFrame, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, ipv6, neighborSolicitation } from '../helpers/pktgen.js';
import * as world from '../helpers/policy-world.js';
import {
  A,
  B,
  fromPodFrame,
  ip,
  NODE,
  NODES_BLOCK,
  NS_P,
  NS_Q,
  one,
  OTHER_WORLD,
  PEER_NODE,
  PING,
  POD_BLOCK,
  REMOTE,
  SCTP,
  TCP,
  toPodFrame,
  UDP,
  WORLD,
  WORLD_BLOCK,
} from '../helpers/policy-world.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/policy.test.ts (BPF_PROG_TEST_RUN on from_pod and to_pod, veth pairs, a private bpffs)');

describe.skipIf(!isRoot)('NetworkPolicy in from_pod and to_pod', () => {
  const bpfWorld = world.useWorld();
  const { send, deliver, setFlags, allow } = bpfWorld;

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const a = ip(A, family);
    const b = ip(B, family);

    describe('ingress isolation of a local destination (from_pod, redirect_peer)', () => {
      beforeEach(() => setFlags(B, EP_F_INGRESS_ISOLATED));

      const syn = (dport = 8080): Uint8Array => fromPodFrame(A, family, b, TCP(dport));

      it('denies a TCP SYN without an entry: DROP_POLICY_INGRESS, no conntrack entry', () => {
        const frame = syn();
        const r = send(A, frame);
        expect(r.retval).toBe(TC_ACT_SHOT);
        expect(r.moved).toEqual({ DROP_POLICY_INGRESS: one(frame) });
        expect(bpfWorld.dp.count(MapName.ct) + bpfWorld.dp.count(MapName.ctPending)).toBe(0);
      });

      it("allows it with an exact-port entry for the source's pod identity, and records the rule in conntrack", () => {
        allow(B, { identity: A.identity }, 41);
        const frame = syn();
        const r = send(A, frame);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect(r.moved).toEqual({ STAT_POLICY_ALLOWED: one(frame), STAT_REDIRECT_PEER: one(frame) });
        expect(bpfWorld.dp.ctPending({ family, saddr: a, daddr: b, sport: 40000, dport: 8080, protocol: IPPROTO_TCP })).toMatchObject({ ruleId: 41, flags: 0 });
      });

      it('allows it with an IDENTITY_ANY entry', () => {
        allow(B, { identity: IDENTITY_ANY });
        expect(send(A, syn()).retval).toBe(TC_ACT_REDIRECT);
      });

      it("allows it with a CIDR identity entry whose prefix covers the source pod's address (ipBlock matches pod IPs)", () => {
        allow(B, { identity: POD_BLOCK.identity });
        expect(send(A, syn()).retval).toBe(TC_ACT_REDIRECT);
      });

      it('does not allow it with entries for another identity, the other direction or another port', () => {
        allow(B, { identity: REMOTE.identity });
        allow(B, { identity: A.identity, egress: true });
        allow(B, { identity: A.identity, port: 8081 });
        allow(A, { identity: A.identity }); // the sender's own ingress entry
        const frame = syn();
        expect(send(A, frame).moved).toEqual({ DROP_POLICY_INGRESS: one(frame) });
      });

      it('a port-range prefix: 8080/13 covers 8080..8087 but not 8079 or 8088', () => {
        allow(B, { identity: A.identity, port: 8080, portPrefixLen: 13 });
        for (const port of [8080, 8083, 8087]) expect(send(A, syn(port)).retval, `port ${port}`).toBe(TC_ACT_REDIRECT);
        for (const port of [8079, 8088]) expect(send(A, syn(port)).moved, `port ${port}`).toHaveProperty('DROP_POLICY_INGRESS');
      });

      it('a protocol-only entry (prefix 80) allows every TCP port and no UDP', () => {
        allow(B, { identity: A.identity, port: 0, portPrefixLen: 0 });
        expect(send(A, syn(1)).retval).toBe(TC_ACT_REDIRECT);
        expect(send(A, syn(65535)).retval).toBe(TC_ACT_REDIRECT);
        const frame = fromPodFrame(A, family, b, UDP(8080));
        expect(send(A, frame).moved).toEqual({ DROP_POLICY_INGRESS: one(frame) });
      });

      it('an any-protocol entry (prefix 72) allows TCP, UDP, SCTP and ICMP echo', () => {
        allow(B, { identity: A.identity, protocol: 0, port: 0, portPrefixLen: 0 });
        for (const l4 of [TCP(1234), UDP(53), SCTP(9999), PING(family)])
          expect(send(A, fromPodFrame(A, family, b, l4)).retval, `protocol ${l4.proto}`).toBe(TC_ACT_REDIRECT);
      });

      it('an ICMP echo needs an any-protocol entry: a port entry does not cover it', () => {
        allow(B, { identity: A.identity, port: 0, portPrefixLen: 0 });
        const frame = fromPodFrame(A, family, b, PING(family));
        expect(send(A, frame).moved).toEqual({ DROP_POLICY_INGRESS: one(frame) });
      });

      it.each([
        ['UDP', IPPROTO_UDP, UDP],
        ['SCTP', IPPROTO_SCTP, SCTP],
      ] as const)('%s is allowed and denied by port', (_name, protocol, mk) => {
        allow(B, { identity: A.identity, protocol, port: 5000 });
        const ok = fromPodFrame(A, family, b, mk(5000));
        const r = send(A, ok);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect(r.moved).toEqual({ STAT_POLICY_ALLOWED: one(ok), STAT_REDIRECT_PEER: one(ok) });
        expect(bpfWorld.dp.ctPending({ family, saddr: a, daddr: b, sport: 40000, dport: 5000, protocol })).not.toBeNull();
        const no = fromPodFrame(A, family, b, mk(5001));
        expect(send(A, no).moved).toEqual({ DROP_POLICY_INGRESS: one(no) });
        const tcpSamePort = fromPodFrame(A, family, b, TCP(5000));
        expect(send(A, tcpSamePort).moved).toEqual({ DROP_POLICY_INGRESS: one(tcpSamePort) });
      });
    });

    describe('egress isolation of the source (from_pod)', () => {
      beforeEach(() => setFlags(A, EP_F_EGRESS_ISOLATED));

      it('denies without an entry, to a local pod and to the stack: DROP_POLICY_EGRESS', () => {
        for (const dst of [b, ip(REMOTE, family), ip(WORLD, family)]) {
          const frame = fromPodFrame(A, family, dst, TCP(8080));
          const r = send(A, frame);
          expect(r.retval, dst).toBe(TC_ACT_SHOT);
          expect(r.moved, dst).toEqual({ DROP_POLICY_EGRESS: one(frame) });
        }
      });

      it("allows a pod on another node by its pod identity: to the stack", () => {
        allow(A, { identity: REMOTE.identity, egress: true }, 12);
        const frame = fromPodFrame(A, family, ip(REMOTE, family), TCP(8080));
        const r = send(A, frame);
        expect(r.retval).toBe(TC_ACT_OK);
        expect(r.moved).toEqual({ STAT_POLICY_ALLOWED: one(frame), STAT_TO_STACK: one(frame) });
        expect(bpfWorld.dp.ctPending({ family, saddr: a, daddr: ip(REMOTE, family), sport: 40000, dport: 8080, protocol: IPPROTO_TCP })?.ruleId).toBe(12);
      });

      it('allows an ipBlock by its CIDR identity and nothing outside it', () => {
        allow(A, { identity: WORLD_BLOCK.identity, egress: true });
        expect(send(A, fromPodFrame(A, family, ip(WORLD, family), TCP(8080))).retval).toBe(TC_ACT_OK);
        const frame = fromPodFrame(A, family, ip(OTHER_WORLD, family), TCP(8080));
        expect(send(A, frame).moved).toEqual({ DROP_POLICY_EGRESS: one(frame) });
      });

      it('an IDENTITY_WORLD entry covers addresses no ipBlock names', () => {
        allow(A, { identity: IDENTITY_WORLD, egress: true });
        expect(send(A, fromPodFrame(A, family, ip(OTHER_WORLD, family), TCP(8080))).retval).toBe(TC_ACT_OK);
      });

      it('a port range and UDP', () => {
        allow(A, { identity: IDENTITY_ANY, egress: true, protocol: IPPROTO_UDP, port: 8080, portPrefixLen: 13 });
        expect(send(A, fromPodFrame(A, family, ip(WORLD, family), UDP(8087))).retval).toBe(TC_ACT_OK);
        const frame = fromPodFrame(A, family, ip(WORLD, family), UDP(8088));
        expect(send(A, frame).moved).toEqual({ DROP_POLICY_EGRESS: one(frame) });
      });

      it('always allows this node (IDENTITY_HOST), without a policy lookup', () => {
        const frame = fromPodFrame(A, family, ip(NODE, family), TCP(10250));
        const r = send(A, frame);
        expect(r.retval).toBe(TC_ACT_OK);
        expect(r.moved).toEqual({ STAT_TO_STACK: one(frame) });
      });

      it('with the destination isolated too, both policies must allow', () => {
        setFlags(B, EP_F_INGRESS_ISOLATED);
        allow(A, { identity: B.identity, egress: true }, 1);
        const frame = fromPodFrame(A, family, b, TCP(8080));
        expect(send(A, frame).moved).toEqual({ DROP_POLICY_INGRESS: one(frame) });
        bpfWorld.dp.clear(MapName.policy);
        allow(B, { identity: A.identity }, 2);
        expect(send(A, frame).moved).toEqual({ DROP_POLICY_EGRESS: one(frame) });
        allow(A, { identity: B.identity, egress: true }, 1);
        const r = send(A, frame);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect(r.moved).toEqual({ STAT_POLICY_ALLOWED: one(frame), STAT_REDIRECT_PEER: one(frame) });
        // The receiver's rule is the one on record.
        expect(bpfWorld.dp.ctPending({ family, saddr: a, daddr: b, sport: 40000, dport: 8080, protocol: IPPROTO_TCP })?.ruleId).toBe(2);
      });
    });

    describe('ingress isolation in to_pod (from the host stack)', () => {
      beforeEach(() => setFlags(B, EP_F_INGRESS_ISOLATED));

      it('denies the outside and a remote pod without an entry: DROP_POLICY_INGRESS', () => {
        for (const src of [ip(WORLD, family), ip(REMOTE, family)]) {
          const frame = toPodFrame(B, family, src, TCP(8080));
          const r = deliver(B, frame);
          expect(r.retval, src).toBe(TC_ACT_SHOT);
          expect(r.moved, src).toEqual({ DROP_POLICY_INGRESS: one(frame) });
        }
      });

      it('allows a remote pod by pod identity and the outside by ipBlock', () => {
        allow(B, { identity: REMOTE.identity });
        allow(B, { identity: WORLD_BLOCK.identity });
        for (const src of [ip(REMOTE, family), ip(WORLD, family)]) {
          const frame = toPodFrame(B, family, src, TCP(8080));
          const r = deliver(B, frame);
          expect(r.retval, src).toBe(TC_ACT_OK);
          expect(r.moved, src).toEqual({ STAT_POLICY_ALLOWED: one(frame), STAT_TO_POD: one(frame) });
        }
        const frame = toPodFrame(B, family, ip(OTHER_WORLD, family), TCP(8080));
        expect(deliver(B, frame).moved).toEqual({ DROP_POLICY_INGRESS: one(frame) });
      });

      it('always lets this node (a HOST-identity address) in, on any port', () => {
        const frame = toPodFrame(B, family, ip(NODE, family), TCP(31337));
        const r = deliver(B, frame);
        expect(r.retval).toBe(TC_ACT_OK);
        expect(r.moved).toEqual({ STAT_TO_POD: one(frame) });
      });

      it('egress isolation is not judged in to_pod', () => {
        setFlags(B, EP_F_EGRESS_ISOLATED);
        const frame = toPodFrame(B, family, ip(WORLD, family), TCP(8080));
        expect(deliver(B, frame).moved).toEqual({ STAT_TO_POD: one(frame) });
      });
    });

    describe('namespace and cluster identities (one entry for every pod of a namespace, or of the cluster)', () => {
      it("a namespace-identity entry admits every pod of that namespace, local or remote, and no one else's", () => {
        setFlags(B, EP_F_INGRESS_ISOLATED);
        allow(B, { identity: NS_P }, 21);
        const local = fromPodFrame(A, family, b, TCP(8080));
        const r = send(A, local);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect(r.moved).toEqual({ STAT_POLICY_ALLOWED: one(local), STAT_REDIRECT_PEER: one(local) });
        expect(bpfWorld.dp.ctPending({ family, saddr: a, daddr: b, sport: 40000, dport: 8080, protocol: IPPROTO_TCP })?.ruleId).toBe(21);
        expect(deliver(B, toPodFrame(B, family, ip(REMOTE, family), TCP(8080))).retval).toBe(TC_ACT_OK);
        const outside = toPodFrame(B, family, ip(WORLD, family), TCP(8080));
        expect(deliver(B, outside).moved).toEqual({ DROP_POLICY_INGRESS: one(outside) });
      });

      it("B's own namespace entry does not admit A (another namespace)", () => {
        setFlags(B, EP_F_INGRESS_ISOLATED);
        allow(B, { identity: NS_Q });
        const frame = fromPodFrame(A, family, b, TCP(8080));
        expect(send(A, frame).moved).toEqual({ DROP_POLICY_INGRESS: one(frame) });
      });

      it('an IDENTITY_CLUSTER entry admits every pod address the ipcache holds, never the outside', () => {
        setFlags(A, EP_F_EGRESS_ISOLATED);
        allow(A, { identity: IDENTITY_CLUSTER, egress: true, port: 0, portPrefixLen: 0 }, 5);
        for (const dst of [b, ip(REMOTE, family)]) expect(send(A, fromPodFrame(A, family, dst, TCP(443))).retval, dst).not.toBe(TC_ACT_SHOT);
        for (const dst of [ip(WORLD, family), ip(OTHER_WORLD, family)]) {
          const frame = fromPodFrame(A, family, dst, TCP(443));
          expect(send(A, frame).moved, dst).toEqual({ DROP_POLICY_EGRESS: one(frame) });
        }
      });

      it("an IDENTITY_CLUSTER entry does not admit another node's address (IDENTITY_REMOTE_NODE is no pod); its ipBlock does", () => {
        setFlags(A, EP_F_EGRESS_ISOLATED);
        allow(A, { identity: IDENTITY_CLUSTER, egress: true, port: 0, portPrefixLen: 0 }, 5);
        const frame = fromPodFrame(A, family, ip(PEER_NODE, family), TCP(443));
        expect(send(A, frame).moved).toEqual({ DROP_POLICY_EGRESS: one(frame) });
        allow(A, { identity: NODES_BLOCK.identity, egress: true, port: 0, portPrefixLen: 0 }, 6);
        expect(send(A, frame).moved).toEqual({ STAT_POLICY_ALLOWED: one(frame), STAT_TO_STACK: one(frame) });
      });

      it('an address without an ipcache entry matches no namespace entry, even one for namespace 0', () => {
        setFlags(A, EP_F_EGRESS_ISOLATED);
        allow(A, { identity: NS_P, egress: true });
        allow(A, { identity: IDENTITY_ANY, egress: true, protocol: IPPROTO_UDP });
        const frame = fromPodFrame(A, family, ip(WORLD, family), TCP(8080));
        expect(send(A, frame).moved).toEqual({ DROP_POLICY_EGRESS: one(frame) });
      });
    });

    describe('the policy generation', () => {
      beforeEach(() => setFlags(B, EP_F_INGRESS_ISOLATED));

      it('entries of the other generation do not apply until EP_F_POLICY_GEN flips', () => {
        allow(B, { identity: A.identity, gen: 1 });
        const first = fromPodFrame(A, family, b, TCP(8080, 40001));
        expect(send(A, first).moved).toEqual({ DROP_POLICY_INGRESS: one(first) });

        setFlags(B, EP_F_INGRESS_ISOLATED | EP_F_POLICY_GEN);
        expect(send(A, first).retval).toBe(TC_ACT_REDIRECT);

        // Now generation 1 is live: a generation-0 entry alone allows nothing.
        allow(B, { identity: A.identity, gen: 0, port: 9090 });
        const other = fromPodFrame(A, family, b, TCP(9090, 40002));
        expect(send(A, other).moved).toEqual({ DROP_POLICY_INGRESS: one(other) });
        setFlags(B, EP_F_INGRESS_ISOLATED);
        expect(send(A, other).retval).toBe(TC_ACT_REDIRECT);
      });
    });

    it('without isolation nothing is looked up, yet the connection gets a conntrack entry (rule 0)', () => {
      const frame = fromPodFrame(A, family, b, TCP(8080));
      const r = send(A, frame);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect(r.moved).toEqual({ STAT_REDIRECT_PEER: one(frame) });
      expect(bpfWorld.dp.ctPending({ family, saddr: a, daddr: b, sport: 40000, dport: 8080, protocol: IPPROTO_TCP })).toMatchObject({ ruleId: 0, flags: 0 });
    });
  });

  it('IPv6 neighbour discovery from the gateway reaches an isolated pod (to_pod)', () => {
    setFlags(B, EP_F_INGRESS_ISOLATED);
    const frame = ethFrame(
      { src: B.hostMac, dst: B.podMac },
      ETH_P_IPV6,
      ipv6({ src: 'fe80::1', dst: B.v6, next: IPPROTO_ICMPV6, hopLimit: 255 }, neighborSolicitation(B.v6)),
    );
    const r = deliver(B, frame);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(r.moved).toEqual({ STAT_TO_POD: one(frame) });
  });
});
