// The agent's inside: the cluster as the source sees it and the endpoints the CNI
// plugin registered go through the pure compiler; the pure differ turns the change
// from what the maps hold into an ordered plan; the plan is written. A starting
// agent reads the maps first and adopts them, so a restart changes nothing that
// does not need changing, and nothing is reconciled before the source has loaded
// (an empty cluster would lift every isolation).
import type { Logger } from '../util/log.js';
import { openDatapath } from '../datapath/loader.js';
import { Netlink } from '../datapath/netlink.js';
import { endpointId, liveEndpointRecords } from '../cni/endpoint-record.js';
import { currentBootId } from '../util/boot-id.js';
import { compile } from '../policy/compile.js';
import { diff } from '../policy/diff.js';
import type { ClusterState, DesiredState, LocalEndpoint } from '../policy/types.js';
import type { AgentCore, AgentStatus, EndpointPolicyReport, ExplainRequest, ExplainResult } from './core.js';
import { applyPlan, adoptCurrent } from './apply.js';
import { DatapathWriter } from './datapath-writer.js';
import { explainVerdict } from './explain.js';
import { hostAddresses } from './host-addresses.js';
import { policyReports } from './report.js';
import { revalidateConntrack } from './conntrack.js';
import type { Plan } from '../policy/diff.js';

export interface AgentOptions {
  nodeName: string;
  stateDir: string;
  bpfDir: string;
  log: Logger;
}

interface Waiter {
  id: string;
  resolve: () => void;
}

export async function createAgentCore(opts: AgentOptions): Promise<AgentCore> {
  const { log } = opts;
  const dp = openDatapath({ bpfDir: opts.bpfDir, stateDir: opts.stateDir });
  dp.close(); // pinned state exists now; the writer opens what it needs
  const writer = new DatapathWriter(opts.bpfDir);

  const endpoints = new Map<string, LocalEndpoint>();
  const links = liveLinks();
  const live = new Set(links.keys());
  // Never a record of another boot, nor one whose ifindex is now another veth's.
  for (const r of liveEndpointRecords(opts.stateDir, links, currentBootId())) {
    endpoints.set(endpointId(r), {
      id: endpointId(r),
      ifindex: r.ifindex,
      ips: r.addresses,
      podNamespace: r.k8s.namespace ?? null,
      podName: r.k8s.name ?? null,
    });
  }
  const orphans = writer.deleteOrphanPolicy(live);
  let current: DesiredState | null = adoptCurrent(writer);
  log.info({ endpoints: endpoints.size, orphanEntries: orphans }, 'adopted the datapath');

  let cluster: ClusterState | null = null;
  let sourceGeneration = 0;
  let appliedGeneration = 0;
  let lastError: string | null = null;
  let running = false;
  let again = false;
  let closed = false;
  let waiters: Waiter[] = [];

  function reconcileOnce(): void {
    if (cluster === null) return;
    const generation = sourceGeneration;
    const included = new Set(endpoints.keys());
    const t0 = performance.now();
    const desired = compile(cluster, [...endpoints.values()], {
      nodeName: opts.nodeName,
      hostAddresses: hostAddresses(),
      previous: current,
    });
    const plan = diff(current, desired);
    try {
      applyPlan(plan, writer);
    } catch (err) {
      // Part of the plan is written: start the next attempt from what the maps hold.
      current = adoptCurrent(writer);
      throw err;
    }
    const written = plan.ops.length;
    current = plan.next;
    const cut = revalidateConntrack(writer, current, addressesOfChanged(plan, endpoints));
    if (cut > 0) log.info({ connections: cut }, 'cut connections that policy no longer allows');
    appliedGeneration = generation;
    lastError = null;
    if (written > 0) log.info({ generation, ops: written, ms: Math.round(performance.now() - t0) }, 'datapath updated');
    const done = waiters.filter((w) => included.has(w.id));
    waiters = waiters.filter((w) => !included.has(w.id));
    for (const w of done) w.resolve();
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
            log.error({ err }, 'reconcile failed; retrying');
            setTimeout(schedule, 500).unref();
          }
        } while (again);
      } finally {
        running = false;
      }
    });
  }

  return {
    setCluster(state, generation) {
      cluster = state;
      sourceGeneration = generation;
      schedule();
    },
    registerEndpoint(ep) {
      endpoints.set(ep.id, ep);
      const ready = new Promise<void>((resolve) => waiters.push({ id: ep.id, resolve }));
      schedule();
      return ready;
    },
    async removeEndpoint(id) {
      endpoints.delete(id);
      schedule();
    },
    status(): AgentStatus {
      return {
        synced: cluster !== null && !running && !again && appliedGeneration === sourceGeneration && lastError === null,
        sourceGeneration,
        appliedGeneration,
        endpoints: endpoints.size,
        policies: cluster?.policies.length ?? 0,
        lastError,
      };
    },
    policyOf(pod): EndpointPolicyReport[] {
      return policyReports(cluster, current, [...endpoints.values()], pod);
    },
    explain(req: ExplainRequest): ExplainResult {
      return explainVerdict(writer, current, req);
    },
    async close() {
      closed = true;
      writer.close();
    },
  };
}

/** ifindex → name of every link in the agent's namespace. */
function liveLinks(): Map<number, string> {
  const nl = Netlink.open();
  try {
    return new Map(nl.listLinks().map((l) => [l.ifindex, l.name]));
  } finally {
    nl.close();
  }
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
