// What the agent's outside (source, local API, straitctl) asks of its inside (the
// reconciler that compiles policy and writes the maps). The API layer depends only
// on this interface.
import type { ClusterState, LocalEndpoint, Protocol } from '../policy/types.js';

export interface AgentStatus {
  /** everything the source holds now is in the datapath */
  synced: boolean;
  sourceGeneration: number;
  appliedGeneration: number;
  endpoints: number;
  policies: number;
  /** the last reconcile error, if the last attempt failed */
  lastError: string | null;
}

export interface EffectiveRule {
  direction: 'ingress' | 'egress';
  /** "namespace/name" of the NetworkPolicy */
  policy: string;
  /** index in its spec.ingress / spec.egress */
  index: number;
  /** human-readable peers and ports, e.g. "pods app=web in ns x" / "TCP/80" */
  peers: string[];
  ports: string[];
}

export interface EndpointPolicyReport {
  endpoint: string;
  pod: string | null;
  ips: string[];
  identity: number;
  ingressIsolated: boolean;
  egressIsolated: boolean;
  rules: EffectiveRule[];
}

export interface ExplainRequest {
  src: string;
  dst: string;
  protocol: Protocol;
  port: number;
}

export interface ExplainResult {
  verdict: 'allow' | 'deny';
  /** each check the datapath makes, in order, and its outcome */
  steps: string[];
  /** the policy that allowed it, or the direction whose isolation denies it */
  reason: string;
}

export interface AgentCore {
  /** a new snapshot from the source; generation increases with every change */
  setCluster(state: ClusterState, generation: number): void;
  /** the CNI plugin's ADD: resolves once the endpoint's policy is written and it is READY */
  registerEndpoint(ep: LocalEndpoint): Promise<void>;
  /** the CNI plugin's DEL (idempotent) */
  removeEndpoint(id: string): Promise<void>;
  status(): AgentStatus;
  /** every local endpoint, or the one of pod "ns/name" */
  policyOf(pod: string | null): EndpointPolicyReport[];
  explain(req: ExplainRequest): ExplainResult;
  close(): Promise<void>;
}
