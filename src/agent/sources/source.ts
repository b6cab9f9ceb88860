// What the agent needs of wherever the cluster comes from (a directory of manifests,
// sources/dir.ts; the Kubernetes API, sources/kube.ts): whole ClusterState
// snapshots, a generation that grows with every change, and an honest answer to
// "is what you delivered what the cluster holds now?".
import type { ClusterState } from '../../policy/types.js';
import type { Logger } from '../../util/log.js';
import type { SourceSpec } from '../options.js';

export type OnCluster = (state: ClusterState, generation: number) => void;

export interface ClusterSource {
  /** Delivers the first snapshot (through onChange) before it resolves; rejects with E_SOURCE when it cannot. */
  start(): Promise<void>;
  /** Stops watching; idempotent. */
  close(): void;
  /** True when what the cluster holds now has been delivered (straitctl wait --synced, readiness). */
  isCurrent(): boolean;
  /** What a watching source knows of its own sync (straitctl status); the dir source has none. */
  status?(): SourceStatus;
  /** Seconds since it stopped being current, 0 while current (metrics); absent: the source does not track it */
  staleSeconds?(): number;
}

/** One watched kind of a source (the kube source: pods, namespaces, nodes, networkpolicies). */
export interface SourceResourceStatus {
  resource: string;
  /** listed, and its watch connected with nothing known to be missed */
  synced: boolean;
  resourceVersion: string;
  objects: number;
  /** objects refused by validation (in problems) */
  invalid: number;
  lastError: string | null;
  /** watches restarted after an error, a drop or a silent connection */
  reconnects: number;
  /** lists after a 410 Gone */
  relists: number;
  /** lists and watches that failed */
  errors: number;
}

export interface SourceStatus {
  kind: string;
  current: boolean;
  generation: number;
  resources: SourceResourceStatus[];
  /** objects skipped, one line each: "Pod a/b: spec.containers: must be a list" */
  problems: string[];
}

/** The source --source names. */
export async function openSource(spec: SourceSpec, log: Logger, onChange: OnCluster): Promise<ClusterSource> {
  if (spec.kind === 'kube') {
    const { KubeSource, loadKubeConfig } = await import('./kube.js');
    return new KubeSource(loadKubeConfig(spec.kubeconfig), log.child({ source: 'kube' }), onChange);
  }
  const { DirSource } = await import('./dir.js');
  return new DirSource(spec.path, log.child({ source: spec.kind }), onChange);
}
