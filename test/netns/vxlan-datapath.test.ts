// The VXLAN datapath between two emulated nodes, wired by hand as the agent will:
// node netns joined by a veth (their uplinks, IPv4 underlay), in each a collect_md
// strait_vxlan device with from_tunnel/to_tunnel attached by tc, strait_config_v1
// (routing vxlan), strait_remote_v1 (the other node's pod CIDRs) and the other
// node's addresses in the ipcache (IDENTITY_REMOTE_NODE) written through the TS
// encoders. Pods are ADDed by bin/strait inside each node.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import * as bpf from '../../src/datapath/bpf.js';
import {
  CONFIG_KEY,
  decodeEndpointValue,
  EP_F_INGRESS_ISOLATED,
  EP_F_POLICY_GEN,
  EP_F_READY,
  encodeCidrKey,
  encodeConfigValue,
  encodeEndpointKey,
  encodeEndpointValue,
  encodeIpcacheValue,
  encodePolicyKey,
  encodePolicyValue,
  encodeRemoteValue,
  encodeU32Key,
  encodeVni,
  IDENTITY_REMOTE_NODE,
  MapName,
  ProgramName,
  type MapNameValue,
} from '../../src/datapath/maps/index.js';
import { Node, type NodePod } from '../helpers/node.js';
import { ethFrame, ETH_P_IP, icmpEcho, ICMP_ECHO, IPPROTO_ICMP, ipv4 } from '../helpers/pktgen.js';
import { cleanupAll, isRoot, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/netns/vxlan-datapath.test.ts (two emulated nodes over a VXLAN tunnel)');

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));
const BPF_SRC = fileURLToPath(new URL('../../bpf', import.meta.url));
const VXLAN = 'strait_vxlan';
const TUNNEL_MTU = 1450;
const ID_ALLOWED = 300;
const ID_OTHER = 301;

interface VxNode {
  node: Node;
  i: number;
  v4: string;
  v6: string;
  podV4: string;
  podV6: string;
}

const nodeOf = (i: number): VxNode => ({
  node: new Node(`vx${i}`, { v4: `198.18.${100 + i}.0/24`, v6: `fd5a:1ab:${i}::/64` }),
  i,
  v4: `198.18.0.${10 + i}`,
  v6: `fd5a:0:0:1::${10 + i}`,
  podV4: `198.18.${100 + i}.0/24`,
  podV6: `fd5a:1ab:${i}::/64`,
});

function withMap(n: VxNode, map: MapNameValue, fn: (fd: number) => void): void {
  const fd = bpf.getPinned(join(n.node.bpfDir, map));
  if (fd === null) throw new Error(`${map} is not pinned on node ${n.i}`);
  try {
    fn(fd);
  } finally {
    bpf.closeFd(fd);
  }
}

const ifindexIn = (n: VxNode, dev: string): number =>
  (JSON.parse(n.node.ip(['-j', 'link', 'show', 'dev', dev])) as { ifindex: number }[])[0]!.ifindex;

/**
 * A program of the build the node's CNI installed (pinned under progs-<build>/) on
 * the tunnel device, at the filter the addon's tcAttach uses (handle 1, priority 1).
 */
function attach(n: VxNode, hook: 'ingress' | 'egress', prog: string): void {
  const progs = join(n.node.bpfDir, readdirSync(n.node.bpfDir).find((e) => e.startsWith('progs-'))!);
  n.node.ns.exec('tc', ['filter', 'add', 'dev', VXLAN, hook, 'pref', '1', 'handle', '1', 'bpf', 'direct-action', 'object-pinned', join(progs, prog)]);
}

