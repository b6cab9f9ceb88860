// The policy core's contract: what the agent knows of the cluster (validated
// Kubernetes objects), the local endpoints, and the datapath state the compiler
// derives from them. Everything here is plain data; compile.ts and diff.ts are pure.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const IPPROTO: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };

export interface LabelRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: string[];
}

/** A Kubernetes LabelSelector; {} (both empty) selects everything. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelRequirement[];
}

export interface Namespace {
  name: string;
  labels: Record<string, string>;
}

export interface ContainerPort {
  name: string | null;
  containerPort: number;
  protocol: Protocol;
}

export interface Pod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** status.podIPs (or status.podIP); canonical text */
  ips: string[];
  nodeName: string | null;
  hostNetwork: boolean;
  /** every container's ports, for named ports */
  ports: ContainerPort[];
}

export interface PolicyPort {
  protocol: Protocol;
  /** absent: every port of the protocol; a string is a named port */
  port: number | string | null;
  /** with a numeric port: the range port..endPort */
  endPort: number | null;
}

export interface IpBlock {
  /** canonical CIDR */
  cidr: string;
  except: string[];
}

/** One entry of from/to. Exactly one of the three shapes is set (pod/ns selectors may combine). */
export interface PolicyPeer {
  podSelector: LabelSelector | null;
  namespaceSelector: LabelSelector | null;
  ipBlock: IpBlock | null;
}

export interface PolicyRule {
  /** null: from/to absent or empty — every peer */
  peers: PolicyPeer[] | null;
  /** empty: every protocol and port */
  ports: PolicyPort[];
}

export interface NetworkPolicy {
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  /** with Kubernetes' defaults applied when the object had none */
  policyTypes: ('Ingress' | 'Egress')[];
  ingress: PolicyRule[];
  egress: PolicyRule[];
}

export interface Node {
  name: string;
  /** status.addresses of type InternalIP or ExternalIP, canonical: what ipBlocks and HOST see */
  addresses: string[];
  /** status.addresses of type InternalIP, canonical, in order: where the node's pods are reached */
  internalIPs: string[];
  /** spec.podCIDRs (or the older spec.podCIDR), canonical; at most one per family */
  podCIDRs: string[];
}

export type IpFamily = 'IPv4' | 'IPv6';

export interface ServicePort {
  /** null: the Service's only port was left unnamed */
  name: string | null;
  protocol: Protocol;
  port: number;
  /** a number, or the name of a container port of the backends; defaults to `port` */
  targetPort: number | string;
}

/**
 * A v1 Service. Every type is accepted and kept as its type; what strait serves is
 * the ClusterIP (NodePort and LoadBalancer Services have one too). Node ports,
 * external IPs and load-balancer status are not kept. ExternalName Services are DNS
 * only and have no clusterIPs.
 */
export interface Service {
  namespace: string;
  name: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  /** spec.clusterIPs (or spec.clusterIP), canonical, primary family first; [] when headless or ExternalName */
  clusterIPs: string[];
  /** clusterIP "None": DNS names the backends, nothing to translate */
  headless: boolean;
  /** spec.ipFamilies; when absent, the families of clusterIPs */
  ipFamilies: IpFamily[];
  /** defaults to SingleStack, as the API server's */
  ipFamilyPolicy: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  ports: ServicePort[];
  /** null: a Service without a selector (its EndpointSlices are written by hand) */
  selector: Record<string, string> | null;
  /** sessionAffinity ClientIP with its timeout (default 10800 s); null: None */
  sessionAffinity: { timeoutSeconds: number } | null;
  internalTrafficPolicy: 'Cluster' | 'Local';
}

export interface EndpointConditions {
  /** absent in the object: true (the API's "unknown", read as ready as kube-proxy does) */
  ready: boolean;
  /** absent: true */
  serving: boolean;
  /** absent: false */
  terminating: boolean;
}

export interface Endpoint {
  /** canonical, of the slice's addressType */
  addresses: string[];
  conditions: EndpointConditions;
  nodeName: string | null;
  /** targetRef when it names a Pod (its namespace defaults to the slice's); null otherwise */
  targetRef: { namespace: string; name: string } | null;
}

export interface EndpointPort {
  /** null: unnamed (matches the Service's unnamed port) */
  name: string | null;
  protocol: Protocol;
  /** null: the API's "all ports" */
  port: number | null;
}

/** A discovery.k8s.io/v1 EndpointSlice of addressType IPv4 or IPv6 (FQDN is refused). */
export interface EndpointSlice {
  namespace: string;
  name: string;
  /** the kubernetes.io/service-name label: the Service (same namespace) it belongs to; null: none */
  serviceName: string | null;
  addressType: IpFamily;
  endpoints: Endpoint[];
  ports: EndpointPort[];
}

