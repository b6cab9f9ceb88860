// Address -> "namespace/name" of the pod holding it, on any node: from the cluster's
// Pod objects (rebuilt only when the core has a new snapshot), and for a local pod
// whose Pod object the source has not delivered yet, from its CNI endpoint.
import type { ClusterState, LocalEndpoint } from '../policy/types.js';

export class PodIndex {
  private cluster: ClusterState | null = null;
  private byCluster = new Map<string, string>();
  private byEndpoint = new Map<string, string>();

  update(cluster: ClusterState | null, endpoints: readonly LocalEndpoint[]): void {
    if (cluster !== this.cluster) {
      this.cluster = cluster;
      this.byCluster = new Map();
      // hostNetwork pods hold the node's address, which is no pod's.
      for (const p of cluster?.pods ?? []) if (!p.hostNetwork) for (const ip of p.ips) this.byCluster.set(ip, `${p.namespace}/${p.name}`);
    }
    this.byEndpoint = new Map();
    for (const ep of endpoints) {
      if (ep.podNamespace === null || ep.podName === null) continue;
      for (const ip of ep.ips) this.byEndpoint.set(ip, `${ep.podNamespace}/${ep.podName}`);
    }
  }

  /** addr in canonical text (as the events codec writes it) */
  podOf(addr: string): string | undefined {
    return this.byCluster.get(addr) ?? this.byEndpoint.get(addr);
  }
}
