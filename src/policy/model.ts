// Kubernetes objects as the policy core sees them: decoded from the API's JSON,
// validated the way the API server validates them, with its defaults applied. Every
// problem is an ObjectError naming the object and the exact field, because an
// operator reads it in a log line and has to find the offending YAML.
//
// Validation is never stricter than what the API server may have stored: legacy
// CIDRs with host bits or zero-padded octets (admitted before strict IP validation)
// are accepted and canonicalised, because rejecting a stored NetworkPolicy would
// leave its pods without the isolation the cluster asked for.
import { type Cidr, formatIp, networkOf } from '../ipam/addr.js';
import {
  child,
  cidrText,
  index,
  type Json,
  ObjectError,
  parseCidrLenient,
  parseIpLenient,
  portNameError,
  Reader,
  readMeta,
} from './object-reader.js';
import { parseEndpointSlice, parseService } from './service-model.js';
import type {
  ContainerPort,
  EndpointSlice,
  IpBlock,
  Namespace,
  NetworkPolicy,
  Node,
  Pod,
  PolicyPeer,
  PolicyPort,
  PolicyRule,
  Service,
} from './types.js';

export { ObjectError, parseCidrLenient, parseIpLenient, portNameError };

export type ParsedObject =
  | { kind: 'Namespace'; value: Namespace }
  | { kind: 'Pod'; value: Pod }
  | { kind: 'NetworkPolicy'; value: NetworkPolicy }
  | { kind: 'Node'; value: Node }
  | { kind: 'Service'; value: Service }
  | { kind: 'EndpointSlice'; value: EndpointSlice };

/** Kubernetes adds this label to every namespace (since 1.21); namespaceSelectors rely on it. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

const API_VERSION = {
  Namespace: 'v1',
  Pod: 'v1',
  Node: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
} as const;
type Kind = keyof typeof API_VERSION;

function objectName(raw: Json): string {
  const meta = raw.metadata;
  if (typeof raw.kind !== 'string' || typeof meta !== 'object' || meta === null) return '<unnamed>';
  const { name, namespace } = meta as Json;
  if (typeof name !== 'string' || name === '') return '<unnamed>';
  return typeof namespace === 'string' && namespace !== ''
    ? `${raw.kind} ${namespace}/${name}`
    : `${raw.kind} ${name}`;
}

/** Decodes and validates one object of a kind the policy core understands. */
export function parseObject(raw: unknown): ParsedObject {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ObjectError('<unnamed>', '', 'must be a JSON object');
  }
  const o = raw as Json;
  const r = new Reader(objectName(o));
  const kind = o.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(API_VERSION, kind)) {
    r.fail('kind', `unsupported kind ${JSON.stringify(kind)} (Namespace, Pod, Node, NetworkPolicy, Service, EndpointSlice)`);
  }
  const k = kind as Kind;
  if (o.apiVersion !== API_VERSION[k]) {
    r.fail('apiVersion', `unsupported apiVersion ${JSON.stringify(o.apiVersion)} for ${k} (want ${API_VERSION[k]})`);
  }
  switch (k) {
    case 'Namespace':
      return { kind: k, value: parseNamespace(r, o) };
    case 'Pod':
      return { kind: k, value: parsePod(r, o) };
    case 'Node':
      return { kind: k, value: parseNode(r, o) };
    case 'NetworkPolicy':
      return { kind: k, value: parseNetworkPolicy(r, o) };
    case 'Service':
      return { kind: k, value: parseService(r, o) };
    case 'EndpointSlice':
      return { kind: k, value: parseEndpointSlice(r, o) };
  }
}

function parseNamespace(r: Reader, raw: Json): Namespace {
  const m = readMeta(r, raw, false, true);
  return { name: m.name, labels: { ...m.labels, [NAMESPACE_NAME_LABEL]: m.name } };
}

function containerPorts(r: Reader, containers: unknown[], path: string, keep: (c: Json) => boolean): ContainerPort[] {
  const out: ContainerPort[] = [];
  containers.forEach((c, i) => {
    const cPath = index(path, i);
    const container = r.obj(c, cPath);
    const portsPath = child(cPath, 'ports');
    const ports = r.arr(container.ports, portsPath).map((p, j): ContainerPort => {
      const pPath = index(portsPath, j);
      const port = r.obj(p, pPath);
      const name = r.optStr(port.name, child(pPath, 'name'));
      if (name !== null && name !== '') {
        const e = portNameError(name);
        if (e !== null) r.fail(child(pPath, 'name'), e);
      }
      return {
        name: name === '' ? null : name,
        containerPort: r.port(port.containerPort, child(pPath, 'containerPort')),
        protocol: r.protocol(port.protocol, child(pPath, 'protocol')),
      };
    });
    if (keep(container)) out.push(...ports);
  });
  return out;
}

