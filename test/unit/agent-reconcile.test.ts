// The reconcile loop against in-memory maps with small capacities and injected
// write failures (issue #8 item 5 and the Full-maps drill): a policy that does not
// fit is refused whole and loudly, one endpoint's failure never holds back the
// others, and each full map has a reported outcome.
import { afterEach, describe, expect, it } from 'vitest';
import { EP_F_INGRESS_ISOLATED, EP_F_READY } from '../../src/datapath/maps/endpoints.js';
import type { AgentCore, AgentStatus } from '../../src/agent/core.js';
import { createReconciler } from '../../src/agent/reconcile-loop.js';
import type { Capacity } from '../../src/policy/capacity.js';
import type { ClusterState, NetworkPolicy } from '../../src/policy/types.js';
import { capturingLogger, until } from '../helpers/agent-wait.js';
import { FakeMaps } from '../helpers/fake-maps.js';
import { cluster, endpoint, node, ns, pod, policy } from '../helpers/policy-builders.js';

const BIG: Capacity = { policy: 1 << 19, ipcache: 1 << 18, cidr: 1 << 16 };
const web = pod('x', 'web', { app: 'web' }, { ips: ['10.244.1.10'] });
const db = pod('x', 'db', { app: 'db' }, { ips: ['10.244.1.11'] });
const far = Array.from({ length: 6 }, (_, i) => pod('y', `far-${i}`, { app: `far-${i}` }, { ips: [`10.244.2.${i + 1}`], nodeName: 'node-b' }));
const world = (policies: NetworkPolicy[]): ClusterState =>
  cluster({ namespaces: [ns('x'), ns('y')], pods: [web, db, ...far], policies, nodes: [node('node-a', ['192.168.1.10'])] });

const fromFar = (name: string, target: string, firstPort: number, n: number): NetworkPolicy =>
  policy('x', name, {
    podSelector: { matchLabels: { app: target } },
    ingress: [{ from: Array.from({ length: 6 }, (_, i) => ({ namespaceSelector: {}, podSelector: { matchLabels: { app: `far-${i}` } } })), ports: Array.from({ length: n }, (_, i) => ({ port: firstPort + i })) }],
  });

let cores: AgentCore[] = [];
afterEach(async () => {
  for (const c of cores) await c.close();
  cores = [];
});

function start(capacity: Capacity) {
  const maps = new FakeMaps(capacity);
  maps.addEndpoint(11, web.ips);
  maps.addEndpoint(12, db.ips);
  const { log, lines } = capturingLogger();
  const core = createReconciler({
    nodeName: 'node-a',
    log,
    maps,
    capacity,
    hostAddresses: () => ['192.168.1.10'],
    endpoints: [endpoint(11, web), endpoint(12, db)],
    revalidate: () => 0,
    explain: () => ({ verdict: 'deny', steps: [], reason: '' }),
    close: () => {},
    retryMs: 5,
  });
  cores.push(core);
  let generation = 0;
  const set = (s: ClusterState): void => core.setCluster(s, ++generation);
  return { maps, core, lines, set };
}

const synced = (s: AgentStatus) => s.synced;
const ports = (entries: { port: number }[] | null) => (entries ?? []).map((e) => e.port).sort((a, b) => a - b);

describe('reconcile loop: a policy that does not fit', () => {
  it('is refused whole and loudly (log, status entry, counter); its pods stay isolated; the others land', async () => {
    const { maps, core, lines, set } = start({ ...BIG, policy: 20 });
    set(world([fromFar('db-small', 'db', 80, 1), fromFar('web-broad', 'web', 1000, 3)]));
    const s = await until(core, synced);
    // db-small (6 entries) lands; web-broad (18 more) does not fit in 20
    expect(s.problems).toEqual([{ kind: 'policy-refused', subject: 'x/web-broad', message: expect.stringMatching(/refused: does not fit: strait_policy_v1 .* 20 at most; the pods it selects stay isolated/) }]);
    expect(s.counters.policyRefusals).toBe(1);
    expect(lines.filter((l) => l.level === 50).map((l) => l.msg)).toEqual([expect.stringMatching(/NetworkPolicy x\/web-broad refused/)]);
    expect(ports(maps.live(12))).toEqual([80, 80, 80, 80, 80, 80]);
    expect(maps.live(11)).toEqual([]);
    expect(maps.flagsOf(11)! & EP_F_INGRESS_ISOLATED).toBeTruthy();
    expect(s.maps.find((m) => m.map === 'strait_policy_v1')).toEqual({ map: 'strait_policy_v1', entries: 6, capacity: 20 });
    // ADD still completes (the issue: with a full map every ADD got code 11)
    const late = pod('x', 'late', { app: 'late' }, { ips: ['10.244.1.12'] });
    maps.addEndpoint(13, late.ips);
    set(cluster({ ...world([fromFar('db-small', 'db', 80, 1), fromFar('web-broad', 'web', 1000, 3)]), pods: [web, db, late, ...far] }));
    await core.registerEndpoint(endpoint(13, late));
    expect(maps.flagsOf(13)! & EP_F_READY).toBeTruthy();

    // Refused again on the next change: not counted or logged twice; the change still lands.
    set(world([fromFar('db-small', 'db', 81, 1), fromFar('web-broad', 'web', 1000, 3)]));
    const again = await until(core, (x) => x.synced && x.appliedGeneration === 3);
    expect(ports(maps.live(12))).toEqual([81, 81, 81, 81, 81, 81]);
    expect(again.counters.policyRefusals).toBe(1);
    // Once it fits (the other policy gone), it is applied and the problem clears.
    set(world([fromFar('web-broad', 'web', 1000, 3)]));
    const fits = await until(core, (x) => x.synced && x.appliedGeneration === 4);
    expect(fits.problems).toEqual([]);
    expect(ports(maps.live(11))).toHaveLength(18);
  });
});

