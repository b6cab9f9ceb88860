// Native routing between two emulated nodes, at the datapath level: each node is
// a netns (test/helpers/node.ts) whose uplink eth0 is one end of a veth joining
// the two, with its own bpffs and pods ADDed by bin/strait. What the agent will do
// is done here by hand through the maps.h mirror: strait_config_v1 (native, the
// uplink), strait_remote_v1 (the other node's pod CIDRs), the routes
// `<podCIDR> via <other node> dev eth0 proto 200`, and from_uplink on eth0's tc
// ingress. With forwarding off and FORWARD DROP on both nodes, only the BPF path
// can carry pod traffic across, and the counters say it did.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import * as bpf from '../../src/datapath/bpf.js';
import { CONFIG_KEY, encodeCidrKey, encodeConfigValue, encodeRemoteValue, MapName, ProgramName } from '../../src/datapath/maps/index.js';
import { Node, type NodePod } from '../helpers/node.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('cross-node native routing (two node netns, real packets)');

const STRAIT_ROUTE_PROTOCOL = '200';

interface Emulated {
  node: Node;
  ip: { v4: string; v6: string };
  cidr: { v4: string; v6: string };
  pod?: NodePod;
}

/** Node i as the emulated cluster contract numbers it. */
const emulated = (i: number): Emulated => {
  const cidr = { v4: `198.18.${100 + i}.0/24`, v6: `fd5a:1ab:${i}::/64` };
  return { node: new Node(`xn${i}`, cidr), ip: { v4: `198.18.0.${10 + i}`, v6: `fd5a:0:0:1::${10 + i}` }, cidr };
};

function withMap(n: Node, map: string, fn: (fd: number) => void): void {
  const fd = bpf.getPinned(join(n.bpfDir, map));
  if (fd === null) throw new Error(`${map} is not pinned in ${n.bpfDir}`);
  try {
    fn(fd);
  } finally {
    bpf.closeFd(fd);
  }
}

const ifindexIn = (n: Node, dev: string): number => (JSON.parse(n.ip(['-j', 'link', 'show', dev])) as { ifindex: number }[])[0]!.ifindex;

/** What the agent of `self` will do for `peer`: remote entries and routes. */
function routeTo(self: Emulated, peer: Emulated, cidr: { v4: string; v6: string } = peer.cidr): void {
  withMap(self.node, MapName.remote, (fd) => {
    for (const f of ['v4', 'v6'] as const) bpf.mapUpdate(fd, encodeCidrKey(cidr[f]), encodeRemoteValue({ nodeIp: peer.ip[f] }));
  });
}

function routes(self: Emulated, peer: Emulated): void {
  self.node.ip(['route', 'add', peer.cidr.v4, 'via', peer.ip.v4, 'dev', 'eth0', 'proto', STRAIT_ROUTE_PROTOCOL]);
  self.node.ip(['-6', 'route', 'add', peer.cidr.v6, 'via', peer.ip.v6, 'dev', 'eth0', 'proto', STRAIT_ROUTE_PROTOCOL]);
}

function attachFromUplink(n: Node): void {
  const progs = readdirSync(n.bpfDir).find((e) => e.startsWith('progs-'));
  if (progs === undefined) throw new Error(`no programs pinned in ${n.bpfDir}`);
  n.ns.exec('tc', ['qdisc', 'add', 'dev', 'eth0', 'clsact']);
  n.ns.exec('tc', ['filter', 'add', 'dev', 'eth0', 'ingress', 'bpf', 'direct-action', 'pinned', join(n.bpfDir, progs, ProgramName.fromUplink)]);
}