function parsePod(r: Reader, raw: Json): Pod {
  const m = readMeta(r, raw, true);
  const spec = r.optObj(raw.spec, 'spec') ?? {};
  const status = r.optObj(raw.status, 'status') ?? {};
  const nodeName = r.optStr(spec.nodeName, 'spec.nodeName');
  const ports = [
    ...containerPorts(r, r.arr(spec.containers, 'spec.containers'), 'spec.containers', () => true),
    // Native sidecars (restartable init containers) serve for the pod's lifetime.
    ...containerPorts(r, r.arr(spec.initContainers, 'spec.initContainers'), 'spec.initContainers', (c) => c.restartPolicy === 'Always'),
  ];

  const ips: string[] = [];
  const addIp = (v: unknown, path: string): void => {
    const text = r.optStr(v, path);
    if (text === null || text === '') return;
    const ip = parseIpLenient(text);
    if (ip === null) r.fail(path, 'must be a valid IP address');
    const canonical = formatIp(ip.family, ip.value);
    if (!ips.includes(canonical)) ips.push(canonical);
  };
  r.arr(status.podIPs, 'status.podIPs').forEach((entry, i) => {
    const path = index('status.podIPs', i);
    addIp(r.obj(entry, path).ip, child(path, 'ip'));
  });
  addIp(status.podIP, 'status.podIP');
  // A pod that has terminated keeps its status.podIPs, but the address is free and
  // may already belong to a new pod.
  const phase = r.optStr(status.phase, 'status.phase');
  const terminated = phase === 'Succeeded' || phase === 'Failed';

  return {
    namespace: m.namespace,
    name: m.name,
    labels: m.labels,
    ips: terminated ? [] : ips,
    nodeName: nodeName === '' ? null : nodeName,
    hostNetwork: r.optBool(spec.hostNetwork, 'spec.hostNetwork') ?? false,
    ports,
  };
}

function parseNode(r: Reader, raw: Json): Node {
  const m = readMeta(r, raw, false);
  const status = r.optObj(raw.status, 'status') ?? {};
  const addresses: string[] = [];
  const internalIPs: string[] = [];
  r.arr(status.addresses, 'status.addresses').forEach((a, i) => {
    const path = index('status.addresses', i);
    const entry = r.obj(a, path);
    const type = r.optStr(entry.type, child(path, 'type'));
    const text = r.optStr(entry.address, child(path, 'address'));
    // Hostname and DNS entries are names, not addresses; the API server does not
    // validate these, so anything unparsable is skipped rather than fatal.
    if (text === null || (type !== null && type !== 'InternalIP' && type !== 'ExternalIP')) return;
    const ip = parseIpLenient(text);
    if (ip === null) return;
    const canonical = formatIp(ip.family, ip.value);
    if (!addresses.includes(canonical)) addresses.push(canonical);
    if (type === 'InternalIP' && !internalIPs.includes(canonical)) internalIPs.push(canonical);
  });
  return { name: m.name, addresses, internalIPs, podCIDRs: nodePodCidrs(r, r.optObj(raw.spec, 'spec') ?? {}) };
}

/** spec.podCIDRs as the API server validates them (ValidateNode): CIDRs, at most one per family, podCIDR its first. */
function nodePodCidrs(r: Reader, spec: Json): string[] {
  const cidr = (v: unknown, path: string): Cidr => {
    const text = r.optStr(v, path) ?? '';
    const c = parseCidrLenient(text);
    if (c === null) r.fail(path, `must be a valid CIDR (e.g. 10.244.1.0/24 or fd00:10:244:1::/64), not ${JSON.stringify(text)}`);
    return c;
  };
  const list = r.arr(spec.podCIDRs, 'spec.podCIDRs').map((v, i) => cidr(v, index('spec.podCIDRs', i)));
  if (list.length > 2) r.fail('spec.podCIDRs', 'may specify no more than 2 CIDRs (one per IP family)');
  if (list.length === 2 && list[0]!.family === list[1]!.family) r.fail('spec.podCIDRs', 'may specify no more than one CIDR for each IP family');
  const single = r.optStr(spec.podCIDR, 'spec.podCIDR');
  if (single !== null && single !== '') {
    const c = cidr(single, 'spec.podCIDR');
    if (list.length === 0) return [cidrText(c)];
    if (cidrText(c) !== cidrText(list[0]!)) r.fail('spec.podCIDR', `must equal spec.podCIDRs[0] (${cidrText(list[0]!)})`);
  }
  return list.map(cidrText);
}

function parsePort(r: Reader, v: unknown, path: string): PolicyPort {
  const raw = r.obj(v, path);
  const protocol = r.protocol(raw.protocol, child(path, 'protocol'));
  const portPath = child(path, 'port');
  let port: number | string | null = null;
  if (typeof raw.port === 'string') {
    const e = portNameError(raw.port);
    if (e !== null) r.fail(portPath, e);
    port = raw.port;
  } else if (raw.port !== undefined && raw.port !== null) {
    port = r.port(raw.port, portPath);
  }
  const endPath = child(path, 'endPort');
  let endPort: number | null = null;
  if (raw.endPort !== undefined && raw.endPort !== null) {
    if (typeof raw.endPort !== 'number' || !Number.isInteger(raw.endPort)) r.fail(endPath, 'must be an integer');
    if (port === null) r.fail(endPath, 'may not be specified when `port` is not specified');
    if (typeof port === 'string') r.fail(endPath, 'may not be specified when `port` is non-numeric');
    if (raw.endPort < port) r.fail(endPath, 'must be greater than or equal to `port`');
    endPort = r.port(raw.endPort, endPath);
  }
  return { protocol, port, endPort };
}

