// The agent's core on an in-memory node (test/helpers/fake-node.ts): adoption (a
// restart reads the maps back and changes nothing that need not change), plans
// killed anywhere (the next agent finishes them), and connection cutting (denied
// entries revoked, allowed ones untouched, a revoked one restored when policy allows
// it again). Everything src/agent/adopt.ts, apply.ts and conntrack.ts do, without root.
import { afterEach, describe, expect, it } from 'vitest';
import { adoptDatapath } from '../../src/agent/adopt.js';
import { revalidateConntrack } from '../../src/agent/conntrack.js';
import type { AgentCore, AgentStatus } from '../../src/agent/core.js';
import { CT_F_REPLY_SEEN, CT_F_REVOKED, decodeCtValue, encodeCtKey, encodeCtValue, type CtKey } from '../../src/datapath/maps/ct.js';
import { EP_F_POLICY_GEN } from '../../src/datapath/maps/endpoints.js';
import { entryKey } from '../../src/policy/diff.js';
import type { Capacity } from '../../src/policy/capacity.js';
import { type ClusterState, IDENTITY_REMOTE_NODE, type NetworkPolicy, type PolicyEntry } from '../../src/policy/types.js';
import { capturingLogger, until } from '../helpers/agent-wait.js';
import type { FakeMaps } from '../helpers/fake-maps.js';
import { FakeNode } from '../helpers/fake-node.js';
import { cluster, node, ns, pod, policy } from '../helpers/policy-builders.js';

const BIG: Capacity = { policy: 1 << 19, ipcache: 1 << 18, cidr: 1 << 16 };
const web = pod('x', 'web', { app: 'web' }, { ips: ['10.244.1.10', 'fd00:10:244:1::10'] });
const db = pod('x', 'db', { app: 'db' }, { ips: ['10.244.1.11'] });
const far = Array.from({ length: 3 }, (_, i) => pod('y', `far-${i}`, { app: `far-${i}` }, { ips: [`10.244.2.${i + 1}`], nodeName: 'node-b' }));
const world = (policies: NetworkPolicy[], pods = [web, db, ...far]): ClusterState =>
  cluster({ namespaces: [ns('x'), ns('y')], pods, policies, nodes: [node('node-a', ['192.168.1.10'])] });

const dbFromWeb = (...ports: number[]): NetworkPolicy =>
  policy('x', 'db-in', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: ports.map((port) => ({ port })) }] });
const webOut = (cidr: string): NetworkPolicy =>
  policy('x', 'web-out', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr } }], ports: [{ port: 443 }] }] });
const dbFromFar = policy('x', 'db-far', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'far-0' } } }] }] });

/** Before: db takes web on 80, web reaches one block. After: other ports, another block, a far pod allowed, one gone, one new. */
const A = world([dbFromWeb(80), webOut('203.0.113.0/24')]);
const late = pod('y', 'far-9', { app: 'far-9' }, { ips: ['10.244.2.9'], nodeName: 'node-b' });
const B = world([dbFromWeb(443, 8080), webOut('198.51.100.0/25'), dbFromFar], [web, db, far[0]!, far[2]!, late]);

let cores: AgentCore[] = [];
afterEach(async () => {
  for (const c of cores) await c.close();
  cores = [];
});

function newNode(): FakeNode {
  const n = new FakeNode(BIG);
  n.addPod(11, web);
  n.addPod(12, db);
  return n;
}

/** An agent starting on the node: what strait-agent does, on fakes. */
function start(n: FakeNode) {
  const { log, lines } = capturingLogger();
  const core = adoptDatapath({ nodeName: 'node-a', log, limit: BIG, retryMs: 5 }, n);
  cores.push(core);
  let generation = 0;
  const set = (s: ClusterState): number => (core.setCluster(s, ++generation), generation);
  return { core, lines, set };
}

const appliedAt = (g: number) => (s: AgentStatus) => s.synced && s.appliedGeneration === g;

/** Everything the maps hold, for comparing nodes. */
const snapshot = (m: FakeMaps) => ({
  ipcache: new Map(m.ipcache),
  cidr: new Map(m.cidr),
  policy: new Map(m.policy),
  endpoints: new Map([...m.endpoints].map(([k, v]) => [k, v.map((e) => ({ ...e }))])),
});

const sorted = (entries: PolicyEntry[] | null): string[] => (entries ?? []).map((e) => `${entryKey(e)}#${e.ruleId}`).sort();
/** Entries of an endpoint under the generation that is not live. */
const idle = (m: FakeMaps, ifindex: number): string[] => {
  const live = (m.flagsOf(ifindex)! & EP_F_POLICY_GEN) !== 0 ? 1 : 0;
  return sorted([...m.policy.values()].filter((p) => p.ifindex === ifindex && p.generation !== live));
};

