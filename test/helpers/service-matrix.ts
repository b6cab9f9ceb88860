// The conformance matrix probed through Services, as the upstream e2e suite probes
// it: every pod gets a ClusterIP Service of its own (s-<ns>-<pod>, dual-stack, from
// test ranges), the EndpointSlices the controller would write (src/lab/endpoint-slices.ts,
// rewritten whenever the Pods are), and each probe goes to the target's ClusterIP
// instead of its address. The verdicts are the scenarios' own: policy applies to the
// backend, so a probe to a Service is judged as the probe to its pod would be.
//
// Service ports cross their target ports (80 -> 81, 81 -> 80; the UDP ones by name),
// so every probe is translated in port too and a policy port can only match the
// backend's: a probe is written as (proto, backend port) and sent to the Service
// port that targets it.
//
// Each pod carries one label more, the one its Service selects (matrix-service:
// s-<ns>-<pod>), kept when a scenario relabels it: a relabelled pod takes another's
// labels, and two pods with equal labels could not each be the one backend of their
// own Service. So here no two pods share a label set (nor an identity); the verdicts
// of the scenarios that make two pods alike hold all the same.
//
// With kube-proxy, every node also carries kube-proxy's iptables rules for these
// Services (src/lab/kube-proxy.ts). `objects: false` leaves strait's Service and
// EndpointSlice objects out (kube-proxy alone: how strait fared before it translated).
import { spawnSync } from 'node:child_process';
import { endpointSlices, type EndpointSliceObject, type PodObject, type ServiceObject } from '../../src/lab/endpoint-slices.js';
import { dnatCounters, kubeProxyRules, type DnatCounter } from '../../src/lab/kube-proxy.js';
import { OUTSIDE, type Routing } from '../../src/lab/topology.js';
import { MATRIX_PODS, ref, writePods, type MatrixCluster, type MatrixProbe, type PodPlacement, type Proto } from './policy-matrix-objects.js';
import { NodesMatrix, POD_RANGE, useNodesMatrix, type NodePod } from './policy-matrix-nodes.js';

export interface ServiceVariant {
  /** kube-proxy's iptables rules on every node */
  kubeProxy: boolean;
  /** strait's Service and EndpointSlice objects written (false: only kube-proxy serves the ClusterIPs) */
  objects: boolean;
}

/** The ClusterIP ranges: test ranges of our own, apart from every pod and node address. */
export const SERVICE_RANGE = { v4: '198.18.240.0/24', v6: 'fd5a:5e::/112' } as const;
/** What kube-proxy calls the cluster CIDR: every node's pod CIDR (src/lab/topology.ts podCidrs). */
const CLUSTER_CIDRS = { v4: POD_RANGE, v6: 'fd5a:1ab::/32' };
/** The label each Service selects its pod by; relabelling a pod in a scenario keeps it. */
const SERVICE_LABEL = 'matrix-service';

/** The Service ports: each targets the other number; the UDP ones by container port name. */
const SERVICE_PORTS = [
  { name: 'tcp-80', protocol: 'TCP', port: 80, targetPort: 81, backend: 81 },
  { name: 'tcp-81', protocol: 'TCP', port: 81, targetPort: 80, backend: 80 },
  { name: 'udp-80', protocol: 'UDP', port: 80, targetPort: 'serve-81-udp', backend: 81 },
  { name: 'udp-81', protocol: 'UDP', port: 81, targetPort: 'serve-80-udp', backend: 80 },
] as const;

const serviceName = (podRef: string): string => `s-${podRef.replace('/', '-')}`;
const indexOf = (podRef: string): number => MATRIX_PODS.findIndex((p) => `${p.namespace}/${p.name}` === podRef);

/** The k-th pod's ClusterIPs: .10 + k of each range. */
export function clusterIPs(podRef: string): { v4: string; v6: string } {
  const k = 10 + indexOf(podRef);
  return { v4: `198.18.240.${k}`, v6: `fd5a:5e::${k.toString(16)}` };
}

/** The Service port a probe of (proto, backend port) goes to. */
export function servicePort(proto: Proto, backend: number): number {
  const p = SERVICE_PORTS.find((x) => x.protocol === proto.toUpperCase() && x.backend === backend);
  if (p === undefined) throw new Error(`no Service port targets ${proto}/${backend}`);
  return p.port;
}

function serviceObject(podRef: string): ServiceObject & { apiVersion: 'v1'; kind: 'Service' } {
  const [namespace, name] = [podRef.split('/')[0]!, serviceName(podRef)];
  const ips = clusterIPs(podRef);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace, name },
    spec: {
      type: 'ClusterIP',
      selector: { [SERVICE_LABEL]: name },
      clusterIP: ips.v4,
      clusterIPs: [ips.v4, ips.v6],
      ipFamilies: ['IPv4', 'IPv6'],
      ipFamilyPolicy: 'RequireDualStack',
      ports: SERVICE_PORTS.map(({ name: n, protocol, port, targetPort }) => ({ name: n, protocol, port, targetPort })),
    },
  };
}

