// The agent's inside, wired to the real datapath: the pinned maps (a starting agent
// reads them first and adopts them, so a restart changes nothing that does not need
// changing), the endpoint records the CNI plugin left, and this node's addresses.
// The loop itself, with these effects injected, is reconcile-loop.ts.
import type { Logger } from '../util/log.js';
import { openDatapath } from '../datapath/loader.js';
import { Netlink } from '../datapath/netlink.js';
import { CIDR_MAX, IPCACHE_MAX, POLICY_MAX } from '../datapath/maps/names.js';
import { endpointId, liveEndpointRecords } from '../state/endpoint-record.js';
import { currentBootId } from '../util/boot-id.js';
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
  const links = liveLinks();
  const live = new Set(links.keys());
  // Never a record of another boot, nor one whose ifindex is now another veth's.
  for (const r of liveEndpointRecords(opts.stateDir, links, currentBootId(), log)) {
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

/** ifindex → name of every link in the agent's namespace. */
function liveLinks(): Map<number, string> {
  const nl = Netlink.open();
  try {
    return new Map(nl.listLinks().map((l) => [l.ifindex, l.name]));
  } finally {
    nl.close();
  }
}
