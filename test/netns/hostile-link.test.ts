// Hostile pods at the link layer (issue #8, "Drills: hostile pods"): each pod of a
// node that is a network namespace of its own sends, from a raw socket, what a pod
// with CAP_NET_RAW can — Router Advertisements, Redirects, neighbour advertisements
// and ARP claiming other addresses — and each attempt is shown to change nothing on
// the node and to be dropped and counted under its reason. What Kubernetes allows
// (a pod reaching its node's own ports) is shown allowed, with policy in force.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';

import * as bpf from '../../src/datapath/bpf.js';
import { listLinks } from '../../src/datapath/endpoints.js';
import {
  decodeEndpointValue,
  encodeCidrKey,
  encodeCidrValue,
  encodeEndpointKey,
  encodeEndpointValue,
  EP_F_EGRESS_ISOLATED,
  EP_F_INGRESS_ISOLATED,
  IDENTITY_HOST,
  MapName,
} from '../../src/datapath/maps/index.js';
import { ndFrame, neighborAdvertisement, redirect, routerAdvertisement } from '../helpers/ndgen.js';
import { Node, type NodePod } from '../helpers/node.js';
import { arpRequest, BROADCAST, ETH_P_ARP, ethFrame } from '../helpers/pktgen.js';
import { sendFrame } from '../helpers/raw-frame.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('hostile pods at the link layer (netns drill)');

/** The link-local address a hostile pod sends its router messages from. */
const POD_LL = 'fe80::bad:1';

async function until(what: () => boolean, tries = 30): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (what()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return what();
}

/** Sends `frame` from `pod` and waits until `counter` moved or `harm` shows; returns how far the counter moved. */
async function attack(node: Node, pod: NodePod, frame: Uint8Array, counter: string, harm: () => boolean): Promise<bigint> {
  const before = node.counters().get(counter) ?? 0n;
  sendFrame(pod.ns, 'eth0', frame);
  await until(() => (node.counters().get(counter) ?? 0n) > before || harm());
  return (node.counters().get(counter) ?? 0n) - before;
}

describe.skipIf(!isRoot)('hostile pods on an IPv4-only node: router messages', () => {
  let node: Node;
  let a: NodePod;

  beforeAll(async () => {
    node = new Node('hl4', { v4: '198.18.61.0/24' });
    a = await node.addPod('hl4a');
  });
  afterAll(() => cleanupAll());

  const conf = (key: string) => `net.ipv6.conf.${a.hostVeth}.${key}`;

  it('every host veth is a router port: no RA, no SLAAC, no redirects', () => {
    // IPv6 forwarding is off on an IPv4-only node, so the kernel defaults would take RAs.
    expect(node.sysctl('net.ipv6.conf.all.forwarding')).toBe('0');
    for (const key of ['accept_ra', 'autoconf', 'accept_redirects', 'accept_dad']) expect(node.sysctl(conf(key)), key).toBe('0');
    expect(node.sysctl(`net.ipv4.conf.${a.hostVeth}.accept_redirects`)).toBe('0');
  });

  it('a Router Advertisement gives the node no default route and no address: DROP_ROUTER_MSG', async () => {
    // Even on a node whose veth would take RAs (the sysctls put back): the datapath stops them first.
    node.sysctl(conf('accept_ra'), '2');
    node.sysctl(conf('autoconf'), '1');
    try {
      const ra = ndFrame(
        { ethSrc: a.mac, ethDst: a.hostMac, src: POD_LL, dst: 'ff02::1' },
        routerAdvertisement({ lifetime: 1800, prefix: '2001:db8:ba::', mac: a.mac }),
      );
      const hijacked = () =>
        node.ns.exec('ip', ['-6', 'route', 'show', 'default']).includes('proto ra') ||
        node.ns.exec('ip', ['-6', 'addr', 'show', 'dev', a.hostVeth]).includes('2001:db8:ba:');
      const moved = await attack(node, a, ra, 'DROP_ROUTER_MSG', hijacked);
      expect(node.ns.exec('ip', ['-6', 'route', 'show', 'default'])).not.toContain('proto ra');
      expect(node.ns.exec('ip', ['-6', 'addr', 'show', 'dev', a.hostVeth])).not.toContain('2001:db8:ba:');
      expect(moved).toBe(1n);
    } finally {
      node.sysctl(conf('accept_ra'), '0');
      node.sysctl(conf('autoconf'), '0');
    }
  });

  it("a Redirect moves none of the node's routes: DROP_ROUTER_MSG", async () => {
    // A route through the pod (a hijacked RA would have made one), and redirects accepted.
    node.ns.exec('ip', ['-6', 'route', 'add', '2001:db8:77::/64', 'via', POD_LL, 'dev', a.hostVeth]);
    node.sysctl(conf('accept_redirects'), '1');
    try {
      const nodeLl = /inet6 (fe80::[0-9a-f:]+)\//.exec(node.ns.exec('ip', ['-6', 'addr', 'show', 'dev', a.hostVeth, 'scope', 'link']))?.[1];
      expect(nodeLl).toBeDefined();
      const frame = ndFrame({ ethSrc: a.mac, ethDst: a.hostMac, src: POD_LL, dst: nodeLl! }, redirect('fe80::e71', '2001:db8:77::1', a.mac));
      const route = () => node.ns.exec('ip', ['-6', 'route', 'get', '2001:db8:77::1']);
      const moved = await attack(node, a, frame, 'DROP_ROUTER_MSG', () => route().includes('fe80::e71'));
      expect(route()).toContain(`via ${POD_LL}`);
      expect(route()).not.toContain('fe80::e71');
      expect(moved).toBe(1n);
    } finally {
      node.sysctl(conf('accept_redirects'), '0');
      node.ns.exec('ip', ['-6', 'route', 'del', '2001:db8:77::/64'], { allowFail: true });
    }
  });
  it('ADD ties the host veth to its pod in strait_links_v1 (to_pod lets nothing else in); DEL unties it', async () => {
    const links = () => {
      const fd = bpf.getPinned(`${node.bpfDir}/${MapName.links}`)!;
      try {
        return listLinks(fd);
      } finally {
        bpf.closeFd(fd);
      }
    };
    const b = await node.addPod('hl4b');
    const ifindex = Number(node.ns.exec('cat', [`/sys/class/net/${b.hostVeth}/ifindex`]).trim());
    expect(links()).toContainEqual({ ifindex, family: 4, ip: b.v4 });
    const del = await node.cni({ command: 'DEL', containerId: b.id, netns: b.ns.path });
    expect(del.exitCode, del.stdout).toBe(0);
    expect(links().map((l) => l.ifindex)).not.toContain(ifindex);
    // a's entry is untouched.
    expect(links().map((l) => l.ip)).toContain(a.v4);
  });
});

