// The agent's inside, wired to the real node: the pinned maps (created by
// openDatapath when missing), the links netlink lists, this node's addresses and the
// endpoint records the CNI plugin left in the state dir, and the node's network
// toward other nodes (node-network-effects.ts). What it does with them
// (adoption, then the reconcile loop) is adopt.ts and reconcile-loop.ts.
import type { Logger } from '../util/log.js';
import { openDatapath, type MapSizes } from '../datapath/loader.js';
import { Netlink } from '../datapath/netlink.js';
import { CIDR_MAX, IPCACHE_MAX, POLICY_MAX } from '../datapath/maps/names.js';
import { liveEndpointRecords } from '../state/endpoint-record.js';
import { currentBootId } from '../util/boot-id.js';
import type { Capacity } from '../policy/capacity.js';
import type { AgentCore } from './core.js';
import { adoptDatapath, type CoreOptions } from './adopt.js';
import { DatapathWriter } from './datapath-writer.js';
import type { AgentEffects } from './effects.js';
import { hostAddresses } from './host-addresses.js';
import { nodeNetworkEffects } from './node-network-effects.js';
import { openLbMaps } from '../lb/bpf-maps.js';

export interface AgentOptions {
  nodeName: string;
  stateDir: string;
  bpfDir: string;
  log: Logger;
  /** entries the agent lets each map hold; default max_entries of maps.h (never more) */
  capacity?: Partial<Capacity>;
  /** the Service maps' sizes; absent: what is pinned keeps its size */
  mapSizes?: MapSizes;
  /** routing toward other nodes (--routing, --uplink, --vxlan-port, --masquerade) */
  network?: CoreOptions['network'];
  /** told each reconcile pass's compile and apply time (metrics) */
  timing?: CoreOptions['timing'];
}

export const MAP_CAPACITY: Capacity = { policy: POLICY_MAX, ipcache: IPCACHE_MAX, cidr: CIDR_MAX };

export async function createAgentCore(opts: AgentOptions): Promise<AgentCore> {
  return adoptDatapath({ nodeName: opts.nodeName, log: opts.log, limit: MAP_CAPACITY, capacity: opts.capacity, network: opts.network, timing: opts.timing }, nodeEffects(opts));
}

function nodeEffects(opts: AgentOptions): AgentEffects {
  return {
    openMaps() {
      openDatapath({ bpfDir: opts.bpfDir, stateDir: opts.stateDir, mapSizes: opts.mapSizes ?? {} }).close(); // pinned state exists now, sized
      return new DatapathWriter(opts.bpfDir);
    },
    listLinks() {
      const nl = Netlink.open();
      try {
        return new Map(nl.listLinks().map((l) => [l.ifindex, l.name]));
      } finally {
        nl.close();
      }
    },
    hostAddresses: () => hostAddresses(),
    endpointRecords: (links) => liveEndpointRecords(opts.stateDir, links, currentBootId(), opts.log),
    nodeNetwork: () => nodeNetworkEffects(opts.bpfDir, opts.stateDir),
    serviceMaps: () => openLbMaps(opts.bpfDir),
  };
}
