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
import { errnoThrown } from '../helpers/thrown.js';

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
    expect(addrs).toContainEqual({ family: 4, address: '198.18.0.10', prefixLen: 32 });
    expect(addrs).toContainEqual({ family: 6, address: 'fd5a::10', prefixLen: 128 });
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
      family: 4, dst: '169.254.1.1', prefixLen: 32, gateway: null, ifindex, scope: 'link', table: 254,
    });
    expect(v4).toContainEqual({
      family: 4, dst: null, prefixLen: 0, gateway: '169.254.1.1', ifindex, scope: 'universe', table: 254,
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
