// The agent's inside, with its effects injected: the cluster as the source sees it
// and the endpoints the CNI plugin registered go through admission (the pure
// compiler and differ, within the maps' capacity), the plan is written, and what did
// not land is reported. Nothing is reconciled before the source has loaded (an
// empty cluster would lift every isolation).
//
// Failures stay local: a refused policy is refused whole and the rest lands; an
// endpoint whose writes fail is retried while every other endpoint's plan, and every
// later change (revocations included), still lands.
import type { Logger } from '../util/log.js';
import { admit } from '../policy/admission.js';
import type { Capacity } from '../policy/capacity.js';
import type { Plan } from '../policy/diff.js';
import type { ClusterState, DesiredState, LocalEndpoint } from '../policy/types.js';
import { applyPlan, adoptCurrent, type PolicyMaps, type WriteFailure } from './apply.js';
import type { AgentCore, AgentCounters, AgentProblem, AgentStatus, ExplainRequest, ExplainResult, MapFill, PassTimer } from './core.js';
import type { NodeNetwork } from './node-network.js';
import type { LbSync } from '../lb/sync.js';
import { policyReports } from './report.js';
import type { CounterMaps } from './counters.js';
import { createRuleCounts } from './rule-counts.js';
import { nodePodCidrs } from '../cluster/nodes.js';

export interface ReconcilerDeps {
  nodeName: string;
  log: Logger;
  maps: PolicyMaps;
  /** entries each map may hold (maps.h max_entries in production) */
  capacity: Capacity;
  hostAddresses: () => string[];
  /** endpoints known at start (adopted from the records) */
  endpoints: Iterable<LocalEndpoint>;
  /** cuts connections the new state no longer allows; returns how many */
  revalidate: (current: DesiredState, addresses: ReadonlySet<string>) => number;
  explain: (current: DesiredState | null, req: ExplainRequest) => ExplainResult;
  /** brings what the datapath derives from the identities alone (the VXLAN hint maps) to `current`; throws on a failed write */
  syncIdentities?: (current: DesiredState) => number;
  close: () => void;
  /** wait before retrying after a failed write; default 500 ms */
  retryMs?: number;
  /** routes, tunnel and remote entries toward other nodes, fed every snapshot; absent: none */
  nodeNetwork?: NodeNetwork;
  /** the Service maps, fed every snapshot (off the CNI path); absent: none */
  services?: LbSync;
  /** told each pass's compile and apply time; absent: not timed */
  timing?: PassTimer;
  /** the always-on counters: connections by rule, a gone endpoint's entries; absent: none */
  counters?: CounterMaps;
}

interface Waiter {
  id: string;
  resolve: () => void;
}

const MAP_NAMES: Record<keyof Capacity, string> = { policy: 'strait_policy_v1', ipcache: 'strait_ipcache_v1', cidr: 'strait_cidr_v1' };

