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
}

/** The source --source names (one kind so far; `kube` is issue #12's). */
export async function openSource(spec: SourceSpec, log: Logger, onChange: OnCluster): Promise<ClusterSource> {
  const { DirSource } = await import('./dir.js');
  return new DirSource(spec.path, log.child({ source: spec.kind }), onChange);
}