const list = (items: object[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

export class ServiceMatrix implements MatrixCluster<NodePod> {
  readonly services = MATRIX_PODS.map((p) => serviceObject(`${p.namespace}/${p.name}`));
  /** the slices the controller would write for the Pods last written */
  slices: EndpointSliceObject[] = [];

  private constructor(
    readonly nodes: NodesMatrix,
    readonly variant: ServiceVariant,
  ) {}

  /** Services, slices and (with kube-proxy) iptables rules over a running matrix, all applied. */
  static async over(nodes: NodesMatrix, variant: ServiceVariant): Promise<ServiceMatrix> {
    const m = new ServiceMatrix(nodes, variant);
    if (variant.objects) m.write('services.json', list(m.services));
    writePods(m); // with the Service label, and the slices derived from them
    if (variant.kubeProxy) m.installKubeProxy();
    await m.waitSynced();
    return m;
  }

  get pods(): readonly NodePod[] {
    return this.nodes.pods;
  }

  get podRange(): string {
    return this.nodes.podRange;
  }

  pod(podRef: string): NodePod {
    return this.nodes.pod(podRef);
  }

  placement(podRef: string): PodPlacement {
    return { ...this.nodes.placement(podRef), extraLabels: { [SERVICE_LABEL]: serviceName(podRef) } };
  }

  waitSynced(): Promise<void> {
    return this.nodes.waitSynced();
  }

  /** As the API server: the Pods are written, and the EndpointSlice controller follows them. */
  write(file: string, text: string): void {
    this.nodes.write(file, text);
    if (file !== 'pods.json') return;
    this.slices = endpointSlices(this.services, (JSON.parse(text) as { items: PodObject[] }).items);
    if (this.variant.objects) this.nodes.write('endpointslices.json', list(this.slices));
  }

  /** Each probe to its target's ClusterIP (v4, or v6) on the Service port that targets its port. */
  probe(probes: MatrixProbe<NodePod>[], family: 4 | 6 = 4): Promise<boolean[]> {
    return this.nodes.probe(
      probes.map((p) => {
        const ips = clusterIPs(ref(p.to));
        return { ...p, to: { ...p.to, ip: family === 4 ? ips.v4 : ips.v6 }, port: servicePort(p.proto, p.port) };
      }),
    );
  }

  private get netns(): string[] {
    return this.nodes.lab.state.nodes.map((n) => n.netns);
  }

  /**
   * kube-proxy's rules in every node's netns (they go with it), and a route to the
   * Service ranges via the outside host: the lab's nodes have no default route, which
   * on a real node is what lets its own (host-network) connections to a ClusterIP
   * reach the OUTPUT chain's DNAT. Pods' packets need none: PREROUTING comes first.
   */
  private installKubeProxy(): void {
    const rules = kubeProxyRules(this.services, this.slices, CLUSTER_CIDRS);
    const inNode = (ns: string, args: string[], input?: string): void => {
      const r = spawnSync('ip', ['netns', 'exec', ns, ...args], { input, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${args.join(' ')} in ${ns}: ${r.stderr}`);
    };
    for (const ns of this.netns) {
      inNode(ns, ['iptables-restore', '--noflush'], rules.v4);
      inNode(ns, ['ip6tables-restore', '--noflush'], rules.v6);
      inNode(ns, ['ip', 'route', 'add', SERVICE_RANGE.v4, 'via', OUTSIDE.v4]);
      inNode(ns, ['ip', '-6', 'route', 'add', SERVICE_RANGE.v6, 'via', OUTSIDE.v6]);
    }
  }

  /** kube-proxy's DNAT rules on every node with their packet counters (v4 and v6). */
  dnatCounters(): (DnatCounter & { netns: string })[] {
    return this.netns.flatMap((ns) =>
      ['iptables-save', 'ip6tables-save'].flatMap((cmd) => {
        const r = spawnSync('ip', ['netns', 'exec', ns, cmd, '-c', '-t', 'nat'], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${cmd} in ${ns}: ${r.stderr}`);
        return dnatCounters(r.stdout).map((c) => ({ ...c, netns: ns }));
      }),
    );
  }
}

/** The Service matrix of a describe block over `nodes` nodes: up before its tests, down after them. */
export function useServiceMatrix(routing: Routing, variant: ServiceVariant, nodes: number): () => ServiceMatrix {
  let m: ServiceMatrix | null = null;
  useNodesMatrix(routing, {
    nodes,
    ready: async (cluster) => {
      m = await ServiceMatrix.over(cluster, variant);
    },
  });
  return () => {
    if (m === null) throw new Error('the Service matrix did not come up');
    return m;
  };
}
