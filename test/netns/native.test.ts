// The native addon against the real kernel, doing what the CNI plugin does for a
// pod: a veth pair with one end in a fresh namespace, addresses, a link-local
// gateway with permanent neighbour entries, a host route back, and a ping across
// to prove the wiring. Needs root; everything it creates carries a random suffix
// and is removed in afterAll even when a test fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { flock } from '../../src/datapath/flock.js';
import { Netlink } from '../../src/datapath/netlink.js';
import { SyscallError } from '../../src/errors.js';
import { cleanupAll, createNetns, type Netns } from '../helpers/sys.js';
import { codeOf, errnoThrown } from '../helpers/thrown.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  console.warn(
    '\n!!! test/netns/native.test.ts is SKIPPED: it must run as root (it creates network ' +
      'namespaces, veth pairs and routes). The native addon is NOT tested in this run.\n',
  );
}

const suffix = randomBytes(3).toString('hex');
const nsName = `strait-t-${suffix}`;
const nsPath = `/run/netns/${nsName}`;
const hostName = `stt${suffix}`; // host-side veth, 9 chars
const tmp = mkdtempSync(join(tmpdir(), 'strait-native-'));

/** Runs a cleanup command, ignoring failure (the thing may never have been made). */
function quietly(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore' });
}

/**
 * ping -c1 -W1, a few attempts. IPv6 needs them: until DAD finishes on the host
 * end (a second or two after it comes up) the host has no link-local source for
 * its neighbour solicitation, and the first echoes go unanswered.
 */
function pings(args: string[]): boolean {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (spawnSync('ping', ['-c1', '-W1', ...args], { stdio: 'ignore' }).status === 0) return true;
  }
  return false;
}

