// Two independent answers to "is this packet allowed?", for policy-core tests:
//  - datapathVerdict() looks the packet up in a compiled DesiredState the way the
//    BPF programs look it up in the maps (ipcache, longest-prefix CIDR, policy LPM);
//  - referenceVerdict() reads the NetworkPolicy objects directly, pod by pod, with no
//    identities, prefixes or caches.
// Randomised tests compare the two.
import { parseCidr, parseIp } from '../../src/ipam/addr.js';
import { NAMESPACE_NAME_LABEL } from '../../src/policy/model.js';
import { matches } from '../../src/policy/selectors.js';
import {
  type ClusterState,
  type DesiredState,
  IDENTITY_ANY,
  IDENTITY_CLUSTER,
  IDENTITY_HOST,
  IDENTITY_REMOTE_NODE,
  IDENTITY_WORLD,
  IPPROTO,
  type LocalEndpoint,
  type Pod,
  type PolicyPort,
  type Protocol,
} from '../../src/policy/types.js';

export type Direction = 'ingress' | 'egress';

function contains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const a = parseIp(ip);
  if (a === null || c?.family !== a.family) return false;
  const bits = BigInt((c.family === 4 ? 32 : 128) - c.prefixLen);
  return c.value >> bits === a.value >> bits;
}

/** The CIDR identity of an address: longest matching prefix in `cidrs`, WORLD if none. */
export function cidrIdentity(state: DesiredState, ip: string): number {
  let best = -1;
  let id = IDENTITY_WORLD;
  for (const [cidr, cid] of state.cidrs) {
    const len = Number(cidr.split('/')[1]);
    if (len > best && contains(cidr, ip)) {
      best = len;
      id = cid;
    }
  }
  return id;
}

/** What the datapath decides for a new flow at endpoint `ifindex` with `peerIp` on the other side. */
export function datapathVerdict(
  state: DesiredState,
  ifindex: number,
  direction: Direction,
  peerIp: string,
  protocol: Protocol,
  port: number,
): boolean {
  const ep = state.endpoints.get(ifindex);
  if (ep === undefined) throw new Error(`no endpoint ${ifindex}`);
  if (!(direction === 'egress' ? ep.egressIsolated : ep.ingressIsolated)) return true;
  const cidrId = cidrIdentity(state, peerIp);
  if (cidrId === IDENTITY_HOST) return true;
  const ids = new Set([IDENTITY_ANY, cidrId]);
  const podId = state.ipcache.get(peerIp);
  // another node's address: in the ipcache, but no pod
  if (podId !== undefined && podId !== IDENTITY_REMOTE_NODE) {
    // a pod: its label set, its namespace, and "any pod of the cluster"
    ids.add(podId);
    ids.add(IDENTITY_CLUSTER);
    const nsId = state.podNamespaces?.get(podId);
    if (nsId !== undefined && nsId !== 0) ids.add(nsId);
  }
  const proto = IPPROTO[protocol];
  return ep.entries.some(
    (e) =>
      e.egress === (direction === 'egress') &&
      ids.has(e.identity) &&
      (e.protocol === 0 || (e.protocol === proto && port >> (16 - e.portPrefixLen) === e.port >> (16 - e.portPrefixLen))),
  );
}

/**
 * NetworkPolicy read literally. `hostAddresses` are always allowed (the datapath's
 * rule for the node). A named port is "a named port on a pod": for ingress the
 * selected pod's own, for egress the destination pod's, whichever kind of peer
 * matched it ("the traffic must match both ports and to": a pod address inside an
 * ipBlock carries that pod's port names). An address that is no pod names no port.
 */
export function referenceVerdict(
  cluster: ClusterState,
  endpoint: LocalEndpoint,
  direction: Direction,
  peerIp: string,
  protocol: Protocol,
  port: number,
  hostAddresses: string[],
): boolean {
  if (endpoint.podNamespace === null || endpoint.podName === null) return true;
  const self: Pod = cluster.pods.find((p) => p.namespace === endpoint.podNamespace && p.name === endpoint.podName) ?? {
    namespace: endpoint.podNamespace,
    name: endpoint.podName,
    labels: {},
    ips: endpoint.ips,
    nodeName: null,
    hostNetwork: false,
    ports: [],
  };
  if (self.hostNetwork) return true;
  const nsLabels = (name: string): Record<string, string> => ({
    ...(cluster.namespaces.find((n) => n.name === name)?.labels ?? {}),
    [NAMESPACE_NAME_LABEL]: name,
  });
  const type = direction === 'egress' ? 'Egress' : 'Ingress';
  const selecting = cluster.policies.filter(
    (p) => p.namespace === self.namespace && p.policyTypes.includes(type) && matches(p.podSelector, self.labels),
  );
  if (selecting.length === 0) return true;
  if (hostAddresses.includes(peerIp)) return true;
  const peerPod = cluster.pods.find((p) => !p.hostNetwork && p.ips.includes(peerIp)) ?? null;

  const namedPortOn = (pod: Pod | null, p: PolicyPort): boolean =>
    pod?.ports.some((c) => c.name === p.port && c.protocol === p.protocol && c.containerPort === port) ?? false;

  for (const policy of selecting) {
    for (const rule of direction === 'egress' ? policy.egress : policy.ingress) {
      // Which kinds of peer match: by selector (peer is a pod) or by ipBlock (an address).
      let bySelector = false;
      let byBlock = false;
      if (rule.peers === null) {
        bySelector = peerPod !== null;
        byBlock = true;
      } else {
        for (const peer of rule.peers) {
          if (peer.ipBlock !== null) {
            if (contains(peer.ipBlock.cidr, peerIp) && !peer.ipBlock.except.some((e) => contains(e, peerIp))) byBlock = true;
          } else if (peerPod !== null) {
            const nsOk =
              peer.namespaceSelector === null
                ? peerPod.namespace === policy.namespace
                : matches(peer.namespaceSelector, nsLabels(peerPod.namespace));
            const podOk = peer.podSelector === null || matches(peer.podSelector, peerPod.labels);
            if (nsOk && podOk) bySelector = true;
          }
        }
      }
      if (!bySelector && !byBlock) continue;
      if (rule.ports.length === 0) return true;
      for (const p of rule.ports) {
        if (p.protocol !== protocol) continue;
        if (p.port === null) return true;
        if (typeof p.port === 'number') {
          if (port >= p.port && port <= (p.endPort ?? p.port)) return true;
          continue;
        }
        if (direction === 'ingress' && namedPortOn(self, p)) return true;
        if (direction === 'egress' && namedPortOn(peerPod, p)) return true;
      }
    }
  }
  return false;
}