/** The node after A then B, written without interruption. */
async function reference() {
  const n = newNode();
  const { core, set } = start(n);
  await until(core, appliedAt(set(A)));
  const live = { 11: sorted(n.maps.live(11)), 12: sorted(n.maps.live(12)) };
  const before = n.maps.changes;
  await until(core, appliedAt(set(B)));
  const after = { 11: sorted(n.maps.live(11)), 12: sorted(n.maps.live(12)) };
  return { before: live, after, maps: snapshot(n.maps), changes: n.maps.changes - before };
}

describe('agent core: adoption', () => {
  it('a restart reads the maps back and writes nothing when the cluster is as it was', async () => {
    const n = newNode();
    const first = start(n);
    await until(first.core, appliedAt(first.set(A)));
    await until(first.core, appliedAt(first.set(B))); // generation 1 live now
    const held = snapshot(n.maps);
    const changes = n.maps.changes;
    await first.core.close();

    const second = start(n);
    const s = await until(second.core, appliedAt(second.set(B)));
    expect(n.maps.changes).toBe(changes);
    expect(snapshot(n.maps)).toEqual(held);
    expect(s.endpoints).toBe(2);
    expect(second.lines.find((l) => l.msg === 'adopted the datapath')).toMatchObject({ endpoints: 2, orphanEntries: 0 });
    // The next change is a diff from what the maps hold, not a rewrite.
    const ref = await reference();
    const before = n.maps.changes;
    await until(second.core, appliedAt(second.set(A)));
    await until(second.core, appliedAt(second.set(B)));
    expect(snapshot(n.maps)).toEqual(ref.maps);
    expect(n.maps.changes - before).toBeLessThan(3 * ref.changes);
  });

  it('a veth gone while the agent was down: its record is not adopted and its policy entries are removed', async () => {
    const n = newNode();
    const first = start(n);
    await until(first.core, appliedAt(first.set(A)));
    const dbEntries = [...n.maps.policy.values()].filter((p) => p.ifindex === 12).length;
    expect(dbEntries).toBeGreaterThan(0);
    await first.core.close();

    n.links.delete(12);
    const second = start(n);
    const s = await until(second.core, appliedAt(second.set(A)));
    expect(s.endpoints).toBe(1);
    expect([...n.maps.policy.values()].filter((p) => p.ifindex === 12)).toEqual([]);
    expect(second.lines.find((l) => l.msg === 'adopted the datapath')).toMatchObject({ endpoints: 1, orphanEntries: dbEntries });
    expect(second.core.policyOf(null).map((r) => r.pod)).toEqual(['x/web']);
  });
});

describe('agent core: a plan killed anywhere', () => {
  it('leaves every endpoint on its old policy or its new one, and the next agent finishes it', async () => {
    const ref = await reference();
    expect(ref.changes).toBeGreaterThan(10);
    const seen = new Set<string>();
    for (let k = 0; k < ref.changes; k++) {
      const n = newNode();
      const first = start(n);
      await until(first.core, appliedAt(first.set(A)));
      n.maps.killAfter = k;
      first.set(B);
      await until(first.core, (s) => s.lastError !== null || s.problems.length > 0);
      // Killed: what landed is all there is. Never a mix of old and new policy.
      for (const ifindex of [11, 12] as const) {
        const live = sorted(n.maps.live(ifindex));
        const [before, after] = [ref.before[ifindex], ref.after[ifindex]];
        expect([before, after], `kill after ${k} changes, endpoint ${ifindex}`).toContainEqual(live);
        const leftovers = idle(n.maps, ifindex).length > 0;
        if (leftovers && live.join() === before.join()) seen.add('new entries written, not flipped');
        if (leftovers && live.join() === after.join()) seen.add('flipped, not cleaned up');
      }
      await first.core.close();

      n.maps.killAfter = null;
      const second = start(n);
      await until(second.core, appliedAt(second.set(B)));
      expect(snapshot(n.maps), `kill after ${k} changes`).toEqual(ref.maps);
      await second.core.close();
    }
    expect([...seen].sort()).toEqual(['flipped, not cleaned up', 'new entries written, not flipped']);
  });
});

