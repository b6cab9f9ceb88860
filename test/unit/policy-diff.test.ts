import { describe, expect, it } from 'vitest';
import { compile } from '../../src/policy/compile.js';
import { policySlot } from '../../src/datapath/maps/policy.js';
import { diff, entryKey, type Generation, otherGeneration, type PlanOp } from '../../src/policy/diff.js';
import type { DesiredState, EndpointPolicy, PolicyEntry } from '../../src/policy/types.js';
import { cluster, endpoint, ns, pod, policy } from '../helpers/policy-builders.js';

// --- a simulated datapath: the four maps, keyed as the kernel keys them ---

interface EpRecord {
  generation: Generation;
  identity: number;
  ingressIsolated: boolean;
  egressIsolated: boolean;
}

class Maps {
  ipcache = new Map<string, number>();
  cidrs = new Map<string, number>();
  endpoints = new Map<number, EpRecord>();
  /** `${slot}|${entryKey}` → entry */
  policy = new Map<string, PolicyEntry>();

  static from(state: DesiredState | null): Maps {
    const m = new Maps();
    if (state === null) return m;
    m.ipcache = new Map(state.ipcache);
    m.cidrs = new Map(state.cidrs);
    for (const ep of state.endpoints.values()) {
      const g = ep.generation ?? 0;
      m.endpoints.set(ep.ifindex, { generation: g, identity: ep.identity, ingressIsolated: ep.ingressIsolated, egressIsolated: ep.egressIsolated });
      for (const e of ep.entries) m.policy.set(`${policySlot(ep.ifindex, g)}|${entryKey(e)}`, e);
      for (const e of ep.inactiveEntries ?? []) m.policy.set(`${policySlot(ep.ifindex, otherGeneration(g))}|${entryKey(e)}`, e);
    }
    return m;
  }

  apply(op: PlanOp): void {
    switch (op.op) {
      case 'ipcache-set':
        this.ipcache.set(op.ip, op.identity);
        break;
      case 'ipcache-del':
        this.ipcache.delete(op.ip);
        break;
      case 'cidr-set':
        this.cidrs.set(op.cidr, op.identity);
        break;
      case 'cidr-del':
        this.cidrs.delete(op.cidr);
        break;
      case 'policy-set':
        this.policy.set(`${policySlot(op.ifindex, op.generation)}|${entryKey(op.entry)}`, op.entry);
        break;
      case 'policy-del':
        this.policy.delete(`${policySlot(op.ifindex, op.generation)}|${entryKey(op.entry)}`);
        break;
      case 'endpoint-flags':
        this.endpoints.set(op.ifindex, {
          generation: op.generation,
          identity: op.identity,
          ingressIsolated: op.ingressIsolated,
          egressIsolated: op.egressIsolated,
        });
        break;
    }
  }

  entriesAt(ifindex: number, g: Generation): Map<string, PolicyEntry> {
    const prefix = `${policySlot(ifindex, g)}|`;
    const out = new Map<string, PolicyEntry>();
    for (const [k, e] of this.policy) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), e);
    return out;
  }

  /** What a reconciler adopting these maps would build as `current`. */
  readBack(): DesiredState {
    const endpoints = new Map<number, EndpointPolicy>();
    const slots = new Set([...this.policy.keys()].map((k) => Number(k.split('|')[0]) & 0x7fffffff));
    for (const ifindex of new Set([...this.endpoints.keys(), ...slots])) {
      // No record: not READY (the CNI wrote none yet, or the test dropped it);
      // what it would hold is what the next state wants, the hardest case for diff.
      const r = this.endpoints.get(ifindex) ?? { generation: 0 as Generation, identity: 300, ingressIsolated: false, egressIsolated: false };
      endpoints.set(ifindex, {
        ...(this.endpoints.has(ifindex) ? {} : { ready: false }),
        ifindex,
        identity: r.identity,
        ingressIsolated: r.ingressIsolated,
        egressIsolated: r.egressIsolated,
        entries: [...this.entriesAt(ifindex, r.generation).values()],
        inactiveEntries: [...this.entriesAt(ifindex, otherGeneration(r.generation)).values()],
        generation: r.generation,
      });
    }
    return { ipcache: new Map(this.ipcache), cidrs: new Map(this.cidrs), endpoints, rules: new Map() };
  }
}

const keysOf = (entries: readonly PolicyEntry[]): string => entries.map(entryKey).sort().join(',');
const flagsOf = (e: { identity: number; ingressIsolated: boolean; egressIsolated: boolean }): string =>
  `${e.identity}/${e.ingressIsolated}/${e.egressIsolated}`;

