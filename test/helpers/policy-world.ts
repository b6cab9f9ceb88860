// SETUP and PKTGEN shared by the policy and conntrack BPF tests: two local pods (A,
// B) with veths, a pod on another node, this node's address, the outside, two
// ipBlocks, all written with the maps.h mirror into a test datapath; and frames
// for new connections, replies and ICMP errors between them.
import {
  EP_F_READY,
  IDENTITY_CIDR_FLAG,
  IDENTITY_HOST,
  IDENTITY_NS_FLAG,
  IDENTITY_REMOTE_NODE,
  IDENTITY_WORLD,
  MapName,
  type PolicyKey,
} from '../../src/datapath/maps/index.js';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createHostVeth, openTestDatapath, runCounted, type HostVeth, type RunResult, type TestDatapath } from './bpf-datapath.js';
import { cleanupAll } from './sys.js';
import {
  ETH_P_IP,
  ETH_P_IPV6,
  ethFrame,
  ICMP_ECHO,
  ICMP_ECHOREPLY,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  icmpEcho,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4,
  ipv6,
  sctp,
  tcp,
  TCP_SYN,
  udp,
} from './pktgen.js';

export interface Addr {
  v4: string;
  v6: string;
}
export interface Pod extends Addr {
  podMac: string;
  hostMac: string;
  identity: number;
  /** its namespace's identity (ipcache_value.namespace) */
  namespace: number;
  veth?: HostVeth;
}

/** Namespace identities: A and REMOTE live in P, B in Q. */
export const NS_P = IDENTITY_NS_FLAG | 1;
export const NS_Q = IDENTITY_NS_FLAG | 2;

// A and B are pods on this node; REMOTE is a pod on another node (ipcache only);
// NODE is this node's address (a HOST entry in strait_cidr_v1), PEER_NODE another
// node's (IDENTITY_REMOTE_NODE in the ipcache, inside NODES_BLOCK); WORLD and
// OTHER_WORLD are the outside, WORLD inside an ipBlock.
export const A: Pod = { v4: '10.244.2.10', v6: 'fd00:244:2::10', podMac: '0a:58:0a:f4:02:0a', hostMac: 'ee:00:00:00:02:0a', identity: 1000, namespace: NS_P };
export const B: Pod = { v4: '10.244.2.11', v6: 'fd00:244:2::11', podMac: '0a:58:0a:f4:02:0b', hostMac: 'ee:00:00:00:02:0b', identity: 2000, namespace: NS_Q };
export const REMOTE: Addr & { identity: number; namespace: number } = { v4: '10.244.9.9', v6: 'fd00:244:9::9', identity: 3000, namespace: NS_P };
export const NODE: Addr = { v4: '192.168.50.1', v6: 'fd00:50::1' };
export const PEER_NODE: Addr = { v4: '192.168.50.2', v6: 'fd00:50::2' };
/** an ipBlock covering the nodes' network (NODE is HOST by its longer /32, /128) */
export const NODES_BLOCK = { v4: '192.168.50.0/24', v6: 'fd00:50::/64', identity: IDENTITY_CIDR_FLAG | 3 };
export const WORLD: Addr = { v4: '203.0.113.80', v6: '2001:db8:113::80' };
export const OTHER_WORLD: Addr = { v4: '198.51.100.80', v6: '2001:db8:100::80' };
/** an ipBlock covering A and B (pod addresses match ipBlocks too) */
export const POD_BLOCK = { v4: '10.244.2.0/24', v6: 'fd00:244:2::/64', identity: IDENTITY_CIDR_FLAG | 1 };
/** an ipBlock covering WORLD only */
export const WORLD_BLOCK = { v4: '203.0.113.0/24', v6: '2001:db8:113::/48', identity: IDENTITY_CIDR_FLAG | 2 };

export const ip = (a: Addr, family: 4 | 6): string => (family === 4 ? a.v4 : a.v6);

export const ifindexOf = (p: { veth?: HostVeth }): number => {
  if (!p.veth) throw new Error('pod has no veth yet');
  return p.veth.ifindex;
};

/** The node's uplink: from_uplink runs as if packets arrived there. */
export const UPLINK: { veth?: HostVeth } = {};

/** Veths for A, B and the uplink, and every pod address, node address and ipBlock in the maps. */
export function setupWorld(dp: TestDatapath): void {
  for (const p of [A, B, UPLINK]) p.veth = createHostVeth();
  for (const p of [A, B, REMOTE]) for (const f of [4, 6] as const) dp.setIpcache(ip(p, f), p.identity, p.namespace);
  for (const f of [4, 6] as const) {
    dp.setIpcache(ip(PEER_NODE, f), IDENTITY_REMOTE_NODE);
    dp.setCidr(ip(NODES_BLOCK, f), NODES_BLOCK.identity);
    dp.setCidr(f === 4 ? '0.0.0.0/0' : '::/0', IDENTITY_WORLD);
    dp.setCidr(`${ip(NODE, f)}/${f === 4 ? 32 : 128}`, IDENTITY_HOST);
    dp.setCidr(ip(POD_BLOCK, f), POD_BLOCK.identity);
    dp.setCidr(ip(WORLD_BLOCK, f), WORLD_BLOCK.identity);
  }
}

