// Small builders for policy-core unit tests: Kubernetes-shaped objects go through
// the real parser, so the tests exercise what the agent feeds the compiler.
import { parseObject } from '../../src/policy/model.js';
import type { ClusterState, LocalEndpoint, Namespace, NetworkPolicy, Node, Pod } from '../../src/policy/types.js';

export function ns(name: string, labels: Record<string, string> = {}): Namespace {
  const o = parseObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  if (o.kind !== 'Namespace') throw new Error('not a Namespace');
  return o.value;
}

export interface PodOpts {
  ips?: string[];
  nodeName?: string;
  hostNetwork?: boolean;
  /** [name, port, protocol?] */
  ports?: [string, number, string?][];
}

export function pod(namespace: string, name: string, labels: Record<string, string>, o: PodOpts = {}): Pod {
  const p = parseObject({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: {
      nodeName: o.nodeName ?? 'node-a',
      hostNetwork: o.hostNetwork ?? false,
      containers: [
        { name: 'c', ports: (o.ports ?? []).map(([n, containerPort, protocol]) => ({ name: n, containerPort, protocol })) },
      ],
    },
    status: { podIPs: (o.ips ?? []).map((ip) => ({ ip })) },
  });
  if (p.kind !== 'Pod') throw new Error('not a Pod');
  return p.value;
}

export function policy(namespace: string, name: string, spec: Record<string, unknown>): NetworkPolicy {
  const p = parseObject({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec });
  if (p.kind !== 'NetworkPolicy') throw new Error('not a NetworkPolicy');
  return p.value;
}

/** A Node; its addresses are InternalIPs unless `internalIPs` says otherwise. */
export function node(name: string, addresses: string[], more: Partial<Pick<Node, 'internalIPs' | 'podCIDRs'>> = {}): Node {
  return { name, addresses, internalIPs: more.internalIPs ?? addresses, podCIDRs: more.podCIDRs ?? [] };
}

/** Node i of the emulated cluster (src/lab's contract): 198.18.0.(10+i), fd5a:0:0:1::(10+i), pod CIDRs 198.18.(100+i).0/24 and fd5a:1ab:i::/64. */
export function labNode(i: number, more: Partial<Pick<Node, 'internalIPs' | 'podCIDRs'>> = {}): Node {
  return node(`n${i}`, [`198.18.0.${10 + i}`, `fd5a:0:0:1::${10 + i}`], { podCIDRs: [`198.18.${100 + i}.0/24`, `fd5a:1ab:${i}::/64`], ...more });
}

export function endpoint(ifindex: number, p: Pod | [string, string] | null, ips?: string[]): LocalEndpoint {
  const [podNamespace, podName] = p === null ? [null, null] : Array.isArray(p) ? p : [p.namespace, p.name];
  return {
    id: `strait/c${ifindex}/eth0`,
    ifindex,
    ips: ips ?? (p !== null && !Array.isArray(p) ? p.ips : []),
    podNamespace,
    podName,
  };
}

export function cluster(parts: Partial<ClusterState>): ClusterState {
  return { namespaces: [], pods: [], policies: [], nodes: [], services: [], endpointSlices: [], ...parts };
}
