// The lab's kube-proxy (iptables mode) rules, against kube-proxy's own chain names and
// rules written out by hand.
import { describe, expect, it } from 'vitest';
import type { EndpointSliceObject, ServiceObject } from '../../src/lab/endpoint-slices.js';
import { dnatCounters, endpointChain, kubeProxyRules, serviceChain } from '../../src/lab/kube-proxy.js';

const svc: ServiceObject = {
  metadata: { namespace: 'ns1', name: 'svc1' },
  spec: { selector: { app: 'a' }, clusterIPs: ['172.30.0.41', 'fd00::41'], ipFamilies: ['IPv4', 'IPv6'], ports: [{ name: 'p80', port: 80, targetPort: 'http' }] },
};
type Ep = EndpointSliceObject['endpoints'][number];
const ep = (ip: string, ready = true, terminating = false): Ep => ({
  addresses: [ip],
  conditions: { ready, serving: ready || terminating, terminating },
  targetRef: { kind: 'Pod', namespace: 'ns1', name: ip },
});
const slice = (addressType: 'IPv4' | 'IPv6', endpoints: Ep[], port = 8080): EndpointSliceObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: 'ns1', name: `svc1-${addressType}`, labels: { 'kubernetes.io/service-name': 'svc1' } },
  addressType,
  endpoints,
  ports: [{ name: 'p80', protocol: 'TCP', port }],
});

const HEAD = [
  '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
  '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
  '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
  '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
  '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
];
const TAIL = ['-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS', 'COMMIT', ''];

