// The whole `ipam` object of a network config whose ipam.type is "strait":
// ranges (ranges.ts), routes (routes.ts) and where leases live.
//
// Kubernetes IPAM mode: an ipam object with neither `ranges` nor `subnet` allocates
// from the node's spec.podCIDRs, one range set per CIDR (so dual-stack gets one
// address of each family), with host-local's defaults for each. The caller finds
// those CIDRs (the agent knows them) and passes them in; DEL, CHECK and GC need no
// ranges at all, so they run whatever the Node says now.
import { errors } from '../errors.js';
import { parseRangeSets, type RangeSet } from './ranges.js';
import { parseRoutes, type Route } from './routes.js';

export interface IpamConfig {
  sets: RangeSet[];
  routes: Route[];
  /** overrides <stateDir>/ipam as the parent of the per-network lease directory */
  dataDir?: string;
  /** the sets are the node's pod CIDRs (empty when none were given: a command that allocates nothing) */
  fromNode: boolean;
}

/** The node whose spec.podCIDRs stand in for absent ranges. */
export interface NodeRanges {
  node: string;
  podCIDRs: readonly string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True when the config names no ranges of its own: Kubernetes IPAM mode. */
export const usesNodeRanges = (raw: unknown): boolean => isObject(raw) && raw.ranges === undefined && raw.subnet === undefined;

export function parseIpamConfig(raw: unknown, node: NodeRanges | null = null): IpamConfig {
  if (!isObject(raw)) throw errors.config('ipam must be an object');
  const fromNode = usesNodeRanges(raw);
  const sets = !fromNode ? parseRangeSets(raw) : node === null ? [] : nodeSets(node);
  const routes = parseRoutes(raw.routes);
  for (const [i, r] of routes.entries()) {
    // A route of a family no set allocates would fail at ADD time in the pod's netns.
    // Unknown until the node's CIDRs are: checked then.
    if (fromNode && node === null) continue;
    if (!sets.some((s) => s.family === r.family)) {
      const none = fromNode && node !== null ? `Node ${node.node}'s spec.podCIDRs (${node.podCIDRs.join(', ')}) hold no IPv${r.family}` : `no range set allocates IPv${r.family}`;
      throw errors.config(`ipam.routes[${i}] ${r.dst} is IPv${r.family}, but ${none}`);
    }
  }
  const dataDir = raw.dataDir;
  if (dataDir === undefined || dataDir === null) return { sets, routes, fromNode };
  if (typeof dataDir !== 'string' || !dataDir.startsWith('/')) {
    throw errors.config('ipam.dataDir must be an absolute path');
  }
  return { sets, routes, dataDir, fromNode };
}

/** One set per pod CIDR, validated as a configured range is (a /32 pod CIDR has no address to give). */
function nodeSets(node: NodeRanges): RangeSet[] {
  try {
    return parseRangeSets({ ranges: node.podCIDRs.map((subnet) => [{ subnet }]) });
  } catch (err) {
    throw errors.config(`Node ${node.node}'s spec.podCIDRs (${node.podCIDRs.join(', ')}) cannot be allocated from: ${(err as Error).message}`, '', err);
  }
}
