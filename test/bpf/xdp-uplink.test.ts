// xdp_uplink (XDP on the node's uplink, in front of from_uplink) through
// BPF_PROG_TEST_RUN, in the policy world (test/helpers/policy-world.ts). Every frame
// runs through XDP first and then through from_uplink, as on the uplink, and
// `judge` checks the contract between them on each: XDP drops only what
// from_uplink would drop as DROP_POLICY_INGRESS, counted the same; whatever it
// passes it leaves untouched and uncounted. XDP writes no state, so from_uplink's
// verdict after it is the verdict it gives alone. The real path (a flood of SYNs
// through a veth) is bench/xdp-uplink.mjs.
import { describe, expect, it } from 'vitest';

import { EP_F_INGRESS_ISOLATED, IDENTITY_CLUSTER, MapName } from '../../src/datapath/maps/index.js';
import { createHostVeth, runCounted, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, type RunResult } from '../helpers/bpf-datapath.js';
import { ETH_P_IP, ETH_P_IPV6, ethFrame, ICMP_ECHOREPLY, icmpEcho, IPPROTO_ICMP, IPPROTO_TCP, ipv4, ipv6, ipv6Ext, NEXTHDR_HOP, TCP_ACK, TCP_RST, TCP_SYN, tcp } from '../helpers/pktgen.js';
import * as world from '../helpers/policy-world.js';
import { A, B, fromPodFrame, ip, l3, NODE, PEER_NODE, PING, REMOTE, TCP, UDP, type L4 } from '../helpers/policy-world.js';
import { isRoot, sh, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/xdp-uplink.test.ts (BPF_PROG_TEST_RUN on xdp_uplink and from_uplink, veth pairs, a private bpffs)');

const XDP_DROP = 1;
const XDP_PASS = 2;
const UPLINK_MAC = '02:00:5e:00:00:01';
const PEER_MAC = '02:00:5e:00:00:02';
const TCP_ECE_CWR = 0xc0;

describe.skipIf(!isRoot)('xdp_uplink', () => {
  const bpfWorld = world.useWorld();
  const { receive, send, setFlags, allow } = bpfWorld;
  const xdp = (frame: Uint8Array): RunResult => runCounted(bpfWorld.dp, bpfWorld.dp.xdpUplink, null, frame);

  /** XDP, then from_uplink if XDP passed it; the contract checked on the way. */
  const judge = (frame: Uint8Array): { xdp: number; tc: RunResult | null } => {
    const x = xdp(frame);
    if (x.retval === XDP_DROP) {
      expect(x.moved).toEqual({ DROP_POLICY_INGRESS: { packets: 1, bytes: frame.length } });
      const tc = receive(frame); // what from_uplink alone does with it: the same drop
      expect(tc.retval).toBe(TC_ACT_SHOT);
      expect(tc.moved).toEqual(x.moved);
      return { xdp: XDP_DROP, tc: null };
    }
    expect(x.retval).toBe(XDP_PASS);
    expect([...x.data]).toEqual([...frame]);
    expect(x.moved).toEqual({});
    return { xdp: XDP_PASS, tc: receive(frame) };
  };

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const b = ip(B, family);
    const remote = ip(REMOTE, family);
    const fromNode = (src: string, dst: string, l4: L4): Uint8Array =>
      ethFrame({ src: PEER_MAC, dst: UPLINK_MAC }, family === 4 ? ETH_P_IP : ETH_P_IPV6, l3(family, src, dst, l4));
    const tcpWith = (flags: number, sport = 40000): L4 => TCP(8080, sport, flags);

    it('a SYN or an echo request an isolated pod denies: dropped in XDP, counted as from_uplink counts it', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(B, { identity: IDENTITY_CLUSTER, port: 9999 }); // another port: no help
      for (const l4 of [TCP(8080), tcpWith(TCP_SYN | TCP_ECE_CWR, 40001), PING(family, 31)])
        expect(judge(fromNode(remote, b, l4)).xdp).toBe(XDP_DROP);
      // Another node's address is no pod ("any pod" does not admit it).
      allow(B, { identity: IDENTITY_CLUSTER });
      expect(judge(fromNode(ip(PEER_NODE, family), b, TCP(8080))).xdp).toBe(XDP_DROP);
    });

    it('a SYN the policy allows passes untouched, and XDP records nothing: from_uplink opens the entry', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(B, { identity: REMOTE.identity }, 31);
      const frame = fromNode(remote, b, TCP(8080));
      expect(xdp(frame).retval).toBe(XDP_PASS);
      expect(bpfWorld.dp.count(MapName.ctPending) + bpfWorld.dp.count(MapName.ct)).toBe(0);
      const r = judge(frame);
      expect(r.tc?.retval).toBe(TC_ACT_REDIRECT);
      expect(bpfWorld.dp.count(MapName.ctPending)).toBe(1);
    });

    it("this node's own address, a pod that is not isolated: pass", () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      expect(judge(fromNode(ip(NODE, family), b, TCP(8080))).tc?.retval).toBe(TC_ACT_REDIRECT);
      setFlags(B, 0);
      expect(judge(fromNode(remote, b, TCP(8080))).tc?.retval).toBe(TC_ACT_REDIRECT);
    });

    it('what has a reason of its own (spoofed, not ready) or needs more than one header passes to from_uplink', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      setFlags(A, EP_F_INGRESS_ISOLATED);
      expect(judge(fromNode(ip(A, family), b, TCP(8080))).tc?.moved).toHaveProperty('DROP_SPOOF_UPLINK');
      const notReady = family === 4 ? '10.244.2.12' : 'fd00:244:2::12';
      const veth = createHostVeth();
      bpfWorld.dp.setEndpoint(family, notReady, { ifindex: veth.ifindex, flags: EP_F_INGRESS_ISOLATED, podMac: B.podMac, hostMac: B.hostMac, identity: 0 });
      expect(judge(fromNode(remote, notReady, TCP(8080))).tc?.moved).toHaveProperty('DROP_NOT_READY');
      sh('ip', ['link', 'del', veth.name]);
      // A first fragment, an extension header in front of TCP, a TCP header cut short.
      const eth = (p: Uint8Array) => ethFrame({ src: PEER_MAC, dst: UPLINK_MAC }, family === 4 ? ETH_P_IP : ETH_P_IPV6, p);
      const syn = tcp(40000, 8080, TCP_SYN);
      const odd =
        family === 4
          ? [eth(ipv4({ src: remote, dst: b, proto: IPPROTO_TCP, moreFragments: true, id: 9 }, syn)), eth(ipv4({ src: remote, dst: b, proto: IPPROTO_TCP }, syn.subarray(0, 10)))]
          : [eth(ipv6({ src: remote, dst: b, next: NEXTHDR_HOP }, ipv6Ext(NEXTHDR_HOP, IPPROTO_TCP, syn))), eth(ipv6({ src: remote, dst: b, next: IPPROTO_TCP }, syn.subarray(0, 10)))];
      for (const frame of odd) expect(judge(frame).xdp).toBe(XDP_PASS);
    });

    it('what opens nothing (SYN-ACK, ACK, RST, UDP, an echo reply) passes: it may answer a connection', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      const pong: L4 = family === 4 ? { proto: IPPROTO_ICMP, payload: icmpEcho(ICMP_ECHOREPLY, 5) } : world.PONG(6, 5);
      for (const l4 of [tcpWith(TCP_SYN | TCP_ACK), tcpWith(TCP_ACK), tcpWith(TCP_RST), UDP(8080), pong]) {
        const r = judge(fromNode(remote, b, l4));
        expect(r.xdp).toBe(XDP_PASS);
        expect(r.tc?.retval).toBe(TC_ACT_OK);
      }
    });

    it('a SYN of a connection conntrack knows passes though policy now denies it (a retransmission)', () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      allow(B, { identity: REMOTE.identity });
      const syn = fromNode(remote, b, TCP(8080, 40100));
      expect(judge(syn).tc?.retval).toBe(TC_ACT_REDIRECT);
      bpfWorld.dp.clear(MapName.policy);
      expect(judge(syn).tc?.retval).toBe(TC_ACT_REDIRECT);
      expect(judge(fromNode(remote, b, TCP(8080, 40101))).xdp).toBe(XDP_DROP);
    });

    it("an echo request with the identifier of the pod's own echo passes: conntrack takes it for the answer", () => {
      setFlags(B, EP_F_INGRESS_ISOLATED);
      send(B, fromPodFrame(B, family, remote, PING(family, 41)));
      expect(judge(fromNode(remote, b, PING(family, 41))).tc?.retval).toBe(TC_ACT_REDIRECT);
      expect(judge(fromNode(remote, b, PING(family, 42))).xdp).toBe(XDP_DROP);
    });
  });

  it('ARP and an IPv4 header cut short pass uncounted', () => {
    setFlags(B, EP_F_INGRESS_ISOLATED);
    for (const frame of [ethFrame({ src: PEER_MAC, dst: UPLINK_MAC }, 0x0806, new Uint8Array(28)), ethFrame({ src: PEER_MAC, dst: UPLINK_MAC }, ETH_P_IP, new Uint8Array(12))]) {
      const x = xdp(frame);
      expect(x.retval).toBe(XDP_PASS);
      expect(x.moved).toEqual({});
    }
  });
});
