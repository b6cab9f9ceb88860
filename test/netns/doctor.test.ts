// straitctl doctor on a real node: pods added by bin/strait inside a node namespace
// with its own bpffs, then each kind of thing broken behind strait's back. Doctor
// must report exactly that (one problem, the right kind), exit 1, and --fix must
// repair it so that a second scan is clean — and the pods left still talk.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as bpf from '../../src/datapath/bpf.js';
import { writeEndpoint, writeLink } from '../../src/datapath/endpoints.js';
import { encodeCtKey, encodeCtValue } from '../../src/datapath/maps/ct.js';
import { MapName, ProgramName } from '../../src/datapath/maps/names.js';
import { encodePolicyKey, encodePolicyValue } from '../../src/datapath/maps/policy.js';
import { leaseFileName } from '../../src/ipam/disk-store.js';
import { removeEndpointRecord } from '../../src/state/endpoint-record.js';
import { Node, type NodePod } from '../helpers/node.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('straitctl doctor integration tests');

/** A pod of the node, dual-stack. */
type Pod = NodePod & { v6: string };

describe.skipIf(!isRoot)('straitctl doctor on a node', () => {
  const node = isRoot ? new Node('dr', { v4: '198.18.60.0/24', v6: 'fd5a:60::/64' }) : (null as unknown as Node);
  const config = isRoot ? node.config() : {};
  const pods = new Map<string, Pod>();
  const pod = (n: string): Pod => pods.get(n)!;
  /** ADDs pod `n` through bin/strait in the node and remembers it for the DELs at the end. */
  const addPod = async (n: string): Promise<void> => {
    const p = await node.addPod(`dr${n}`);
    if (p.v6 === null) throw new Error(`ADD ${n} gave no IPv6 address`);
    pods.set(n, { ...p, v6: p.v6 });
  };

  beforeAll(async () => {
    for (const n of ['a', 'b', 'c', 'd']) await addPod(n);
  });

  afterAll(async () => {
    for (const p of pods.values()) await node.cni({ command: 'DEL', config, containerId: p.id, netns: p.ns.path });
    cleanupAll();
  });

  const map = (name: string) => {
    const fd = bpf.getPinned(join(node.bpfDir, name));
    if (fd === null) throw new Error(`${name} not pinned`);
    return fd;
  };

  /** Doctor sees exactly `kinds`, --fix repairs them all, and a second scan is clean. */
  function expectRepaired(kinds: string[]): void {
    const before = node.doctor();
    expect(before.problems.map((p) => p.kind).sort(), before.raw).toEqual(kinds);
    expect(before.exitCode).toBe(1);
    const fixed = node.doctor(true);
    expect(fixed.fixed!.filter((f) => f.error !== null), fixed.raw).toEqual([]);
    expect(fixed.remaining, fixed.raw).toEqual([]);
    expect(fixed.exitCode).toBe(0);
    const after = node.doctor();
    expect(after.problems, after.raw).toEqual([]);
    expect(after.exitCode).toBe(0);
  }

  it('finds a freshly added node consistent', () => {
    const r = node.doctor();
    expect(r.problems, r.raw).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it('a detached program: tc-missing, and --fix attaches to_pod again', () => {
    const veth = pod('a').hostVeth;
    node.ns.exec('tc', ['filter', 'del', 'dev', veth, 'egress']);
    expectRepaired(['tc-missing']);
    expect(node.ns.exec('tc', ['filter', 'show', 'dev', veth, 'egress'])).toContain(ProgramName.toPod);
  });

  it('a deleted lease file: lease-missing, and --fix leases the address to the pod again', () => {
    const file = join(node.stateDir, 'ipam', node.network, leaseFileName(pod('b').v4));
    rmSync(file);
    expectRepaired(['lease-missing']);
    expect(existsSync(file)).toBe(true);
  });

  it('a deleted host route: route-missing, and --fix adds it back', () => {
    const { v6, hostVeth } = pod('b');
    node.ip(['-6', 'route', 'del', `${v6}/128`, 'dev', hostVeth]);
    expectRepaired(['route-missing']);
    expect(node.ip(['-6', 'route', 'show', 'dev', hostVeth])).toContain(v6);
  });

  it('a stray endpoint-map entry: endpoint-entry-orphan, and --fix removes it', () => {
    const fd = map(MapName.endpoints);
    try {
      writeEndpoint(fd, { family: 4, ip: '198.18.60.250', ifindex: 4000, flags: 1, podMac: '02:00:00:00:00:01', hostMac: '02:00:00:00:00:02', identity: 0 });
      expectRepaired(['endpoint-entry-orphan']);
      expect(bpf.mapDump(fd).length).toBe(8); // four pods, two addresses each
    } finally {
      bpf.closeFd(fd);
    }
  });

  it('a connection of addresses no pod holds: conntrack-orphan; one of a live pod stays', () => {
    const fd = map(MapName.ct);
    try {
      const value = encodeCtValue({ lastSeenNs: process.hrtime.bigint(), flags: 0, ruleId: 0 });
      const stray = { family: 4 as const, saddr: '198.18.60.251', daddr: '203.0.113.9', sport: 1234, dport: 53, protocol: 17 };
      const live = { ...stray, saddr: pod('a').v4 };
      bpf.mapUpdate(fd, encodeCtKey(stray), value);
      bpf.mapUpdate(fd, encodeCtKey(live), value);
      expectRepaired(['conntrack-orphan']);
      expect(bpf.mapLookup(fd, encodeCtKey(stray))).toBeNull();
      expect(bpf.mapLookup(fd, encodeCtKey(live))).not.toBeNull();
    } finally {
      bpf.closeFd(fd);
    }
  });

  it('policy entries of a slot no veth has: policy-orphan, removed', () => {
    const fd = map(MapName.policy);
    try {
      const key = encodePolicyKey({ ifindex: 4001, gen: 0, identity: 9, egress: true, protocol: 6, port: 80, portPrefixLen: 16 });
      bpf.mapUpdate(fd, key, encodePolicyValue({ ruleId: 1 }));
      expectRepaired(['policy-orphan']);
      expect(bpf.mapLookup(fd, key)).toBeNull();
    } finally {
      bpf.closeFd(fd);
    }
  });

  it('programs and a map pinned by an older build: pin-stale-programs and pin-stale-map, removed', () => {
    const current = readdirSync(node.bpfDir).find((e) => e.startsWith('progs-'))!;
    const old = join(node.bpfDir, 'progs-0ldbu11d0000');
    mkdirSync(old);
    for (const prog of Object.values(ProgramName)) {
      const fd = map(join(current, prog));
      try {
        bpf.pinFd(fd, join(old, prog));
      } finally {
        bpf.closeFd(fd);
      }
    }
    const ct = map(MapName.ct);
    try {
      bpf.pinFd(ct, join(node.bpfDir, 'strait_ct_v0'));
    } finally {
      bpf.closeFd(ct);
    }
    expectRepaired(['pin-stale-map', 'pin-stale-programs']);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(join(node.bpfDir, 'strait_ct_v0'))).toBe(false);
    expect(existsSync(join(node.bpfDir, MapName.ct))).toBe(true);
  });

  it('a build pinned half-way (an install killed between its pins): pin-incomplete-programs; after --fix ADD works again', async () => {
    const current = readdirSync(node.bpfDir).find((e) => e.startsWith('progs-'))!;
    rmSync(join(node.bpfDir, current, ProgramName.toPod));
    expectRepaired(['pin-incomplete-programs']);
    await addPod('e');
    expect(existsSync(join(node.bpfDir, current, ProgramName.toPod))).toBe(true);
    expect(node.doctor().problems).toEqual([]);
  });

  it('a build pinned half-way does not block ADD even without --fix: the loader pins it again whole', async () => {
    const current = readdirSync(node.bpfDir).find((e) => e.startsWith('progs-'))!;
    rmSync(join(node.bpfDir, current, ProgramName.fromPod));
    await addPod('f');
    expect(readdirSync(join(node.bpfDir, current)).sort()).toEqual(Object.values(ProgramName).sort());
    expect(node.doctor().problems).toEqual([]);
  });

  it('a link entry whose veth is gone (a DEL killed half-way): link-entry-orphan; GC removes it, as --fix does', async () => {
    const fd = bpf.getPinned(join(node.bpfDir, MapName.links))!;
    try {
      writeLink(fd, { ifindex: 999_999, family: 4, ip: '198.18.60.250' });
    } finally {
      bpf.closeFd(fd);
    }
    const r = node.doctor();
    expect(r.problems.map((p) => [p.kind, p.object]), r.raw).toEqual([['link-entry-orphan', { ifindex: 999_999 }]]);
    const valid = [...pods.values()].map((p) => ({ containerID: p.id, ifname: 'eth0' }));
    const gc = await node.cni({ command: 'GC', config: { ...config, 'cni.dev/valid-attachments': valid } });
    expect(gc.exitCode, gc.stdout + gc.stderr).toBe(0);
    expect(node.doctor().problems).toEqual([]);
  });

  it('temp files of writes killed half-way: tmp-orphan; GC sweeps them, as --fix does', async () => {
    const dead = spawnSync('true').pid; // a pid whose process is gone
    const leaseTmp = join(node.stateDir, 'ipam', node.network, `.tmp-${dead}-0123456789ab`);
    const recordTmp = join(node.stateDir, 'endpoints', node.network, `.tmp-${dead}-x.eth0.json`);
    const alive = join(node.stateDir, 'ipam', node.network, `.tmp-${process.pid}-0123456789ab`);
    for (const f of [leaseTmp, recordTmp, alive]) writeFileSync(f, '{}');
    const r = node.doctor();
    expect(r.problems.map((p) => p.object), r.raw).toEqual([{ path: leaseTmp }, { path: recordTmp }]);
    const valid = [...pods.values()].map((p) => ({ containerID: p.id, ifname: 'eth0' }));
    const gc = await node.cni({ command: 'GC', config: { ...config, 'cni.dev/valid-attachments': valid } });
    expect(gc.exitCode, gc.stdout + gc.stderr).toBe(0);
    expect([existsSync(leaseTmp), existsSync(recordTmp), existsSync(alive)]).toEqual([false, false, true]);
    rmSync(alive);
    expect(node.doctor().problems).toEqual([]);
    writeFileSync(leaseTmp, '{}');
    expectRepaired(['tmp-orphan']);
  });

  it('a veth deleted behind strait\'s back: veth-missing, and --fix removes its entries, record and leases', async () => {
    const c = pod('c');
    node.ip(['link', 'del', c.hostVeth]);
    const r = node.doctor();
    expect(r.problems.map((p) => p.kind)).toEqual(['veth-missing']);
    expect(r.problems[0]!.object).toMatchObject({ containerId: c.id, hostVeth: c.hostVeth, addresses: [c.v4, c.v6].sort() });
    expectRepaired(['veth-missing']);
    const fd = map(MapName.endpoints);
    try {
      expect(bpf.mapDump(fd).length).toBe(2 * (pods.size - 1));
    } finally {
      bpf.closeFd(fd);
    }
    expect(existsSync(join(node.stateDir, 'ipam', node.network, leaseFileName(c.v4)))).toBe(false);
    // the runtime's DEL afterwards finds nothing left and succeeds
    const del = await node.cni({ command: 'DEL', config, containerId: c.id, netns: c.ns.path });
    expect(del.exitCode, del.stderr).toBe(0);
    pods.delete('c');
  });

  it('a veth without its record (an ADD killed before writing it): veth-orphan, and --fix tears it down', () => {
    const d = pod('d');
    removeEndpointRecord(node.stateDir, { network: node.network, containerId: d.id, ifname: 'eth0' });
    expectRepaired(['veth-orphan']);
    expect(node.ip(['link', 'show'])).not.toContain(d.hostVeth);
    expect(existsSync(join(node.stateDir, 'ipam', node.network, leaseFileName(d.v6)))).toBe(false);
    pods.delete('d');
  });

  it('the repaired pods still reach each other, both families', () => {
    const a = pod('a');
    const b = pod('b');
    a.ns.exec('ping', ['-c', '1', '-W', '2', b.v4]);
    b.ns.exec('ping', ['-6', '-c', '1', '-W', '2', a.v6]);
  });
});
