// v1 Services and discovery.k8s.io/v1 EndpointSlices as strait keeps them: only the
// fields its Service translation uses, validated as the API server's ValidateService
// and ValidateEndpointSlice do, with their defaults applied. Problems name the field,
// as for Pods and NetworkPolicies (model.ts).
import { formatIp } from '../ipam/addr.js';
import {
  child,
  dnsLabelError,
  dnsSubdomainError,
  index,
  type Json,
  parseIpLenient,
  portNameError,
  Reader,
  readMeta,
} from './object-reader.js';
import type { Endpoint, EndpointPort, EndpointSlice, IpFamily, Service, ServicePort } from './types.js';

/** The label that joins an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const;
const FAMILY_POLICIES = ['SingleStack', 'PreferDualStack', 'RequireDualStack'] as const;
/** ClientIP affinity's default and largest timeout (core/v1 DefaultClientIPServiceAffinitySeconds, MaxClientIPServiceAffinitySeconds) */
const AFFINITY_DEFAULT_S = 10800;
const AFFINITY_MAX_S = 86400;

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

const quoted = (vs: readonly string[]): string => vs.map((v) => `"${v}"`).join(', ');

function oneOf<T extends string>(r: Reader, v: unknown, path: string, values: readonly T[], dflt: T): T {
  const s = r.optStr(v, path);
  if (s === null || s === '') return dflt;
  if (!(values as readonly string[]).includes(s)) r.fail(path, `supported values: ${quoted(values)}`);
  return s as T;
}

const familyOf = (ip: string): IpFamily => (ip.includes(':') ? 'IPv6' : 'IPv4');

function canonicalIp(r: Reader, text: string, path: string): string {
  const ip = parseIpLenient(text);
  if (ip === null) r.fail(path, `must be a valid IP address, not ${JSON.stringify(text)}`);
  return formatIp(ip.family, ip.value);
}

/** spec.clusterIP and spec.clusterIPs: "None" (headless), "" (none yet), or up to one IP per family. */
function clusterIPs(r: Reader, spec: Json): { ips: string[]; headless: boolean } {
  const single = r.optStr(spec.clusterIP, 'spec.clusterIP') ?? '';
  const list = r.arr(spec.clusterIPs, 'spec.clusterIPs').map((v, i) => {
    const s = r.optStr(v, index('spec.clusterIPs', i));
    if (s === null || s === '') r.fail(index('spec.clusterIPs', i), 'must be a valid IP address or "None"');
    return s;
  });
  if (list.length > 2) r.fail('spec.clusterIPs', 'may specify no more than 2 IPs (one per IP family)');
  if (single !== '' && list.length > 0 && list[0] !== single) r.fail('spec.clusterIPs[0]', `must equal spec.clusterIP (${single})`);
  const texts = list.length > 0 ? list : single === '' ? [] : [single];
  const at = list.length > 0 ? (i: number) => index('spec.clusterIPs', i) : () => 'spec.clusterIP';
  if (texts.includes('None')) {
    if (texts.length > 1) r.fail(at(texts.indexOf('None')), '"None" must be the only IP of a headless Service');
    return { ips: [], headless: true };
  }
  const ips = texts.map((t, i) => canonicalIp(r, t, at(i)));
  if (ips.length === 2 && familyOf(ips[0]!) === familyOf(ips[1]!)) r.fail('spec.clusterIPs', 'may specify no more than one IP for each IP family');
  return { ips, headless: false };
}

function ipFamilies(r: Reader, spec: Json, ips: string[]): IpFamily[] {
  const path = 'spec.ipFamilies';
  const fams = r.arr(spec.ipFamilies, path).map((v, i) => oneOf(r, v, index(path, i), ['IPv4', 'IPv6'] as const, 'IPv4'));
  if (fams.length > 2) r.fail(path, 'may specify no more than 2 ipFamilies');
  if (fams.length === 2 && fams[0] === fams[1]) r.fail(index(path, 1), `Duplicate value: "${fams[1]}"`);
  ips.forEach((ip, i) => {
    const want = fams[i];
    if (want !== undefined && familyOf(ip) !== want) r.fail(index('spec.clusterIPs', i), `must be an ${want} address to match spec.ipFamilies[${i}]`);
  });
  return fams.length > 0 ? fams : ips.map(familyOf);
}

