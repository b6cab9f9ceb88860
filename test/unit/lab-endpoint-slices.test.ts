// The lab's EndpointSlice writer against slices written out by hand, case by case, as
// kube-controller-manager's EndpointSlice controller writes them.
import { describe, expect, it } from 'vitest';
import { endpointSlices, serviceEndpointSlices, type PodObject, type ServiceObject } from '../../src/lab/endpoint-slices.js';
import { parsedAs } from '../helpers/parse-object.js';

const web = (spec: Partial<ServiceObject['spec']> = {}): ServiceObject => ({
  metadata: { namespace: 'x', name: 'web', labels: { team: 'blue' } },
  spec: {
    selector: { app: 'web' },
    clusterIPs: ['10.96.0.10'],
    ipFamilies: ['IPv4'],
    ports: [
      { name: 'http', port: 80, targetPort: 'http' },
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
    ],
    ...spec,
  },
});

interface PodOpts {
  ips?: string[];
  ready?: boolean;
  phase?: string;
  deleting?: boolean;
  labels?: Record<string, string>;
  ports?: { name?: string; containerPort: number; protocol?: 'TCP' | 'UDP' }[];
  namespace?: string;
}
const pod = (name: string, o: PodOpts = {}): PodObject => ({
  metadata: {
    namespace: o.namespace ?? 'x',
    name,
    labels: o.labels ?? { app: 'web' },
    ...(o.deleting === true ? { deletionTimestamp: '2026-12-01T00:00:00Z' } : {}),
  },
  spec: { nodeName: 'n1', containers: [{ ports: o.ports ?? [{ name: 'http', containerPort: 8080 }] }] },
  status: {
    phase: o.phase ?? 'Running',
    podIPs: (o.ips ?? ['198.18.101.2']).map((ip) => ({ ip })),
    conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
  },
});