function tcpStream(client: NodePod, server: NodePod, ip: string): number {
  const r = spawnSync(
    'sh',
    ['-c', `ip netns exec ${server.ns.name} iperf3 -s -1 -D -B ${ip} && sleep 0.3 && ip netns exec ${client.ns.name} iperf3 -t 1 -c ${ip} -J`],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`iperf3 to ${ip}: ${r.stdout} ${r.stderr}`);
  return (JSON.parse(r.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
}

describe.skipIf(!isRoot)('native routing across two nodes, forwarding off', () => {
  const nodes: Emulated[] = [];
  const pod = (i: number): NodePod => {
    const p = nodes[i]?.pod;
    if (!p) throw new Error(`node ${i} has no pod`);
    return p;
  };

  beforeAll(async () => {
    nodes.push(emulated(1), emulated(2));
    const [n1, n2] = nodes as [Emulated, Emulated];
    n1.node.ip(['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n2.node.ns.name]);
    for (const n of nodes) {
      n.pod = await n.node.addPod(`xp${nodes.indexOf(n) + 1}`);
      n.node.ip(['addr', 'add', `${n.ip.v4}/24`, 'dev', 'eth0']);
      n.node.ip(['addr', 'add', `${n.ip.v6}/64`, 'dev', 'eth0', 'nodad']);
      n.node.ip(['link', 'set', 'eth0', 'up']);
      withMap(n.node, MapName.config, (fd) =>
        bpf.mapUpdate(fd, CONFIG_KEY, encodeConfigValue({ routing: 'native', uplinkIfindex: ifindexIn(n.node, 'eth0'), tunnelIfindex: 0 })),
      );
      attachFromUplink(n.node);
      // ADD turned forwarding on; the node's own forwarding is not strait's path.
      n.node.sysctl('net.ipv4.ip_forward', '0');
      n.node.sysctl('net.ipv6.conf.all.forwarding', '0');
      n.node.ns.exec('iptables', ['-P', 'FORWARD', 'DROP']);
      n.node.ns.exec('ip6tables', ['-P', 'FORWARD', 'DROP']);
    }
    routeTo(n1, n2);
    routeTo(n2, n1);
    routes(n1, n2);
    routes(n2, n1);
  });
  afterAll(() => cleanupAll());

  it('pod → remote pod: ping and TCP over IPv4 and IPv6 both ways, through STAT_TO_NODE and STAT_FROM_NODE', () => {
    const before = nodes.map((n) => n.node.counters());
    for (const [src, dst] of [[pod(0), pod(1)], [pod(1), pod(0)]] as const) {
      for (const ip of [dst.v4, dst.v6!]) {
        src.ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', ip]);
        expect(tcpStream(src, dst, ip), ip).toBeGreaterThan(1_000_000);
      }
    }
    for (const [i, n] of nodes.entries()) {
      expect(n.node.sysctl('net.ipv4.ip_forward')).toBe('0');
      const after = n.node.counters();
      const moved = (name: string) => (after.get(name) ?? 0n) - (before[i]?.get(name) ?? 0n);
      // Per node: 12 echo packets each way, and two one-second streams sent and two received.
      expect(moved('STAT_TO_NODE'), `node ${i + 1}`).toBeGreaterThan(1000n);
      expect(moved('STAT_FROM_NODE'), `node ${i + 1}`).toBeGreaterThan(1000n);
      expect(moved('STAT_FIB_FALLBACK'), `node ${i + 1}`).toBe(0n);
    }
  });

  it('with forwarding on the FIB helper answers (nexthop resolved or not): still out of the uplink by BPF, past FORWARD DROP', () => {
    const [n1] = nodes as [Emulated, Emulated];
    n1.node.sysctl('net.ipv4.ip_forward', '1');
    n1.node.sysctl('net.ipv6.conf.all.forwarding', '1');
    try {
      for (const ip of [pod(1).v4, pod(1).v6!]) {
        // No neighbour entry for the nexthop first (NO_NEIGH), then a resolved one (SUCCESS).
        n1.node.ip(['neigh', 'flush', 'dev', 'eth0']);
        const before = n1.node.counters();
        pod(0).ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', ip]);
        const after = n1.node.counters();
        const moved = (name: string) => (after.get(name) ?? 0n) - (before.get(name) ?? 0n);
        expect(moved('STAT_TO_NODE'), ip).toBe(3n);
        expect(moved('STAT_FIB_FALLBACK'), ip).toBe(0n);
      }
    } finally {
      n1.node.sysctl('net.ipv4.ip_forward', '0');
      n1.node.sysctl('net.ipv6.conf.all.forwarding', '0');
    }
  });

  it('a remote pod CIDR without its route (forwarding on): the FIB lookup falls back to the stack, counted by return code', () => {
    const [n1, n2] = nodes as [Emulated, Emulated];
    // A third node's CIDR that n1 knows of but has no route to.
    const ghost = { v4: '198.18.103.0/24', v6: 'fd5a:1ab:3::/64' };
    routeTo(n1, n2, ghost);
    n1.node.sysctl('net.ipv4.ip_forward', '1');
    n1.node.sysctl('net.ipv6.conf.all.forwarding', '1');
    try {
      const before = n1.node.counters();
      for (const ip of ['198.18.103.5', 'fd5a:1ab:3::5']) {
        const r = spawnSync('ip', ['netns', 'exec', pod(0).ns.name, 'ping', '-c', '2', '-i', '0.2', '-W', '1', ip]);
        expect(r.status, ip).not.toBe(0);
      }
      const after = n1.node.counters();
      const moved = (name: string) => (after.get(name) ?? 0n) - (before.get(name) ?? 0n);
      expect(moved('STAT_FIB_FALLBACK')).toBe(4n);
      // No route at all (no default either): the kernel's lookup fails as "not forwarded".
      expect(moved('BPF_FIB_LKUP_RET_NOT_FWDED') + moved('BPF_FIB_LKUP_RET_UNREACHABLE')).toBe(4n);
      expect(moved('STAT_TO_NODE')).toBe(0n);
    } finally {
      n1.node.sysctl('net.ipv4.ip_forward', '0');
      n1.node.sysctl('net.ipv6.conf.all.forwarding', '0');
    }
  });
});