function servicePort(r: Reader, v: unknown, path: string, many: boolean): ServicePort {
  const raw = r.obj(v, path);
  const namePath = child(path, 'name');
  const name = r.optStr(raw.name, namePath) ?? '';
  if (name === '' && many) r.fail(namePath, 'required when a Service has more than one port');
  if (name !== '') {
    const e = dnsLabelError(name);
    if (e !== null) r.fail(namePath, e);
  }
  const port = r.port(raw.port, child(path, 'port'));
  const tpPath = child(path, 'targetPort');
  let targetPort: number | string = port;
  if (typeof raw.targetPort === 'string') {
    const e = portNameError(raw.targetPort);
    if (e !== null) r.fail(tpPath, e);
    targetPort = raw.targetPort;
  } else if (raw.targetPort !== undefined && raw.targetPort !== null && raw.targetPort !== 0) {
    targetPort = r.port(raw.targetPort, tpPath);
  }
  return { name: name === '' ? null : name, protocol: r.protocol(raw.protocol, child(path, 'protocol')), port, targetPort };
}

function servicePorts(r: Reader, spec: Json, required: boolean): ServicePort[] {
  const raw = r.arr(spec.ports, 'spec.ports');
  if (raw.length === 0 && required) r.fail('spec.ports', 'required (at least one port, unless the Service is headless or ExternalName)');
  const ports = raw.map((p, i) => servicePort(r, p, index('spec.ports', i), raw.length > 1));
  ports.forEach((p, i) => {
    const earlier = ports.slice(0, i);
    if (p.name !== null && earlier.some((q) => q.name === p.name)) r.fail(index('spec.ports', i) + '.name', `Duplicate value: "${p.name}"`);
    if (earlier.some((q) => q.port === p.port && q.protocol === p.protocol)) {
      r.fail(index('spec.ports', i), `Duplicate value: port ${p.port}/${p.protocol}`);
    }
  });
  return ports;
}

function sessionAffinity(r: Reader, spec: Json): { timeoutSeconds: number } | null {
  const mode = oneOf(r, spec.sessionAffinity, 'spec.sessionAffinity', ['None', 'ClientIP'] as const, 'None');
  const config = r.optObj(spec.sessionAffinityConfig, 'spec.sessionAffinityConfig');
  if (mode === 'None') {
    if ((config?.clientIP ?? null) !== null) {
      r.fail('spec.sessionAffinityConfig', 'must not be set when spec.sessionAffinity is None');
    }
    return null;
  }
  const clientIP = r.optObj(config?.clientIP, 'spec.sessionAffinityConfig.clientIP');
  const tPath = 'spec.sessionAffinityConfig.clientIP.timeoutSeconds';
  const t = clientIP?.timeoutSeconds;
  if (t === undefined || t === null) return { timeoutSeconds: AFFINITY_DEFAULT_S };
  if (typeof t !== 'number' || !Number.isInteger(t)) r.fail(tPath, 'must be an integer');
  if (t < 1 || t > AFFINITY_MAX_S) r.fail(tPath, `must be between 1 and ${AFFINITY_MAX_S}, inclusive`);
  return { timeoutSeconds: t };
}

export function parseService(r: Reader, raw: Json): Service {
  const m = readMeta(r, raw, true);
  if (!DNS1035_LABEL.test(m.name) || m.name.length > 63) {
    r.fail('metadata.name', 'must be a lowercase RFC 1035 label (a-z, 0-9, "-"; starting with a letter, alphanumeric at the end, at most 63 characters)');
  }
  const spec = r.optObj(raw.spec, 'spec') ?? {};
  const type = oneOf(r, spec.type, 'spec.type', SERVICE_TYPES, 'ClusterIP');
  const { ips, headless } = clusterIPs(r, spec);
  if (type === 'ExternalName' && (ips.length > 0 || headless)) r.fail('spec.clusterIP', 'must be empty for type ExternalName');
  if (headless && type !== 'ClusterIP') r.fail('spec.clusterIP', `may not be "None" for type ${type}`);
  const families = ipFamilies(r, spec, ips);
  const ipFamilyPolicy = oneOf(r, spec.ipFamilyPolicy, 'spec.ipFamilyPolicy', FAMILY_POLICIES, 'SingleStack');
  if (ipFamilyPolicy === 'SingleStack' && (ips.length > 1 || families.length > 1)) {
    r.fail('spec.ipFamilyPolicy', 'must be RequireDualStack or PreferDualStack when multiple IP families are given');
  }
  const selectorMap = r.labels(spec.selector, 'spec.selector');
  return {
    namespace: m.namespace,
    name: m.name,
    type,
    clusterIPs: ips,
    headless,
    ipFamilies: families,
    ipFamilyPolicy,
    ports: servicePorts(r, spec, !headless && type !== 'ExternalName'),
    // An empty selector selects nothing for a Service (no endpoints are managed for it).
    selector: Object.keys(selectorMap).length === 0 ? null : selectorMap,
    sessionAffinity: sessionAffinity(r, spec),
    internalTrafficPolicy: oneOf(r, spec.internalTrafficPolicy, 'spec.internalTrafficPolicy', ['Cluster', 'Local'] as const, 'Cluster'),
  };
}