const LABELS = { team: 'blue', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' };
const READY = { ready: true, serving: true, terminating: false };
const BOTH_PORTS = [
  { name: 'http', protocol: 'TCP', port: 8080 },
  { name: 'dns', protocol: 'UDP', port: 5353 },
];
const ep = (name: string, addresses: string[], conditions = READY) => ({
  addresses,
  conditions,
  nodeName: 'n1',
  targetRef: { kind: 'Pod', namespace: 'x', name },
});

describe('the lab EndpointSlice writer', () => {
  it('one ready pod: one IPv4 slice, the named targetPort resolved on the pod, a numeric one taken as is', () => {
    expect(serviceEndpointSlices(web(), [pod('a')])).toEqual([
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { namespace: 'x', name: 'web-ipv4-0', labels: LABELS },
        addressType: 'IPv4',
        endpoints: [ep('a', ['198.18.101.2'])],
        ports: BOTH_PORTS,
      },
    ]);
  });

  it('the conditions: not Ready is neither ready nor serving; terminating and Ready is serving, not ready; terminal pods and pods without an address are left out', () => {
    const pods = [
      pod('ready'),
      pod('unready', { ips: ['198.18.101.3'], ready: false }),
      pod('leaving', { ips: ['198.18.101.4'], deleting: true }),
      pod('leaving-unready', { ips: ['198.18.101.5'], deleting: true, ready: false }),
      pod('done', { ips: ['198.18.101.6'], phase: 'Succeeded' }),
      pod('failed', { ips: ['198.18.101.7'], phase: 'Failed' }),
      pod('pending', { ips: [], phase: 'Pending', ready: false }),
    ];
    expect(serviceEndpointSlices(web(), pods)[0]!.endpoints).toEqual([
      ep('ready', ['198.18.101.2']),
      ep('unready', ['198.18.101.3'], { ready: false, serving: false, terminating: false }),
      ep('leaving', ['198.18.101.4'], { ready: false, serving: true, terminating: true }),
      ep('leaving-unready', ['198.18.101.5'], { ready: false, serving: false, terminating: true }),
    ]);
  });

  it('publishNotReadyAddresses makes every listed endpoint ready', () => {
    const [s] = serviceEndpointSlices(web({ publishNotReadyAddresses: true }), [pod('unready', { ready: false })]);
    expect(s!.endpoints).toEqual([ep('unready', ['198.18.101.2'], { ready: true, serving: false, terminating: false })]);
  });

  it('only pods of the Service namespace that match the whole selector', () => {
    const pods = [pod('a'), pod('other-ns', { namespace: 'y' }), pod('other-app', { labels: { app: 'db' } }), pod('no-labels', { labels: {} })];
    const sel = serviceEndpointSlices(web({ selector: { app: 'web', tier: 'front' } }), [...pods, pod('front', { labels: { app: 'web', tier: 'front' } })]);
    expect(sel[0]!.endpoints.map((e) => e.targetRef.name)).toEqual(['front']);
    expect(serviceEndpointSlices(web(), pods)[0]!.endpoints.map((e) => e.targetRef.name)).toEqual(['a']);
  });

  it('a pod without the named port gets a slice without that port (a port set per slice); the protocol must match too', () => {
    const pods = [
      pod('a'),
      pod('b', { ips: ['198.18.101.3'], ports: [{ name: 'web', containerPort: 8080 }] }),
      // named http but UDP: no match for a TCP Service port
      pod('c', { ips: ['198.18.101.4'], ports: [{ name: 'http', containerPort: 8080, protocol: 'UDP' }] }),
    ];
    expect(serviceEndpointSlices(web(), pods)).toEqual([
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'x', name: 'web-ipv4-0', labels: LABELS }, addressType: 'IPv4', endpoints: [ep('a', ['198.18.101.2'])], ports: BOTH_PORTS },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { namespace: 'x', name: 'web-ipv4-1', labels: LABELS },
        addressType: 'IPv4',
        endpoints: [ep('b', ['198.18.101.3']), ep('c', ['198.18.101.4'])],
        ports: [{ name: 'dns', protocol: 'UDP', port: 5353 }],
      },
    ]);
  });

  it('dual-stack: one slice per family, each with that family of the pod addresses', () => {
    const slices = serviceEndpointSlices(web({ clusterIPs: ['10.96.0.10', 'fd00::10'], ipFamilies: ['IPv4', 'IPv6'] }), [pod('a', { ips: ['198.18.101.2', 'fd5a:1ab:1::2'] })]);
    expect(slices.map((s) => [s.metadata.name, s.addressType, s.endpoints[0]!.addresses])).toEqual([
      ['web-ipv4-0', 'IPv4', ['198.18.101.2']],
      ['web-ipv6-0', 'IPv6', ['fd5a:1ab:1::2']],
    ]);
  });

  it('no ipFamilies: the ClusterIP family; headless without families: both', () => {
    expect(serviceEndpointSlices(web({ ipFamilies: [], clusterIPs: ['fd00::10'] }), [pod('a', { ips: ['198.18.101.2', 'fd5a:1ab:1::2'] })]).map((s) => s.addressType)).toEqual(['IPv6']);
    expect(serviceEndpointSlices(web({ ipFamilies: [], clusterIPs: ['None'] }), []).map((s) => s.addressType)).toEqual(['IPv4', 'IPv6']);
  });

  it('no endpoint: one empty placeholder slice per address type', () => {
    expect(serviceEndpointSlices(web(), [pod('a', { labels: { app: 'db' } })])).toEqual([
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'x', name: 'web-ipv4-0', labels: LABELS }, addressType: 'IPv4', endpoints: [], ports: [] },
    ]);
  });

  it('no selector, or ExternalName: nothing (their slices are the user\'s)', () => {
    const { selector: _, ...noSelector } = web().spec;
    expect(serviceEndpointSlices({ ...web(), spec: noSelector }, [pod('a')])).toEqual([]);
    expect(serviceEndpointSlices(web({ type: 'ExternalName' }), [pod('a')])).toEqual([]);
  });

  it('unset and 0 targetPort mean the port; unnamed and defaulted fields as the controller writes them', () => {
    const [s] = serviceEndpointSlices(web({ ports: [{ port: 80 }, { name: 'b', port: 81, targetPort: 0, appProtocol: 'http' }] }), [pod('a')]);
    expect(s!.ports).toEqual([
      { name: '', protocol: 'TCP', port: 80 },
      { name: 'b', protocol: 'TCP', port: 81, appProtocol: 'http' },
    ]);
  });

  it('hostname when the pod names the Service as its subdomain; uids into targetRef and ownerReferences', () => {
    const p = pod('a');
    p.metadata.uid = 'pod-uid';
    p.spec.hostname = 'a';
    p.spec.subdomain = 'web';
    const svc = web();
    svc.metadata.uid = 'svc-uid';
    const [s] = serviceEndpointSlices(svc, [p]);
    expect(s!.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'svc-uid', controller: true, blockOwnerDeletion: true }]);
    expect(s!.endpoints[0]).toEqual({ ...ep('a', ['198.18.101.2']), hostname: 'a', targetRef: { kind: 'Pod', namespace: 'x', name: 'a', uid: 'pod-uid' } });
  });

  it('a sidecar (init container restartPolicy Always) names ports too; a plain init container does not', () => {
    const p = pod('a', { ports: [] });
    p.spec.initContainers = [{ restartPolicy: 'Always', ports: [{ name: 'http', containerPort: 9090 }] }];
    expect(serviceEndpointSlices(web(), [p])[0]!.ports[0]).toEqual({ name: 'http', protocol: 'TCP', port: 9090 });
    p.spec.initContainers = [{ ports: [{ name: 'http', containerPort: 9090 }] }];
    expect(serviceEndpointSlices(web(), [p])[0]!.ports).toEqual([{ name: 'dns', protocol: 'UDP', port: 5353 }]);
  });

  it('at most 100 endpoints a slice', () => {
    const pods = Array.from({ length: 250 }, (_, i) => pod(`p${i}`, { ips: [`198.18.${101 + (i >> 8)}.${i & 255}`] }));
    expect(serviceEndpointSlices(web(), pods).map((s) => [s.metadata.name, s.endpoints.length])).toEqual([
      ['web-ipv4-0', 100],
      ['web-ipv4-1', 100],
      ['web-ipv4-2', 50],
    ]);
  });

  it('what it writes is a valid EndpointSlice for strait and belongs to its Service', () => {
    const slices = endpointSlices([web({ clusterIPs: ['10.96.0.10', 'fd00::10'], ipFamilies: ['IPv4', 'IPv6'] })], [pod('a', { ips: ['198.18.101.2', 'fd5a:1ab:1::2'], deleting: true })]);
    for (const s of slices) {
      const parsed = parsedAs('EndpointSlice', s);
      expect(parsed.serviceName).toBe('web');
      expect(parsed.endpoints[0]!.conditions).toEqual({ ready: false, serving: true, terminating: true });
      expect(parsed.ports.map((p) => [p.name, p.protocol, p.port])).toEqual([
        ['http', 'TCP', 8080],
        ['dns', 'UDP', 5353],
      ]);
    }
  });
});