/**
 * Applies the plan op by op and checks, after every op, that each endpoint's live
 * view (flags + live-generation keys) is exactly the old one or exactly the new one,
 * that classification upserts come first and removals last, and that the end state
 * is `desired` with nothing left under idle generations.
 */
function checkPlan(current: DesiredState | null, desired: DesiredState, maps = Maps.from(current)): Maps {
  const plan = diff(current, desired);
  // Endpoints that are gone: the CNI removed their endpoint entries already.
  for (const ifindex of [...maps.endpoints.keys()]) if (!desired.endpoints.has(ifindex)) maps.endpoints.delete(ifindex);

  const kinds = plan.ops.map((o) => (o.op === 'ipcache-set' || o.op === 'cidr-set' ? 0 : o.op === 'ipcache-del' || o.op === 'cidr-del' ? 2 : 1));
  expect(kinds, 'upserts, then endpoints, then removals').toEqual([...kinds].sort());

  const views = new Map<number, { old: string | null; new: string }>();
  for (const [ifindex, d] of desired.endpoints) {
    const c = current?.endpoints.get(ifindex);
    // An endpoint without a record was never READY: it had no old view to keep.
    const ready = maps.endpoints.has(ifindex);
    views.set(ifindex, {
      old: c === undefined || !ready ? null : `${flagsOf(c)}#${keysOf(c.entries)}`,
      new: `${flagsOf(d)}#${keysOf(d.entries)}`,
    });
  }
  const check = (step: number): void => {
    for (const [ifindex, v] of views) {
      const r = maps.endpoints.get(ifindex);
      if (r === undefined) {
        expect(v.old, `endpoint ${ifindex} lost its record at step ${step}`).toBeNull();
        continue; // not READY yet: the datapath drops, whatever the entries
      }
      const live = `${flagsOf(r)}#${[...maps.entriesAt(ifindex, r.generation).keys()].sort().join(',')}`;
      if (live !== v.old && live !== v.new) {
        expect.fail(`endpoint ${ifindex} after op ${step} (${JSON.stringify(plan.ops[step])}):\n live ${live}\n old  ${v.old}\n new  ${v.new}`);
      }
    }
  };
  check(-1);
  plan.ops.forEach((op, i) => {
    maps.apply(op);
    check(i);
  });

  // The end state is exactly `desired` (rule ids included) and the plan's `next`.
  expect(maps.ipcache).toEqual(desired.ipcache);
  expect(maps.cidrs).toEqual(desired.cidrs);
  for (const [ifindex, d] of desired.endpoints) {
    const r = maps.endpoints.get(ifindex)!;
    expect(flagsOf(r)).toBe(flagsOf(d));
    expect(r.generation).toBe(plan.next.endpoints.get(ifindex)?.generation);
    const live = [...maps.entriesAt(ifindex, r.generation).values()];
    expect(new Map(live.map((e) => [entryKey(e), e.ruleId]))).toEqual(new Map(d.entries.map((e) => [entryKey(e), e.ruleId])));
    expect(maps.entriesAt(ifindex, otherGeneration(r.generation)).size, `idle generation of ${ifindex}`).toBe(0);
  }
  const slots = new Set([...desired.endpoints.keys()].flatMap((i) => [policySlot(i, 0), policySlot(i, 1)]));
  for (const k of maps.policy.keys()) expect(slots.has(Number(k.split('|')[0])), `stray entry ${k}`).toBe(true);
  expect(diff(plan.next, desired).ops).toEqual([]);
  return maps;
}

// --- random states over a small universe, so changes overlap a lot ---

let seed = 0x1234567;
const rnd = (n: number): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};

function randomEntries(): PolicyEntry[] {
  const out = new Map<string, PolicyEntry>();
  for (let i = rnd(6); i > 0; i--) {
    const protocol = [0, 6, 17][rnd(3)]!;
    const e: PolicyEntry = {
      identity: [0, 300, 301, (1 << 24) | 5][rnd(4)]!,
      egress: rnd(2) === 1,
      protocol,
      port: protocol === 0 ? 0 : [0, 80, 443][rnd(3)]!,
      portPrefixLen: 0,
      ruleId: 1 + rnd(3),
    };
    if (e.port !== 0) e.portPrefixLen = 16;
    if (!out.has(entryKey(e))) out.set(entryKey(e), e);
  }
  return [...out.values()];
}

