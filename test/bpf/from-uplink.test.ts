// from_uplink (tc ingress of the node's uplink) and from_pod's native routing
// through BPF_PROG_TEST_RUN, in the policy world (test/helpers/policy-world.ts):
// frames as another node routes them to this one's pods (PKTGEN), endpoints,
// ipcache, policy and strait_config_v1 written with the maps.h mirror (SETUP), then
// the verdict, the frame that comes out and exactly which counters moved (CHECK).
// A test run performs no redirect and no route lookup with effect beyond its
// return code; the real path is test/netns/cross-node-datapath.test.ts.
import { describe, expect, it } from 'vitest';

import { EP_F_INGRESS_ISOLATED, IDENTITY_CLUSTER } from '../../src/datapath/maps/index.js';
import { createHostVeth, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT } from '../helpers/bpf-datapath.js';
import { arpRequest, BROADCAST, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, ethFrame, IPPROTO_TCP, ipv4, ipv6, routedFrame, TCP_ACK, TCP_SYN, udp } from '../helpers/pktgen.js';
import * as world from '../helpers/policy-world.js';
import { A, B, fromPodFrame, ip, l3, NODE, NODES_BLOCK, one, PEER_NODE, PING, REMOTE, TCP, toPodFrame, WORLD, type L4 } from '../helpers/policy-world.js';
import { isRoot, sh, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/from-uplink.test.ts (BPF_PROG_TEST_RUN on from_uplink and from_pod, veth pairs, a private bpffs)');

/** The uplink's MAC and the other node's, on the wire between them. */
const UPLINK_MAC = '02:00:5e:00:00:01';
const PEER_MAC = '02:00:5e:00:00:02';
const REMOTE_CIDR = { v4: '10.244.9.0/24', v6: 'fd00:244:9::/64' };


describe.skipIf(!isRoot)('from_uplink and native routing', () => {
  const bpfWorld = world.useWorld();
  const { receive, send, deliver, setFlags, allow } = bpfWorld;

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const a = ip(A, family);
    const b = ip(B, family);
    const remote = ip(REMOTE, family);

    /** A frame the other node sends this one: `src` to `dst`. */
    const fromNode = (src: string, dst: string, l4: L4): Uint8Array =>
      ethFrame({ src: PEER_MAC, dst: UPLINK_MAC }, family === 4 ? ETH_P_IP : ETH_P_IPV6, l3(family, src, dst, l4));

    /** `frame` as B receives it: B's MACs, one hop spent, the IPv4 checksum following. */
    const deliveredToB = (frame: Uint8Array): number[] => routedFrame(frame, { dst: B.podMac, src: B.hostMac });

    it('to a ready local pod without ingress policy: redirect_peer with its MACs, one hop spent', () => {
      const frame = fromNode(remote, b, TCP(8080));
      const r = receive(frame);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect([...r.data]).toEqual(deliveredToB(frame));
      expect(r.moved).toEqual({ STAT_FROM_NODE: one(frame) });
    });

    it("to an ingress-isolated pod: denied without an entry, allowed by one for the remote pod's identity", () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      const frame = fromNode(remote, b, TCP(8080));
      expect(receive(frame).moved).toEqual({ DROP_POLICY_INGRESS: one(frame) });
      allow(B, { identity: REMOTE.identity }, 31);
      const r = receive(frame);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect(r.moved).toEqual({ STAT_POLICY_ALLOWED: one(frame), STAT_FROM_NODE: one(frame) });
      expect(bpfWorld.dp.ctPending({ family, saddr: remote, daddr: b, sport: 40000, dport: 8080, protocol: IPPROTO_TCP })).toMatchObject({ ruleId: 31, flags: 0 });
    });

    it('"any pod" admits a remote pod but not another node\'s address; the nodes\' ipBlock does', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(B, { identity: IDENTITY_CLUSTER });
      expect(receive(fromNode(remote, b, TCP(8080))).retval).toBe(TC_ACT_REDIRECT);
      const fromPeerNode = fromNode(ip(PEER_NODE, family), b, TCP(8080));
      expect(receive(fromPeerNode).moved).toEqual({ DROP_POLICY_INGRESS: one(fromPeerNode) });
      allow(B, { identity: NODES_BLOCK.identity });
      expect(receive(fromPeerNode).retval).toBe(TC_ACT_REDIRECT);
    });

    it("a local pod's address as the source: DROP_SPOOF_UPLINK, whatever the policy", () => {
      for (const dst of [b, a]) {
        const frame = fromNode(dst === b ? a : b, dst, TCP(8080));
        const r = receive(frame);
        expect(r.retval).toBe(TC_ACT_SHOT);
        expect(r.moved).toEqual({ DROP_SPOOF_UPLINK: one(frame) });
      }
    });

    it('to a local pod whose policy is not written: DROP_NOT_READY', () => {
      const notReady = family === 4 ? '10.244.2.12' : 'fd00:244:2::12';
      const veth = createHostVeth();
      bpfWorld.dp.setEndpoint(family, notReady, { ifindex: veth.ifindex, flags: 0, podMac: B.podMac, hostMac: B.hostMac, identity: 0 });
      const frame = fromNode(remote, notReady, TCP(8080));
      expect(receive(frame).moved).toEqual({ DROP_NOT_READY: one(frame) });
      sh('ip', ['link', 'del', veth.name]);
    });

    it('with TTL / hop limit 1: the host stack gets it untouched (it answers time exceeded)', () => {
      const frame = ethFrame(
        { src: PEER_MAC, dst: UPLINK_MAC },
        family === 4 ? ETH_P_IP : ETH_P_IPV6,
        family === 4 ? ipv4({ src: remote, dst: b, ttl: 1, proto: IPPROTO_TCP }, TCP(8080).payload) : ipv6({ src: remote, dst: b, hopLimit: 1, next: IPPROTO_TCP }, TCP(8080).payload),
      );
      const r = receive(frame);
      expect(r.retval).toBe(TC_ACT_OK);
      expect([...r.data]).toEqual([...frame]);
      expect(r.moved).toEqual({ STAT_TTL_EXPIRED: one(frame) });
    });

    it('not for a pod (the node, the outside, VXLAN UDP to the node): passes untouched and uncounted', () => {
      for (const frame of [fromNode(remote, ip(NODE, family), TCP(22)), fromNode(ip(PEER_NODE, family), ip(WORLD, family), TCP(80)), fromNode(ip(PEER_NODE, family), ip(NODE, family), { proto: 17, payload: udp(40000, 8472) })]) {
        const r = receive(frame);
        expect(r.retval).toBe(TC_ACT_OK);
        expect([...r.data]).toEqual([...frame]);
        expect(r.moved).toEqual({});
      }
    });

    it('the reply of a flow a pod opened passes on conntrack into an ingress-isolated pod', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      const syn = fromPodFrame(B, family, remote, TCP(443, 41000));
      expect(send(B, syn).moved).toEqual({ STAT_TO_STACK: one(syn) }); // no routing configured
      const synAck = fromNode(remote, b, TCP(41000, 443, TCP_SYN | TCP_ACK));
      const r = receive(synAck);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect(r.moved).toEqual({ STAT_CT_HIT: one(synAck), STAT_CT_PROMOTED: one(synAck), STAT_FROM_NODE: one(synAck) });
      // A packet of no flow, the same shape, opens nothing: it may answer a connection
      // the host NATed (a Service's DNAT), so the stack gets it untouched.
      const stray = fromNode(remote, b, TCP(41001, 443, TCP_SYN | TCP_ACK));
      const s = receive(stray);
      expect(s.retval).toBe(TC_ACT_OK);
      expect([...s.data]).toEqual([...stray]);
      expect(s.moved).toEqual({ STAT_NODE_TO_STACK: one(stray) });
    });

    it('a UDP datagram of no known flow goes to the host stack untouched; an echo request is judged here', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      const dns = fromNode(remote, b, { proto: 17, payload: udp(53, 40000) });
      const r = receive(dns);
      expect(r.retval).toBe(TC_ACT_OK);
      expect([...r.data]).toEqual([...dns]);
      expect(r.moved).toEqual({ STAT_NODE_TO_STACK: one(dns) });
      const ping = fromNode(remote, b, PING(family, 31));
      expect(receive(ping).moved).toEqual({ DROP_POLICY_INGRESS: one(ping) });
    });

    it('a connection the host stack delivered (to_pod) stays on the stack: its next packets are not redirected', () => {
      const first = toPodFrame(B, family, remote, PING(family, 21));
      expect(deliver(B, first).retval).toBe(TC_ACT_OK);
      const next = fromNode(remote, b, PING(family, 21));
      const r = receive(next);
      expect(r.retval).toBe(TC_ACT_OK);
      expect([...r.data]).toEqual([...next]);
      expect(r.moved).toEqual({ STAT_CT_HIT: one(next) });
    });

    describe('from_pod to another node\'s pod', () => {
      const toRemote = (l4: L4 = TCP(443)) => fromPodFrame(A, family, remote, l4);
      const gone = createGoneIfindex();

      it('routing not configured (stack): the host stack routes it', () => {
        bpfWorld.dp.setRemote(ip(REMOTE_CIDR, family), ip(PEER_NODE, family));
        bpfWorld.dp.setConfig({ routing: 'stack', uplinkIfindex: 0, tunnelIfindex: 0 });
        const frame = toRemote();
        expect(send(A, frame).moved).toEqual({ STAT_TO_STACK: one(frame) });
      });

      it('native, but the uplink is gone: the FIB helper refuses, counted apart, and the stack gets it untouched', () => {
        bpfWorld.dp.setRemote(ip(REMOTE_CIDR, family), ip(PEER_NODE, family));
        bpfWorld.dp.setConfig({ routing: 'native', uplinkIfindex: gone(), tunnelIfindex: 0 });
        const frame = toRemote();
        const r = send(A, frame);
        expect(r.retval).toBe(TC_ACT_OK);
        expect([...r.data]).toEqual([...frame]);
        expect(r.moved).toEqual({ STAT_FIB_FALLBACK: one(frame), FIB_ERROR: one(frame) });
      });

      it('native, with TTL / hop limit 1: the host stack gets it (time exceeded), no lookup', () => {
        bpfWorld.dp.setConfig({ routing: 'native', uplinkIfindex: gone(), tunnelIfindex: 0 });
        const frame = ethFrame(
          { src: A.podMac, dst: A.hostMac },
          family === 4 ? ETH_P_IP : ETH_P_IPV6,
          family === 4 ? ipv4({ src: a, dst: remote, ttl: 1 }) : ipv6({ src: a, dst: remote, hopLimit: 1 }),
        );
        expect(send(A, frame).moved).toEqual({ STAT_TTL_EXPIRED: one(frame) });
      });

      it('native, a destination outside every remote pod CIDR: the host stack, no lookup', () => {
        bpfWorld.dp.setConfig({ routing: 'native', uplinkIfindex: gone(), tunnelIfindex: 0 });
        const frame = fromPodFrame(A, family, ip(WORLD, family), TCP(443));
        expect(send(A, frame).moved).toEqual({ STAT_TO_STACK: one(frame) });
      });
    });
  });

  it('ARP from the other node passes untouched and uncounted', () => {
    const frame = ethFrame({ src: PEER_MAC, dst: BROADCAST }, ETH_P_ARP, arpRequest(PEER_MAC, PEER_NODE.v4, NODE.v4));
    const r = receive(frame);
    expect(r.retval).toBe(TC_ACT_OK);
    expect([...r.data]).toEqual([...frame]);
    expect(r.moved).toEqual({});
  });

  it('an IPv4 header cut short of its options passes to the stack, which judges it (from_uplink is not the node firewall)', () => {
    const frame = ethFrame({ src: PEER_MAC, dst: UPLINK_MAC }, ETH_P_IP, ipv4({ src: REMOTE.v4, dst: B.v4, ihl: 15, truncate: true }, new Uint8Array()));
    const r = receive(frame);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(r.moved).toEqual({});
  });
});

/** The ifindex of a veth made and deleted again (once, lazily): an uplink that is gone. */
function createGoneIfindex(): () => number {
  let ifindex: number | null = null;
  return () => {
    if (ifindex === null) {
      const veth = createHostVeth();
      sh('ip', ['link', 'del', veth.name]);
      ifindex = veth.ifindex;
    }
    return ifindex;
  };
}
