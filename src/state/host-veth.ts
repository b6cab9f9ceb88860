// How the plugin names and labels a pod's host veth, so that DEL, GC, doctor and
// the agent find it again from the owner alone: the name is a hash of the owner, the
// alias spells the owner out (`strait/<network>/<container>/<ifname>`).
import { createHash } from 'node:crypto';

import type { Owner } from './endpoint-record.js';

const ALIAS_PREFIX = 'strait/';

/** ≤ 15 characters, stable for one (container, interface), distinct across networks. */
export function hostVethName(a: Owner): string {
  const h = createHash('sha256').update(`${a.network}\0${a.containerId}\0${a.ifname}`).digest('hex');
  return `st${h.slice(0, 13)}`;
}

/** The host veth's alias names its owner, so GC can find veths whose lease was never written. */
export function ownerAlias(a: Owner): string {
  return `${ALIAS_PREFIX}${a.network}/${a.containerId}/${a.ifname}`;
}

export function parseOwnerAlias(alias: string | null): Owner | null {
  if (!alias?.startsWith(ALIAS_PREFIX)) return null;
  const parts = alias.slice(ALIAS_PREFIX.length).split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) return null;
  return { network: parts[0]!, containerId: parts[1]!, ifname: parts[2]! };
}

/** Any alias strait writes, well-formed or not: the link is a pod's host veth. */
export const isStraitAlias = (alias: string | null | undefined): boolean => alias?.startsWith(ALIAS_PREFIX) ?? false;
