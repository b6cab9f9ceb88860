// The EndpointSlices kube-controller-manager's EndpointSlice controller would write for
// the emulated cluster (the lab has no controller manager): pure, from the Services
// with selectors and the Pods, so the lab and the tests write what a cluster would
// instead of hand-copied slices. Follows the controller (pkg/controller/endpointslice
// and staging/src/k8s.io/endpointslice): which pods are endpoints, their conditions,
// one group of slices per address type and per distinct port set (a pod that lacks a
// named targetPort lands in a group without that port), at most 100 endpoints a
// slice, and an empty placeholder slice for an address type with no endpoints.
// Not modelled: zones and hints (no Node topology in the lab), slice names (the
// controller's are random: ours are derived, so a rewrite replaces the same slice),
// and Namespaces: the controller lists pods in the Service's namespace, nothing more.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type AddressType = 'IPv4' | 'IPv6';

interface Meta {
  namespace?: string;
  name: string;
  labels?: Record<string, string>;
  uid?: string;
  /** set once a deletion was asked for: the pod is terminating */
  deletionTimestamp?: string;
}

export interface ServicePortObject {
  name?: string;
  protocol?: Protocol;
  port: number;
  targetPort?: number | string;
  appProtocol?: string;
}

export interface ServiceObject {
  metadata: Meta;
  spec: {
    type?: string;
    selector?: Record<string, string>;
    clusterIP?: string;
    clusterIPs?: string[];
    ipFamilies?: AddressType[];
    ipFamilyPolicy?: string;
    ports?: ServicePortObject[];
    publishNotReadyAddresses?: boolean;
  };
}

interface ContainerObject {
  ports?: { name?: string; containerPort: number; protocol?: Protocol }[];
  /** "Always" on an init container: a sidecar, whose ports count (KEP-753) */
  restartPolicy?: string;
}

export interface PodObject {
  metadata: Meta;
  spec: { nodeName?: string; hostname?: string; subdomain?: string; containers: ContainerObject[]; initContainers?: ContainerObject[] };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    conditions?: { type: string; status: string }[];
  };
}

export interface EndpointSliceObject {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: { namespace: string; name: string; labels: Record<string, string>; ownerReferences?: object[] };
  addressType: AddressType;
  endpoints: {
    addresses: string[];
    conditions: { ready: boolean; serving: boolean; terminating: boolean };
    nodeName?: string;
    hostname?: string;
    targetRef: { kind: 'Pod'; namespace: string; name: string; uid?: string };
  }[];
  ports: { name: string; protocol: Protocol; port: number; appProtocol?: string }[];
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const CONTROLLER_NAME = 'endpointslice-controller.k8s.io';
/** the controller's --max-endpoints-per-slice default */
export const MAX_ENDPOINTS_PER_SLICE = 100;

type Endpoint = EndpointSliceObject['endpoints'][number];
type EndpointPort = EndpointSliceObject['ports'][number];

const nsOf = (m: Meta): string => m.namespace ?? 'default';
const familyOf = (ip: string): AddressType => (ip.includes(':') ? 'IPv6' : 'IPv4');

/** The address types a Service's slices carry: spec.ipFamilies, else its ClusterIP's, else (headless) both. */
function addressTypes(svc: ServiceObject): AddressType[] {
  const fams = svc.spec.ipFamilies ?? [];
  if (fams.length > 0) return [...new Set(fams)];
  const ip = svc.spec.clusterIPs?.[0] ?? svc.spec.clusterIP ?? '';
  if (ip !== '' && ip !== 'None') return [familyOf(ip)];
  return ['IPv4', 'IPv6'];
}

const selects = (selector: Record<string, string>, labels: Record<string, string> = {}): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The controller's ShouldPodBeInEndpoints(pod, includeTerminating=true): not terminal, and has an address. */
function isEndpointPod(pod: PodObject): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  return (pod.status?.podIPs?.length ?? 0) > 0 || (pod.status?.podIP ?? '') !== '';
}

const isReady = (pod: PodObject): boolean => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

function podAddresses(pod: PodObject, type: AddressType): string[] {
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip);
  const all = ips.length > 0 ? ips : [pod.status?.podIP ?? ''].filter((ip) => ip !== '');
  return all.filter((ip) => familyOf(ip) === type);
}