describe('reconcile loop: one endpoint failing', () => {
  it('does not hold back the others; later changes and revocations land; it fails closed and is retried', async () => {
    const { maps, core, set } = start(BIG);
    // 11 is written first (plans go by ifindex): its failure must not stop 12
    maps.failWhen = (w) => w.map === 'policy' && w.ifindex === 11;
    set(world([fromFar('db-in', 'db', 80, 1), fromFar('web-in', 'web', 90, 1)]));
    const s = await until(core, (x) => x.problems.some((p) => p.kind === 'write-failed'));
    expect(s.synced).toBe(false);
    expect(s.problems).toContainEqual({ kind: 'write-failed', subject: 'endpoint 11', message: expect.stringMatching(/policy-set failed: injected failure/) });
    await until(core, () => maps.live(12)?.length === 6);
    // endpoint 11 flipped to what could be written (nothing): isolated, READY, allows nothing
    expect(maps.flagsOf(11)! & (EP_F_READY | EP_F_INGRESS_ISOLATED)).toBe(EP_F_READY | EP_F_INGRESS_ISOLATED);
    expect(maps.live(11)).toEqual([]);

    // A revocation for the healthy endpoint lands while 11 keeps failing.
    set(world([fromFar('web-in', 'web', 90, 1)]));
    await until(core, () => maps.live(12) !== null && maps.live(12)!.length === 0 && (maps.flagsOf(12)! & EP_F_INGRESS_ISOLATED) === 0);
    expect(core.status().counters.writeFailures).toBeGreaterThan(0);

    // The failure clears: the retry finishes 11 and the status is clean.
    maps.failWhen = null;
    const ok = await until(core, (x) => x.synced && x.problems.length === 0);
    expect(ok.lastError).toBeNull();
    expect(ports(maps.live(11))).toEqual([90, 90, 90, 90, 90, 90]);
  });

  it('an endpoint whose flip fails keeps its old policy, never a mix', async () => {
    const { maps, core, set } = start(BIG);
    set(world([fromFar('db-in', 'db', 80, 1)]));
    await until(core, synced);
    maps.failWhen = (w) => w.map === 'endpoints' && w.ifindex === 12;
    set(world([fromFar('db-in', 'db', 443, 1)]));
    await until(core, (x) => x.problems.some((p) => p.subject === 'endpoint 12'));
    expect(ports(maps.live(12))).toEqual([80, 80, 80, 80, 80, 80]);
    maps.failWhen = null;
    await until(core, (x) => x.synced && x.problems.length === 0);
    expect(ports(maps.live(12))).toEqual([443, 443, 443, 443, 443, 443]);
    expect(maps.policy.size).toBe(6); // the old generation is gone
  });
});

describe('reconcile loop: full maps (drill)', () => {
  it('the cidr map at capacity: the policy needing more prefixes is refused and reported', async () => {
    const blocks = policy('x', 'db-out', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24' } }, { ipBlock: { cidr: '198.51.100.0/24' } }] }] });
    const { maps, core, set } = start({ ...BIG, cidr: 4 });
    set(world([blocks]));
    const s = await until(core, synced);
    expect(s.problems).toEqual([expect.objectContaining({ kind: 'policy-refused', subject: 'x/db-out', message: expect.stringMatching(/strait_cidr_v1/) })]);
    expect(maps.cidr.size).toBeLessThanOrEqual(4);
    expect(maps.flagsOf(12)! & EP_F_READY).toBeTruthy();
  });

  it('the ipcache at capacity: local endpoints classified first, the rest reported, the counter counts the episode once', async () => {
    const { maps, core, lines, set } = start({ ...BIG, ipcache: 4 });
    set(world([]));
    const s = await until(core, synced);
    expect(s.problems).toEqual([{ kind: 'ipcache-full', subject: 'strait_ipcache_v1', message: expect.stringMatching(/4 pod addresses are not classified/) }]);
    expect(s.counters.ipcacheOverflows).toBe(1);
    expect([...maps.ipcache.keys()].sort()).toEqual(['10.244.1.10', '10.244.1.11', '10.244.2.1', '10.244.2.2']);
    expect(lines.some((l) => l.level === 50 && l.msg.includes('strait_ipcache_v1 is full'))).toBe(true);
    set(cluster({ ...world([]), pods: [web, db] }));
    const fits = await until(core, (x) => x.synced && x.appliedGeneration === 2);
    expect(fits.problems).toEqual([]);
    expect(fits.counters.ipcacheOverflows).toBe(1);
  });
});
