// kube-proxy's iptables mode, as its proxier writes the rules for ClusterIP Services
// (pkg/proxy/iptables/proxier.go, v1.28+), for bench/service.mjs to load with
// iptables-restore: PREROUTING and OUTPUT jump to KUBE-SERVICES, which holds one rule
// per Service port (destination ClusterIP, protocol, port) jumping to that port's
// KUBE-SVC-* chain; KUBE-SVC-* marks traffic from outside the cluster CIDR for
// masquerade and picks an endpoint with `statistic --mode random` (probability 1/n,
// 1/(n-1), ... as kube-proxy writes it) into a KUBE-SEP-* chain that DNATs to it.
// KUBE-SERVICES ends with the NodePort rule, as kube-proxy's does. The filter table
// gets kube-proxy's KUBE-FORWARD (every forwarded packet walks it). Services are
// written in the order given: the last one is the last that KUBE-SERVICES lists.
import { createHash } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** kube-proxy's chain name: prefix + the first 16 base32 characters of sha256(key). */
function chainName(prefix, key) {
  const bytes = createHash('sha256').update(key).digest();
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < 16) {
      out += BASE32[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `${prefix}${out}`;
}

/**
 * services: [{ namespace, name, clusterIP, ports: [{ name, port, targetPort }],
 * endpoints: [ip] }] (TCP). clusterCidr: the pods' CIDR (traffic from elsewhere is
 * masqueraded). The iptables-restore input for the nat and filter tables.
 */
export function kubeProxyRules(services, clusterCidr) {
  const chains = [];
  const rules = [];
  for (const s of services) {
    for (const p of s.ports) {
      const portName = `${s.namespace}/${s.name}:${p.name}`;
      const svc = chainName('KUBE-SVC-', `${portName}tcp`);
      chains.push(svc);
      rules.push(`-A KUBE-SERVICES -d ${s.clusterIP}/32 -p tcp -m comment --comment "${portName} cluster IP" -m tcp --dport ${p.port} -j ${svc}`);
      rules.push(`-A ${svc} ! -s ${clusterCidr} -d ${s.clusterIP}/32 -p tcp -m comment --comment "${portName} cluster IP" -m tcp --dport ${p.port} -j KUBE-MARK-MASQ`);
      s.endpoints.forEach((ip, i) => {
        const sep = chainName('KUBE-SEP-', `${portName}tcp${ip}:${p.targetPort}`);
        chains.push(sep);
        const left = s.endpoints.length - i;
        const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
        rules.push(`-A ${svc} -m comment --comment "${portName} -> ${ip}:${p.targetPort}"${pick} -j ${sep}`);
        rules.push(`-A ${sep} -s ${ip}/32 -m comment --comment "${portName}" -j KUBE-MARK-MASQ`);
        rules.push(`-A ${sep} -p tcp -m comment --comment "${portName}" -m tcp -j DNAT --to-destination ${ip}:${p.targetPort}`);
      });
    }
  }
  return [
    '*filter',
    ':KUBE-FORWARD - [0:0]',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    'COMMIT',
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ...chains.map((c) => `:${c} - [0:0]`),
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ...rules,
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    'COMMIT',
    '',
  ].join('\n');
}