/** The tunnel device and its programs, the maps, and routes for the node's own traffic. */
function wireTunnel(n: VxNode, peer: VxNode): void {
  const { node } = n;
  node.ip(['link', 'add', VXLAN, 'type', 'vxlan', 'external', 'dstport', '8472', 'nolearning']);
  node.ip(['link', 'set', VXLAN, 'arp', 'off', 'addrgenmode', 'none', 'mtu', String(TUNNEL_MTU), 'up']);
  node.ns.exec('tc', ['qdisc', 'add', 'dev', VXLAN, 'clsact']);
  attach(n, 'ingress', ProgramName.fromTunnel);
  attach(n, 'egress', ProgramName.toTunnel);
  withMap(n, MapName.config, (fd) =>
    bpf.mapUpdate(fd, CONFIG_KEY, encodeConfigValue({ routing: 'vxlan', uplinkIfindex: ifindexIn(n, 'eth0'), tunnelIfindex: ifindexIn(n, VXLAN) })),
  );
  withMap(n, MapName.remote, (fd) => {
    for (const cidr of [peer.podV4, peer.podV6]) bpf.mapUpdate(fd, encodeCidrKey(cidr), encodeRemoteValue({ nodeIp: peer.v4 }));
  });
  for (const ip of [peer.v4, peer.v6]) setIpcache(n, ip, IDENTITY_REMOTE_NODE);
  node.ip(['route', 'add', peer.podV4, 'dev', VXLAN, 'proto', '200']);
  node.ip(['-6', 'route', 'add', peer.podV6, 'dev', VXLAN, 'proto', '200']);
}

function setIpcache(n: VxNode, ip: string, identity: number): void {
  withMap(n, MapName.ipcache, (fd) =>
    bpf.mapUpdate(fd, encodeEndpointKey({ family: ip.includes(':') ? 6 : 4, ip }), encodeIpcacheValue({ identity, namespace: 0 })),
  );
}

/** Rewrites both endpoint entries of pod p on node n. */
function editEndpoint(n: VxNode, p: NodePod, edit: (v: ReturnType<typeof decodeEndpointValue>) => void): void {
  withMap(n, MapName.endpoints, (fd) => {
    for (const [family, ip] of [[4, p.v4], [6, p.v6!]] as const) {
      const key = encodeEndpointKey({ family, ip });
      const v = decodeEndpointValue(bpf.mapLookup(fd, key)!);
      edit(v);
      bpf.mapUpdate(fd, key, encodeEndpointValue(v));
    }
  });
}

const ping = (from: NodePod | VxNode, dst: string, extra: string[] = []) => {
  const ns = 'ns' in from ? from.ns.name : from.node.ns.name;
  return spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '2', '-i', '0.2', '-W', '2', ...extra, dst], { encoding: 'utf8' });
};

/** iperf3 for `seconds` from `client` to `server` at dst; returns bits per second received. */
function iperf(serverNs: string, clientNs: string, dst: string, args: string[] = ['-t', '1']): number {
  const r = spawnSync('sh', ['-c', `ip netns exec ${serverNs} iperf3 -s -1 -D -B ${dst} && sleep 0.3 && ip netns exec ${clientNs} iperf3 -c ${dst} -J ${args.join(' ')}`], { encoding: 'utf8' });
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
}

const count = (n: VxNode, name: string) => n.node.counters().get(name) ?? 0n;

