// The agent's inside, wired to the real datapath: the pinned maps (a starting agent
// reads them first and adopts them, so a restart changes nothing that does not need
// changing), the endpoint records the CNI plugin left, and this node's addresses.
// The loop itself, with these effects injected, is reconcile-loop.ts.
import type { Logger } from '../util/log.js';
import { openDatapath } from '../datapath/loader.js';
import { Netlink } from '../datapath/netlink.js';
import { CIDR_MAX, IPCACHE_MAX, POLICY_MAX } from '../datapath/maps/names.js';
import { endpointId, listEndpointRecords } from '../cni/endpoint-record.js';
import type { Capacity } from '../policy/capacity.js';
import type { LocalEndpoint } from '../policy/types.js';
import type { AgentCore } from './core.js';
import { DatapathWriter } from './datapath-writer.js';
import { explainVerdict } from './explain.js';
import { hostAddresses } from './host-addresses.js';
import { revalidateConntrack } from './conntrack.js';
import { createReconciler } from './reconcile-loop.js';

export interface AgentOptions {
  nodeName: string;
  stateDir: string;
  bpfDir: string;
  log: Logger;
  /** entries the agent lets each map hold; default max_entries of maps.h (never more) */
  capacity?: Partial<Capacity>;
}

export const MAP_CAPACITY: Capacity = { policy: POLICY_MAX, ipcache: IPCACHE_MAX, cidr: CIDR_MAX };

export async function createAgentCore(opts: AgentOptions): Promise<AgentCore> {
  const { log } = opts;
  const dp = openDatapath({ bpfDir: opts.bpfDir, stateDir: opts.stateDir });
  dp.close(); // pinned state exists now; the writer opens what it needs
  const writer = new DatapathWriter(opts.bpfDir);

  const endpoints: LocalEndpoint[] = [];
  const live = liveIfindexes();
  for (const r of listEndpointRecords(opts.stateDir)) {
    if (!live.has(r.ifindex)) continue;
    endpoints.push({
      id: endpointId(r),
      ifindex: r.ifindex,
      ips: r.addresses,
      podNamespace: r.k8s.namespace ?? null,
      podName: r.k8s.name ?? null,
    });
  }
  const orphans = writer.deleteOrphanPolicy(live);
  const capacity: Capacity = { ...MAP_CAPACITY };
  for (const k of ['policy', 'ipcache', 'cidr'] as const) capacity[k] = Math.min(MAP_CAPACITY[k], opts.capacity?.[k] ?? MAP_CAPACITY[k]);
  const core = createReconciler({
    nodeName: opts.nodeName,
    log,
    maps: writer,
    capacity,
    hostAddresses,
    endpoints,
    revalidate: (current, addresses) => revalidateConntrack(writer, current, addresses),
    explain: (current, req) => explainVerdict(writer, current, req),
    close: () => writer.close(),
  });
  log.info({ endpoints: endpoints.length, orphanEntries: orphans }, 'adopted the datapath');
  return core;
}

function liveIfindexes(): Set<number> {
  const nl = Netlink.open();
  try {
    return new Set(nl.listLinks().map((l) => l.ifindex));
  } finally {
    nl.close();
  }
}
