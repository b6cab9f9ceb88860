// The Service maps kept in step with the cluster, every snapshot, the way the node
// network is: compile, diff against what the maps hold, apply. Off the CNI path: a
// pass runs on its own turn of the event loop and no pod's ADD waits for it.
// A starting agent reads the maps (adopting every id there) and purges connection
// entries that name a backend no longer there, so ids it hands out are clean; a
// failed write is reported and retried, never thrown. What did not change costs
// next to nothing: a snapshot whose Services and EndpointSlices are the objects of
// the last clean pass is skipped, and otherwise only the Services whose objects
// changed are compiled and diffed again (a pod's churn on a node with 10,000
// Services must not hold the event loop the CNI calls are served on). A big plan (a
// first start with thousands of Services) is written GROUPS_PER_TURN Services per
// turn of the event loop, each Service whole in its safe order; a snapshot arriving
// meanwhile waits for the pass to end.
import type { AgentProblem, MapFill, PassTimer } from '../agent/core.js';
import { MapName } from '../datapath/maps/names.js';
import type { ClusterState } from '../policy/types.js';
import type { Logger } from '../util/log.js';
import { createPassRunner } from '../util/pass-runner.js';
import { applyGroups, purgeConnections, purgeDeleted, type LbWriteFailure } from './apply.js';
import { compileServices, sameList, type CompileMemo } from './compile.js';
import { advance, planServices, type LbPlan, type LbRefusal } from './plan.js';
import { countsOf, stateOf, type LbState } from './state.js';
import type { CompiledServices, DesiredService, LbMaps, LbSkipped } from './types.js';

export interface ServicesStatus {
  /** Services written (with ClusterIPs, not refused) */
  services: number;
  /** (ClusterIP, port) entries written */
  servicePorts: number;
  backends: number;
  readyBackends: number;
  refused: LbRefusal[];
  /** ports left to kube-proxy (SCTP with another targetPort) */
  skipped: LbSkipped[];
  maps: MapFill[];
  /** times a Service went from written (or new) to refused; map writes that failed; connection entries purged */
  counters: { refusals: number; writeFailures: number; purged: number };
}

export interface LbSync {
  update(cluster: ClusterState): void;
  status(): { services: ServicesStatus; problems: AgentProblem[]; settled: boolean };
  close(): void;
}

export interface LbSyncOptions {
  nodeName: string;
  log: Logger;
  /** wait before retrying a failed write; default 500 ms */
  retryMs?: number;
  /** told each pass's compile (compile and plan) and apply (writes, over all its turns) time */
  timing?: PassTimer;
}

/** Services written per turn of the event loop: a few thousand map writes. */
const GROUPS_PER_TURN = 256;

