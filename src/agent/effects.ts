// Everything the agent's core does to the node, as interfaces: the pinned maps
// (written by plans, read back for adoption, looked up for explain and conntrack
// revalidation), the links of its namespace, the node's addresses, the endpoint
// records the CNI plugin left, and the node's network toward other nodes. reconciler.ts wires the real ones; the unit tests
// pass in-memory fakes (test/helpers/fake-node.ts), so adoption, interrupted plans
// and connection cutting are tested without root.
import type { EndpointRecord } from '../state/endpoint-record.js';
import type { PolicyMaps } from './apply.js';
import type { ConntrackTable } from './conntrack.js';
import type { CounterMaps } from './counters.js';
import type { MapLookups } from './explain.js';
import type { VniMaps } from './vni.js';
import type { NodeNetworkEffects } from './node-network.js';
import type { LbMaps } from '../lb/types.js';

/** The pinned maps, open. */
export interface AgentMaps extends PolicyMaps, MapLookups, VniMaps, CounterMaps {
  /** both conntrack tables: answered and pending connections */
  readonly conntrack: readonly ConntrackTable[];
  /** removes policy entries of endpoints whose veth is gone; returns how many */
  deleteOrphanPolicy(liveIfindexes: ReadonlySet<number>): number;
  close(): void;
}

export interface AgentEffects {
  /** the pinned maps, created first when they do not exist yet */
  openMaps(): AgentMaps;
  /** ifindex → name of every link in the agent's network namespace */
  listLinks(): Map<number, string>;
  /** this node's own addresses (traffic between a pod and its node is always allowed) */
  hostAddresses(): string[];
  /** the endpoint records of this boot that name one of these live links */
  endpointRecords(links: ReadonlyMap<number, string>): EndpointRecord[];
  /** routes, links, the tunnel and the maps toward other nodes (used when the core is given node networking) */
  nodeNetwork(): NodeNetworkEffects;
  /** the pinned Service maps (opened after openMaps made them exist) */
  serviceMaps(): LbMaps;
}