export function createReconciler(deps: ReconcilerDeps): AgentCore {
  const { log, maps } = deps;
  const retryMs = deps.retryMs ?? 500;
  const endpoints = new Map<string, LocalEndpoint>();
  for (const ep of deps.endpoints) endpoints.set(ep.id, ep);

  /** A DEL'd endpoint's counters go with it, unless another endpoint still has its veth. */
  const purgeCounters = (ifindex: number): void => {
    if ([...endpoints.values()].some((e) => e.ifindex === ifindex)) return;
    try {
      deps.counters?.deleteEndpointCounters((i) => i === ifindex);
    } catch (err) {
      log.warn({ ifindex, error: String(err) }, 'could not delete the counters of a removed endpoint');
    }
  };

  const ruleCounts = deps.counters === undefined ? null : createRuleCounts(deps.counters);
  const renumbered = (before: DesiredState['rules'], after: DesiredState['rules']): void => {
    try {
      ruleCounts?.renumbered(before, after);
    } catch (err) {
      log.warn({ error: String(err) }, 'could not carry the rule counters over to the new rule ids');
    }
  };

  let current: DesiredState | null = adoptCurrent(maps);
  let accepted = new Map<string, string>();
  let cluster: ClusterState | null = null;
  let sourceGeneration = 0;
  let appliedGeneration = 0;
  let lastError: string | null = null;
  let running = false;
  let again = false;
  let closed = false;
  let waiters: Waiter[] = [];
  let refused = new Map<string, AgentProblem>();
  let ipcacheProblem: AgentProblem | null = null;
  let writeProblems: AgentProblem[] = [];
  let fill: MapFill[] = [];
  const counters: AgentCounters = { policyRefusals: 0, writeFailures: 0, ipcacheOverflows: 0 };

  function reconcileOnce(): void {
    if (cluster === null) return;
    const generation = sourceGeneration;
    const included = [...endpoints.values()];
    const t0 = performance.now();
    const adm = admit({
      cluster,
      endpoints: included,
      options: { nodeName: deps.nodeName, hostAddresses: deps.hostAddresses(), previous: current },
      current,
      accepted,
      capacity: deps.capacity,
    });
    const t1 = performance.now();
    deps.timing?.('policy', 'compile', (t1 - t0) / 1000);
    report(adm.refused, adm.ipcacheDropped);
    let result;
    try {
      result = applyPlan(adm.plan, maps);
    } catch (err) {
      // A classification upsert failed before any endpoint was touched.
      current = { ...adoptCurrent(maps), identities: adm.desired.identities, namespaceIds: adm.desired.namespaceIds };
      throw err;
    }
    const failed = new Set(result.failures.map((f) => f.ifindex));
    const numbered = current?.rules;
    current =
      result.failures.length === 0
        ? adm.plan.next
        : { ...adoptCurrent(maps), identities: adm.desired.identities, namespaceIds: adm.desired.namespaceIds, rules: adm.desired.rules };
    accepted = adm.accepted;
    if (numbered !== undefined) renumbered(numbered, current.rules);
    fill = (['policy', 'ipcache', 'cidr'] as const).map((k) => ({ map: MAP_NAMES[k], entries: adm.usage[k].final, capacity: deps.capacity[k] }));
    try {
      deps.syncIdentities?.(current);
    } catch (err) {
      // Only the VXLAN hints: a new pod waits for the ipcache instead. Retried below.
      result.failures.push({ ifindex: null, op: 'vni-sync', error: `the VXLAN hint maps: ${(err as Error).message}` });
    }
    const cut = deps.revalidate(current, addressesOfChanged(adm.plan, endpoints));
    deps.timing?.('policy', 'apply', (performance.now() - t1) / 1000);
    if (cut > 0) log.info({ connections: cut }, 'cut connections that policy no longer allows');
    if (result.written > 0) log.info({ generation, ops: result.written, ms: Math.round(performance.now() - t0) }, 'datapath updated');

    const done = waiters.filter((w) => {
      const ep = endpoints.get(w.id);
      return ep !== undefined && included.includes(ep) && !failed.has(ep.ifindex);
    });
    waiters = waiters.filter((w) => !done.includes(w));
    for (const w of done) w.resolve();

    writeProblems = writeFailures(result.failures);
    if (result.failures.length > 0) {
      lastError = `${result.failures.length} map writes failed (${result.failures[0]!.error}); retrying`;
      setTimeout(schedule, retryMs).unref();
      return;
    }
    appliedGeneration = generation;
    lastError = null;
    // Room a refused policy or a left-out address may need is freed by this plan's
    // removals: look again once they are written.
    const freed = adm.usage.policy.final < adm.usage.policy.peak || adm.usage.cidr.final < adm.usage.cidr.peak || adm.usage.ipcache.final < adm.usage.ipcache.peak;
    if (freed && (adm.refused.length > 0 || adm.ipcacheDropped.length > 0)) again = true;
  }

  function report(refusals: readonly { policy: string; reason: string }[], dropped: readonly string[]): void {
    const next = new Map<string, AgentProblem>();
    for (const r of refusals) {
      const problem: AgentProblem = { kind: 'policy-refused', subject: r.policy, message: `NetworkPolicy ${r.policy} refused: ${r.reason}; the pods it selects stay isolated and nothing it allows is written` };
      if (!refused.has(r.policy)) {
        counters.policyRefusals++;
        log.error({ policy: r.policy }, problem.message);
      }
      next.set(r.policy, problem);
    }
    for (const name of refused.keys()) if (!next.has(name)) log.info({ policy: name }, `NetworkPolicy ${name} fits now and is applied`);
    refused = next;
    if (dropped.length === 0) {
      if (ipcacheProblem !== null) log.info('the ipcache holds every pod address again');
      ipcacheProblem = null;
      return;
    }
    const message = `${MAP_NAMES.ipcache} is full: ${dropped.length} pod addresses are not classified (first ${dropped[0]}); selectors do not allow them, ipBlocks still do`;
    if (ipcacheProblem === null) {
      counters.ipcacheOverflows++;
      log.error({ addresses: dropped.length }, message);
    }
    ipcacheProblem = { kind: 'ipcache-full', subject: MAP_NAMES.ipcache, message };
  }

  function writeFailures(failures: readonly WriteFailure[]): AgentProblem[] {
    counters.writeFailures += failures.length;
    const bySubject = new Map<string, AgentProblem>();
    for (const f of failures) {
      const subject = f.ifindex === null ? 'shared maps' : `endpoint ${f.ifindex}`;
      log.warn({ ifindex: f.ifindex, op: f.op, err: f.error }, `map write failed for ${subject}; the other endpoints are updated, this one is retried`);
      if (!bySubject.has(subject)) bySubject.set(subject, { kind: 'write-failed', subject, message: `${f.op} failed: ${f.error}` });
    }
    return [...bySubject.values()];
  }

  function schedule(): void {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    setImmediate(() => {
      try {
        do {
          again = false;
          try {
            reconcileOnce();
          } catch (err) {
            lastError = (err as Error).message;
            counters.writeFailures++;
            log.error({ err }, 'reconcile failed; retrying');
            setTimeout(schedule, retryMs).unref();
          }
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() sets it while the pass awaits
        } while (again && !closed);
      } finally {
        running = false;
      }
    });
  }

  return {
    setCluster(state, generation) {
      cluster = state;
      sourceGeneration = generation;
      deps.nodeNetwork?.update(state);
      deps.services?.update(state);
      schedule();
    },
    registerEndpoint(ep) {
      endpoints.set(ep.id, ep);
      const ready = new Promise<void>((resolve) => waiters.push({ id: ep.id, resolve }));
      schedule();
      return ready;
    },
    async removeEndpoint(id) {
      const gone = endpoints.get(id);
      endpoints.delete(id);
      if (gone !== undefined) purgeCounters(gone.ifindex);
      schedule();
    },
    status(): AgentStatus {
      const net = deps.nodeNetwork?.status() ?? { problems: [], nodes: [], settled: true };
      const lb = deps.services?.status() ?? null;
      return {
        // The node's network (routes, tunnel, masquerade) counts too: synced means usable.
        synced: cluster !== null && !running && !again && appliedGeneration === sourceGeneration && lastError === null && net.settled && (lb?.settled ?? true),
        sourceGeneration,
        appliedGeneration,
        endpoints: endpoints.size,
        policies: cluster?.policies.length ?? 0,
        ...(current?.identities === undefined ? {} : { identities: current.identities.size }),
        lastError,
        problems: [...refused.values(), ...(ipcacheProblem === null ? [] : [ipcacheProblem]), ...writeProblems, ...net.problems, ...(lb?.problems ?? [])],
        counters: { ...counters },
        maps: fill,
        nodes: net.nodes,
        ...(lb === null ? {} : { services: lb.services }),
      };
    },
    nodePodCidrs() {
      return nodePodCidrs(cluster, deps.nodeName);
    },
    policyOf(pod) {
      return policyReports(cluster, current, [...endpoints.values()], pod, ruleCounts?.connections(current?.rules ?? new Map()) ?? new Map());
    },
    explain(req) {
      return deps.explain(current, req);
    },
    flowNames() {
      return { cluster, endpoints: [...endpoints.values()], rules: current?.rules ?? new Map() };
    },
    async close() {
      closed = true;
      deps.nodeNetwork?.close();
      deps.services?.close();
      deps.close();
    },
  };
}

/** The pod addresses behind every endpoint whose flags or entries the plan changed. */
function addressesOfChanged(plan: Plan, endpoints: ReadonlyMap<string, LocalEndpoint>): Set<string> {
  const changed = new Set<number>();
  for (const op of plan.ops) {
    if (op.op === 'endpoint-flags' || op.op === 'policy-set' || op.op === 'policy-del') changed.add(op.ifindex);
  }
  const out = new Set<string>();
  for (const ep of endpoints.values()) if (changed.has(ep.ifindex)) for (const ip of ep.ips) out.add(ip);
  return out;
}
