// The whole `ipam` object of a network config whose ipam.type is "strait":
// ranges (ranges.ts), routes (routes.ts) and where leases live.
import { errors } from '../errors.js';
import { parseRangeSets, type RangeSet } from './ranges.js';
import { parseRoutes, type Route } from './routes.js';

export interface IpamConfig {
  sets: RangeSet[];
  routes: Route[];
  /** overrides <stateDir>/ipam as the parent of the per-network lease directory */
  dataDir?: string;
}

export function parseIpamConfig(raw: unknown): IpamConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw errors.config('ipam must be an object');
  const ipam = raw as Record<string, unknown>;
  const sets = parseRangeSets(ipam);
  const routes = parseRoutes(ipam.routes);
  for (const [i, r] of routes.entries()) {
    // A route of a family no set allocates would fail at ADD time in the pod's netns.
    if (!sets.some((s) => s.family === r.family)) {
      throw errors.config(`ipam.routes[${i}] ${r.dst} is IPv${r.family}, but no range set allocates IPv${r.family}`);
    }
  }
  const dataDir = ipam.dataDir;
  if (dataDir === undefined || dataDir === null) return { sets, routes };
  if (typeof dataDir !== 'string' || !dataDir.startsWith('/')) {
    throw errors.config('ipam.dataDir must be an absolute path');
  }
  return { sets, routes, dataDir };
}
