// kube-proxy's iptables mode for the emulated cluster and bench/service.mjs: the nat
// rules it writes for the ClusterIPs of Services from their EndpointSlices, as
// iptables-restore input (v4 and v6 apart), its filter table's KUBE-FORWARD, and the
// packet counters of its DNAT rules read back from iptables-save -c.
// The chains and rules are kube-proxy's (pkg/proxy/iptables/proxier.go): PREROUTING
// and OUTPUT jump to KUBE-SERVICES, one rule per ClusterIP and port to the port's
// KUBE-SVC-<hash> chain, which marks traffic from outside the cluster CIDR for
// masquerade and picks a KUBE-SEP-<hash> chain per endpoint with statistic random,
// whose DNAT sends it to the endpoint (a pod reaching itself is masqueraded too).
// KUBE-SERVICES lists the Services in the order given (the bench puts the probed ones
// last, the worst case of its linear walk) and ends with the jump to KUBE-NODEPORTS.
// Endpoints: the ready ones; with none ready, the serving terminating ones. Not
// written: NodePorts, external IPs and load balancers, the filter table's REJECT
// for a Service without endpoints, session affinity and traffic policies.
import { createHash } from 'node:crypto';
import type { EndpointSliceObject, Protocol, ServiceObject } from './endpoint-slices.js';
import { SERVICE_NAME_LABEL } from './endpoint-slices.js';

export interface KubeProxyRules {
  /**
   * iptables-restore input for the filter table, the same for both families:
   * KUBE-FORWARD, which every forwarded packet walks (a full restore flushes FORWARD
   * first; with --noflush its jump is appended again)
   */
  filter: string;
  /** iptables-restore --noflush input for the nat table */
  v4: string;
  /** ip6tables-restore --noflush input for the nat table */
  v6: string;
}

export interface ClusterCidrs {
  v4: string;
  v6?: string;
}

const MASQ_MARK = '0x4000';

/** kube-proxy's portProtoHash: base32 of sha256, 16 characters. */
function chainHash(text: string): string {
  const digest = createHash('sha256').update(text).digest();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 16) {
      out += alphabet.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out.slice(0, 16);
}

export const serviceChain = (portName: string, protocol: Protocol): string => `KUBE-SVC-${chainHash(portName + protocol.toLowerCase())}`;
export const endpointChain = (portName: string, protocol: Protocol, endpoint: string): string =>
  `KUBE-SEP-${chainHash(portName + protocol.toLowerCase() + endpoint)}`;

