import { describe, expect, it } from 'vitest';
import { compile } from '../../src/policy/compile.js';
import { parsedAs, parseErrorOf } from '../helpers/parse-object.js';
import { cluster, endpoint, node, ns, pod, policy } from '../helpers/policy-builders.js';

const svc = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'web', namespace: 'x' }) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata,
  spec,
});
const tcp80 = { ports: [{ port: 80 }] };
const slice = (body: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'web-abc', namespace: 'x', labels: { 'kubernetes.io/service-name': 'web' } }) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata,
  addressType: 'IPv4',
  ...body,
});

const errorOf = parseErrorOf;

const serviceOf = (raw: unknown) => parsedAs('Service', raw);

const sliceOf = (raw: unknown) => parsedAs('EndpointSlice', raw);

describe('Service model', () => {
  it('ClusterIP v4 with defaults: TCP, targetPort = port, no affinity, Cluster traffic policy, SingleStack', () => {
    expect(serviceOf(svc({ clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ port: 80 }] }))).toEqual({
      namespace: 'x',
      name: 'web',
      type: 'ClusterIP',
      clusterIPs: ['10.96.0.10'],
      headless: false,
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: [{ name: null, protocol: 'TCP', port: 80, targetPort: 80 }],
      selector: { app: 'web' },
      sessionAffinity: null,
      internalTrafficPolicy: 'Cluster',
    });
  });

  it('v6 canonical, dual-stack in the order given, every protocol, named and numeric targetPorts', () => {
    const s = serviceOf(
      svc({
        clusterIP: 'fd00:10:96:0:0::10',
        clusterIPs: ['fd00:10:96:0:0::10', '010.096.000.010'],
        ipFamilies: ['IPv6', 'IPv4'],
        ipFamilyPolicy: 'RequireDualStack',
        ports: [
          { name: 'http', port: 80, targetPort: 'web' },
          { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
          { name: 'sctp', protocol: 'SCTP', port: 9000, targetPort: 0 },
        ],
      }),
    );
    expect(s.clusterIPs).toEqual(['fd00:10:96::10', '10.96.0.10']);
    expect(s.ipFamilies).toEqual(['IPv6', 'IPv4']);
    expect(s.ipFamilyPolicy).toBe('RequireDualStack');
    expect(s.ports).toEqual([
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 'web' },
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
      { name: 'sctp', protocol: 'SCTP', port: 9000, targetPort: 9000 },
    ]);
    expect(serviceOf(svc({ clusterIP: 'fd00::1', ...tcp80 })).ipFamilies).toEqual(['IPv6']);
  });

  it('headless, without selector, ClientIP affinity (default and given timeout), internalTrafficPolicy Local, other types kept', () => {
    const headless = serviceOf(svc({ clusterIP: 'None', selector: {} }));
    expect(headless).toMatchObject({ headless: true, clusterIPs: [], ports: [], selector: null });
    expect(serviceOf(svc({ clusterIPs: ['None'], ...tcp80 })).headless).toBe(true);
    expect(serviceOf(svc({ clusterIP: '10.96.0.1', ...tcp80 })).selector).toBeNull();
    expect(serviceOf(svc({ clusterIP: '10.96.0.1', sessionAffinity: 'ClientIP', ...tcp80 })).sessionAffinity).toEqual({ timeoutSeconds: 10800 });
    const timed = svc({ clusterIP: '10.96.0.1', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ...tcp80 });
    expect(serviceOf(timed).sessionAffinity).toEqual({ timeoutSeconds: 60 });
    expect(serviceOf(svc({ clusterIP: '10.96.0.1', internalTrafficPolicy: 'Local', ...tcp80 })).internalTrafficPolicy).toBe('Local');
    expect(serviceOf(svc({ type: 'NodePort', clusterIP: '10.96.0.2', ...tcp80 }))).toMatchObject({ type: 'NodePort', clusterIPs: ['10.96.0.2'] });
    expect(serviceOf(svc({ type: 'ExternalName', externalName: 'db.example' }))).toMatchObject({ type: 'ExternalName', clusterIPs: [], ports: [] });
    // not yet allocated: no address, still a Service
    expect(serviceOf(svc(tcp80)).clusterIPs).toEqual([]);
  });

  const cases: [string, unknown, string, string][] = [
    ['name not a DNS-1035 label', svc(tcp80, { name: '1web', namespace: 'x' }), 'metadata.name', 'must be a lowercase RFC 1035 label'],
    ['no namespace', svc(tcp80, { name: 'web' }), 'metadata.namespace', 'namespace is required'],
    ['unknown type', svc({ type: 'Internal', ...tcp80 }), 'spec.type', 'supported values: "ClusterIP", "NodePort", "LoadBalancer", "ExternalName"'],
    ['bad clusterIP', svc({ clusterIP: '10.96.0.300', ...tcp80 }), 'spec.clusterIP', 'must be a valid IP address, not "10.96.0.300"'],
    ['bad second clusterIP', svc({ clusterIPs: ['10.96.0.1', 'fd00::x'], ipFamilyPolicy: 'PreferDualStack', ...tcp80 }), 'spec.clusterIPs[1]', 'must be a valid IP address, not "fd00::x"'],
    ['clusterIPs[0] differs from clusterIP', svc({ clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.2'], ...tcp80 }), 'spec.clusterIPs[0]', 'must equal spec.clusterIP (10.96.0.1)'],
    ['three clusterIPs', svc({ clusterIPs: ['10.96.0.1', 'fd00::1', '10.96.0.2'], ...tcp80 }), 'spec.clusterIPs', 'may specify no more than 2 IPs (one per IP family)'],
    ['two clusterIPs of one family', svc({ clusterIPs: ['10.96.0.1', '10.96.0.2'], ipFamilyPolicy: 'RequireDualStack', ...tcp80 }), 'spec.clusterIPs', 'may specify no more than one IP for each IP family'],
    ['None with an IP', svc({ clusterIPs: ['None', '10.96.0.1'], ...tcp80 }), 'spec.clusterIPs[0]', '"None" must be the only IP of a headless Service'],
    ['empty clusterIPs entry', svc({ clusterIPs: [''], ...tcp80 }), 'spec.clusterIPs[0]', 'must be a valid IP address or "None"'],
    ['ipFamilies value', svc({ ipFamilies: ['IPv5'], ...tcp80 }), 'spec.ipFamilies[0]', 'supported values: "IPv4", "IPv6"'],
    ['ipFamilies twice', svc({ ipFamilies: ['IPv4', 'IPv4'], ipFamilyPolicy: 'PreferDualStack', ...tcp80 }), 'spec.ipFamilies[1]', 'Duplicate value: "IPv4"'],
    ['ipFamilies disagrees', svc({ clusterIP: '10.96.0.1', ipFamilies: ['IPv6'], ...tcp80 }), 'spec.clusterIPs[0]', 'must be an IPv6 address to match spec.ipFamilies[0]'],
    ['ipFamilyPolicy value', svc({ ipFamilyPolicy: 'DualStack', ...tcp80 }), 'spec.ipFamilyPolicy', 'supported values: "SingleStack", "PreferDualStack", "RequireDualStack"'],
    ['SingleStack with two families', svc({ clusterIPs: ['10.96.0.1', 'fd00::1'], ipFamilyPolicy: 'SingleStack', ...tcp80 }), 'spec.ipFamilyPolicy', 'must be RequireDualStack or PreferDualStack when multiple IP families are given'],
    ['ExternalName with a clusterIP', svc({ type: 'ExternalName', clusterIP: '10.96.0.1' }), 'spec.clusterIP', 'must be empty for type ExternalName'],
    ['headless NodePort', svc({ type: 'NodePort', clusterIP: 'None', ...tcp80 }), 'spec.clusterIP', 'may not be "None" for type NodePort'],
    ['no ports', svc({ clusterIP: '10.96.0.1' }), 'spec.ports', 'required (at least one port, unless the Service is headless or ExternalName)'],
    ['unnamed port among two', svc({ ports: [{ name: 'a', port: 80 }, { port: 81 }] }), 'spec.ports[1].name', 'required when a Service has more than one port'],
    ['port name not a DNS label', svc({ ports: [{ name: 'Web', port: 80 }] }), 'spec.ports[0].name', 'must be a lowercase RFC 1123 label'],
    ['duplicate port name', svc({ ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] }), 'spec.ports[1].name', 'Duplicate value: "a"'],
    ['duplicate port and protocol', svc({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }), 'spec.ports[1]', 'Duplicate value: port 80/TCP'],
    ['port 0', svc({ ports: [{ port: 0 }] }), 'spec.ports[0].port', 'must be between 1 and 65535, inclusive'],
    ['port missing', svc({ ports: [{ name: 'a' }] }), 'spec.ports[0].port', 'must be an integer'],
    ['protocol', svc({ ports: [{ port: 80, protocol: 'tcp' }] }), 'spec.ports[0].protocol', 'supported values: "TCP", "UDP", "SCTP"'],
    ['targetPort too large', svc({ ports: [{ port: 80, targetPort: 70000 }] }), 'spec.ports[0].targetPort', 'must be between 1 and 65535, inclusive'],
    ['targetPort name', svc({ ports: [{ port: 80, targetPort: 'web--http' }] }), 'spec.ports[0].targetPort', 'must not contain consecutive hyphens'],
    ['selector value', svc({ selector: { app: 'a b' }, ...tcp80 }), 'spec.selector[app]', 'a label value must be empty or consist of alphanumerics'],
    ['sessionAffinity value', svc({ sessionAffinity: 'Cookie', ...tcp80 }), 'spec.sessionAffinity', 'supported values: "None", "ClientIP"'],
    ['affinity config without ClientIP', svc({ sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } }, ...tcp80 }), 'spec.sessionAffinityConfig', 'must not be set when spec.sessionAffinity is None'],
    ['affinity timeout 0', svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }, ...tcp80 }), 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', 'must be between 1 and 86400, inclusive'],
    ['affinity timeout text', svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: '60' } }, ...tcp80 }), 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', 'must be an integer'],
    ['internalTrafficPolicy value', svc({ internalTrafficPolicy: 'Node', ...tcp80 }), 'spec.internalTrafficPolicy', 'supported values: "Cluster", "Local"'],
  ];
  for (const [what, raw, field, reason] of cases) {
    it(`refuses: ${what}`, () => {
      const e = errorOf(raw);
      expect(e.field).toBe(field);
      expect(e.reason).toContain(reason);
      expect(e.code).toBe('E_OBJECT_INVALID');
      expect(e.object).toMatch(/^Service x\/|^Service /);
    });
  }
});