function endpoint(r: Reader, v: unknown, path: string, family: IpFamily, namespace: string): Endpoint {
  const raw = r.obj(v, path);
  const aPath = child(path, 'addresses');
  const list = r.arr(raw.addresses, aPath);
  if (list.length === 0) r.fail(aPath, 'must contain at least 1 address');
  if (list.length > 100) r.fail(aPath, 'must have at most 100 items');
  const addresses = list.map((a, i) => {
    const at = index(aPath, i);
    const ip = canonicalIp(r, r.optStr(a, at) ?? '', at);
    if (familyOf(ip) !== family) r.fail(at, `must be an ${family} address (addressType is ${family})`);
    return ip;
  });
  const cPath = child(path, 'conditions');
  const c = r.optObj(raw.conditions, cPath) ?? {};
  const conditions = {
    ready: r.optBool(c.ready, child(cPath, 'ready')) ?? true,
    serving: r.optBool(c.serving, child(cPath, 'serving')) ?? true,
    terminating: r.optBool(c.terminating, child(cPath, 'terminating')) ?? false,
  };
  const nPath = child(path, 'nodeName');
  const nodeName = r.optStr(raw.nodeName, nPath);
  if (nodeName !== null && nodeName !== '') {
    const e = dnsSubdomainError(nodeName);
    if (e !== null) r.fail(nPath, e);
  }
  const tPath = child(path, 'targetRef');
  const ref = r.optObj(raw.targetRef, tPath);
  let targetRef: Endpoint['targetRef'] = null;
  if (ref !== null && r.optStr(ref.kind, child(tPath, 'kind')) === 'Pod') {
    const name = r.optStr(ref.name, child(tPath, 'name')) ?? '';
    if (name === '') r.fail(child(tPath, 'name'), 'required for a Pod');
    targetRef = { namespace: r.optStr(ref.namespace, child(tPath, 'namespace')) || namespace, name };
  }
  return { addresses, conditions, nodeName: nodeName === '' ? null : nodeName, targetRef };
}

function endpointPort(r: Reader, v: unknown, path: string): EndpointPort {
  const raw = r.obj(v, path);
  const namePath = child(path, 'name');
  const name = r.optStr(raw.name, namePath) ?? '';
  if (name !== '') {
    const e = dnsLabelError(name);
    if (e !== null) r.fail(namePath, e);
  }
  const port = raw.port === undefined || raw.port === null ? null : r.port(raw.port, child(path, 'port'));
  return { name: name === '' ? null : name, protocol: r.protocol(raw.protocol, child(path, 'protocol')), port };
}

export function parseEndpointSlice(r: Reader, raw: Json): EndpointSlice {
  const m = readMeta(r, raw, true);
  const type = r.optStr(raw.addressType, 'addressType') ?? '';
  if (type === '') r.fail('addressType', 'required');
  if (type === 'FQDN') r.fail('addressType', 'FQDN is not supported (strait translates to IPv4 and IPv6 backends only)');
  if (type !== 'IPv4' && type !== 'IPv6') r.fail('addressType', 'supported values: "IPv4", "IPv6"');
  const ePath = 'endpoints';
  const list = r.arr(raw.endpoints, ePath);
  if (list.length > 1000) r.fail(ePath, 'must have at most 1000 items');
  const endpoints = list.map((e, i) => endpoint(r, e, index(ePath, i), type, m.namespace));
  const pList = r.arr(raw.ports, 'ports');
  if (pList.length > 100) r.fail('ports', 'must have at most 100 items');
  const ports = pList.map((p, i) => endpointPort(r, p, index('ports', i)));
  ports.forEach((p, i) => {
    if (ports.slice(0, i).some((q) => q.name === p.name)) r.fail(index('ports', i) + '.name', `Duplicate value: "${p.name ?? ''}"`);
  });
  const serviceName = m.labels[SERVICE_NAME_LABEL] ?? '';
  return { namespace: m.namespace, name: m.name, serviceName: serviceName === '' ? null : serviceName, addressType: type, endpoints, ports };
}
