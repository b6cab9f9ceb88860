// A starting agent's inside, on whatever effects it is given: it opens the maps,
// adopts the endpoints whose records still name a live link, drops policy entries of
// veths that are gone, and starts the reconcile loop from what the maps hold, so a
// restart changes nothing that does not need changing. No datapath, netlink or file
// here: reconciler.ts passes the real effects, the unit tests fakes.
import { endpointId } from '../state/endpoint-record.js';
import type { Capacity } from '../policy/capacity.js';
import type { LocalEndpoint } from '../policy/types.js';
import type { Logger } from '../util/log.js';
import { revalidateConntrack } from './conntrack.js';
import type { AgentCore, PassTimer } from './core.js';
import type { AgentEffects } from './effects.js';
import { explainVerdict } from './explain.js';
import { createNodeNetwork, type NodeNetworkOptions } from './node-network.js';
import { createReconciler } from './reconcile-loop.js';
import { createVniSync, planVni } from './vni.js';
import { createLbSync } from '../lb/sync.js';

export interface CoreOptions {
  nodeName: string;
  log: Logger;
  /** entries the agent lets each map hold; never more than `limit` */
  capacity?: Partial<Capacity>;
  /** what the maps hold at most (maps.h max_entries) */
  limit: Capacity;
  /** wait before retrying after a failed write; default 500 ms */
  retryMs?: number;
  /** routing toward other nodes; absent: the core leaves the node's network alone */
  network?: Omit<NodeNetworkOptions, 'nodeName' | 'log'>;
  /** told each reconcile pass's compile and apply time (metrics) */
  timing?: PassTimer;
}

export function adoptDatapath(opts: CoreOptions, fx: AgentEffects): AgentCore {
  const { log } = opts;
  const maps = fx.openMaps();
  const links = fx.listLinks();
  // Never a record of another boot, nor one whose ifindex is now another veth's.
  const endpoints: LocalEndpoint[] = fx.endpointRecords(links).map((r) => ({
    id: endpointId(r),
    ifindex: r.ifindex,
    ips: r.addresses,
    podNamespace: r.k8s.namespace ?? null,
    podName: r.k8s.name ?? null,
  }));
  const orphans = maps.deleteOrphanPolicy(new Set(links.keys()));
  // Counters of veths that went while no agent ran (those DEL'd with one running went then).
  const orphanCounters = maps.deleteEndpointCounters((ifindex) => !links.has(ifindex));
  const capacity: Capacity = { ...opts.limit };
  for (const k of ['policy', 'ipcache', 'cidr'] as const) capacity[k] = Math.min(opts.limit[k], opts.capacity?.[k] ?? opts.limit[k]);
  const syncIdentities = createVniSync(maps);
  const services = createLbSync({ nodeName: opts.nodeName, log: log.child({ component: 'services' }), retryMs: opts.retryMs, timing: opts.timing }, fx.serviceMaps());
  const core = createReconciler({
    nodeName: opts.nodeName,
    log,
    maps,
    capacity,
    hostAddresses: () => fx.hostAddresses(),
    endpoints,
    revalidate: (current, addresses) => revalidateConntrack(maps, maps.conntrack, current, addresses),
    explain: (current, req) => explainVerdict(maps, current, req),
    syncIdentities: (current) => syncIdentities(planVni(current)),
    close: () => maps.close(),
    services,
    counters: maps,
    retryMs: opts.retryMs,
    timing: opts.timing,
    nodeNetwork:
      opts.network === undefined
        ? undefined
        : createNodeNetwork({ ...opts.network, nodeName: opts.nodeName, log: log.child({ component: 'node-network' }) }, fx.nodeNetwork()),
  });
  log.info({ endpoints: endpoints.length, orphanEntries: orphans, orphanCounters }, 'adopted the datapath');
  return core;
}
