// The Service maps' differ and applier (src/lb/plan.ts, apply.ts) on in-memory maps
// that log every write in order: ids adopted and allocated, the safe order of
// docs/services.md "Backend changes", the purge of a removed backend's connections
// before its id comes back, capacity refusals, and a failed write retried.
import { describe, expect, it } from 'vitest';
import { encodeCtKey } from '../../src/datapath/maps/ct.js';
import { encodeLbAffinityKey, encodeLbAffinityValue, encodeLbFlowValue, encodeLbRevValue, LB_BE_F_READY } from '../../src/datapath/maps/lb.js';
import { applyLbPlan } from '../../src/lb/apply.js';
import { planServices } from '../../src/lb/plan.js';
import { applyOp, stateOf } from '../../src/lb/state.js';
import type { DesiredBackend, DesiredService } from '../../src/lb/types.js';
import { FakeLbMaps } from '../helpers/fake-lb-maps.js';

const be = (last: number, ready = true): DesiredBackend => ({ addr: `10.244.1.${last}`, port: 8080, ready });
const svc = (name: string, ip: string, backends: DesiredBackend[], ports = [80]): DesiredService => ({
  name: `x/${name}`,
  entries: ports.map((port) => ({ key: { family: 4, addr: ip, port, protocol: 6 }, flags: 0, affinityTimeoutS: 0, backends })),
});

/** One pass as the agent makes it: read the maps, plan, apply. */
function pass(maps: FakeLbMaps, desired: DesiredService[], pending: ReadonlySet<number> = new Set()) {
  const plan = planServices(desired, stateOf(maps.read()), maps.capacity(), pending);
  const before = maps.log.length;
  const result = applyLbPlan(plan, maps, pending);
  return { plan, result, ops: maps.log.slice(before) };
}

const serviceId = (maps: FakeLbMaps, addr: string, port = 80): number => [...maps.services.values()].find((e) => e.key.addr === addr && e.key.port === port)!.value.serviceId;
const backendIdOf = (maps: FakeLbMaps, addr: string): number => [...maps.backends].find(([, v]) => v.addr === addr)![0];

/** A connection of client 10.244.9.1 given backend `id` of service `sid`: its flow, rev and affinity entries. */
function connect(maps: FakeLbMaps, sid: number, id: number, backendAddr: string, sport: number): void {
  const flowKey = encodeCtKey({ family: 4, saddr: '10.244.9.1', daddr: '10.96.0.10', sport, dport: 80, protocol: 6 });
  maps.flows.put(flowKey, encodeLbFlowValue({ backendId: id, serviceId: sid, flags: 0 }));
  const revKey = encodeCtKey({ family: 4, saddr: backendAddr, daddr: '10.244.9.1', sport: 8080, dport: sport, protocol: 6 });
  maps.rev.put(revKey, encodeLbRevValue({ family: 4, vip: '10.96.0.10', client: null, vport: 80, flags: 0, backendId: id }));
  maps.affinity.put(encodeLbAffinityKey({ serviceId: sid, family: 4, client: `10.244.9.${sport % 200}` }), encodeLbAffinityValue({ lastSeenNs: 1n, backendId: id }));
}

