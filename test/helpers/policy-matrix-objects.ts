// The NetworkPolicy conformance matrix's cluster, as the scenarios see it, and the
// Kubernetes objects they write into it: namespaces x, y, z with pods a, b, c each,
// every pod serving TCP and UDP on ports 80 and 81. The cluster behind it is one node
// (test/helpers/cluster.ts) or several (src/lab's EmulatedCluster): the scenarios and
// their expectations do not change with the number of nodes.

export type Proto = 'tcp' | 'udp';

/** What the matrix needs of a pod: its name and the IPv4 address it is probed at. */
export interface MatrixPod {
  namespace: string;
  name: string;
  ip: string;
}

export interface MatrixProbe<P extends MatrixPod = MatrixPod> {
  from: P;
  to: P;
  proto: Proto;
  port: number;
}

/** Where a pod runs and what its Pod object's status says, as the kubelet of its node would write it. */
export interface PodPlacement {
  nodeName: string;
  /** status.podIPs; absent: the Pod object carries no status (one node: the agent knows its own pods) */
  podIPs?: string[];
  /** labels every Pod object of this pod carries besides its own (relabelled or not): what a Service selects it by */
  extraLabels?: Record<string, string>;
}

export interface MatrixCluster<P extends MatrixPod = MatrixPod> {
  /** Writes (or replaces) one file of the manifest directory every agent watches. */
  write(file: string, text: string): void;
  /** Resolves once every agent has applied everything written so far. */
  waitSynced(): Promise<void>;
  /** The nine pods, once added. */
  readonly pods: readonly P[];
  /** A pod by `namespace/name`; throws for an unknown one. */
  pod(ref: string): P;
  /** Runs the probes; true where the right pod answered. */
  probe(probes: MatrixProbe<P>[]): Promise<boolean[]>;
  /** One IPv4 CIDR holding every pod address of the cluster (all nodes' pod CIDRs). */
  readonly podRange: string;
  /** The hook for every Pod object the matrix writes, relabelled ones included. */
  placement(ref: string): PodPlacement;
}

export const NS = ['x', 'y', 'z'] as const;
export const PODS = ['a', 'b', 'c'] as const;
export const PORTS: [Proto, number][] = [['tcp', 80], ['tcp', 81], ['udp', 80], ['udp', 81]];
/** What each pod's server listens on (test/helpers/pod-server.mjs arguments). */
export const SERVE = PORTS.map(([proto, port]) => `${proto}:${port}`);
/** Every pod of the matrix with the labels it starts with. */
export const MATRIX_PODS = NS.flatMap((namespace) => PODS.map((name) => ({ namespace, name, labels: { pod: name } })));

export const ref = (p: MatrixPod): string => `${p.namespace}/${p.name}`;
export const ns = (podRef: string): string => podRef.split('/')[0]!;

export const np = (namespace: string, name: string, spec: object): object => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace, name },
  spec,
});
export const sel = (labels: Record<string, string>): object => ({ matchLabels: labels });
export const ip32 = (c: MatrixCluster, podRef: string): string => `${c.pod(podRef).ip}/32`;

const list = (items: object[]): object => ({ apiVersion: 'v1', kind: 'List', items });

export function namespaceObjects(extra: Record<string, Record<string, string>> = {}): object {
  return list(NS.map((n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n, labels: { ns: n, ...(extra[n] ?? {}) } } })));
}

export interface PortSpec {
  name: string;
  containerPort: number;
  protocol: 'TCP' | 'UDP';
}
const SERVE_PORTS: PortSpec[] = PORTS.map(([proto, port]) => ({ name: `serve-${port}-${proto}`, containerPort: port, protocol: proto === 'tcp' ? 'TCP' : 'UDP' }));
/** SERVE_PORTS with ports renamed: `rename` maps an old name to a new one. */
export const renamed = (rename: Record<string, string>): PortSpec[] => SERVE_PORTS.map((p) => ({ ...p, name: rename[p.name] ?? p.name }));

function podObject(at: PodPlacement, namespace: string, name: string, labels: Record<string, string>, ports: PortSpec[] = SERVE_PORTS): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, labels: { ...labels, ...at.extraLabels } },
    spec: { nodeName: at.nodeName, containers: [{ name: 'srv', ports }] },
    // as the kubelet reports a started pod whose server listens: what an EndpointSlice controller reads
    ...(at.podIPs === undefined
      ? {}
      : { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], podIPs: at.podIPs.map((ip) => ({ ip })) } }),
  };
}

/** The nine Pod objects: labels `pod: <name>` unless relabelled, the SERVE_PORTS names unless given. */
export function podObjects(c: MatrixCluster, relabel: Record<string, Record<string, string>> = {}, ports: Record<string, PortSpec[]> = {}): object {
  return list(
    MATRIX_PODS.map(({ namespace, name, labels }) => {
      const r = `${namespace}/${name}`;
      return podObject(c.placement(r), namespace, name, relabel[r] ?? labels, ports[r]);
    }),
  );
}

export const writeNamespaces = (c: MatrixCluster, extra?: Record<string, Record<string, string>>): void =>
  c.write('namespaces.json', JSON.stringify(namespaceObjects(extra)));
export const writePods = (c: MatrixCluster, relabel?: Record<string, Record<string, string>>, ports?: Record<string, PortSpec[]>): void =>
  c.write('pods.json', JSON.stringify(podObjects(c, relabel, ports)));
export const writePolicies = (c: MatrixCluster, policies: object[]): void => c.write('policies.json', JSON.stringify(list(policies)));
