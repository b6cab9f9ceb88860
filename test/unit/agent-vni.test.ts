// The VXLAN hint maps (src/agent/vni.ts): a VNI names a label set by the hash of
// its canonical text, the same on every node whatever numbers each node gave its
// identities; a hash two label sets share is left out on both sides; the agent
// writes only what changed, and keeps the maps in step with its identities.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { adoptDatapath } from '../../src/agent/adopt.js';
import type { AgentCore } from '../../src/agent/core.js';
import { createVniSync, planVni, syncVni, vniOf, type VniContent } from '../../src/agent/vni.js';
import type { Capacity } from '../../src/policy/capacity.js';
import type { IdentityInfo } from '../../src/policy/types.js';
import { capturingLogger, until } from '../helpers/agent-wait.js';
import { FakeMaps } from '../helpers/fake-maps.js';
import { FakeNode } from '../helpers/fake-node.js';
import { cluster, node, ns, pod } from '../helpers/policy-builders.js';

const BIG: Capacity = { policy: 1 << 19, ipcache: 1 << 18, cidr: 1 << 16 };
const info = (namespace: string, labels: Record<string, string>): IdentityInfo => ({ namespace, namespaceLabels: { 'kubernetes.io/metadata.name': namespace }, labels });

/** The first two label sets {n: i} whose VNIs collide (deterministic: a 24-bit birthday search). */
function collidingPair(): [IdentityInfo, IdentityInfo] {
  const seen = new Map<number, IdentityInfo>();
  for (let i = 0; ; i++) {
    const x = info('x', { n: String(i) });
    const other = seen.get(vniOf(x));
    if (other !== undefined) return [other, x];
    seen.set(vniOf(x), x);
  }
}

describe('VXLAN hint maps: planning', () => {
  it('names a label set the same on every node, whatever identity number each node gave it', () => {
    const web = info('x', { app: 'web' });
    // Node A numbered it 300, node B (which met a colliding label set first) 301.
    const a = planVni({ identities: new Map([[300, web]]), podNamespaces: new Map([[300, (1 << 25) | 7]]) });
    const b = planVni({ identities: new Map([[301, web]]), podNamespaces: new Map([[301, (1 << 25) | 7]]) });
    const vni = vniOf(web);
    expect(vni).toBeGreaterThan(0);
    expect(vni).toBeLessThanOrEqual(0xffffff);
    expect(a.byIdentity.get(300)).toBe(vni);
    expect(b.byIdentity.get(301)).toBe(vni);
    // Each receiver reads the VNI back as its own number, and the namespace travels with it.
    expect(a.byVni.get(vni)).toEqual({ identity: 300, namespace: (1 << 25) | 7 });
    expect(b.byVni.get(vni)).toEqual({ identity: 301, namespace: (1 << 25) | 7 });
    // The label set in another namespace is another VNI.
    expect(vniOf(info('y', { app: 'web' }))).not.toBe(vni);
  });

  it('leaves out a VNI two label sets share, on both sides; the others stay', () => {
    const [p, q] = collidingPair();
    const r = info('x', { app: 'db' });
    const plan = planVni({ identities: new Map([[400, p], [401, q], [402, r]]), podNamespaces: new Map() });
    expect(vniOf(p)).toBe(vniOf(q));
    expect([...plan.byIdentity.keys()]).toEqual([402]);
    expect([...plan.byVni.keys()]).toEqual([vniOf(r)]);
    expect(plan.byVni.get(vniOf(r))).toEqual({ identity: 402, namespace: 0 });
  });
});

describe('VXLAN hint maps: writing', () => {
  it('writes only the difference, removals included, and nothing when nothing changed', () => {
    const maps = new FakeMaps(BIG);
    const web = info('x', { app: 'web' });
    const db = info('x', { app: 'db' });
    const want = (ids: [number, IdentityInfo][]): VniContent => planVni({ identities: new Map(ids), podNamespaces: new Map() });
    expect(syncVni(maps, want([[300, web], [301, db]]))).toBe(4);
    expect(syncVni(maps, want([[300, web], [301, db]]))).toBe(0);
    expect(syncVni(maps, want([[300, web]]))).toBe(2);
    expect([...maps.vni.byIdentity]).toEqual([[300, vniOf(web)]]);
    expect([...maps.vni.byVni]).toEqual([[vniOf(web), { identity: 300, namespace: 0 }]]);
  });

  it("the agent's writer reads the maps back only at first and after a failed write", () => {
    const maps = new FakeMaps(BIG);
    const reads = vi.spyOn(maps, 'readVni');
    const sync = createVniSync(maps);
    const web = info('x', { app: 'web' });
    const db = info('x', { app: 'db' });
    const want = (ids: [number, IdentityInfo][]): VniContent => planVni({ identities: new Map(ids), podNamespaces: new Map() });
    expect(sync(want([[300, web]]))).toBe(2);
    expect(sync(want([[300, web], [301, db]]))).toBe(2);
    expect(sync(want([[300, web], [301, db]]))).toBe(0);
    expect(reads).toHaveBeenCalledTimes(1);
    maps.failWhen = (w) => w.map === 'vni';
    expect(() => sync(want([[300, web]]))).not.toThrow(); // removals only: deletions do not fail here
    expect(() => sync(want([[300, web], [302, info('x', { app: 'cache' })]]))).toThrow();
    maps.failWhen = null;
    expect(sync(want([[300, web], [302, info('x', { app: 'cache' })]]))).toBe(2);
    expect(reads).toHaveBeenCalledTimes(2);
    expect([...maps.vni.byIdentity.keys()].sort()).toEqual([300, 302]);
  });

  it('the agent keeps them in step with the identities of the cluster', async () => {
    const n = new FakeNode(BIG);
    const web = pod('x', 'web', { app: 'web' }, { ips: ['10.244.1.10'] });
    const far = pod('x', 'far', { app: 'far' }, { ips: ['10.244.2.10'], nodeName: 'node-b' });
    n.addPod(11, web);
    const { log } = capturingLogger();
    const core = adoptDatapath({ nodeName: 'node-a', log, limit: BIG, retryMs: 5 }, n);
    cores.push(core);
    core.setCluster(cluster({ namespaces: [ns('x')], pods: [web, far], policies: [], nodes: [node('node-a', ['192.168.1.10'])] }), 1);
    await until(core, (s) => s.appliedGeneration === 1);
    const vnis = [...n.maps.vni.byVni.values()].map((v) => v.identity).sort();
    expect(vnis).toHaveLength(2); // web's label set and far's
    for (const [identity, vni] of n.maps.vni.byIdentity) expect(n.maps.vni.byVni.get(vni)?.identity).toBe(identity);
    expect([...n.maps.vni.byVni.values()].every((v) => v.namespace !== 0)).toBe(true);
    core.setCluster(cluster({ namespaces: [ns('x')], pods: [web], policies: [], nodes: [node('node-a', ['192.168.1.10'])] }), 2);
    await until(core, (s) => s.appliedGeneration === 2);
    expect(n.maps.vni.byVni.size).toBe(1);
  });
});

let cores: AgentCore[] = [];
afterEach(async () => {
  for (const c of cores) await c.close();
  cores = [];
});