describe.skipIf(!isRoot)('VXLAN datapath between two nodes', () => {
  const [n1, n2] = isRoot ? [nodeOf(1), nodeOf(2)] : [];
  const pods: Record<'a' | 'b' | 's' | 't' | 'big1' | 'big2', NodePod> = {} as never;

  beforeAll(async () => {
    if (!n1 || !n2) return;
    n1.node.ip(['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n2.node.ns.name]);
    for (const n of [n1, n2]) {
      n.node.ip(['addr', 'add', `${n.v4}/24`, 'dev', 'eth0']);
      n.node.ip(['addr', 'add', `${n.v6}/64`, 'dev', 'eth0', 'nodad']);
      n.node.ip(['link', 'set', 'eth0', 'up']);
    }
    const small = (n: VxNode) => ({ ...n.node.config(), mtu: TUNNEL_MTU });
    const big = (n: VxNode) => ({ ...n.node.config(), mtu: 1500 });
    pods.a = await n1.node.addPod('vxa', small(n1));
    pods.s = await n1.node.addPod('vxs', small(n1));
    pods.big1 = await n1.node.addPod('vxg', big(n1));
    pods.b = await n2.node.addPod('vxb', small(n2));
    pods.t = await n2.node.addPod('vxt', small(n2));
    pods.big2 = await n2.node.addPod('vxh', big(n2));
    wireTunnel(n1, n2);
    wireTunnel(n2, n1);
  });

  afterAll(() => cleanupAll());

  it('carries IPv4 and IPv6 pod → remote pod (ping and TCP) through the tunnel, counted both ends', () => {
    const tx = count(n1!, 'STAT_TUNNEL_TX');
    const rx = count(n2!, 'STAT_TUNNEL_RX');
    for (const dst of [pods.b.v4, pods.b.v6!]) expect(ping(pods.a, dst).status, dst).toBe(0);
    expect(iperf(pods.b.ns.name, pods.a.ns.name, pods.b.v4)).toBeGreaterThan(1e6);
    expect(iperf(pods.b.ns.name, pods.a.ns.name, pods.b.v6!)).toBeGreaterThan(1e6);
    expect(count(n1!, 'STAT_TUNNEL_TX') - tx).toBeGreaterThan(100n);
    expect(count(n2!, 'STAT_TUNNEL_RX') - rx).toBeGreaterThan(100n);
    // The replies took the tunnel the other way.
    expect(count(n2!, 'STAT_TUNNEL_TX')).toBeGreaterThan(0n);
    expect(count(n1!, 'STAT_TUNNEL_RX')).toBeGreaterThan(0n);
  });

  it('answers a packet whose last hop runs out on the receiving node with time exceeded, from that node', () => {
    // TTL 2: one hop spent by n1's from_pod, the last one is n2's, whose stack answers.
    for (const dst of [pods.b.v4, pods.b.v6!]) {
      const r = ping(pods.a, dst, ['-c', '1', '-t', '2']);
      expect(r.stdout, dst).toMatch(dst.includes(':') ? /From fd5a:0:0:1::12 .*Time exceeded/ : /From 198\.18\.0\.12 .*Time to live exceeded/);
    }
  });

  it('carries the node itself → a remote pod: the stack routes into the device, to_tunnel sets the key', () => {
    const dropped = count(n1!, 'DROP_TUNNEL_NO_REMOTE');
    for (const dst of [pods.b.v4, pods.b.v6!]) expect(ping(n1!, dst).status, dst).toBe(0);
    expect(count(n1!, 'DROP_TUNNEL_NO_REMOTE') - dropped).toBe(0n);
    // Without to_tunnel the collect_md device has no far end for them: nothing arrives.
    n1!.node.ns.exec('tc', ['filter', 'del', 'dev', VXLAN, 'egress']);
    try {
      expect(ping(n1!, pods.b.v4, ['-c', '1']).status).not.toBe(0);
    } finally {
      attach(n1!, 'egress', ProgramName.toTunnel);
    }
    expect(ping(n1!, pods.b.v4).status).toBe(0);
  });

  it('judges a sender the receiving ipcache does not know by the label set its VNI names', () => {
    editEndpoint(n1!, pods.a, (v) => (v.identity = ID_ALLOWED));
    editEndpoint(n1!, pods.s, (v) => (v.identity = ID_OTHER));
    // The VNI names the label set, not n1's number for it: n2 numbers the same label
    // sets 310 and 311 (identities are per node), and its policy names its own number.
    const [vniAllowed, vniOther] = [0x51aa01, 0x51aa02];
    withMap(n1!, MapName.identityVni, (fd) => {
      bpf.mapUpdate(fd, encodeU32Key(ID_ALLOWED, 'identity'), encodeVni(vniAllowed));
      bpf.mapUpdate(fd, encodeU32Key(ID_OTHER, 'identity'), encodeVni(vniOther));
    });
    withMap(n2!, MapName.vni, (fd) => {
      bpf.mapUpdate(fd, encodeVni(vniAllowed), encodeIpcacheValue({ identity: ID_ALLOWED + 10, namespace: 0 }));
      bpf.mapUpdate(fd, encodeVni(vniOther), encodeIpcacheValue({ identity: ID_OTHER + 10, namespace: 0 }));
    });
    let slot = 0;
    editEndpoint(n2!, pods.t, (v) => {
      v.flags |= EP_F_INGRESS_ISOLATED;
      slot = v.ifindex;
      expect(v.flags & EP_F_POLICY_GEN).toBe(0);
    });
    withMap(n2!, MapName.policy, (fd) =>
      bpf.mapUpdate(fd, encodePolicyKey({ ifindex: slot, gen: 0, identity: ID_ALLOWED + 10, egress: false, protocol: 0, port: 0, portPrefixLen: 0 }), encodePolicyValue({ ruleId: 7 })),
    );
    const denied = count(n2!, 'DROP_POLICY_INGRESS');
    for (const dst of [pods.t.v4, pods.t.v6!]) expect(ping(pods.a, dst).status, `allowed by VNI → ${dst}`).toBe(0);
    for (const dst of [pods.t.v4, pods.t.v6!]) expect(ping(pods.s, dst, ['-c', '1']).status, `other identity → ${dst}`).not.toBe(0);
    expect(count(n2!, 'DROP_POLICY_INGRESS') - denied).toBeGreaterThanOrEqual(2n);
    // Once the ipcache knows the address, it wins over the VNI.
    setIpcache(n2!, pods.a.v4, ID_OTHER + 10);
    expect(ping(pods.a, pods.t.v4, ['-c', '1']).status).not.toBe(0);
  });

  it('drops what the tunnel brings for a pod whose policy is not written yet (fail closed)', () => {
    editEndpoint(n2!, pods.b, (v) => (v.flags &= ~EP_F_READY));
    try {
      const before = count(n2!, 'DROP_NOT_READY');
      expect(ping(pods.a, pods.b.v4, ['-c', '1']).status).not.toBe(0);
      expect(count(n2!, 'DROP_NOT_READY') - before).toBeGreaterThanOrEqual(1n);
    } finally {
      editEndpoint(n2!, pods.b, (v) => (v.flags |= EP_F_READY));
    }
  });

  it('carries over an IPv6 underlay the same way (the other node named by its IPv6 address)', () => {
    const remote = (nodeIp: string) =>
      withMap(n1!, MapName.remote, (fd) => {
        for (const cidr of [n2!.podV4, n2!.podV6]) bpf.mapUpdate(fd, encodeCidrKey(cidr), encodeRemoteValue({ nodeIp }));
      });
    remote(n2!.v6);
    try {
      const [rx, unknown] = [count(n2!, 'STAT_TUNNEL_RX'), count(n2!, 'DROP_TUNNEL_UNKNOWN_NODE')];
      for (const dst of [pods.b.v4, pods.b.v6!]) expect(ping(pods.a, dst).status, dst).toBe(0);
      expect(count(n2!, 'STAT_TUNNEL_RX') - rx).toBeGreaterThanOrEqual(4n);
      expect(count(n2!, 'DROP_TUNNEL_UNKNOWN_NODE') - unknown).toBe(0n);
    } finally {
      remote(n2!.v4);
    }
  });

  /** Three VXLAN packets (VNI 300) from n1's address `from` to n2, carrying an echo request from innerSrc to pod b. */
  const sendVxlan = (from: string, innerSrc: string): void => {
    const inner = ethFrame({ src: '02:00:00:00:00:99', dst: '02:00:00:00:00:98' }, ETH_P_IP, ipv4({ src: innerSrc, dst: pods.b.v4, proto: IPPROTO_ICMP }, icmpEcho(ICMP_ECHO, 99)));
    const vxlan = Buffer.concat([Buffer.from([0x08, 0, 0, 0, 0, 0x01, 0x2c, 0]), Buffer.from(inner)]);
    const py = `import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('${from}',0))\nfor _ in range(3): s.sendto(bytes.fromhex(sys.argv[1]),('${n2!.v4}',8472))`;
    n1!.node.ns.exec('python3', ['-c', py, vxlan.toString('hex')]);
  };

  it('drops a VXLAN packet whose outer source is no known node', () => {
    n1!.node.ip(['addr', 'add', '198.18.0.99/24', 'dev', 'eth0']);
    const before = count(n2!, 'DROP_TUNNEL_UNKNOWN_NODE');
    sendVxlan('198.18.0.99', pods.a.v4);
    expect(count(n2!, 'DROP_TUNNEL_UNKNOWN_NODE') - before).toBe(3n);
  });

  it('drops a packet from a known node that claims to come from a pod of the receiving node', () => {
    const before = count(n2!, 'DROP_TUNNEL_SPOOF');
    sendVxlan(n1!.v4, pods.t.v4);
    expect(count(n2!, 'DROP_TUNNEL_SPOOF') - before).toBe(3n);
  });

  it('answers a packet too big for the tunnel with ICMP, and TCP finds the path MTU (IPv4 and IPv6)', () => {
    const src = pods.big1;
    const dst = pods.big2;
    for (const [ip, size] of [[dst.v4, 1472], [dst.v6!, 1452]] as const) {
      src.ns.exec('ip', [ip.includes(':') ? '-6' : '-4', 'route', 'flush', 'cache'], { allowFail: true });
      const r = ping(src, ip, ['-M', 'do', '-s', String(size)]);
      expect(r.stdout + r.stderr, ip).toMatch(ip.includes(':') ? /Packet too big: mtu=1450/ : /Frag needed.*mtu = 1450/);
      // Small enough, the same path works.
      expect(ping(src, ip, ['-M', 'do', '-s', String(size - 50)]).status, ip).toBe(0);
      src.ns.exec('ip', [ip.includes(':') ? '-6' : '-4', 'route', 'flush', 'cache'], { allowFail: true });
      expect(iperf(dst.ns.name, src.ns.name, ip, ['-n', '4M'])).toBeGreaterThan(1e6);
      expect(src.ns.exec('ip', ['route', 'get', ip])).toMatch(/mtu 1450/);
    }
  });

  it('a newer build replaces the programs on the tunnel device too, and the tunnel keeps carrying', () => {
    const ids = () => (['ingress', 'egress'] as const).map((hook) => /\bid (\d+)/.exec(n1!.node.ns.exec('tc', ['filter', 'show', 'dev', VXLAN, hook]))?.[1]);
    const before = ids();
    const newer = tempDir('vx-obj');
    sh('make', ['-s', '-C', BPF_SRC, `OUT=${newer}`, 'CLANG=clang -gdwarf-4']);
    n1!.node.ns.exec(STRAITCTL, ['reload', '--objects', newer, '--bpf-dir', n1!.node.bpfDir, '--state-dir', n1!.node.stateDir]);
    const after = ids();
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]).not.toBe(before[1]);
    expect(after).not.toContain(undefined);
    expect(ping(pods.a, pods.b.v4).status).toBe(0);
    expect(ping(n1!, pods.b.v6!).status).toBe(0);
  });

  it('measures pod → remote pod over the tunnel against node → node over the veth', () => {
    const rows: [string, number][] = [];
    for (let round = 0; round < 2; round++) {
      rows.push(['node → node (veth)', iperf(n2!.node.ns.name, n1!.node.ns.name, n2!.v4, ['-t', '2'])]);
      rows.push(['pod → remote pod (vxlan)', iperf(pods.b.ns.name, pods.a.ns.name, pods.b.v4, ['-t', '2'])]);
    }
    const avg = (name: string) => rows.filter((r) => r[0] === name).reduce((s, r) => s + r[1], 0) / 2;
    const base = avg('node → node (veth)');
    const tun = avg('pod → remote pod (vxlan)');
    console.log(`iperf3 (2 × 2 s, interleaved): node → node ${(base / 1e9).toFixed(2)} Gbit/s, pod → remote pod over VXLAN ${(tun / 1e9).toFixed(2)} Gbit/s (${(tun / base).toFixed(2)} ×)`);
    expect(tun).toBeGreaterThan(0);
  });
});