export function createLbSync(opts: LbSyncOptions, maps: LbMaps): LbSync {
  const { log } = opts;
  const retryMs = opts.retryMs ?? 500;
  const capacity = maps.capacity();
  let cluster: ClusterState | null = null;
  let state: LbState | null = null;
  let orphansPurged = false;
  let pending = new Set<number>();
  /** backends written not ready whose affinity entries are not purged yet */
  let unready = new Set<number>();
  let refused = new Map<string, LbRefusal>();
  let skipped: LbSkipped[] = [];
  let failures: LbWriteFailure[] = [];
  const runner = createPassRunner(run, retryMs);
  const counters = { refusals: 0, writeFailures: 0, purged: 0 };
  const memo: CompileMemo = new WeakMap();
  /** the Services the last pass wrote whole (state is what it left), and the objects it had */
  let written: ReadonlySet<DesiredService> = new Set();
  let lastInputs: Pick<ClusterState, 'services' | 'endpointSlices'> | null = null;
  let summary = { services: 0, servicePorts: 0, readyBackends: 0 };
  /** a plan is being written, over several turns */
  let busy = false;
  let again = false;
  let closed = false;

  function pass(c: ClusterState): void {
    const clean = state !== null && failures.length === 0 && pending.size === 0 && unready.size === 0;
    if (clean && lastInputs !== null && sameList(c.services, lastInputs.services) && sameList(c.endpointSlices, lastInputs.endpointSlices)) {
      done();
      return;
    }
    state ??= stateOf(maps.read());
    if (!orphansPurged) {
      const held = state;
      counters.purged += purgeConnections(maps, (id) => !held.backends.has(id));
      orphansPurged = true;
    }
    const t0 = performance.now();
    const compiled = compileServices(c, opts.nodeName, memo);
    const plan = planServices(compiled.services, state, capacity, pending, written);
    opts.timing?.('services', 'compile', (performance.now() - t0) / 1000);
    busy = true;
    writeFrom(c, compiled, plan, 0, { written: 0, failures: [], deleted: new Set(pending), unready: new Set(unready), ms: 0 });
  }

  /** The plan's groups from `from` on, a turn at a time; then the purge and the bookkeeping. */
  function writeFrom(
    c: ClusterState,
    compiled: CompiledServices,
    plan: LbPlan,
    from: number,
    acc: { written: number; failures: LbWriteFailure[]; deleted: Set<number>; unready: Set<number>; ms: number },
  ): void {
    const t0 = performance.now();
    const g = applyGroups(plan.groups.slice(from, from + GROUPS_PER_TURN), maps);
    acc.ms += performance.now() - t0;
    acc.written += g.written;
    acc.failures.push(...g.failures);
    for (const id of g.deleted) acc.deleted.add(id);
    for (const id of g.unready) acc.unready.add(id);
    if (from + GROUPS_PER_TURN < plan.groups.length) {
      setImmediate(() => guarded(() => (closed ? done() : writeFrom(c, compiled, plan, from + GROUPS_PER_TURN, acc))));
      return;
    }
    const t1 = performance.now();
    const p = purgeDeleted(maps, acc.deleted, acc.unready);
    // The time spent writing, not the turns in between when the CNI calls ran.
    opts.timing?.('services', 'apply', (acc.ms + performance.now() - t1) / 1000);
    const r = { written: acc.written, failures: [...acc.failures, ...p.failures], purged: p.purged };
    pending = p.unpurged;
    unready = p.unreadyLeft;
    counters.purged += r.purged;
    // Every group written (a failed purge only keeps its ids reserved): the maps are the state advanced by the plan.
    const groupsWritten = acc.failures.length === 0;
    state = groupsWritten && state !== null ? advance(state, plan) : null;
    written = groupsWritten ? new Set(plan.accepted) : new Set();
    lastInputs = groupsWritten ? { services: c.services, endpointSlices: c.endpointSlices } : null;
    report(plan.refused, compiled.skipped, r.failures);
    summary = {
      services: plan.accepted.length,
      servicePorts: plan.accepted.reduce((n, s) => n + s.entries.length, 0),
      readyBackends: plan.accepted.reduce((n, s) => n + s.entries.reduce((m, e) => m + e.backends.filter((b) => b.ready).length, 0), 0),
    };
    if (r.written > 0) log.info({ ops: r.written, purged: r.purged, services: summary.services }, 'service maps updated');
    done();
  }

  /** A pass is over (written, failed or closed): a snapshot that came meanwhile gets its own. */
  function done(): void {
    busy = false;
    if (failures.length > 0 || pending.size > 0 || unready.size > 0) runner.retryLater();
    if (again) {
      again = false;
      runner.schedule();
    }
  }

  function guarded(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      // Reading the maps failed (or a bug): nothing is assumed about them, they are read again.
      state = null;
      written = new Set();
      lastInputs = null;
      failures = [{ subject: 'service maps', op: 'pass', error: (e as Error).message }];
      counters.writeFailures++;
      log.error({ err: (e as Error).message }, 'updating the service maps failed; retrying');
      done();
    }
  }

  function report(refusals: readonly LbRefusal[], skips: readonly LbSkipped[], failed: readonly LbWriteFailure[]): void {
    const next = new Map(refusals.map((r) => [r.service, r]));
    for (const [name, r] of next) {
      if (refused.get(name)?.reason === r.reason) continue;
      if (!refused.has(name)) counters.refusals++;
      log.error({ service: name }, `Service ${name} refused: ${r.reason}; nothing of it is written (its ClusterIP is not translated by strait)`);
    }
    for (const name of refused.keys()) if (!next.has(name)) log.info({ service: name }, `Service ${name} fits now and is written`);
    refused = next;
    const seen = new Set(skipped.map((s) => `${s.service}\n${s.reason}`));
    for (const s of skips) if (!seen.has(`${s.service}\n${s.reason}`)) log.warn({ service: s.service }, `Service ${s.service}: ${s.reason}`);
    skipped = [...skips];
    counters.writeFailures += failed.length;
    for (const f of failed) log.warn({ subject: f.subject, op: f.op, err: f.error }, `service map write failed for ${f.subject}; retrying`);
    failures = [...failed];
  }

  function run(): void {
    if (cluster === null || closed) return;
    if (busy) {
      again = true;
      return;
    }
    const c = cluster;
    guarded(() => pass(c));
  }

  function fill(): MapFill[] {
    const n = state === null ? null : countsOf(state);
    return [
      { map: MapName.lbServices, entries: n?.services ?? 0, capacity: capacity.services },
      { map: MapName.lbBackends, entries: n?.backends ?? 0, capacity: capacity.backends },
      { map: MapName.lbSlots, entries: n?.slots ?? 0, capacity: capacity.backends },
    ];
  }

  return {
    update(c) {
      cluster = c;
      runner.schedule();
    },
    status() {
      const problems: AgentProblem[] = [
        ...[...refused.values()].map((r): AgentProblem => ({ kind: 'service-refused', subject: r.service, message: `Service ${r.service} refused: ${r.reason}` })),
        ...failures.map((f): AgentProblem => ({ kind: 'write-failed', subject: `service ${f.subject}`, message: `${f.op} failed: ${f.error}` })),
      ];
      return {
        services: {
          ...summary,
          backends: state?.backends.size ?? 0,
          refused: [...refused.values()],
          skipped: [...skipped],
          maps: fill(),
          counters: { ...counters },
        },
        problems,
        settled: !runner.scheduled && !busy && !again && failures.length === 0 && pending.size === 0 && unready.size === 0,
      };
    },
    close() {
      closed = true;
      runner.close();
      maps.close();
    },
  };
}