describe('the Service maps differ and applier', () => {
  it('a new Service: backends, then slots, then the service entry; ids from 1', () => {
    const maps = new FakeLbMaps();
    const { ops, result } = pass(maps, [svc('web', '10.96.0.10', [be(1), be(2), be(3, false)])]);
    expect(result.failures).toEqual([]);
    expect(ops).toEqual(['backend-set 1', 'backend-set 2', 'backend-set 3', 'slot-set 1/1', 'slot-set 1/2', 'service-set 10.96.0.10:80/TCP']);
    expect(maps.services.get('10.96.0.10:80/TCP')!.value).toEqual({ serviceId: 1, count: 2, flags: 0, affinityTimeoutS: 0 });
    expect(maps.slotsOf(1)).toEqual(['10.244.1.1:8080', '10.244.1.2:8080']);
    expect(maps.backends.get(3)).toEqual({ family: 4, addr: '10.244.1.3', port: 8080, flags: 0, serviceId: 1 });
    expect(maps.backends.get(1)!.flags).toBe(LB_BE_F_READY);
  });

  it('the same Services against the maps they wrote: no write at all, ids kept', () => {
    const maps = new FakeLbMaps();
    const want = [svc('a', '10.96.0.1', [be(1), be(2)]), svc('web', '10.96.0.10', [be(3), be(4, false)], [80, 443])];
    pass(maps, want);
    const ids = JSON.stringify([...maps.services.values()]);
    const again = pass(maps, want);
    expect(again.ops).toEqual([]);
    expect(again.plan.groups).toEqual([]);
    expect(JSON.stringify([...maps.services.values()])).toBe(ids);
  });

  it('a new Service takes the smallest free ids, leaving the others where they are', () => {
    const maps = new FakeLbMaps();
    pass(maps, [svc('a', '10.96.0.1', [be(1)]), svc('b', '10.96.0.2', [be(2)]), svc('c', '10.96.0.3', [be(3)])]);
    pass(maps, [svc('a', '10.96.0.1', [be(1)]), svc('c', '10.96.0.3', [be(3)])]); // b's ids free (no connections to purge)
    pass(maps, [svc('a', '10.96.0.1', [be(1)]), svc('c', '10.96.0.3', [be(3)]), svc('d', '10.96.0.4', [be(4)])]);
    expect([serviceId(maps, '10.96.0.1'), serviceId(maps, '10.96.0.3'), serviceId(maps, '10.96.0.4')]).toEqual([1, 3, 2]);
    expect(backendIdOf(maps, '10.244.1.4')).toBe(2);
  });

  it('a backend leaves: count down before its slot goes, the backend deleted, then its connections purged', () => {
    const maps = new FakeLbMaps();
    pass(maps, [svc('web', '10.96.0.10', [be(1), be(2), be(3)])]);
    const sid = serviceId(maps, '10.96.0.10');
    const gone = backendIdOf(maps, '10.244.1.1');
    const kept = backendIdOf(maps, '10.244.1.2');
    connect(maps, sid, gone, '10.244.1.1', 1000);
    connect(maps, sid, kept, '10.244.1.2', 1001);
    const { ops, result } = pass(maps, [svc('web', '10.96.0.10', [be(2), be(3)])]);
    expect(result.failures).toEqual([]);
    // slot 1 held backend 1: the others move down, count 2, slot 3 goes, then backend 1, then its entries.
    expect(ops).toEqual(['slot-set 1/1', 'slot-set 1/2', 'service-set 10.96.0.10:80/TCP', 'slot-del 1/3', `backend-del ${gone}`, 'flows-del 1', 'rev-del 1', 'affinity-del 1']);
    expect(maps.slotsOf(sid)).toEqual(['10.244.1.2:8080', '10.244.1.3:8080']);
    expect([maps.flows.entries.size, maps.rev.entries.size, maps.affinity.entries.size]).toEqual([1, 1, 1]);
    expect([maps.flows.iterations, maps.rev.iterations, maps.affinity.iterations]).toEqual([1, 1, 1]);
    expect(result.purged).toBe(3);
  });

  it('a backend no longer ready: out of its slot (count first), kept as a backend for its connections', () => {
    const maps = new FakeLbMaps();
    pass(maps, [svc('web', '10.96.0.10', [be(1), be(2)])]);
    const id2 = backendIdOf(maps, '10.244.1.2');
    const { ops } = pass(maps, [svc('web', '10.96.0.10', [be(1), be(2, false)])]);
    expect(ops).toEqual([`backend-set ${id2}`, 'service-set 10.96.0.10:80/TCP', 'slot-del 1/2']);
    expect(maps.backends.get(id2)!.flags).toBe(0);
    expect(maps.services.get('10.96.0.10:80/TCP')!.value.count).toBe(1);
  });

  it('a backend no longer ready keeps its connections but loses its affinity entries (no new connection goes back to it)', () => {
    const maps = new FakeLbMaps();
    pass(maps, [svc('web', '10.96.0.10', [be(1), be(2)])]);
    const [id1, id2] = [backendIdOf(maps, '10.244.1.1'), backendIdOf(maps, '10.244.1.2')];
    connect(maps, 1, id1, '10.244.1.1', 1000);
    connect(maps, 1, id2, '10.244.1.2', 1001);
    const { ops } = pass(maps, [svc('web', '10.96.0.10', [be(1), be(2, false)])]);
    expect(ops).toEqual([`backend-set ${id2}`, 'service-set 10.96.0.10:80/TCP', 'slot-del 1/2', 'affinity-del 1']);
    expect([maps.flows.entries.size, maps.rev.entries.size, maps.affinity.entries.size]).toEqual([2, 2, 1]);
  });

  it('a new backend: written and slotted before the count goes up', () => {
    const maps = new FakeLbMaps();
    pass(maps, [svc('web', '10.96.0.10', [be(1)])]);
    const { ops } = pass(maps, [svc('web', '10.96.0.10', [be(1), be(2)])]);
    expect(ops).toEqual(['backend-set 2', 'slot-set 1/2', 'service-set 10.96.0.10:80/TCP']);
  });

  it('a Service removed: its entry first, then its slots and backends, then their connections', () => {
    const maps = new FakeLbMaps();
    pass(maps, [svc('web', '10.96.0.10', [be(1), be(2)])]);
    connect(maps, 1, 1, '10.244.1.1', 1000);
    const { ops } = pass(maps, []);
    expect(ops).toEqual(['service-del 10.96.0.10:80/TCP', 'slot-del 1/1', 'slot-del 1/2', 'backend-del 1', 'backend-del 2', 'flows-del 1', 'rev-del 1', 'affinity-del 1']);
    expect([maps.services.size, maps.slots.size, maps.backends.size]).toEqual([0, 0, 0]);
  });

  it('an id whose connections are not purged yet is not handed out again', () => {
    const maps = new FakeLbMaps();
    pass(maps, [svc('web', '10.96.0.10', [be(1), be(2)])]);
    const first = pass(maps, [svc('web', '10.96.0.10', [be(2)])]);
    expect(first.ops).toContain('backend-del 1');
    // As if that purge had failed: id 1 is still waiting for it.
    const next = pass(maps, [svc('web', '10.96.0.10', [be(2), be(7)])], new Set([1]));
    expect(backendIdOf(maps, '10.244.1.7')).toBe(3);
    expect(next.result.unpurged.size).toBe(0);
    pass(maps, [svc('web', '10.96.0.10', [be(2), be(7), be(8)])]);
    expect(backendIdOf(maps, '10.244.1.8')).toBe(1);
  });

  it('a purge that fails leaves the ids reserved and is reported', () => {
    const maps = new FakeLbMaps();
    pass(maps, [svc('web', '10.96.0.10', [be(1), be(2)])]);
    connect(maps, 1, 1, '10.244.1.1', 1000);
    maps.failOn = null;
    const realDelete = maps.rev.deleteMany.bind(maps.rev);
    maps.rev.deleteMany = () => {
      throw new Error('EPERM');
    };
    const { result } = pass(maps, [svc('web', '10.96.0.10', [be(2)])]);
    expect(result.failures).toEqual([{ subject: 'connection tables', op: 'purge', error: 'EPERM' }]);
    expect([...result.unpurged]).toEqual([1]);
    maps.rev.deleteMany = realDelete;
    const retried = pass(maps, [svc('web', '10.96.0.10', [be(2)])], result.unpurged);
    expect(retried.result.unpurged.size).toBe(0);
    expect(maps.rev.entries.size).toBe(0);
  });

  it('a Service that does not fit is refused whole; those written stay, the rest still land', () => {
    const maps = new FakeLbMaps({ services: 8, backends: 100 });
    const nine = Array.from({ length: 9 }, (_, i) => svc(`s${i + 1}`, `10.96.0.${i + 1}`, [be(i + 1)]));
    const { plan } = pass(maps, nine);
    expect(plan.refused.map((r) => r.service)).toEqual(['x/s9']);
    expect(plan.refused[0]!.reason).toMatch(/does not fit: it needs 1 service entries and 1 backends, 0 and 92 are left \(of 8 and 100\)/);
    expect(maps.services.size).toBe(8);
    // A new Service sorting first never pushes out one already written.
    const { plan: p2, ops } = pass(maps, [svc('a0', '10.96.1.1', [be(50)]), ...nine.slice(0, 8)]);
    expect(p2.refused.map((r) => r.service)).toEqual(['x/a0']);
    expect(ops).toEqual([]);
  });

  it('a multi-port Service that fits only in part is not written at all', () => {
    const maps = new FakeLbMaps({ services: 3, backends: 100 });
    const { plan } = pass(maps, [svc('a', '10.96.0.1', [be(1)]), svc('b', '10.96.0.2', [be(2)], [80, 443, 8443])]);
    expect(plan.refused.map((r) => r.service)).toEqual(['x/b']);
    expect([...maps.services.keys()]).toEqual(['10.96.0.1:80/TCP']);
    expect([...maps.backends.values()].map((b) => b.addr)).toEqual(['10.244.1.1']);
  });

  it('the backend map counts too', () => {
    const maps = new FakeLbMaps({ services: 100, backends: 3 });
    const { plan } = pass(maps, [svc('a', '10.96.0.1', [be(1), be(2)]), svc('b', '10.96.0.2', [be(3), be(4)]), svc('c', '10.96.0.3', [be(5)])]);
    expect(plan.refused.map((r) => r.service)).toEqual(['x/b']);
    expect(maps.backends.size).toBe(3);
  });

  it('two Services claiming one ClusterIP and port: the first by name is written, the other refused', () => {
    const maps = new FakeLbMaps();
    const { plan } = pass(maps, [svc('a', '10.96.0.1', [be(1)]), svc('b', '10.96.0.1', [be(2)])]);
    expect(plan.refused).toEqual([{ service: 'x/b', reason: '10.96.0.1:80/TCP is already Service x/a\'s' }]);
  });

  it('a failed write stops that Service (never out of order), the others land, and the next pass finishes it', () => {
    const maps = new FakeLbMaps();
    maps.failOn = (op) => op === 'slot-set 1/1';
    const first = pass(maps, [svc('a', '10.96.0.1', [be(1)]), svc('b', '10.96.0.2', [be(2)])]);
    expect(first.result.failures).toEqual([{ subject: 'x/a', op: 'slot-set 1/1', error: 'injected failure: slot-set 1/1' }]);
    expect([...maps.services.keys()]).toEqual(['10.96.0.2:80/TCP']); // a's entry never written without its slot
    maps.failOn = null;
    const second = pass(maps, [svc('a', '10.96.0.1', [be(1)]), svc('b', '10.96.0.2', [be(2)])]);
    // What the failed pass left has no service entry to own it: it goes, and the
    // Service is written anew, still backend, slot, entry.
    expect(second.ops).toEqual(['backend-del 1', 'backend-set 3', 'slot-set 3/1', 'service-set 10.96.0.1:80/TCP']);
    expect(maps.slotsOf(serviceId(maps, '10.96.0.1'))).toEqual(['10.244.1.1:8080']);
    expect(pass(maps, [svc('a', '10.96.0.1', [be(1)]), svc('b', '10.96.0.2', [be(2)])]).ops).toEqual([]);
  });

  it('slots and backends of a service id without an entry (an interrupted removal) are cleaned up', () => {
    const maps = new FakeLbMaps();
    pass(maps, [svc('web', '10.96.0.10', [be(1)])]);
    maps.services.clear(); // the removal got as far as the service entry
    const { ops } = pass(maps, []);
    expect(ops).toEqual(['slot-del 1/1', 'backend-del 1']);
  });

  it('Services written unchanged by the last clean pass are not diffed again, and still kept', () => {
    const maps = new FakeLbMaps();
    const a = svc('a', '10.96.0.1', [be(1)]);
    const b = svc('b', '10.96.0.2', [be(2)]);
    const first = pass(maps, [a, b]);
    // What the maps hold, as the last pass left it: a stands as written, even though the
    // (deliberately stale) state says nothing of its backend; b is diffed.
    expect(first.plan.groups).toHaveLength(2);
    const state = stateOf(maps.read());
    applyOp(state, { op: 'backend-del', id: backendIdOf(maps, '10.244.1.1') });
    const b2 = svc('b', '10.96.0.2', [be(2), be(3)]);
    const plan = planServices([a, b2], state, maps.capacity(), new Set(), new Set([a, b]));
    expect(plan.groups.map((g) => g.subject)).toEqual(['x/b']);
    expect(plan.accepted.map((s) => s.name)).toEqual(['x/a', 'x/b']);
    // Without the shortcut a would be diffed (and its backend written again).
    expect(planServices([a, b2], state, maps.capacity()).groups.map((g) => g.subject)).toEqual(['x/a', 'x/b']);
  });
});