describe("the lab's kube-proxy rules", () => {
  it("names chains as kube-proxy does (its proxier tests' names)", () => {
    expect(serviceChain('ns1/svc1:p80', 'TCP')).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(endpointChain('ns1/svc1:p80', 'TCP', '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
  });

  it('one ClusterIP port, two ready endpoints: KUBE-SERVICES -> KUBE-SVC (masquerade from outside the cluster, random pick) -> KUBE-SEP DNAT', () => {
    const rules = kubeProxyRules([svc], [slice('IPv4', [ep('10.1.0.3'), ep('10.1.0.2')])], { v4: '10.1.0.0/16' });
    const S = serviceChain('ns1/svc1:p80', 'TCP');
    const [A, B] = [endpointChain('ns1/svc1:p80', 'TCP', '10.1.0.2:8080'), endpointChain('ns1/svc1:p80', 'TCP', '10.1.0.3:8080')];
    const match = '-d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80';
    expect(rules.v4.split('\n')).toEqual([
      '*nat',
      ...['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', S, A, B].map((c) => `:${c} - [0:0]`),
      ...HEAD,
      `-A KUBE-SERVICES ${match} -j ${S}`,
      `-A ${S} ! -s 10.1.0.0/16 ${match} -j KUBE-MARK-MASQ`,
      `-A ${S} -m comment --comment "ns1/svc1:p80 -> 10.1.0.2:8080" -m statistic --mode random --probability 0.5000000000 -j ${A}`,
      `-A ${A} -s 10.1.0.2/32 -m comment --comment "ns1/svc1:p80" -j KUBE-MARK-MASQ`,
      `-A ${A} -p tcp -m comment --comment "ns1/svc1:p80" -m tcp -j DNAT --to-destination 10.1.0.2:8080`,
      `-A ${S} -m comment --comment "ns1/svc1:p80 -> 10.1.0.3:8080" -j ${B}`,
      `-A ${B} -s 10.1.0.3/32 -m comment --comment "ns1/svc1:p80" -j KUBE-MARK-MASQ`,
      `-A ${B} -p tcp -m comment --comment "ns1/svc1:p80" -m tcp -j DNAT --to-destination 10.1.0.3:8080`,
      ...TAIL,
    ]);
    // the v6 ClusterIP has no IPv6 endpoints: nothing but the fixed chains
    expect(rules.v6).not.toContain('KUBE-SVC-');
  });

  it('v6: addresses in brackets, /128; not-ready endpoints left out; with none ready the serving terminating ones', () => {
    const v6 = kubeProxyRules([svc], [slice('IPv6', [ep('fd00:1::2'), ep('fd00:1::3', false)])], { v4: '10.1.0.0/16', v6: 'fd00:1::/64' }).v6;
    expect(v6).toContain('-A KUBE-SERVICES -d fd00::41/128 -p tcp');
    expect(v6).toContain('! -s fd00:1::/64');
    expect(v6).toContain('-j DNAT --to-destination [fd00:1::2]:8080');
    expect(v6).not.toContain('fd00:1::3');
    const fallback = kubeProxyRules([svc], [slice('IPv4', [ep('10.1.0.2', false, true), ep('10.1.0.3', false, false)])], { v4: '10.1.0.0/16' }).v4;
    expect(fallback).toContain('--to-destination 10.1.0.2:8080');
    expect(fallback).not.toContain('10.1.0.3');
  });

  it('the endpoint port is the slice port of the Service port name; a slice of another Service does not count', () => {
    const other = { ...slice('IPv4', [ep('10.1.0.9')]), metadata: { namespace: 'ns1', name: 'x', labels: { 'kubernetes.io/service-name': 'svc2' } } };
    const v4 = kubeProxyRules([svc], [slice('IPv4', [ep('10.1.0.2')], 9090), other], { v4: '10.1.0.0/16' }).v4;
    expect(v4).toContain('--to-destination 10.1.0.2:9090');
    expect(v4).not.toContain('10.1.0.9');
  });

  it("the filter table: kube-proxy's KUBE-FORWARD, jumped to from FORWARD, the same for both families", () => {
    const rules = kubeProxyRules([svc], [slice('IPv4', [ep('10.1.0.2')])], { v4: '10.1.0.0/16' });
    expect(rules.filter.split('\n')).toEqual([
      '*filter',
      ':KUBE-FORWARD - [0:0]',
      '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
      '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
      '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      'COMMIT',
      '',
    ]);
    // the nat tables stay apart: the matrix loads them alone, with --noflush
    expect(rules.v4).not.toContain('KUBE-FORWARD');
    expect(rules.v6).not.toContain('KUBE-FORWARD');
  });

  it('Services in the order given (the last one last in KUBE-SERVICES), ports in their order, and the NodePort rule after them all', () => {
    const named = (name: string, ip: string): ServiceObject => ({
      metadata: { namespace: 'ns1', name },
      spec: { clusterIPs: [ip], ports: [{ name: 'b', port: 81 }, { name: 'a', port: 80 }] },
    });
    const sliceOf = (name: string, ip: string): EndpointSliceObject => ({
      ...slice('IPv4', [ep(ip)]),
      metadata: { namespace: 'ns1', name, labels: { 'kubernetes.io/service-name': name } },
      ports: [{ name: 'a', protocol: 'TCP', port: 8080 }, { name: 'b', protocol: 'TCP', port: 8081 }],
    });
    const v4 = kubeProxyRules([named('zz', '172.30.0.9'), named('aa', '172.30.0.1')], [sliceOf('aa', '10.1.0.1'), sliceOf('zz', '10.1.0.9')], { v4: '10.1.0.0/16' }).v4;
    const services = v4.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES '));
    expect(services.map((l) => /comment "([^"]+)"/.exec(l)?.[1])).toEqual([
      'ns1/zz:b cluster IP',
      'ns1/zz:a cluster IP',
      'ns1/aa:b cluster IP',
      'ns1/aa:a cluster IP',
      'kubernetes service nodeports; NOTE: this must be the last rule in this chain',
    ]);
  });

  it('reads the DNAT rules and their packet counters from iptables-save -c', () => {
    const save = [
      '*nat',
      ':KUBE-SEP-AAAA - [0:0]',
      '[3:180] -A KUBE-SEP-AAAA -s 10.1.0.2/32 -m comment --comment "ns1/svc1:p80" -j KUBE-MARK-MASQ',
      '[7:420] -A KUBE-SEP-AAAA -p tcp -m comment --comment "ns1/svc1:p80" -m tcp -j DNAT --to-destination 10.1.0.2:8080',
      '[0:0] -A KUBE-SEP-BBBB -p udp -m comment --comment "ns1/svc1:dns" -m udp -j DNAT --to-destination [fd00:1::2]:53',
      'COMMIT',
    ].join('\n');
    expect(dnatCounters(save)).toEqual([
      { chain: 'KUBE-SEP-AAAA', protocol: 'tcp', to: '10.1.0.2:8080', packets: 7n },
      { chain: 'KUBE-SEP-BBBB', protocol: 'udp', to: '[fd00:1::2]:53', packets: 0n },
    ]);
  });
});