export interface ClusterState {
  namespaces: Namespace[];
  pods: Pod[];
  policies: NetworkPolicy[];
  nodes: Node[];
  /** compiled into the Service maps by src/lb/ (the policy compiler does not use them) */
  services: Service[];
  endpointSlices: EndpointSlice[];
}

/** A pod on this node, as the CNI plugin added it. */
export interface LocalEndpoint {
  /** `${network}/${containerId}/${ifname}` */
  id: string;
  ifindex: number;
  ips: string[];
  /** from CNI_ARGS K8S_POD_NAMESPACE / K8S_POD_NAME; joins the endpoint to its Pod object */
  podNamespace: string | null;
  podName: string | null;
}

// Reserved identities; mirror of bpf/include/maps.h.
export const IDENTITY_ANY = 0;
export const IDENTITY_HOST = 1;
export const IDENTITY_WORLD = 2;
/** any pod of the cluster: `namespaceSelector: {}` without a narrower podSelector */
export const IDENTITY_CLUSTER = 3;
/** another node's address in the ipcache: never a pod, so never IDENTITY_CLUSTER */
export const IDENTITY_REMOTE_NODE = 4;
export const IDENTITY_CIDR_FLAG = 1 << 24;
/** namespace identities: "every pod in this namespace", carried in each pod's ipcache entry */
export const IDENTITY_NS_FLAG = 1 << 25;
export const FIRST_POD_IDENTITY = 256;

/** One allow entry of an endpoint, as strait_policy_v1 holds it (before the slot/generation). */
export interface PolicyEntry {
  /** peer identity (pod, namespace, CIDR, IDENTITY_CLUSTER), or IDENTITY_ANY */
  identity: number;
  egress: boolean;
  /** 0: every protocol (and port) */
  protocol: number;
  /** first port of the prefix (host order); 0 with portPrefixLen 0 = every port */
  port: number;
  /** how many leading bits of the 16-bit port are fixed: 0 = any, 16 = exactly `port` */
  portPrefixLen: number;
  ruleId: number;
}

export interface EndpointPolicy {
  ifindex: number;
  identity: number;
  ingressIsolated: boolean;
  egressIsolated: boolean;
  entries: PolicyEntry[];
  /**
   * Which generation of its entries is live (EP_F_POLICY_GEN); absent means 0.
   * compile() leaves it out; diff() sets it in the state it returns as `next`, and a
   * reconciler that reads the maps back sets it from the endpoint's flags.
   */
  generation?: 0 | 1;
  /**
   * Entries found under the generation that is NOT live (left by a plan that was
   * interrupted before its flip or its cleanup). diff() deletes them before it
   * writes that generation, so they can never become live. Absent means none.
   */
  inactiveEntries?: PolicyEntry[];
  /**
   * false: read back from an endpoint-map entry without EP_F_READY. diff() then
   * always writes the endpoint's flags (which set READY), even when nothing else
   * changed. Absent means READY (every state diff() returns).
   */
  ready?: boolean;
}

/** The label set a pod identity stands for (compile output, for explain and for stable numbering). */
export interface IdentityInfo {
  namespace: string;
  /** the namespace's labels, kubernetes.io/metadata.name included */
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
  /**
   * "PROTO/name" → port of the pods with this identity, when they name ports: pods
   * whose labels are equal but whose named ports differ get different identities,
   * so that an egress named port resolves on the destination pod. Absent: none.
   */
  namedPorts?: Record<string, number[]>;
}

/** Where a compiled rule came from, for `straitctl policy` and `explain`. */
export interface RuleOrigin {
  ruleId: number;
  policy: string; // "namespace/name"
  direction: 'ingress' | 'egress';
  /** index in spec.ingress / spec.egress */
  index: number;
}

export interface DesiredState {
  /**
   * address (canonical) → identity: every pod of the cluster with an address (its pod
   * identity), and every other node's InternalIP (IDENTITY_REMOTE_NODE)
   */
  ipcache: Map<string, number>;
  /**
   * pod identity → the identity of its namespace, written with each of its addresses
   * (ipcache_value.namespace). Absent or missing an identity: 0. A state read back
   * from the maps holds -1 for a pod identity whose addresses disagree.
   */
  podNamespaces?: Map<number, number>;
  /** namespace name → namespace identity (compile output; pass it back as `previous`) */
  namespaceIds?: Map<string, number>;
  /** canonical CIDR → identity: ipBlock prefixes, 0.0.0.0/0 and ::/0 (WORLD), this node's addresses (HOST, as /32 or /128) */
  cidrs: Map<string, number>;
  /** by host veth ifindex */
  endpoints: Map<number, EndpointPolicy>;
  rules: Map<number, RuleOrigin>;
  /**
   * pod identity → its label set. compile() always fills it; pass the previous
   * state to compile() so numbers already handed out stay put. Optional so that
   * states read back from the maps (which do not hold labels) still type-check.
   */
  identities?: Map<number, IdentityInfo>;
}
