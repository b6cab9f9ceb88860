// The Kubernetes source: Pods, Namespaces, NetworkPolicies, Nodes, Services and
// EndpointSlices (all namespaces) from the API server, each through its own Reflector (kube-reflector.ts: list,
// watch, retry, relist, heartbeat), merged into the ClusterState the directory source
// gives too. Objects are kept as the policy model parsed them, so only the fields
// strait uses stay in memory. A new kind is one more row in resourceSpecs.
import { createHash } from 'node:crypto';
import { CoreV1Api, DiscoveryV1Api, KubeConfig, NetworkingV1Api, Watch } from '@kubernetes/client-node';
import { clusterState } from '../../cluster/snapshot.js';
import { StraitError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import { Reflector, type ReflectorOptions, type ResourceSpec } from './kube-reflector.js';
import type { ClusterSource, OnCluster, SourceStatus } from './source.js';

export interface KubeSourceOptions extends Partial<ReflectorOptions> {
  /** changes arriving within this window are delivered as one generation */
  debounceMs?: number;
  /** start() gives up (E_SOURCE) when the first lists have not all completed by then */
  startTimeoutMs?: number;
}

/** --kubeconfig PATH, else the pod's service account (KUBERNETES_SERVICE_HOST set). */
export function loadKubeConfig(kubeconfig: string | null): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (kubeconfig !== null) kc.loadFromFile(kubeconfig);
    else kc.loadFromCluster();
  } catch (e) {
    throw new StraitError('E_SOURCE', `cannot load ${kubeconfig ?? 'the in-cluster config'}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (kc.getCurrentCluster() === null) throw new StraitError('E_SOURCE', `${kubeconfig ?? 'the in-cluster config'} names no current cluster`);
  return kc;
}

export function resourceSpecs(kc: KubeConfig): ResourceSpec[] {
  const core = kc.makeApiClient(CoreV1Api);
  const net = kc.makeApiClient(NetworkingV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  return [
    { name: 'namespaces', kind: 'Namespace', apiVersion: 'v1', path: '/api/v1/namespaces', list: (o) => core.listNamespace(o) },
    { name: 'pods', kind: 'Pod', apiVersion: 'v1', path: '/api/v1/pods', list: (o) => core.listPodForAllNamespaces(o) },
    { name: 'nodes', kind: 'Node', apiVersion: 'v1', path: '/api/v1/nodes', list: (o) => core.listNode(o) },
    {
      name: 'networkpolicies',
      kind: 'NetworkPolicy',
      apiVersion: 'networking.k8s.io/v1',
      path: '/apis/networking.k8s.io/v1/networkpolicies',
      list: (o) => net.listNetworkPolicyForAllNamespaces(o),
    },
    { name: 'services', kind: 'Service', apiVersion: 'v1', path: '/api/v1/services', list: (o) => core.listServiceForAllNamespaces(o) },
    {
      name: 'endpointslices',
      kind: 'EndpointSlice',
      apiVersion: 'discovery.k8s.io/v1',
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      list: (o) => discovery.listEndpointSliceForAllNamespaces(o),
    },
  ];
}

export class KubeSource implements ClusterSource {
  private readonly reflectors: Reflector[];
  private readonly debounceMs: number;
  private readonly startTimeoutMs: number;
  private generation = 0;
  private lastState: string | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private started = false;
  /** when the source last stopped being current (performance.now()); null while current */
  private staleSince: number | null = performance.now();
  private closed = false;
  private progress: (() => void) | null = null;

  constructor(
    kc: KubeConfig,
    private readonly log: Logger,
    private readonly onChange: OnCluster,
    opts: KubeSourceOptions = {},
  ) {
    const watcher = new Watch(kc);
    const ropts: ReflectorOptions = {
      pageSize: opts.pageSize ?? 500,
      // Within 30 s of a dead connection; the server's bookmarks (about a minute apart) keep a live one busy only part of the time, so a quiet watch is restarted from its resourceVersion, which costs one request and no list.
      heartbeatMs: opts.heartbeatMs ?? 30_000,
      watchTimeoutSeconds: opts.watchTimeoutSeconds ?? [300, 600],
      backoffBaseMs: opts.backoffBaseMs ?? 200,
      backoffMaxMs: opts.backoffMaxMs ?? 30_000,
      listTimeoutMs: opts.listTimeoutMs ?? 60_000,
    };
    // client-node 2 aborts a watch silent for 30 s by itself too; either way it is restarted.
    this.debounceMs = opts.debounceMs ?? 5;
    this.startTimeoutMs = opts.startTimeoutMs ?? 120_000;
    this.reflectors = resourceSpecs(kc).map(
      (spec) => new Reflector(spec, watcher, ropts, log.child({ resource: spec.name }), () => this.changed()),
    );
  }

  async start(): Promise<void> {
    for (const r of this.reflectors) r.start();
    const allListed = (): boolean => this.reflectors.every((r) => r.listed);
    let timer: NodeJS.Timeout | undefined;
    const ok = await new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.startTimeoutMs);
      this.progress = () => {
        if (allListed()) resolve(true);
      };
      this.progress();
    }).finally(() => {
      clearTimeout(timer);
      this.progress = null;
    });
    if (!ok || this.closed) {
      const why = this.reflectors.filter((r) => !r.listed).map((r) => `${r.spec.name}: ${r.lastError ?? 'no answer'}`);
      this.close();
      throw new StraitError('E_SOURCE', `the Kubernetes API did not list everything within ${this.startTimeoutMs} ms (${why.join('; ')})`);
    }
    this.started = true;
    this.flush();
    this.track();
  }

  close(): void {
    this.closed = true;
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = null;
    for (const r of this.reflectors) r.close();
    this.progress?.();
  }

  /** Every kind listed, its watch connected, and nothing received but not yet delivered. */
  isCurrent(): boolean {
    return this.started && this.debounce === null && this.reflectors.every((r) => r.listed && r.live);
  }

  /** Seconds since the source stopped being current (a watch down, events not delivered yet); 0 while current. */
  staleSeconds(): number {
    this.track();
    return this.staleSince === null ? 0 : (performance.now() - this.staleSince) / 1000;
  }

  // Every change of isCurrent() passes through changed() or flush(): both call this.
  private track(): void {
    if (this.isCurrent()) this.staleSince = null;
    else this.staleSince ??= performance.now();
  }

  status(): SourceStatus {
    const problems: string[] = [];
    for (const r of this.reflectors) for (const [key, line] of r.invalid) problems.push(`${r.spec.kind} ${key}: ${line}`);
    return { kind: 'kube', current: this.isCurrent(), generation: this.generation, resources: this.reflectors.map((r) => r.status()), problems };
  }

  get currentGeneration(): number {
    return this.generation;
  }

  private changed(): void {
    this.progress?.();
    if (!this.started || this.closed) return;
    this.debounce ??= setTimeout(() => this.flush(), this.debounceMs);
    this.track();
  }

  private flush(): void {
    this.debounce = null;
    if (this.closed) return;
    this.track();
    const state = clusterState(this.reflectors.flatMap((r) => [...r.objects.values()]));
    // A digest, not the text: the text of 10,000 pods would be a megabyte kept for one comparison.
    const digest = createHash('sha256').update(JSON.stringify(state)).digest('base64');
    if (digest === this.lastState) return;
    this.lastState = digest;
    this.generation += 1;
    const counts = {
      namespaces: state.namespaces.length,
      pods: state.pods.length,
      policies: state.policies.length,
      nodes: state.nodes.length,
      services: state.services.length,
      endpointSlices: state.endpointSlices.length,
    };
    this.log.info({ generation: this.generation, ...counts }, `cluster state generation ${this.generation}`);
    try {
      this.onChange(state, this.generation);
    } catch (e) {
      this.log.error({ generation: this.generation, err: String(e) }, `applying generation ${this.generation} failed: ${String(e)}`);
    }
  }
}