function parseIpBlock(r: Reader, v: unknown, path: string): IpBlock {
  const raw = r.obj(v, path);
  const cidrPath = child(path, 'cidr');
  const text = r.optStr(raw.cidr, cidrPath) ?? '';
  if (text === '') r.fail(cidrPath, 'required');
  const cidr = parseCidrLenient(text);
  if (cidr === null) r.fail(cidrPath, `must be a valid CIDR (e.g. 10.0.0.0/8 or fd00::/64), not ${JSON.stringify(text)}`);
  const except: string[] = [];
  const exceptPath = child(path, 'except');
  r.arr(raw.except, exceptPath).forEach((x, i) => {
    const at = index(exceptPath, i);
    if (typeof x !== 'string') r.fail(at, 'must be a string');
    const e = parseCidrLenient(x);
    if (e === null) r.fail(at, `must be a valid CIDR, not ${JSON.stringify(x)}`);
    const inside =
      e.family === cidr.family &&
      e.prefixLen > cidr.prefixLen &&
      networkOf(e.family, e.value, cidr.prefixLen) === cidr.value;
    if (!inside) r.fail(at, 'must be a strict subset of `cidr`');
    const t = cidrText(e);
    if (!except.includes(t)) except.push(t);
  });
  return { cidr: cidrText(cidr), except };
}

function parsePeer(r: Reader, v: unknown, path: string): PolicyPeer {
  const raw = r.obj(v, path);
  const present = (x: unknown): boolean => x !== undefined && x !== null;
  const podSelector = present(raw.podSelector) ? r.selector(raw.podSelector, child(path, 'podSelector')) : null;
  const namespaceSelector = present(raw.namespaceSelector)
    ? r.selector(raw.namespaceSelector, child(path, 'namespaceSelector'))
    : null;
  const ipBlock = present(raw.ipBlock) ? parseIpBlock(r, raw.ipBlock, child(path, 'ipBlock')) : null;
  if (podSelector === null && namespaceSelector === null && ipBlock === null) r.fail(path, 'must specify a peer');
  if (ipBlock !== null && (podSelector !== null || namespaceSelector !== null)) {
    r.fail(path, 'may not specify both ipBlock and another peer');
  }
  return { podSelector, namespaceSelector, ipBlock };
}

function parseRule(r: Reader, v: unknown, path: string, peersField: 'from' | 'to'): PolicyRule {
  const raw = r.obj(v, path);
  const portsPath = child(path, 'ports');
  const ports = r.arr(raw.ports, portsPath).map((p, i) => parsePort(r, p, index(portsPath, i)));
  const peersPath = child(path, peersField);
  const peers = r.arr(raw[peersField], peersPath).map((p, i) => parsePeer(r, p, index(peersPath, i)));
  // from/to absent or empty: every peer.
  return { peers: peers.length === 0 ? null : peers, ports };
}

function parseNetworkPolicy(r: Reader, raw: Json): NetworkPolicy {
  const m = readMeta(r, raw, true);
  const spec = r.optObj(raw.spec, 'spec') ?? {};
  const podSelector =
    spec.podSelector === undefined || spec.podSelector === null
      ? { matchLabels: {}, matchExpressions: [] }
      : r.selector(spec.podSelector, 'spec.podSelector');
  const ingress = r.arr(spec.ingress, 'spec.ingress').map((x, i) => parseRule(r, x, index('spec.ingress', i), 'from'));
  const egress = r.arr(spec.egress, 'spec.egress').map((x, i) => parseRule(r, x, index('spec.egress', i), 'to'));

  const typesRaw = r.arr(spec.policyTypes, 'spec.policyTypes');
  if (typesRaw.length > 2) r.fail('spec.policyTypes', 'may not specify more than two policyTypes');
  const types = new Set<string>();
  typesRaw.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') r.fail(index('spec.policyTypes', i), 'supported values: "Ingress", "Egress"');
    types.add(t);
  });
  // The API server's default: Ingress always, Egress when there are egress rules
  // (an empty `egress: []` does not count, as in SetDefaults_NetworkPolicy).
  if (types.size === 0) {
    types.add('Ingress');
    if (egress.length > 0) types.add('Egress');
  }
  const policyTypes = (['Ingress', 'Egress'] as const).filter((t) => types.has(t));
  return { namespace: m.namespace, name: m.name, podSelector, policyTypes, ingress, egress };
}
