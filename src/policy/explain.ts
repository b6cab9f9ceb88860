// Words for what policy says, for `straitctl policy` and `explain`: a selector, a
// peer, a port, an identity, an entry. Terse and stable, because operators grep them.
import { isCidrIdentity, isNamespaceIdentity } from './identity.js';
import { NAMESPACE_NAME_LABEL } from './model.js';
import { isEverything } from './selectors.js';
import {
  type DesiredState,
  IDENTITY_ANY,
  IDENTITY_CLUSTER,
  IDENTITY_HOST,
  IDENTITY_REMOTE_NODE,
  IDENTITY_WORLD,
  IPPROTO,
  type LabelSelector,
  type PolicyEntry,
  type PolicyPeer,
  type PolicyPort,
  type PolicyRule,
} from './types.js';

/** "app=web, tier in (a,b), !legacy, team"; the empty selector is "all". */
export function describeSelector(sel: LabelSelector): string {
  if (isEverything(sel)) return 'all';
  const parts = Object.entries(sel.matchLabels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  for (const r of sel.matchExpressions) {
    switch (r.operator) {
      case 'In':
        parts.push(r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`);
        break;
      case 'NotIn':
        parts.push(r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`);
        break;
      case 'Exists':
        parts.push(r.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${r.key}`);
        break;
    }
  }
  return parts.join(', ');
}

/** A namespaceSelector on the name label alone reads as the namespace's name. */
function describeNamespaces(sel: LabelSelector): string {
  if (isEverything(sel)) return 'all namespaces';
  const keys = Object.keys(sel.matchLabels);
  const name = sel.matchLabels[NAMESPACE_NAME_LABEL];
  if (keys.length === 1 && name !== undefined && sel.matchExpressions.length === 0) return `namespace ${name}`;
  return `namespaces ${describeSelector(sel)}`;
}

const describePods = (sel: LabelSelector | null): string =>
  sel === null || isEverything(sel) ? 'all pods' : `pods ${describeSelector(sel)}`;

/**
 * One entry of from/to, as it reads in the policy's namespace:
 * "pods app=web in namespace x", "all pods in namespaces team=a",
 * "10.0.0.0/8 except 10.1.0.0/16"; null (no from/to) is "any peer".
 */
export function describePeer(peer: PolicyPeer | null, policyNamespace: string): string {
  if (peer === null) return 'any peer';
  if (peer.ipBlock !== null) {
    const { cidr, except } = peer.ipBlock;
    return except.length === 0 ? cidr : `${cidr} except ${except.join(', ')}`;
  }
  if (peer.namespaceSelector !== null) return `${describePods(peer.podSelector)} in ${describeNamespaces(peer.namespaceSelector)}`;
  return `${describePods(peer.podSelector)} in namespace ${policyNamespace}`;
}

/**
 * One entry of ports: "TCP/80", "TCP/8080-8090", "UDP/dns (named)", "SCTP (any port)";
 * null (no ports) is "any port".
 */
export function describePort(port: PolicyPort | null): string {
  if (port === null) return 'any port';
  if (port.port === null) return `${port.protocol} (any port)`;
  if (typeof port.port === 'string') return `${port.protocol}/${port.port} (named)`;
  if (port.endPort !== null && port.endPort !== port.port) return `${port.protocol}/${port.port}-${port.endPort}`;
  return `${port.protocol}/${port.port}`;
}

/** Peers and ports of one rule, as the agent reports them (EffectiveRule). */
export function describeRule(rule: PolicyRule, policyNamespace: string): { peers: string[]; ports: string[] } {
  return {
    peers: rule.peers === null ? [describePeer(null, policyNamespace)] : rule.peers.map((p) => describePeer(p, policyNamespace)),
    ports: rule.ports.length === 0 ? [describePort(null)] : rule.ports.map(describePort),
  };
}

/** "any", "host", "world", "all pods", "another node", "all pods in namespace x", "cidr 10.0.0.0/8", "pods app=web in namespace x", or "identity N". */
export function describeIdentity(id: number, state?: DesiredState | null): string {
  if (id === IDENTITY_ANY) return 'any';
  if (id === IDENTITY_HOST) return 'host';
  if (id === IDENTITY_WORLD) return 'world';
  if (id === IDENTITY_CLUSTER) return 'all pods';
  if (id === IDENTITY_REMOTE_NODE) return 'another node';
  if (isNamespaceIdentity(id)) {
    for (const [ns, nid] of state?.namespaceIds ?? []) if (nid === id) return `all pods in namespace ${ns}`;
    return `namespace identity ${id}`;
  }
  if (isCidrIdentity(id)) {
    for (const [cidr, cid] of state?.cidrs ?? []) if (cid === id) return `cidr ${cidr}`;
    return `cidr identity ${id}`;
  }
  const info = state?.identities?.get(id);
  if (info === undefined) return `identity ${id}`;
  const labels = Object.entries(info.labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  return `${labels.length === 0 ? 'pods without labels' : `pods ${labels.join(', ')}`} in namespace ${info.namespace}`;
}

const PROTOCOL_NAME = new Map(Object.entries(IPPROTO).map(([name, n]) => [n, name]));

/** The ports of a compiled entry: "any", "TCP", "TCP/443", "TCP/8080-8087". */
export function describeEntryPorts(e: PolicyEntry): string {
  if (e.protocol === 0) return 'any';
  const proto = PROTOCOL_NAME.get(e.protocol) ?? `proto ${e.protocol}`;
  if (e.portPrefixLen === 0) return proto;
  const last = e.port + 2 ** (16 - e.portPrefixLen) - 1;
  return last === e.port ? `${proto}/${e.port}` : `${proto}/${e.port}-${last}`;
}

/** "ingress from pods app=web in namespace x on TCP/80 (rule 3)". */
export function describeEntry(e: PolicyEntry, state?: DesiredState | null): string {
  const peer = describeIdentity(e.identity, state);
  return `${e.egress ? 'egress to' : 'ingress from'} ${peer} on ${describeEntryPorts(e)} (rule ${e.ruleId})`;
}