function randomState(): DesiredState {
  const endpoints = new Map<number, EndpointPolicy>();
  for (const ifindex of [10, 11, 12, 13]) {
    if (rnd(5) === 0) continue;
    endpoints.set(ifindex, {
      ifindex,
      identity: 300 + rnd(2),
      ingressIsolated: rnd(2) === 1,
      egressIsolated: rnd(2) === 1,
      entries: randomEntries(),
    });
  }
  const ipcache = new Map<string, number>();
  for (const ip of ['10.0.0.1', '10.0.0.2', 'fd00::1']) if (rnd(3) > 0) ipcache.set(ip, 300 + rnd(2));
  const cidrs = new Map<string, number>([['0.0.0.0/0', 2]]);
  if (rnd(2) === 1) cidrs.set('10.0.0.0/8', (1 << 24) | 5);
  return { ipcache, cidrs, endpoints, rules: new Map() };
}

describe('policy diff', () => {
  it('diff(x, x) is empty, for compiled and random states', () => {
    const c = cluster({ namespaces: [ns('x')], pods: [pod('x', 'a', { app: 'a' }, { ips: ['10.244.1.2'] })], policies: [policy('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] })] });
    const s = compile(c, [endpoint(5, c.pods[0]!)], { nodeName: 'node-a', hostAddresses: ['192.168.1.10'] });
    expect(diff(s, s).ops).toEqual([]);
    const first = diff(null, s);
    expect(diff(first.next, compile(c, [endpoint(5, c.pods[0]!)], { nodeName: 'node-a', hostAddresses: ['192.168.1.10'] })).ops).toEqual([]);
    for (let i = 0; i < 200; i++) {
      const x = randomState();
      expect(diff(x, x).ops).toEqual([]);
    }
  });

  it('from nothing: classification first, entries under generation 1, then the flip that makes the endpoint READY', () => {
    const desired: DesiredState = {
      ipcache: new Map([['10.244.1.2', 300]]),
      cidrs: new Map([['0.0.0.0/0', 2]]),
      endpoints: new Map([[5, { ifindex: 5, identity: 300, ingressIsolated: true, egressIsolated: false, entries: [{ identity: 0, egress: false, protocol: 6, port: 80, portPrefixLen: 16, ruleId: 1 }] }]]),
      rules: new Map(),
    };
    const plan = diff(null, desired);
    expect(plan.ops.map((o) => o.op)).toEqual(['ipcache-set', 'cidr-set', 'policy-set', 'endpoint-flags']);
    expect(plan.ops[3]).toEqual({ op: 'endpoint-flags', ifindex: 5, generation: 1, identity: 300, ingressIsolated: true, egressIsolated: false });
    expect(plan.next.endpoints.get(5)?.generation).toBe(1);
    checkPlan(null, desired);
  });

  it('changed isolation or identity with the same entries: one endpoint update, no flip', () => {
    const a = randomState();
    const [ifindex, ep] = [...a.endpoints][0]!;
    const cur: DesiredState = { ...a, endpoints: new Map([[ifindex, { ...ep, generation: 1 }]]) };
    const b: DesiredState = { ...a, endpoints: new Map([[ifindex, { ...ep, ingressIsolated: !ep.ingressIsolated, identity: 999 }]]) };
    const plan = diff(cur, b);
    expect(plan.ops).toEqual([{ op: 'endpoint-flags', ifindex, generation: 1, identity: 999, ingressIsolated: !ep.ingressIsolated, egressIsolated: ep.egressIsolated }]);
    checkPlan(cur, b);
  });

  it('renumbered rules only: values rewritten in place on the live generation', () => {
    const entries: PolicyEntry[] = [
      { identity: 300, egress: false, protocol: 6, port: 80, portPrefixLen: 16, ruleId: 1 },
      { identity: 301, egress: true, protocol: 0, port: 0, portPrefixLen: 0, ruleId: 2 },
    ];
    const ep: EndpointPolicy = { ifindex: 4, identity: 300, ingressIsolated: true, egressIsolated: true, entries, generation: 0 };
    const cur: DesiredState = { ipcache: new Map(), cidrs: new Map(), endpoints: new Map([[4, ep]]), rules: new Map() };
    const renumbered = entries.map((e) => ({ ...e, ruleId: e.ruleId + 5 }));
    const next: DesiredState = { ...cur, endpoints: new Map([[4, { ...ep, generation: undefined, entries: renumbered }]]) };
    const plan = diff(cur, next);
    expect(plan.ops).toEqual(renumbered.map((entry) => ({ op: 'policy-set', ifindex: 4, generation: 0, entry })));
    checkPlan(cur, next);
  });

  it('an endpoint read back without READY gets its flags written even when nothing else changed', () => {
    const ep: EndpointPolicy = { ifindex: 4, identity: 300, ingressIsolated: false, egressIsolated: false, entries: [], generation: 0 };
    const cur: DesiredState = { ipcache: new Map(), cidrs: new Map(), endpoints: new Map([[4, { ...ep, ready: false }]]), rules: new Map() };
    const next: DesiredState = { ...cur, endpoints: new Map([[4, ep]]) };
    expect(diff(cur, next).ops).toEqual([{ op: 'endpoint-flags', ifindex: 4, generation: 0, identity: 300, ingressIsolated: false, egressIsolated: false }]);
    expect(diff(cur, next).next.endpoints.get(4)?.ready).toBeUndefined();
  });

  it('a removed endpoint: every entry of both generations deleted', () => {
    const e: PolicyEntry = { identity: 300, egress: false, protocol: 6, port: 80, portPrefixLen: 16, ruleId: 1 };
    const cur: DesiredState = {
      ipcache: new Map(),
      cidrs: new Map(),
      endpoints: new Map([[4, { ifindex: 4, identity: 300, ingressIsolated: true, egressIsolated: false, entries: [e], inactiveEntries: [{ ...e, port: 81 }], generation: 1 }]]),
      rules: new Map(),
    };
    const next: DesiredState = { ...cur, endpoints: new Map() };
    expect(diff(cur, next).ops).toEqual([
      { op: 'policy-del', ifindex: 4, generation: 1, entry: e },
      { op: 'policy-del', ifindex: 4, generation: 0, entry: { ...e, port: 81 } },
    ]);
    checkPlan(cur, next);
  });

  it('every prefix of every plan shows each endpoint its old or its new policy (random states)', () => {
    let current: DesiredState | null = null;
    let maps = new Maps();
    for (let i = 0; i < 400; i++) {
      const desired = randomState();
      maps = checkPlan(current, desired, maps);
      current = diff(current, desired).next;
    }
  });

  it('an interrupted plan: leftovers under the idle generation never become live', () => {
    for (let i = 0; i < 300; i++) {
      const a = randomState();
      const b = randomState();
      const first = diff(null, a);
      const maps = Maps.from(null);
      for (const op of first.ops) maps.apply(op);
      // apply b only partly, as a crashed agent would have
      const plan = diff(first.next, b);
      const cut = rnd(plan.ops.length + 1);
      for (const op of plan.ops.slice(0, cut)) maps.apply(op);
      // the restarted agent reads the maps back and goes to a third state
      const adopted = maps.readBack();
      checkPlan(adopted, randomState(), maps);
    }
  });

  it('compiled states: a policy added, a pod relabelled, a policy deleted', () => {
    const o = { nodeName: 'node-a', hostAddresses: ['192.168.1.10'] };
    const pods = [
      pod('x', 'web', { app: 'web' }, { ips: ['10.244.1.2'] }),
      pod('x', 'db', { app: 'db' }, { ips: ['10.244.1.3'], ports: [['pg', 5432]] }),
      pod('x', 'far', { app: 'api' }, { ips: ['10.244.2.3'], nodeName: 'node-b' }),
    ];
    const locals = [endpoint(11, pods[0]!), endpoint(12, pods[1]!)];
    const dbPolicy = policy('x', 'db', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.244.2.0/24'] } }], ports: [{ port: 'pg' }] }] });
    const early = policy('a', 'first', { podSelector: {} }); // renumbers every rule of x/db
    const states = [
      cluster({ namespaces: [ns('x')], pods }),
      cluster({ namespaces: [ns('x')], pods, policies: [dbPolicy] }),
      cluster({ namespaces: [ns('x')], pods, policies: [dbPolicy, early] }),
      cluster({ namespaces: [ns('x')], pods: [pod('x', 'web', { app: 'web', v: '2' }, { ips: ['10.244.1.2'] }), ...pods.slice(1)], policies: [dbPolicy, early] }),
      cluster({ namespaces: [ns('x')], pods, policies: [] }),
    ];
    let current: DesiredState | null = null;
    let maps = new Maps();
    for (const s of states) {
      const desired = compile(s, locals, { ...o, previous: current });
      maps = checkPlan(current, desired, maps);
      current = diff(current, desired).next;
    }
  });
});