describe.skipIf(!isRoot)('hostile pods on a dual-stack node: neighbours, hops and the node itself', () => {
  let node: Node;
  let c: NodePod;
  let d: NodePod;
  const NODE_IP = { v4: '198.18.62.250', v6: 'fd5a:62:ff::1' };
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    node = new Node('hl46', { v4: '198.18.62.0/24', v6: 'fd5a:62::/64' });
    // The node's own address, where its services listen (on lo: the node has no uplink here).
    node.ns.exec('ip', ['addr', 'add', `${NODE_IP.v4}/32`, 'dev', 'lo']);
    node.ns.exec('ip', ['addr', 'add', `${NODE_IP.v6}/128`, 'dev', 'lo']);
    c = await node.addPod('hl46c');
    d = await node.addPod('hl46d');
  });
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    cleanupAll();
  });

  it('honest neighbour resolution still works both ways (ARP and ND pass their checks)', () => {
    for (const p of [c, d]) {
      node.ns.exec('ping', ['-c', '1', '-W', '2', p.v4]);
      node.ns.exec('ping', ['-c', '1', '-W', '2', p.v6!]);
    }
    c.ns.exec('ping', ['-c', '1', '-W', '2', d.v6!]);
  });

  /** The node's neighbour entries on p's veth, "address mac" each. */
  const neighbours = (p: NodePod): string =>
    ['-4', '-6']
      .flatMap((f) => node.ns.exec('ip', [f, 'neigh', 'show', 'dev', p.hostVeth]).split('\n'))
      .map((line) => /^(\S+) lladdr (\S+)/.exec(line))
      .flatMap((m) => (m ? [`${m[1]} ${m[2]}`] : []))
      .sort()
      .join('\n');

  it.each([
    ["another pod's address", () => d.v6!],
    ["the gateway's address", () => 'fe80::1'],
  ])('a neighbour advertisement claiming %s changes no neighbour entry: DROP_SPOOF_IP', async (_what, target) => {
    const na = ndFrame({ ethSrc: c.mac, ethDst: c.hostMac, src: 'fe80::c', dst: 'ff02::1' }, neighborAdvertisement(target(), c.mac));
    const moved = await attack(node, c, na, 'DROP_SPOOF_IP', () => neighbours(c).includes(target()));
    // Nowhere on the node does an address now lead to c's MAC but c's own.
    expect(neighbours(c)).not.toContain(target());
    expect(neighbours(d)).not.toContain(c.mac);
    expect(moved).toBe(1n);
  });

  it("a gratuitous ARP claiming another pod's address: DROP_SPOOF_IP; with another pod's MAC: DROP_SPOOF_MAC", async () => {
    const claim = ethFrame({ src: c.mac, dst: BROADCAST }, ETH_P_ARP, arpRequest(c.mac, d.v4, d.v4));
    expect(await attack(node, c, claim, 'DROP_SPOOF_IP', () => neighbours(c).includes(d.v4))).toBe(1n);
    expect(neighbours(c)).not.toContain(d.v4);
    const asD = ethFrame({ src: d.mac, dst: BROADCAST }, ETH_P_ARP, arpRequest(d.mac, c.v4, '169.254.1.1'));
    expect(await attack(node, c, asD, 'DROP_SPOOF_MAC', () => false)).toBe(1n);
    // The node still reaches d at d's own MAC, through d's veth.
    node.ns.exec('ping', ['-c', '1', '-W', '2', d.v4]);
    expect(neighbours(d)).toContain(d.mac);
  });

  it.each([4, 6] as const)('IPv%i: a packet to a local pod with one hop left gets time exceeded from the node, not the pod', (family) => {
    const dst = family === 4 ? d.v4 : d.v6!;
    const before = node.counters().get('STAT_TTL_EXPIRED') ?? 0n;
    const out = c.ns.exec('ping', [`-${family}`, '-c', '1', '-W', '2', '-t', '1', dst], { allowFail: true });
    expect(out).toMatch(family === 4 ? /Time to live exceeded/ : /Time exceeded: Hop limit/);
    expect((node.counters().get('STAT_TTL_EXPIRED') ?? 0n) - before).toBe(1n);
    // With hops to spare it arrives, one hop (the node) spent.
    expect(c.ns.exec('ping', [`-${family}`, '-c', '1', '-W', '2', dst])).toMatch(family === 4 ? /ttl=63/ : /ttl=63|hlim=63/);
  });

  it("a pod reaches its node's own ports even isolated both ways (Kubernetes: node <-> pod is always allowed)", async () => {
    // Deny-all both ways for c, as a NetworkPolicy selecting it with no rules compiles to
    // (isolation flags, no allow entries), and the node's addresses known as the node,
    // as the agent writes them (src/agent/host-addresses.ts).
    const endpoints = bpf.getPinned(`${node.bpfDir}/${MapName.endpoints}`)!;
    const cidr = bpf.getPinned(`${node.bpfDir}/${MapName.cidr}`)!;
    try {
      for (const [family, ip] of [[4, NODE_IP.v4], [6, NODE_IP.v6]] as const)
        bpf.mapUpdate(cidr, encodeCidrKey(`${ip}/${family === 4 ? 32 : 128}`), encodeCidrValue({ identity: IDENTITY_HOST }));
      for (const [family, ip] of [[4, c.v4], [6, c.v6!]] as const) {
        const key = encodeEndpointKey({ family, ip });
        const v = decodeEndpointValue(bpf.mapLookup(endpoints, key)!);
        bpf.mapUpdate(endpoints, key, encodeEndpointValue({ ...v, flags: v.flags | EP_F_INGRESS_ISOLATED | EP_F_EGRESS_ISOLATED }));
      }
    } finally {
      bpf.closeFd(endpoints);
      bpf.closeFd(cidr);
    }
    // Isolation is in force: c cannot reach d.
    const denied = node.counters().get('DROP_POLICY_EGRESS') ?? 0n;
    expect(c.ns.exec('ping', ['-c', '1', '-W', '1', d.v4], { allowFail: true })).toMatch(/100% packet loss/);
    expect((node.counters().get('DROP_POLICY_EGRESS') ?? 0n) - denied).toBe(1n);

    const server = spawn('ip', ['netns', 'exec', node.ns.name, 'python3', '-c', [
      'import socket',
      's = socket.socket(socket.AF_INET6)',
      's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)',
      "s.bind(('::', 9300)); s.listen(); print('up', flush=True)",
      'for _ in range(2):',
      "    c, _ = s.accept(); c.sendall(b'node'); c.close()",
    ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(server);
    await new Promise((r) => server.stdout.once('data', r));
    for (const ip of [NODE_IP.v4, NODE_IP.v6]) {
      const got = c.ns.exec('python3', ['-c', `import socket; print(socket.create_connection(('${ip}', 9300), timeout=3).recv(8).decode())`]);
      expect(got.trim(), ip).toBe('node');
    }
    // And the node reaches the isolated pod.
    node.ns.exec('ping', ['-c', '1', '-W', '2', c.v4]);
  });
});