describe('EndpointSlice model', () => {
  it('v4 backends with their conditions (absent ready/serving are true, terminating false), node, Pod targetRef, ports', () => {
    const s = sliceOf(
      slice({
        endpoints: [
          { addresses: ['10.244.1.5'], conditions: { ready: true }, nodeName: 'node-a', targetRef: { kind: 'Pod', namespace: 'x', name: 'web-1' } },
          { addresses: ['10.244.2.005'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-b', targetRef: { kind: 'Pod', name: 'web-2' } },
          { addresses: ['10.244.3.7'], targetRef: { kind: 'Node', name: 'node-c' } },
        ],
        ports: [{ name: 'http', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 53 }, { name: 'all', protocol: 'SCTP' }],
      }),
    );
    expect(s).toEqual({
      namespace: 'x',
      name: 'web-abc',
      serviceName: 'web',
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a', targetRef: { namespace: 'x', name: 'web-1' } },
        { addresses: ['10.244.2.5'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-b', targetRef: { namespace: 'x', name: 'web-2' } },
        { addresses: ['10.244.3.7'], conditions: { ready: true, serving: true, terminating: false }, nodeName: null, targetRef: null },
      ],
      ports: [
        { name: 'http', protocol: 'TCP', port: 8080 },
        { name: 'dns', protocol: 'UDP', port: 53 },
        { name: 'all', protocol: 'SCTP', port: null },
      ],
    });
  });

  it('v6, hand-written (no service-name label), unnamed port, no endpoints', () => {
    const s = sliceOf(slice({ addressType: 'IPv6', endpoints: [{ addresses: ['fd00:10:244:1:0::5'] }], ports: [{ port: 80 }] }, { name: 'manual', namespace: 'x' }));
    expect(s).toMatchObject({ serviceName: null, addressType: 'IPv6', ports: [{ name: null, protocol: 'TCP', port: 80 }] });
    expect(s.endpoints[0]!.addresses).toEqual(['fd00:10:244:1::5']);
    expect(sliceOf(slice({})).endpoints).toEqual([]);
  });

  const cases: [string, unknown, string, string][] = [
    ['no namespace', slice({}, { name: 's' }), 'metadata.namespace', 'namespace is required'],
    ['no addressType', { ...slice({}), addressType: undefined }, 'addressType', 'required'],
    ['FQDN', slice({ addressType: 'FQDN' }), 'addressType', 'FQDN is not supported'],
    ['unknown addressType', slice({ addressType: 'ipv4' }), 'addressType', 'supported values: "IPv4", "IPv6"'],
    ['endpoint without addresses', slice({ endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: [] }] }), 'endpoints[1].addresses', 'must contain at least 1 address'],
    ['bad address', slice({ endpoints: [{ addresses: ['10.0.0.1', 'web'] }] }), 'endpoints[0].addresses[1]', 'must be a valid IP address, not "web"'],
    ['address of the other family', slice({ endpoints: [{ addresses: ['fd00::1'] }] }), 'endpoints[0].addresses[0]', 'must be an IPv4 address (addressType is IPv4)'],
    ['ready not boolean', slice({ endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: 'true' } }] }), 'endpoints[0].conditions.ready', 'must be a boolean'],
    ['serving not boolean', slice({ endpoints: [{ addresses: ['10.0.0.1'], conditions: { serving: 1 } }] }), 'endpoints[0].conditions.serving', 'must be a boolean'],
    ['terminating not boolean', slice({ endpoints: [{ addresses: ['10.0.0.1'], conditions: { terminating: 'no' } }] }), 'endpoints[0].conditions.terminating', 'must be a boolean'],
    ['nodeName', slice({ endpoints: [{ addresses: ['10.0.0.1'], nodeName: 'Node_A' }] }), 'endpoints[0].nodeName', 'must be a lowercase RFC 1123 subdomain'],
    ['Pod targetRef without name', slice({ endpoints: [{ addresses: ['10.0.0.1'], targetRef: { kind: 'Pod' } }] }), 'endpoints[0].targetRef.name', 'required for a Pod'],
    ['port name', slice({ ports: [{ name: 'HTTP', port: 80 }] }), 'ports[0].name', 'must be a lowercase RFC 1123 label'],
    ['duplicate port name', slice({ ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] }), 'ports[1].name', 'Duplicate value: "a"'],
    ['port 0', slice({ ports: [{ port: 0 }] }), 'ports[0].port', 'must be between 1 and 65535, inclusive'],
    ['port protocol', slice({ ports: [{ port: 80, protocol: 'ICMP' }] }), 'ports[0].protocol', 'supported values: "TCP", "UDP", "SCTP"'],
    ['service-name label value', slice({}, { name: 's', namespace: 'x', labels: { 'kubernetes.io/service-name': '-web' } }), 'metadata.labels[kubernetes.io/service-name]', 'a label value must be empty'],
  ];
  for (const [what, raw, field, reason] of cases) {
    it(`refuses: ${what}`, () => {
      const e = errorOf(raw);
      expect(e.field).toBe(field);
      expect(e.reason).toContain(reason);
      expect(e.message).toContain(e.object);
    });
  }

  it('names the slice it rejects', () => {
    const e = errorOf(slice({ addressType: 'FQDN' }));
    expect(e.message).toBe('EndpointSlice x/web-abc: addressType: FQDN is not supported (strait translates to IPv4 and IPv6 backends only)');
  });
});

describe('Services and EndpointSlices in ClusterState', () => {
  it('change nothing the compiler derives (the Service datapath is not built yet)', () => {
    const web = pod('x', 'web', { app: 'web' }, { ips: ['10.244.1.2'] });
    const cs = cluster({
      namespaces: [ns('x')],
      pods: [web],
      policies: [policy('x', 'deny', { podSelector: {} })],
      nodes: [node('node-a', ['192.0.2.1'])],
    });
    const locals = [endpoint(7, web)];
    const opts = { nodeName: 'node-a', hostAddresses: ['192.0.2.1'] };
    const service = serviceOf(svc({ clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ port: 80 }] }));
    const eps = sliceOf(slice({ endpoints: [{ addresses: ['10.244.1.2'] }], ports: [{ port: 80 }] }));
    const withServices = compile({ ...cs, services: [service], endpointSlices: [eps] }, locals, opts);
    expect(withServices).toEqual(compile(cs, locals, opts));
    expect(withServices.ipcache.has('10.96.0.10')).toBe(false);
  });
});