/** podutil.FindPort: a number is taken as is; a name must be a container port of that name and protocol. */
function findPort(pod: PodObject, port: ServicePortObject): number | null {
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target === 0 ? port.port : target;
  const protocol = port.protocol ?? 'TCP';
  const containers = [...pod.spec.containers, ...(pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always')];
  for (const c of containers) {
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  return null;
}

function endpointPorts(svc: ServiceObject, pod: PodObject): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of svc.spec.ports ?? []) {
    const port = findPort(pod, sp);
    if (port === null) continue;
    out.push({ name: sp.name ?? '', protocol: sp.protocol ?? 'TCP', port, ...(sp.appProtocol === undefined ? {} : { appProtocol: sp.appProtocol }) });
  }
  return out;
}

/** podToEndpoint: serving is the pod's Ready condition; ready also needs it not terminating (or publishNotReadyAddresses). */
function endpointOf(svc: ServiceObject, pod: PodObject, addresses: string[]): Endpoint {
  const serving = isReady(pod);
  const terminating = pod.metadata.deletionTimestamp !== undefined;
  const ready = svc.spec.publishNotReadyAddresses === true || (serving && !terminating);
  const nodeName = pod.spec.nodeName ?? '';
  const hostname = pod.spec.hostname ?? '';
  const setHostname = hostname !== '' && pod.spec.subdomain === svc.metadata.name && nsOf(pod.metadata) === nsOf(svc.metadata);
  const uid = pod.metadata.uid;
  return {
    addresses,
    conditions: { ready, serving, terminating },
    ...(nodeName === '' ? {} : { nodeName }),
    ...(setHostname ? { hostname } : {}),
    targetRef: { kind: 'Pod', namespace: nsOf(pod.metadata), name: pod.metadata.name, ...(uid === undefined ? {} : { uid }) },
  };
}

function slice(svc: ServiceObject, type: AddressType, index: number, ports: EndpointPort[], endpoints: Endpoint[]): EndpointSliceObject {
  const name = svc.metadata.name;
  const uid = svc.metadata.uid;
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: nsOf(svc.metadata),
      name: `${name}-${type.toLowerCase()}-${index}`,
      // the Service's own labels are copied; the controller's two win
      labels: { ...svc.metadata.labels, [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: CONTROLLER_NAME },
      ...(uid === undefined ? {} : { ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid, controller: true, blockOwnerDeletion: true }] }),
    },
    addressType: type,
    endpoints,
    ports,
  };
}

/** The slices of one Service: none without a selector (hand-written ones are the user's) or for ExternalName. */
export function serviceEndpointSlices(svc: ServiceObject, pods: readonly PodObject[]): EndpointSliceObject[] {
  const selector = svc.spec.selector;
  if (selector === undefined || svc.spec.type === 'ExternalName') return [];
  const namespace = nsOf(svc.metadata);
  const members = pods.filter((p) => nsOf(p.metadata) === namespace && selects(selector, p.metadata.labels) && isEndpointPod(p));
  const out: EndpointSliceObject[] = [];
  for (const type of addressTypes(svc)) {
    // grouped by port set, in the order the sets first appear
    const groups = new Map<string, { ports: EndpointPort[]; endpoints: Endpoint[] }>();
    for (const pod of members) {
      const addresses = podAddresses(pod, type);
      if (addresses.length === 0) continue;
      const ports = endpointPorts(svc, pod);
      const key = JSON.stringify(ports);
      const g = groups.get(key) ?? { ports, endpoints: [] };
      g.endpoints.push(endpointOf(svc, pod, addresses));
      groups.set(key, g);
    }
    let index = 0;
    for (const g of groups.values()) {
      for (let i = 0; i < g.endpoints.length; i += MAX_ENDPOINTS_PER_SLICE) {
        out.push(slice(svc, type, index++, g.ports, g.endpoints.slice(i, i + MAX_ENDPOINTS_PER_SLICE)));
      }
    }
    if (index === 0) out.push(slice(svc, type, 0, [], []));
  }
  return out;
}

/** Every slice the controller would keep for these Services and Pods. */
export const endpointSlices = (services: readonly ServiceObject[], pods: readonly PodObject[]): EndpointSliceObject[] =>
  services.flatMap((s) => serviceEndpointSlices(s, pods));
