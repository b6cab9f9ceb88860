// What the agent's outside (source, local API, straitctl) asks of its inside (the
// reconciler that compiles policy and writes the maps). The API layer depends only
// on this interface.
import type { NodePodCidrs, NodeSummary } from '../cluster/nodes.js';
import type { ClusterState, LocalEndpoint, Protocol, RuleOrigin } from '../policy/types.js';
import type { ServicesStatus } from '../lb/sync.js';
import type { SourceStatus } from './sources/source.js';

/** Something the datapath does not hold as the source says, and why. */
export interface AgentProblem {
  /**
   * policy-refused: the policy did not fit the maps and was refused whole (its pods
   * stay isolated, nothing it allows is written); ipcache-full: pod addresses left
   * unclassified; write-failed: a map write failed (retried); node-missing: this
   * node's Node object is not in the source; node-invalid: a Node is refused (its
   * pods unreachable); uplink-missing: no interface toward the other nodes (nothing
   * toward them changes); node-network-failed: a route, tunnel, map or masquerade
   * step failed (retried); service-refused: a Service did not fit the Service maps
   * (or claims another's ClusterIP and port) and nothing of it is written.
   */
  kind: 'policy-refused' | 'ipcache-full' | 'write-failed' | 'node-missing' | 'node-invalid' | 'uplink-missing' | 'node-network-failed' | 'service-refused';
  /** what it is about: "namespace/name", "endpoint <ifindex>", a map name, "node <name>", an interface */
  subject: string;
  message: string;
}

/** How full a map is once the last plan is written, against what the agent plans with. */
export interface MapFill {
  map: string;
  entries: number;
  capacity: number;
}

export interface AgentCounters {
  /** times a policy went from applied (or new) to refused */
  policyRefusals: number;
  /** map writes that failed */
  writeFailures: number;
  /** times the ipcache went from holding every pod address to not */
  ipcacheOverflows: number;
}

export interface AgentStatus {
  /** everything the source holds now is in the datapath, or refused and reported in problems */
  synced: boolean;
  sourceGeneration: number;
  appliedGeneration: number;
  endpoints: number;
  policies: number;
  /** pod identities (label sets) of the last compiled state; absent before the first pass */
  identities?: number;
  /** the last reconcile error, if the last attempt failed */
  lastError: string | null;
  /** what is not as the source says, now */
  problems: AgentProblem[];
  counters: AgentCounters;
  maps: MapFill[];
  /** every Node of the cluster, and whether this node routes to it; empty without node networking */
  nodes: NodeSummary[];
  /** the Service maps (src/lb/): what is written, what is refused, how full; absent when the core keeps no Services */
  services?: ServicesStatus;
  /** a watching source's own sync state (--source kube); absent for the directory source */
  source?: SourceStatus;
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
  /** new connections this rule allowed on this node, for every endpoint it applies to
   * (strait_rule_counters_v1); a number, as JSON has no 64-bit integers */
  connections: number;
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

/**
 * Told how long each step of a reconcile pass took (metrics): `loop` is the policy
 * maps' pass or the Service maps', `phase` compile (compile, admission, diff or
 * plan) or apply (the map writes and what follows them).
 */
export type PassTimer = (loop: 'policy' | 'services', phase: 'compile' | 'apply', seconds: number) => void;

/** What flow records are named from (src/flows/naming.ts), as the core holds them now. */
export interface FlowNameSources {
  /** the last snapshot the source delivered (the same object until the next one) */
  cluster: ClusterState | null;
  /** this node's endpoints, as the CNI plugin added them */
  endpoints: readonly LocalEndpoint[];
  /** rule id -> its NetworkPolicy, of the compiled state the datapath holds */
  rules: ReadonlyMap<number, RuleOrigin>;
}

export interface AgentCore {
  /** a new snapshot from the source; generation increases with every change */
  setCluster(state: ClusterState, generation: number): void;
  /** the CNI plugin's ADD: resolves once the endpoint's policy is written and it is READY */
  registerEndpoint(ep: LocalEndpoint): Promise<void>;
  /** the CNI plugin's DEL (idempotent) */
  removeEndpoint(id: string): Promise<void>;
  status(): AgentStatus;
  /** this node's spec.podCIDRs in the current cluster state: the ranges of Kubernetes IPAM mode */
  nodePodCidrs(): NodePodCidrs;
  /** every local endpoint, or the one of pod "ns/name" */
  policyOf(pod: string | null): EndpointPolicyReport[];
  explain(req: ExplainRequest): ExplainResult;
  /** for naming flow records; absent in cores that keep no cluster (test fakes) */
  flowNames?(): FlowNameSources;
  close(): Promise<void>;
}