describe.skipIf(!isRoot)('native addon in throwaway namespaces', () => {
  let host: Netlink;
  let pod: Netlink;
  let hostMac = '';

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', nsName]);
    host = Netlink.open();
  });

  afterAll(() => {
    host?.close();
    pod?.close();
    quietly('ip', ['link', 'del', hostName]);
    quietly('ip', ['netns', 'del', nsName]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('creates a veth pair whose peer is born inside the namespace', () => {
    host.createVeth({ name: hostName, peerName: 'eth0', peerNetnsPath: nsPath, mtu: 1400, alias: 'strait:test' });

    const local = host.getLink(hostName);
    expect(local).toMatchObject({ name: hostName, kind: 'veth', mtu: 1400, alias: 'strait:test', up: false });
    expect(local?.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    hostMac = local?.mac ?? '';

    pod = Netlink.open(nsPath);
    const peer = pod.getLink('eth0');
    expect(peer).toMatchObject({ name: 'eth0', kind: 'veth', mtu: 1400, alias: null, up: false });
    // The host has an eth0 of its own on most machines; the peer must not be it.
    const peerMac = peer?.mac;
    expect(host.listLinks().some((l) => l.mac === peerMac)).toBe(false);
    expect(pod.listLinks().map((l) => l.name)).not.toContain(hostName);
  });

  it('refuses a second veth of the same name with EEXIST', () => {
    let err: (Error & { code?: string; errnoName?: string; errno?: number; syscall?: string }) | undefined;
    try {
      host.createVeth({ name: hostName, peerName: 'eth1', peerNetnsPath: nsPath });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toMatchObject({ code: 'E_NETLINK', errnoName: 'EEXIST', errno: 17, syscall: 'rtnl_link_add' });
    expect(err?.message).toContain(hostName);
    expect(pod.getLink('eth1')).toBeNull();
  });

  it('brings both ends up and addresses the pod end', () => {
    host.setLinkUp(hostName);
    pod.setLinkUp('lo');
    pod.setLinkUp('eth0');
    expect(host.getLink(hostName)?.up).toBe(true);
    expect(pod.getLink('eth0')?.up).toBe(true);

    pod.addAddress('eth0', { address: '198.18.0.10', prefixLen: 32 });
    pod.addAddress('eth0', { address: 'fd5a::10', prefixLen: 128, noDad: true });
    expect(errnoThrown(() => pod.addAddress('eth0', { address: '198.18.0.10', prefixLen: 32 }))).toBe('EEXIST');

    const addrs = pod.listAddresses('eth0');
    expect(addrs).toContainEqual(expect.objectContaining({ family: 4, address: '198.18.0.10', prefixLen: 32 }));
    expect(addrs).toContainEqual(expect.objectContaining({ family: 6, address: 'fd5a::10', prefixLen: 128 }));
    expect(host.listAddresses(hostName).filter((a) => a.family === 4)).toEqual([]);
  });

  it('routes the pod through a link-local gateway with permanent neighbours', () => {
    pod.addRoute({ dst: '169.254.1.1', prefixLen: 32, ifname: 'eth0', scope: 'link' });
    pod.addRoute({ dst: null, prefixLen: 0, gateway: '169.254.1.1', ifname: 'eth0' });
    pod.addRoute({ dst: null, prefixLen: 0, gateway: 'fe80::1', ifname: 'eth0' });
    pod.addNeighbor({ ifname: 'eth0', address: '169.254.1.1', mac: hostMac });
    pod.addNeighbor({ ifname: 'eth0', address: 'fe80::1', mac: hostMac });

    const ifindex = pod.getLink('eth0')?.ifindex;
    const v4 = pod.listRoutes(4, 'eth0');
    expect(v4).toContainEqual({
      family: 4, dst: '169.254.1.1', prefixLen: 32, gateway: null, ifindex, scope: 'link', table: 254, protocol: 4,
    });
    expect(v4).toContainEqual({
      family: 4, dst: null, prefixLen: 0, gateway: '169.254.1.1', ifindex, scope: 'universe', table: 254, protocol: 4,
    });
    expect(pod.listRoutes(6)).toContainEqual(
      expect.objectContaining({ family: 6, dst: null, prefixLen: 0, gateway: 'fe80::1', ifindex }),
    );
    expect(errnoThrown(() => pod.addRoute({ dst: null, prefixLen: 0, gateway: '169.254.1.1', ifname: 'eth0' }))).toBe(
      'EEXIST',
    );

    const neigh = pod.listNeighbors('eth0');
    expect(neigh).toContainEqual({ family: 4, address: '169.254.1.1', mac: hostMac, ifindex, permanent: true });
    expect(neigh).toContainEqual({ family: 6, address: 'fe80::1', mac: hostMac, ifindex, permanent: true });

    // Adding again replaces the entry instead of failing.
    pod.addNeighbor({ ifname: 'eth0', address: '169.254.1.1', mac: '02:00:00:00:00:01' });
    expect(pod.listNeighbors('eth0')).toContainEqual(
      expect.objectContaining({ address: '169.254.1.1', mac: '02:00:00:00:00:01' }),
    );
    pod.addNeighbor({ ifname: 'eth0', address: '169.254.1.1', mac: hostMac });
  });

  it('reaches the pod from the host over the veth (ping)', () => {
    const hasPing = spawnSync('ping', ['-V'], { stdio: 'ignore' }).status === 0;
    expect(hasPing, 'ping (iputils-ping) is needed to prove the wiring').toBe(true);
    host.addRoute({ dst: '198.18.0.10', prefixLen: 32, ifname: hostName, scope: 'link' });
    host.addRoute({ dst: 'fd5a::10', prefixLen: 128, ifname: hostName });
    expect(host.listRoutes(4, hostName)).toContainEqual(
      expect.objectContaining({ dst: '198.18.0.10', prefixLen: 32, gateway: null, scope: 'link' }),
    );
    expect(pings(['198.18.0.10'])).toBe(true);
    expect(pings(['-6', 'fd5a::10'])).toBe(true);
  });

  it('deletes routes, reporting whether they were there', () => {
    const v6default = { dst: null, prefixLen: 0, gateway: 'fe80::1', ifname: 'eth0' } as const;
    expect(pod.deleteRoute(v6default)).toBe(true);
    expect(pod.deleteRoute(v6default)).toBe(false);
    // No scope given: matches whatever scope the route was added with.
    expect(pod.deleteRoute({ dst: null, prefixLen: 0, ifname: 'eth0', family: 4 })).toBe(true);
    expect(pod.deleteRoute({ dst: '169.254.1.1', prefixLen: 32, ifname: 'eth0' })).toBe(true);
    expect(pod.listRoutes(4, 'eth0').filter((r) => r.gateway !== null || r.dst === '169.254.1.1')).toEqual([]);
    expect(host.deleteRoute({ dst: '198.18.0.10', prefixLen: 32, ifname: 'no-such-if0' })).toBe(false);
  });

  it('returns null for an absent link and deletes a link once', () => {
    expect(host.getLink(`nx${suffix}`)).toBeNull();
    expect(errnoThrown(() => host.setLinkUp(`nx${suffix}`))).toBe('ENODEV');
    expect(host.deleteLink(hostName)).toBe(true);
    expect(host.deleteLink(hostName)).toBe(false);
    expect(pod.getLink('eth0')).toBeNull(); // the peer went with it
  });

  it('deleteLinkEarly returns once the link and its routes are gone, before the kernel has answered', async () => {
    const name = `de${suffix}`.slice(0, 15);
    host.createVeth({ name, peerName: 'eth1', peerNetnsPath: nsPath });
    host.setLinkUp(name);
    host.addRoute({ dst: '198.18.0.77', prefixLen: 32, ifname: name, scope: 'link' });
    const late: Error[] = [];
    expect(await host.deleteLinkEarly(name, (e) => late.push(e))).toBe(true);
    expect(host.getLink(name)).toBeNull();
    expect(pod.getLink('eth1')).toBeNull();
    // A route through it is gone too: a new device may take that address at once.
    expect(host.listRoutes(4).some((r) => r.dst === '198.18.0.77')).toBe(false);
    expect(await host.deleteLinkEarly(name, (e) => late.push(e))).toBe(false);
    await new Promise((r) => setTimeout(r, 200)); // the kernel's late answer
    expect(late).toEqual([]);
  });

  it('rejects namespace paths that are missing or not a network namespace', () => {
    expect(errnoThrown(() => Netlink.open(`/run/netns/strait-t-missing-${suffix}`))).toBe('ENOENT');
    const regular = existsSync('/etc/hostname') ? '/etc/hostname' : join(tmp, 'regular');
    if (regular !== '/etc/hostname') writeFileSync(regular, 'x');
    expect(errnoThrown(() => Netlink.open(regular))).toBe('ENOTNETNS');
    expect(errnoThrown(() => Netlink.open('/proc/self/ns/mnt'))).toBe('ENOTNETNS');
    expect(errnoThrown(() => host.createVeth({ name: `x${suffix}`, peerName: 'eth0', peerNetnsPath: '/proc/self/ns/mnt' })))
      .toBe('ENOTNETNS');
    expect(host.getLink(`x${suffix}`)).toBeNull();
  });

  it('throws EBADF on a closed handle', () => {
    const h = Netlink.open(nsPath);
    h.close();
    h.close();
    expect(errnoThrown(() => h.listLinks())).toBe('EBADF');
  });

  it('flock: an exclusive lock on one open file blocks a non-waiting lock on another', () => {
    const file = join(tmp, 'lock');
    writeFileSync(file, '');
    const a = openSync(file, 'r+');
    const b = openSync(file, 'r+');
    try {
      expect(flock(a, 'exclusive', false)).toBe(true);
      expect(flock(b, 'exclusive', false)).toBe(false);
      expect(flock(b, 'shared', false)).toBe(false);
      expect(flock(a, 'unlock', false)).toBe(true);
      expect(flock(b, 'exclusive', false)).toBe(true);
      expect(flock(a, 'shared', false)).toBe(false);
    } finally {
      closeSync(a);
      closeSync(b);
    }
  });
});

// What the agent does on a node for the pods of other nodes: routes tagged with
// strait's protocol via the other nodes' addresses on the uplink, and the
// collect_md VXLAN device with its device routes. The node is a namespace whose
// uplink eth0 is a veth into an underlay namespace; `ip` is the independent witness.
describe.skipIf(!isRoot)('routes to other nodes and the VXLAN device', () => {
  const STRAIT = 200;
  let underlay: Netns;
  let node: Netns;
  let nl: Netlink;
  const ipIn = (args: string[]) => node.exec('ip', args);

  beforeAll(() => {
    underlay = createNetns('nl-u');
    node = createNetns('nl-n');
    const u = Netlink.open(underlay.path);
    try {
      u.createVeth({ name: 'u1', peerName: 'eth0', peerNetnsPath: node.path });
      u.setLinkUp('u1');
    } finally {
      u.close();
    }
    nl = Netlink.open(node.path);
    nl.setLinkUp('eth0');
    nl.addAddress('eth0', { address: '198.18.0.11', prefixLen: 24 });
    nl.addAddress('eth0', { address: 'fd5a:0:0:1::11', prefixLen: 64, noDad: true });
  });

  afterAll(() => {
    nl?.close();
    cleanupAll();
  });

  it('lists every address with its interface index, so the agent can find its uplink', () => {
    const eth0 = nl.getLink('eth0')!;
    const all = nl.listAddresses();
    expect(all).toContainEqual({ family: 4, address: '198.18.0.11', prefixLen: 24, ifindex: eth0.ifindex });
    expect(all).toContainEqual({ family: 6, address: 'fd5a:0:0:1::11', prefixLen: 64, ifindex: eth0.ifindex });
    expect(all).toContainEqual(expect.objectContaining({ address: '127.0.0.1', ifindex: nl.getLink('lo')!.ifindex }));
    expect(nl.listAddresses('eth0').every((a) => a.ifindex === eth0.ifindex)).toBe(true);
    expect(nl.linkWithAddress('fd5a:0:0:1::11')).toMatchObject({ name: 'eth0', ifindex: eth0.ifindex });
    expect(nl.linkWithAddress('198.18.0.12')).toBeNull();
  });

  it('adds routes via another node on the uplink tagged with a protocol, and lists exactly its own', () => {
    nl.addRoute({ dst: '198.18.102.0', prefixLen: 24, gateway: '198.18.0.12', ifname: 'eth0', protocol: STRAIT });
    nl.addRoute({ dst: 'fd5a:1ab:2::', prefixLen: 64, gateway: 'fd5a:0:0:1::12', ifname: 'eth0', protocol: STRAIT });
    // Someone else's routes on the same uplink: the default protocol (static) and another one.
    nl.addRoute({ dst: '198.18.103.0', prefixLen: 24, gateway: '198.18.0.13', ifname: 'eth0' });
    nl.addRoute({ dst: 'fd5a:1ab:3::', prefixLen: 64, gateway: 'fd5a:0:0:1::13', ifname: 'eth0', protocol: 186 });

    expect(ipIn(['-4', 'route', 'show', 'proto', '200'])).toMatch(/^198\.18\.102\.0\/24 via 198\.18\.0\.12 dev eth0\s*$/);
    expect(ipIn(['-6', 'route', 'show', 'proto', '200'])).toMatch(/^fd5a:1ab:2::\/64 via fd5a:0:0:1::12 dev eth0 metric 1024/);
    expect(ipIn(['-4', 'route', 'show', '198.18.103.0/24'])).toContain('proto static');

    const ifindex = nl.getLink('eth0')!.ifindex;
    expect(nl.listRoutes(4, { protocol: STRAIT })).toEqual([
      { family: 4, dst: '198.18.102.0', prefixLen: 24, gateway: '198.18.0.12', ifindex, scope: 'universe', table: 254, protocol: STRAIT },
    ]);
    expect(nl.listRoutes(6, { protocol: STRAIT, ifname: 'eth0' })).toEqual([
      expect.objectContaining({ dst: 'fd5a:1ab:2::', prefixLen: 64, gateway: 'fd5a:0:0:1::12', ifindex, protocol: STRAIT }),
    ]);
    expect(nl.listRoutes(6, { protocol: STRAIT, ifname: 'lo' })).toEqual([]);
    // Every route says whose it is: the connected one is the kernel's (2), the foreign one static (4).
    const v4 = nl.listRoutes(4, 'eth0');
    expect(v4).toContainEqual(expect.objectContaining({ dst: '198.18.0.0', prefixLen: 24, protocol: 2, gateway: null }));
    expect(v4).toContainEqual(expect.objectContaining({ dst: '198.18.103.0', protocol: 4 }));
    expect(nl.listRoutes(6)).toContainEqual(expect.objectContaining({ dst: 'fd5a:1ab:3::', protocol: 186 }));
  });

  it('replaces a route in place (a node whose address changed)', () => {
    nl.replaceRoute({ dst: '198.18.102.0', prefixLen: 24, gateway: '198.18.0.22', ifname: 'eth0', protocol: STRAIT });
    nl.replaceRoute({ dst: 'fd5a:1ab:2::', prefixLen: 64, gateway: 'fd5a:0:0:1::22', ifname: 'eth0', protocol: STRAIT });
    expect(nl.listRoutes(4, { protocol: STRAIT }).map((r) => r.gateway)).toEqual(['198.18.0.22']);
    expect(nl.listRoutes(6, { protocol: STRAIT }).map((r) => r.gateway)).toEqual(['fd5a:0:0:1::22']);
    // replace also creates
    nl.replaceRoute({ dst: '198.18.105.0', prefixLen: 24, gateway: '198.18.0.15', ifname: 'eth0', protocol: STRAIT });
    expect(nl.listRoutes(4, { protocol: STRAIT }).map((r) => r.dst).sort()).toEqual(['198.18.102.0', '198.18.105.0']);
    expect(nl.deleteRoute({ dst: '198.18.105.0', prefixLen: 24, gateway: '198.18.0.15', ifname: 'eth0', protocol: STRAIT })).toBe(true);
  });

  it('deletes by protocol: another protocol\'s route of that prefix is left alone', () => {
    const foreign4 = { dst: '198.18.103.0', prefixLen: 24, gateway: '198.18.0.13', ifname: 'eth0' } as const;
    const foreign6 = { dst: 'fd5a:1ab:3::', prefixLen: 64, gateway: 'fd5a:0:0:1::13', ifname: 'eth0' } as const;
    expect(nl.deleteRoute({ ...foreign4, protocol: STRAIT })).toBe(false);
    expect(nl.deleteRoute({ ...foreign6, protocol: STRAIT })).toBe(false);
    expect(ipIn(['-4', 'route', 'show', '198.18.103.0/24'])).toContain('via 198.18.0.13');
    expect(ipIn(['-6', 'route', 'show', 'fd5a:1ab:3::/64'])).toContain('via fd5a:0:0:1::13');

    for (const r of [...nl.listRoutes(4, { protocol: STRAIT }), ...nl.listRoutes(6, { protocol: STRAIT })])
      expect(nl.deleteRoute({ dst: r.dst, prefixLen: r.prefixLen, gateway: r.gateway ?? undefined, ifname: 'eth0', protocol: STRAIT })).toBe(true);
    expect(ipIn(['route', 'show', 'proto', '200'])).toBe('');
    expect(ipIn(['-6', 'route', 'show', 'proto', '200'])).toBe('');
    expect(nl.listRoutes(4).map((r) => r.dst)).toContain('198.18.103.0');
    expect(nl.listRoutes(6).map((r) => r.dst)).toContain('fd5a:1ab:3::');
  });

  it('creates a collect_md VXLAN device: no learning, NOARP, no IPv6 link-local, up', () => {
    nl.createVxlan({ name: 'strait_vxlan', port: 8472, mtu: 1450 });
    expect(nl.getLink('strait_vxlan')).toMatchObject({
      name: 'strait_vxlan',
      kind: 'vxlan',
      mtu: 1450,
      up: true,
      noarp: true,
      ipv6AddrGenMode: 'none',
      vxlan: { collectMetadata: true, learning: false, port: 8472 },
    });
    const detail = ipIn(['-d', 'link', 'show', 'strait_vxlan']);
    expect(detail).toMatch(/<[^>]*NOARP[^>]*UP[^>]*>/);
    expect(detail).toMatch(/vxlan external /);
    expect(detail).toContain('dstport 8472');
    expect(detail).toContain('nolearning');
    expect(detail).toContain('addrgenmode none');
    expect(nl.listAddresses('strait_vxlan')).toEqual([]);
    expect(ipIn(['-6', 'addr', 'show', 'dev', 'strait_vxlan'])).toBe('');
  });

  it('a VXLAN device made the ordinary way would get a link-local address (the check above can fail)', () => {
    ipIn(['link', 'add', 'plain_vx', 'type', 'vxlan', 'external', 'learning', 'dstport', '4789']);
    ipIn(['link', 'set', 'plain_vx', 'up']);
    expect(nl.listAddresses('plain_vx')).toContainEqual(expect.objectContaining({ family: 6, prefixLen: 64 }));
    // An existing device the agent must replace: not strait's port, learning on, and so on.
    expect(nl.getLink('plain_vx')).toMatchObject({
      kind: 'vxlan',
      noarp: false,
      ipv6AddrGenMode: 'eui64',
      vxlan: { collectMetadata: true, learning: true, port: 4789 },
    });
    ipIn(['link', 'add', 'vni_vx', 'type', 'vxlan', 'id', '42', 'dstport', '8473']);
    expect(nl.getLink('vni_vx')?.vxlan).toEqual({ collectMetadata: false, learning: true, port: 8473 });
    expect(nl.getLink('eth0')).toMatchObject({ kind: 'veth', vxlan: null, noarp: false });
    expect(nl.deleteLink('plain_vx')).toBe(true);
    expect(nl.deleteLink('vni_vx')).toBe(true);
  });

  it('makes a VXLAN device below IPv6\'s minimum MTU too (no IPv6 on it, so no address to suppress)', () => {
    nl.createVxlan({ name: 'small_vx', port: 8479, mtu: 1200 });
    expect(nl.getLink('small_vx')).toMatchObject({ mtu: 1200, up: true, noarp: true, ipv6AddrGenMode: null });
    expect(nl.listAddresses('small_vx')).toEqual([]);
    expect(nl.deleteLink('small_vx')).toBe(true);
  });

  it('refuses a second VXLAN device of that name, or on that port, with EEXIST', () => {
    const again = thrownSyscall(() => nl.createVxlan({ name: 'strait_vxlan', port: 8472, mtu: 1450 }));
    expect(again).toMatchObject({ code: 'E_NETLINK', errnoName: 'EEXIST', syscall: 'rtnl_link_add' });
    expect(again.message).toContain('strait_vxlan');
    const port = thrownSyscall(() => nl.createVxlan({ name: 'strait_vx2', port: 8472, mtu: 1450 }));
    expect(port).toMatchObject({ errnoName: 'EEXIST' });
    expect(port.message).toContain('8472');
    expect(nl.getLink('strait_vx2')).toBeNull();
    expect(nl.getLink('strait_vxlan')).toMatchObject({ mtu: 1450, up: true });
  });

  it('routes pod CIDRs to the VXLAN device (device routes, both families) and changes its MTU', () => {
    nl.addRoute({ dst: '198.18.104.0', prefixLen: 24, ifname: 'strait_vxlan', protocol: STRAIT });
    nl.addRoute({ dst: 'fd5a:1ab:4::', prefixLen: 64, ifname: 'strait_vxlan', protocol: STRAIT });
    expect(ipIn(['-4', 'route', 'show', 'proto', '200'])).toMatch(/^198\.18\.104\.0\/24 dev strait_vxlan scope link\s*$/);
    expect(ipIn(['-6', 'route', 'show', 'proto', '200'])).toMatch(/^fd5a:1ab:4::\/64 dev strait_vxlan metric 1024/);
    const ifindex = nl.getLink('strait_vxlan')!.ifindex;
    expect(nl.listRoutes(4, { ifname: 'strait_vxlan', protocol: STRAIT })).toEqual([
      { family: 4, dst: '198.18.104.0', prefixLen: 24, gateway: null, ifindex, scope: 'link', table: 254, protocol: STRAIT },
    ]);
    expect(nl.listRoutes(6, { ifname: 'strait_vxlan', protocol: STRAIT })).toEqual([
      expect.objectContaining({ dst: 'fd5a:1ab:4::', prefixLen: 64, gateway: null, ifindex, protocol: STRAIT }),
    ]);

    nl.setLinkMtu('strait_vxlan', 1400);
    expect(nl.getLink('strait_vxlan')?.mtu).toBe(1400);
    expect(ipIn(['link', 'show', 'strait_vxlan'])).toContain('mtu 1400');
    expect(errnoThrown(() => nl.setLinkMtu('no_such_vx', 1400))).toBe('ENODEV');

    expect(nl.deleteRoute({ dst: '198.18.104.0', prefixLen: 24, ifname: 'strait_vxlan', protocol: STRAIT })).toBe(true);
    expect(nl.deleteRoute({ dst: 'fd5a:1ab:4::', prefixLen: 64, ifname: 'strait_vxlan', protocol: STRAIT })).toBe(true);
    expect(nl.deleteLink('strait_vxlan')).toBe(true);
    expect(nl.getLink('strait_vxlan')).toBeNull();
  });

  it('rejects bad arguments with InvalidArgError before anything reaches the kernel', () => {
    const bad = [
      () => nl.createVxlan({ name: 'strait_vxlan_long', port: 8472, mtu: 1450 }),
      () => nl.createVxlan({ name: 'strait_vx3', port: 0, mtu: 1450 }),
      () => nl.createVxlan({ name: 'strait_vx3', port: 8472, mtu: 20 }),
      () => nl.addRoute({ dst: '198.18.106.0', prefixLen: 24, gateway: '198.18.0.16', ifname: 'eth0', protocol: 256 }),
      () => nl.deleteRoute({ dst: '198.18.106.0', prefixLen: 24, ifname: 'eth0', protocol: -1 }),
      () => nl.listRoutes(4, { protocol: 0 }),
      () => nl.setLinkMtu('eth0', 65536),
      () => nl.linkWithAddress('198.18.0.11/24'),
    ];
    for (const f of bad) expect(codeOf(f)).toBe('ERR_INVALID_ARG');
    expect(nl.getLink('strait_vx3')).toBeNull();
    expect(nl.getLink('eth0')?.mtu).toBe(1500);
    expect(nl.listRoutes(4).map((r) => r.dst)).not.toContain('198.18.106.0');
  });
});

function thrownSyscall(f: () => unknown): SyscallError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SyscallError);
    return e as SyscallError;
  }
  throw new Error('expected a SyscallError');
}