/** Rewrites both of p's endpoint entries: READY plus `flags`. */
export function setFlags(dp: TestDatapath, p: Pod, flags: number): void {
  const value = { ifindex: ifindexOf(p), flags: EP_F_READY | flags, podMac: p.podMac, hostMac: p.hostMac, identity: p.identity };
  dp.setEndpoint(4, p.v4, value);
  dp.setEndpoint(6, p.v6, value);
}

/** An allow entry of `p`; by default ingress, TCP, one port (8080), generation 0. */
export function allow(dp: TestDatapath, p: Pod, k: Partial<Omit<PolicyKey, 'ifindex'>> & { identity: number }, ruleId = 7): void {
  dp.setPolicy({ ifindex: ifindexOf(p), gen: 0, egress: false, protocol: IPPROTO_TCP, port: 8080, portPrefixLen: 16, ...k }, ruleId);
}

export interface L4 {
  proto: number;
  payload: Uint8Array;
}
export const TCP = (dport: number, sport = 40000, flags = TCP_SYN): L4 => ({ proto: IPPROTO_TCP, payload: tcp(sport, dport, flags) });
export const UDP = (dport: number, sport = 40000): L4 => ({ proto: IPPROTO_UDP, payload: udp(sport, dport) });
export const SCTP = (dport: number, sport = 40000): L4 => ({ proto: IPPROTO_SCTP, payload: sctp(sport, dport) });
export const PING = (family: 4 | 6, id = 77): L4 =>
  family === 4
    ? { proto: IPPROTO_ICMP, payload: icmpEcho(ICMP_ECHO, id) }
    : { proto: IPPROTO_ICMPV6, payload: icmpEcho(ICMPV6_ECHO_REQUEST, id) };
export const PONG = (family: 4 | 6, id = 77): L4 =>
  family === 4
    ? { proto: IPPROTO_ICMP, payload: icmpEcho(ICMP_ECHOREPLY, id) }
    : { proto: IPPROTO_ICMPV6, payload: icmpEcho(ICMPV6_ECHO_REPLY, id) };

/** The IP packet alone (what an ICMP error quotes). */
export function l3(family: 4 | 6, src: string, dst: string, l4: L4): Uint8Array {
  return family === 4 ? ipv4({ src, dst, proto: l4.proto }, l4.payload) : ipv6({ src, dst, next: l4.proto }, l4.payload);
}

/** A frame `from` sends through its gateway. */
export function fromPodFrame(from: Pod, family: 4 | 6, dst: string, l4: L4): Uint8Array {
  return ethFrame({ src: from.podMac, dst: from.hostMac }, family === 4 ? ETH_P_IP : ETH_P_IPV6, l3(family, ip(from, family), dst, l4));
}

/** A frame the host stack sends out of `to`'s veth. */
export function toPodFrame(to: Pod, family: 4 | 6, src: string, l4: L4): Uint8Array {
  return ethFrame({ src: to.hostMac, dst: to.podMac }, family === 4 ? ETH_P_IP : ETH_P_IPV6, l3(family, src, ip(to, family), l4));
}

/** from_pod on `from`'s veth, to_pod on `to`'s: one run each, counters by C name. */
export const send = (dp: TestDatapath, from: Pod, frame: Uint8Array): RunResult => runCounted(dp, dp.fromPod, ifindexOf(from), frame);
export const deliver = (dp: TestDatapath, to: Pod, frame: Uint8Array): RunResult => runCounted(dp, dp.toPod, ifindexOf(to), frame);
/** from_uplink: `frame` arrives from another node. */
export const receive = (dp: TestDatapath, frame: Uint8Array): RunResult => runCounted(dp, dp.fromUplink, ifindexOf(UPLINK), frame);
export const one = (frame: Uint8Array) => ({ packets: 1, bytes: frame.length });

export interface World {
  /** the datapath of the running file (valid inside tests) */
  readonly dp: TestDatapath;
  // function properties, not methods: tests destructure them (they use no `this`)
  readonly send: (from: Pod, frame: Uint8Array) => RunResult;
  readonly deliver: (to: Pod, frame: Uint8Array) => RunResult;
  readonly receive: (frame: Uint8Array) => RunResult;
  readonly setFlags: (p: Pod, flags: number) => void;
  readonly allow: (p: Pod, k: Partial<Omit<PolicyKey, 'ifindex'>> & { identity: number }, ruleId?: number) => void;
}

/**
 * The world for one test file: set up once, conntrack, fragments and policy emptied and both
 * pods made non-isolated before every test, everything removed after the file.
 */
export function useWorld(): World {
  let dp: TestDatapath | null = null;
  const need = (): TestDatapath => {
    if (dp === null) throw new Error('the test datapath is not open (outside a test?)');
    return dp;
  };
  beforeAll(() => {
    dp = openTestDatapath();
    setupWorld(dp);
  });
  beforeEach(() => {
    for (const m of [MapName.ct, MapName.ctPending, MapName.frag]) need().clear(m);
    need().clear(MapName.policy);
    setFlags(need(), A, 0);
    setFlags(need(), B, 0);
  });
  afterAll(() => {
    dp?.close();
    cleanupAll();
  });
  return {
    get dp() {
      return need();
    },
    send: (from, frame) => send(need(), from, frame),
    deliver: (to, frame) => deliver(need(), to, frame),
    receive: (frame) => receive(need(), frame),
    setFlags: (p, flags) => setFlags(need(), p, flags),
    allow: (p, k, ruleId = 7) => allow(need(), p, k, ruleId),
  };
}