const isV6 = (ip: string): boolean => ip.includes(':');
const hostPrefix = (ip: string): string => `${ip}/${isV6(ip) ? 128 : 32}`;
const hostPort = (ip: string, port: number): string => (isV6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`);

/** The endpoints kube-proxy uses for one Service port and address family: ready, else serving and terminating. */
function endpointsOf(slices: readonly EndpointSliceObject[], name: string, protocol: Protocol, v6: boolean): string[] {
  const ready: string[] = [];
  const terminating: string[] = [];
  for (const s of slices) {
    if ((s.addressType === 'IPv6') !== v6) continue;
    const port = s.ports.find((p) => p.name === name && p.protocol === protocol);
    if (port === undefined) continue;
    for (const e of s.endpoints) {
      const [ip] = e.addresses;
      if (ip === undefined) continue;
      if (e.conditions.ready) ready.push(hostPort(ip, port.port));
      else if (e.conditions.serving && e.conditions.terminating) terminating.push(hostPort(ip, port.port));
    }
  }
  const out = ready.length > 0 ? ready : terminating;
  return [...new Set(out)].sort();
}

function clusterIPs(svc: ServiceObject): string[] {
  const ips = svc.spec.clusterIPs ?? (svc.spec.clusterIP === undefined ? [] : [svc.spec.clusterIP]);
  return ips.filter((ip) => ip !== '' && ip !== 'None');
}

const FILTER = [
  '*filter',
  ':KUBE-FORWARD - [0:0]',
  '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
  '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
  `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${MASQ_MARK}/${MASQ_MARK} -j ACCEPT`,
  '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  'COMMIT',
  '',
].join('\n');

/** Each Service's slices by namespace/name: one pass, not one per Service (the bench writes 10,000). */
function slicesByService(slices: readonly EndpointSliceObject[]): Map<string, EndpointSliceObject[]> {
  const out = new Map<string, EndpointSliceObject[]>();
  for (const s of slices) {
    const name = s.metadata.labels[SERVICE_NAME_LABEL];
    if (name === undefined) continue;
    const key = `${s.metadata.namespace}/${name}`;
    out.set(key, [...(out.get(key) ?? []), s]);
  }
  return out;
}

function renderFamily(services: readonly ServiceObject[], slices: Map<string, EndpointSliceObject[]>, clusterCidr: string | undefined, v6: boolean): string {
  const chains: string[] = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'];
  const rules: string[] = [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${MASQ_MARK}`,
    `-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${MASQ_MARK}`,
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  ];
  for (const svc of services) {
    if (svc.spec.type === 'ExternalName') continue;
    const ns = svc.metadata.namespace ?? 'default';
    const own = slices.get(`${ns}/${svc.metadata.name}`) ?? [];
    for (const ip of clusterIPs(svc).filter((x) => isV6(x) === v6)) {
      for (const sp of svc.spec.ports ?? []) {
        const protocol = sp.protocol ?? 'TCP';
        const name = sp.name ?? '';
        const portName = `${ns}/${svc.metadata.name}${name === '' ? '' : `:${name}`}`;
        const eps = endpointsOf(own, name, protocol, v6);
        if (eps.length === 0) continue;
        const p = protocol.toLowerCase();
        const svcChain = serviceChain(portName, protocol);
        const match = `-d ${hostPrefix(ip)} -p ${p} -m comment --comment "${portName} cluster IP" -m ${p} --dport ${sp.port}`;
        chains.push(svcChain);
        rules.push(`-A KUBE-SERVICES ${match} -j ${svcChain}`);
        if (clusterCidr !== undefined) rules.push(`-A ${svcChain} ! -s ${clusterCidr} ${match} -j KUBE-MARK-MASQ`);
        eps.forEach((ep, i) => {
          const sep = endpointChain(portName, protocol, ep);
          const left = eps.length - i;
          const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
          const epIp = ep.slice(0, ep.lastIndexOf(':')).replace(/^\[|\]$/g, '');
          chains.push(sep);
          rules.push(`-A ${svcChain} -m comment --comment "${portName} -> ${ep}"${pick} -j ${sep}`);
          rules.push(`-A ${sep} -s ${hostPrefix(epIp)} -m comment --comment "${portName}" -j KUBE-MARK-MASQ`);
          rules.push(`-A ${sep} -p ${p} -m comment --comment "${portName}" -m ${p} -j DNAT --to-destination ${ep}`);
        });
      }
    }
  }
  rules.push('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  return ['*nat', ...[...new Set(chains)].map((c) => `:${c} - [0:0]`), ...rules, 'COMMIT', ''].join('\n');
}

/** The rules kube-proxy's iptables mode writes on every node for these Services. */
export function kubeProxyRules(services: readonly ServiceObject[], slices: readonly EndpointSliceObject[], clusterCidrs: ClusterCidrs): KubeProxyRules {
  const own = slicesByService(slices);
  return { filter: FILTER, v4: renderFamily(services, own, clusterCidrs.v4, false), v6: renderFamily(services, own, clusterCidrs.v6, true) };
}

export interface DnatCounter {
  chain: string;
  /** lower case, as iptables-save prints it */
  protocol: string;
  to: string;
  packets: bigint;
}

/** The DNAT rules of `iptables-save -c -t nat` output with their packet counters. */
export function dnatCounters(save: string): DnatCounter[] {
  const out: DnatCounter[] = [];
  for (const line of save.split('\n')) {
    const m = /^\[(\d+):\d+\] -A (KUBE-SEP-\w+) -p (\w+) .*-j DNAT --to-destination (\S+)/.exec(line);
    if (m !== null) out.push({ chain: m[2]!, protocol: m[3]!, to: m[4]!, packets: BigInt(m[1]!) });
  }
  return out;
}