describe('agent core: explain', () => {
  it("another node's address is no pod: `namespaceSelector: {}` does not admit it, an ipBlock does", async () => {
    const n = newNode();
    const { core, set } = start(n);
    const fromPods = policy('x', 'db-pods', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: {} }] }] });
    const nodes = [node('node-a', ['192.168.1.10']), node('node-b', ['192.168.1.12'])];
    await until(core, appliedAt(set({ ...world([fromPods]), nodes })));
    expect(n.maps.ipcache.get('192.168.1.12')).toEqual({ identity: IDENTITY_REMOTE_NODE, namespace: 0 });
    expect(core.explain({ src: '10.244.2.1', dst: '10.244.1.11', protocol: 'TCP', port: 80 }).verdict).toBe('allow');
    expect(core.explain({ src: '192.168.1.12', dst: '10.244.1.11', protocol: 'TCP', port: 80 }).verdict).toBe('deny');
    const fromBlock = policy('x', 'db-block', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ ipBlock: { cidr: '192.168.1.0/24' } }] }] });
    await until(core, appliedAt(set({ ...world([fromBlock]), nodes })));
    expect(core.explain({ src: '192.168.1.12', dst: '10.244.1.11', protocol: 'TCP', port: 80 }).verdict).toBe('allow');
  });
});

describe('agent core: connection cutting', () => {
  const tcp = (saddr: string, daddr: string, sport: number, dport: number): CtKey => ({ family: 4, saddr, daddr, sport, dport, protocol: 6 });
  const est = encodeCtValue({ lastSeenNs: 123n, flags: CT_F_REPLY_SEEN, ruleId: 0 });
  const flagsOf = (v: Uint8Array | null): number => decodeCtValue(v!).flags;

  it('revokes what policy now denies, leaves what it allows, and restores a revoked entry policy allows again', async () => {
    const n = newNode();
    const { core, lines, set } = start(n);
    await until(core, appliedAt(set(world([]))));
    const [answered, pending] = n.maps.conntrack;
    const to80 = encodeCtKey(tcp('10.244.1.10', '10.244.1.11', 40000, 80));
    const to443 = encodeCtKey(tcp('10.244.1.10', '10.244.1.11', 40001, 443));
    const fromDb = encodeCtKey(tcp('10.244.1.11', '10.244.1.10', 40002, 5000));
    const farAway = encodeCtKey(tcp('10.244.2.1', '10.244.2.2', 40003, 80));
    const fromFar = encodeCtKey(tcp('10.244.2.2', '10.244.1.11', 40004, 443));
    answered.put(to80, est);
    pending.put(to443, encodeCtValue({ lastSeenNs: 5n, flags: 0, ruleId: 0 }));
    answered.put(fromDb, est);
    answered.put(farAway, est);
    answered.put(fromFar, est);
    const untouched = { to443: pending.get(to443), fromDb: answered.get(fromDb), farAway: answered.get(farAway) };

    await until(core, appliedAt(set(world([dbFromWeb(443)]))));
    expect(flagsOf(answered.get(to80))).toBe(CT_F_REPLY_SEEN | CT_F_REVOKED);
    expect(flagsOf(answered.get(fromFar))).toBe(CT_F_REPLY_SEEN | CT_F_REVOKED);
    // allowed (443 from web), not subject to db's ingress (db's own egress), not local
    expect({ to443: pending.get(to443), fromDb: answered.get(fromDb), farAway: answered.get(farAway) }).toEqual(untouched);
    expect(lines.filter((l) => l.msg === 'cut connections that policy no longer allows').map((l) => l.connections)).toEqual([2]);
    expect(core.explain({ src: '10.244.1.10', dst: '10.244.1.11', protocol: 'TCP', port: 80 }).verdict).toBe('deny');
    expect(core.explain({ src: '10.244.1.10', dst: '10.244.1.11', protocol: 'TCP', port: 443 }).verdict).toBe('allow');

    // Allowed again: the mark goes, the entry is exactly as it was; the other stays cut.
    await until(core, appliedAt(set(world([dbFromWeb(80, 443)]))));
    expect(answered.get(to80)).toEqual(est);
    expect(flagsOf(answered.get(fromFar))).toBe(CT_F_REPLY_SEEN | CT_F_REVOKED);
    expect(lines.filter((l) => l.msg === 'cut connections that policy no longer allows')).toHaveLength(1);
  });

  it('an entry gone before it could be marked is not counted as cut', async () => {
    const n = newNode();
    const { core, set } = start(n);
    await until(core, appliedAt(set(world([dbFromWeb(443)]))));
    const entry = { key: encodeCtKey(tcp('10.244.1.10', '10.244.1.11', 40000, 80)), value: est };
    const gone = { dump: () => [entry], updateExisting: () => false };
    const kept = n.maps.conntrack[0];
    kept.put(entry.key, entry.value);
    expect(revalidateConntrack(n.maps, [gone], null, new Set(['10.244.1.11']))).toBe(0);
    expect(revalidateConntrack(n.maps, [kept], null, new Set(['10.244.1.11']))).toBe(1);
    expect(revalidateConntrack(n.maps, [kept], null, new Set(['10.244.1.11']))).toBe(0); // already revoked
    expect(revalidateConntrack(n.maps, [kept], null, new Set(['10.244.9.9']))).toBe(0);
  });
});
