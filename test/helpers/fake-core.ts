// An AgentCore that records what it is asked and answers what a test sets, for the
// API server and straitctl tests (no datapath, no root).
import type { AgentCore, AgentStatus, EndpointPolicyReport, ExplainRequest, ExplainResult } from '../../src/agent/core.js';
import type { ClusterState, LocalEndpoint } from '../../src/policy/types.js';
import type { NodePodCidrs } from '../../src/cluster/nodes.js';

export class FakeCore implements AgentCore {
  clusters: { state: ClusterState; generation: number }[] = [];
  registered: LocalEndpoint[] = [];
  removed: string[] = [];
  policyQueries: (string | null)[] = [];
  explains: ExplainRequest[] = [];
  closed = false;

  statusValue: AgentStatus = {
    synced: true,
    sourceGeneration: 3,
    appliedGeneration: 3,
    endpoints: 1,
    policies: 2,
    lastError: null,
    problems: [],
    counters: { policyRefusals: 0, writeFailures: 0, ipcacheOverflows: 0 },
    maps: [{ map: 'strait_policy_v1', entries: 12, capacity: 524288 }],
    nodes: [],
  };
  reports: EndpointPolicyReport[] = [];
  /** what the core's cluster state says of this node (Kubernetes IPAM mode) */
  nodeCidrs: NodePodCidrs = { node: 'node-1', podCIDRs: null };
  explainResult: ExplainResult = { verdict: 'allow', steps: ['step one'], reason: 'x/allow-web ingress[0]' };
  /** how registerEndpoint settles; default: resolves at once */
  register: (ep: LocalEndpoint) => Promise<void> = () => Promise.resolve();
  /** makes the synchronous queries throw */
  failWith: Error | null = null;

  setCluster(state: ClusterState, generation: number): void {
    this.clusters.push({ state, generation });
  }
  async registerEndpoint(ep: LocalEndpoint): Promise<void> {
    this.registered.push(ep);
    await this.register(ep);
  }
  async removeEndpoint(id: string): Promise<void> {
    this.removed.push(id);
  }
  status(): AgentStatus {
    if (this.failWith) throw this.failWith;
    return this.statusValue;
  }
  nodePodCidrs(): NodePodCidrs {
    if (this.failWith) throw this.failWith;
    return { node: this.nodeCidrs.node, podCIDRs: this.nodeCidrs.podCIDRs === null ? null : [...this.nodeCidrs.podCIDRs] };
  }
  policyOf(pod: string | null): EndpointPolicyReport[] {
    if (this.failWith) throw this.failWith;
    this.policyQueries.push(pod);
    return pod === null ? this.reports : this.reports.filter((r) => r.pod === pod);
  }
  explain(req: ExplainRequest): ExplainResult {
    if (this.failWith) throw this.failWith;
    this.explains.push(req);
    return this.explainResult;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

export const SAMPLE_REPORTS: EndpointPolicyReport[] = [
  {
    endpoint: 'strait/c0ffee/eth0',
    pod: 'x/web',
    ips: ['198.18.1.2'],
    identity: 256,
    ingressIsolated: true,
    egressIsolated: false,
    rules: [
      { direction: 'ingress', policy: 'x/allow-client', index: 0, peers: ['pods app=client in ns x'], ports: ['TCP/80'], connections: 12 },
      { direction: 'ingress', policy: 'x/allow-mon', index: 1, peers: ['ns team=mon', '10.0.0.0/8 except 10.1.0.0/16'], ports: [], connections: 0 },
    ],
  },
  {
    endpoint: 'strait/beef/eth0',
    pod: 'y/db',
    ips: ['198.18.1.3', 'fd00::3'],
    identity: 257,
    ingressIsolated: false,
    egressIsolated: false,
    rules: [],
  },
];
