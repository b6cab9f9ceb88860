import { describe, expect, it } from 'vitest';
import { parseObject } from '../../src/policy/model.js';
import { parsedAs, parseErrorOf } from '../helpers/parse-object.js';

const np = (spec: unknown, metadata: Record<string, unknown> = { name: 'p', namespace: 'x' }) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata,
  spec,
});
const podObj = (spec: unknown, status: unknown = {}, metadata: Record<string, unknown> = { name: 'web-1', namespace: 'x' }) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata,
  spec,
  status,
});
const ingressPort = (port: Record<string, unknown>) => np({ ingress: [{ ports: [{ port: 80 }, port] }] });
const ingressPeer = (peer: unknown) => np({ ingress: [{ from: [{ podSelector: {} }, peer] }] });
const expr = (e: Record<string, unknown>) => np({ podSelector: { matchExpressions: [e] } });

const errorOf = parseErrorOf;

const policyOf = (raw: unknown) => parsedAs('NetworkPolicy', raw);

describe('policy model: validation errors name the exact field', () => {
  const cases: [string, unknown, string][] = [
    // object, kind, apiVersion, metadata
    ['not an object', [], ''],
    ['unknown kind', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 's' } }, 'kind'],
    ['missing kind', { apiVersion: 'v1', metadata: { name: 's' } }, 'kind'],
    ['old group', { ...np({}), apiVersion: 'extensions/v1beta1' }, 'apiVersion'],
    ['Pod in networking group', { ...podObj({}), apiVersion: 'networking.k8s.io/v1' }, 'apiVersion'],
    ['no metadata', { apiVersion: 'v1', kind: 'Namespace' }, 'metadata'],
    ['no name', np({}, { namespace: 'x' }), 'metadata.name'],
    ['uppercase name', np({}, { name: 'Deny', namespace: 'x' }), 'metadata.name'],
    ['no namespace', np({}, { name: 'p' }), 'metadata.namespace'],
    ['namespace with a dot', np({}, { name: 'p', namespace: 'a.b' }), 'metadata.namespace'],
    ['Namespace name with a dot', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a.b' } }, 'metadata.name'],
    ['label key with two slashes', np({}, { name: 'p', namespace: 'x', labels: { 'a/b/c': 'v' } }), 'metadata.labels[a/b/c]'],
    ['label key with bad prefix', np({}, { name: 'p', namespace: 'x', labels: { 'Ex.com/a': 'v' } }), 'metadata.labels[Ex.com/a]'],
    ['label key name too long', np({}, { name: 'p', namespace: 'x', labels: { ['k'.repeat(64)]: 'v' } }), `metadata.labels[${'k'.repeat(64)}]`],
    ['label value starting with -', np({}, { name: 'p', namespace: 'x', labels: { app: '-web' } }), 'metadata.labels[app]'],
    ['label value too long', np({}, { name: 'p', namespace: 'x', labels: { app: 'a'.repeat(64) } }), 'metadata.labels[app]'],
    ['label value not a string', np({}, { name: 'p', namespace: 'x', labels: { app: 1 } }), 'metadata.labels[app]'],
    // selectors
    ['matchLabels key', np({ podSelector: { matchLabels: { 'bad key': 'v' } } }), 'spec.podSelector.matchLabels[bad key]'],
    ['matchLabels value', np({ podSelector: { matchLabels: { app: 'a b' } } }), 'spec.podSelector.matchLabels[app]'],
    ['In without values', expr({ key: 'app', operator: 'In', values: [] }), 'spec.podSelector.matchExpressions[0].values'],
    ['NotIn without values', expr({ key: 'app', operator: 'NotIn' }), 'spec.podSelector.matchExpressions[0].values'],
    ['Exists with values', expr({ key: 'app', operator: 'Exists', values: ['a'] }), 'spec.podSelector.matchExpressions[0].values'],
    ['DoesNotExist with values', expr({ key: 'app', operator: 'DoesNotExist', values: ['a'] }), 'spec.podSelector.matchExpressions[0].values'],
    ['Gt is a node-selector operator', expr({ key: 'app', operator: 'Gt', values: ['1'] }), 'spec.podSelector.matchExpressions[0].operator'],
    ['missing operator', expr({ key: 'app' }), 'spec.podSelector.matchExpressions[0].operator'],
    ['expression key', expr({ key: '', operator: 'Exists' }), 'spec.podSelector.matchExpressions[0].key'],
    ['expression value', expr({ key: 'app', operator: 'In', values: ['ok', 'not ok'] }), 'spec.podSelector.matchExpressions[0].values[1]'],
    ['matchExpressions not a list', np({ podSelector: { matchExpressions: {} } }), 'spec.podSelector.matchExpressions'],
    ['podSelector not an object', np({ podSelector: 'app=web' }), 'spec.podSelector'],
    // rules and ports
    ['ingress not a list', np({ ingress: {} }), 'spec.ingress'],
    ['rule not an object', np({ egress: ['x'] }), 'spec.egress[0]'],
    ['protocol ICMP', ingressPort({ protocol: 'ICMP', port: 1 }), 'spec.ingress[0].ports[1].protocol'],
    ['protocol lowercase', ingressPort({ protocol: 'tcp' }), 'spec.ingress[0].ports[1].protocol'],
    ['port 0', ingressPort({ port: 0 }), 'spec.ingress[0].ports[1].port'],
    ['port 65536', ingressPort({ port: 65536 }), 'spec.ingress[0].ports[1].port'],
    ['port 1.5', ingressPort({ port: 1.5 }), 'spec.ingress[0].ports[1].port'],
    ['port true', ingressPort({ port: true }), 'spec.ingress[0].ports[1].port'],
    ['port name uppercase', ingressPort({ port: 'HTTP' }), 'spec.ingress[0].ports[1].port'],
    ['port name of 16 chars', ingressPort({ port: 'abcdefghijklmnop' }), 'spec.ingress[0].ports[1].port'],
    ['port name without a letter', ingressPort({ port: '8080' }), 'spec.ingress[0].ports[1].port'],
    ['port name with --', ingressPort({ port: 'a--b' }), 'spec.ingress[0].ports[1].port'],
    ['port name starting with -', ingressPort({ port: '-ab' }), 'spec.ingress[0].ports[1].port'],
    ['empty port name', ingressPort({ port: '' }), 'spec.ingress[0].ports[1].port'],
    ['endPort without port', ingressPort({ endPort: 90 }), 'spec.ingress[0].ports[1].endPort'],
    ['endPort with a named port', ingressPort({ port: 'http', endPort: 90 }), 'spec.ingress[0].ports[1].endPort'],
    ['endPort below port', ingressPort({ port: 90, endPort: 89 }), 'spec.ingress[0].ports[1].endPort'],
    ['endPort 65536', ingressPort({ port: 90, endPort: 65536 }), 'spec.ingress[0].ports[1].endPort'],
    ['endPort not an integer', ingressPort({ port: 90, endPort: '95' }), 'spec.ingress[0].ports[1].endPort'],
    // peers
    ['empty peer', ingressPeer({}), 'spec.ingress[0].from[1]'],
    ['all-null peer', ingressPeer({ podSelector: null, ipBlock: null }), 'spec.ingress[0].from[1]'],
    ['ipBlock with podSelector', np({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }), 'spec.egress[0].to[0]'],
    ['ipBlock with namespaceSelector', ingressPeer({ ipBlock: { cidr: '10.0.0.0/8' }, namespaceSelector: {} }), 'spec.ingress[0].from[1]'],
    ['namespaceSelector operator', ingressPeer({ namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'in', values: ['b'] }] } }), 'spec.ingress[0].from[1].namespaceSelector.matchExpressions[0].operator'],
    ['peer podSelector label', ingressPeer({ podSelector: { matchLabels: { a: '%' } } }), 'spec.ingress[0].from[1].podSelector.matchLabels[a]'],
    ['ipBlock without cidr', ingressPeer({ ipBlock: {} }), 'spec.ingress[0].from[1].ipBlock.cidr'],
    ['ipBlock cidr without prefix', ingressPeer({ ipBlock: { cidr: '10.0.0.0' } }), 'spec.ingress[0].from[1].ipBlock.cidr'],
    ['ipBlock cidr /33', ingressPeer({ ipBlock: { cidr: '10.0.0.0/33' } }), 'spec.ingress[0].from[1].ipBlock.cidr'],
    ['ipBlock cidr garbage', ingressPeer({ ipBlock: { cidr: 'ten/8' } }), 'spec.ingress[0].from[1].ipBlock.cidr'],
    ['except outside cidr', ingressPeer({ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '11.0.0.0/16'] } }), 'spec.ingress[0].from[1].ipBlock.except[1]'],
    ['except equal to cidr', ingressPeer({ ipBlock: { cidr: '10.0.0.0/8', except: ['10.0.0.0/8'] } }), 'spec.ingress[0].from[1].ipBlock.except[0]'],
    ['except wider than cidr', ingressPeer({ ipBlock: { cidr: '10.1.0.0/16', except: ['10.0.0.0/8'] } }), 'spec.ingress[0].from[1].ipBlock.except[0]'],
    ['except of the other family', ingressPeer({ ipBlock: { cidr: '0.0.0.0/0', except: ['fd00::/8'] } }), 'spec.ingress[0].from[1].ipBlock.except[0]'],
    ['except not a CIDR', ingressPeer({ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0'] } }), 'spec.ingress[0].from[1].ipBlock.except[0]'],
    // policyTypes
    ['three policyTypes', np({ policyTypes: ['Ingress', 'Egress', 'Ingress'] }), 'spec.policyTypes'],
    ['unknown policyType', np({ policyTypes: ['Ingress', 'ingress'] }), 'spec.policyTypes[1]'],
    // pods
    ['containerPort 0', podObj({ containers: [{ ports: [{ containerPort: 0 }] }] }), 'spec.containers[0].ports[0].containerPort'],
    ['containerPort missing', podObj({ containers: [{}, { ports: [{ name: 'http' }] }] }), 'spec.containers[1].ports[0].containerPort'],
    ['container port name', podObj({ containers: [{ ports: [{ name: 'Web', containerPort: 80 }] }] }), 'spec.containers[0].ports[0].name'],
    ['container port protocol', podObj({ containers: [{ ports: [{ containerPort: 80, protocol: 'HTTP' }] }] }), 'spec.containers[0].ports[0].protocol'],
    ['init container port', podObj({ initContainers: [{ ports: [{ containerPort: -1 }] }] }), 'spec.initContainers[0].ports[0].containerPort'],
    ['hostNetwork not boolean', podObj({ hostNetwork: 'yes' }), 'spec.hostNetwork'],
    ['bad podIPs entry', podObj({}, { podIPs: [{ ip: '10.0.0.1' }, { ip: '10.0.0.300' }] }), 'status.podIPs[1].ip'],
    ['bad podIP', podObj({}, { podIP: 'fe80::1%eth0' }), 'status.podIP'],
    ['pod without namespace', podObj({}, {}, { name: 'a' }), 'metadata.namespace'],
    ['pod name too long', podObj({}, {}, { name: 'a'.repeat(254), namespace: 'x' }), 'metadata.name'],
  ];
  for (const [what, raw, field] of cases) {
    it(what, () => {
      const e = errorOf(raw);
      expect(e.field).toBe(field);
      expect(e.code).toBe('E_OBJECT_INVALID');
      expect(e.message).toContain(e.object);
    });
  }

  it('names the object it rejects', () => {
    expect(errorOf(np({ policyTypes: ['x'] }, { name: 'deny-all', namespace: 'x' })).object).toBe('NetworkPolicy x/deny-all');
    expect(errorOf({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns', labels: { '': 'x' } } }).object).toBe('Namespace ns');
    expect(errorOf(np({}, { namespace: 'x' })).object).toBe('<unnamed>');
    expect(errorOf(42).object).toBe('<unnamed>');
    const e = errorOf(ingressPort({ port: 90, endPort: 89 }));
    expect(e.message).toBe('NetworkPolicy x/p: spec.ingress[0].ports[1].endPort: must be greater than or equal to `port`');
  });
});

describe('policy model: defaults and canonical forms', () => {
  it('policyTypes: Ingress always, Egress when there are egress rules', () => {
    expect(policyOf(np({})).policyTypes).toEqual(['Ingress']);
    expect(policyOf(np({ egress: [{}] })).policyTypes).toEqual(['Ingress', 'Egress']);
    // like SetDefaults_NetworkPolicy: an empty list is no egress rules
    expect(policyOf(np({ egress: [] })).policyTypes).toEqual(['Ingress']);
    expect(policyOf(np({ policyTypes: [] })).policyTypes).toEqual(['Ingress']);
    expect(policyOf(np({ policyTypes: ['Egress'], ingress: [{}] })).policyTypes).toEqual(['Egress']);
    expect(policyOf(np({ policyTypes: ['Egress', 'Ingress'] })).policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policyOf(np({ policyTypes: ['Egress', 'Egress'] })).policyTypes).toEqual(['Egress']);
  });

  it('an absent spec or podSelector selects every pod of the namespace', () => {
    const p = policyOf({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'x' } });
    expect(p).toEqual({
      namespace: 'x',
      name: 'p',
      podSelector: { matchLabels: {}, matchExpressions: [] },
      policyTypes: ['Ingress'],
      ingress: [],
      egress: [],
    });
  });

  it('ports default to TCP; from/to absent or empty is every peer', () => {
    const p = policyOf(
      np({
        ingress: [{ ports: [{ port: 80 }, { protocol: 'UDP' }, { port: 'dns', protocol: 'UDP' }, { port: 8080, endPort: 8090 }] }, { from: [] }],
        egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'db' } } }] }],
      }),
    );
    expect(p.ingress[0]?.ports).toEqual([
      { protocol: 'TCP', port: 80, endPort: null },
      { protocol: 'UDP', port: null, endPort: null },
      { protocol: 'UDP', port: 'dns', endPort: null },
      { protocol: 'TCP', port: 8080, endPort: 8090 },
    ]);
    expect(p.ingress[0]?.peers).toBeNull();
    expect(p.ingress[1]).toEqual({ peers: null, ports: [] });
    expect(p.egress[0]?.peers).toEqual([
      {
        podSelector: { matchLabels: { app: 'db' }, matchExpressions: [] },
        namespaceSelector: { matchLabels: {}, matchExpressions: [] },
        ipBlock: null,
      },
    ]);
  });

  it('ipBlocks are canonical; legacy forms the API server kept are accepted', () => {
    const p = policyOf(
      ingressPeer({ ipBlock: { cidr: '10.1.2.3/8', except: ['10.001.0.0/16', '10.1.0.0/16', '10.2.3.4/32'] } }),
    );
    expect(p.ingress[0]?.peers?.[1]?.ipBlock).toEqual({ cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.4/32'] });
    const v6 = policyOf(ingressPeer({ ipBlock: { cidr: 'FD00:0:0:0::1/64', except: ['FD00:0:0:0:8000::/65'] } }));
    expect(v6.ingress[0]?.peers?.[1]?.ipBlock).toEqual({ cidr: 'fd00::/64', except: ['fd00::8000:0:0:0/65'] });
  });

  it('Namespaces always carry kubernetes.io/metadata.name', () => {
    const o = parseObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { env: 'prod', 'kubernetes.io/metadata.name': 'lie' } } });
    expect(o).toEqual({ kind: 'Namespace', value: { name: 'team-a', labels: { env: 'prod', 'kubernetes.io/metadata.name': 'team-a' } } });
  });

  it('Pods: addresses canonical and deduplicated, ports with defaults, sidecar ports, terminated pods hold no address', () => {
    const o = parseObject(
      podObj(
        {
          nodeName: 'node-a',
          containers: [{ ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9000, protocol: 'UDP' }] }],
          initContainers: [
            { restartPolicy: 'Always', ports: [{ name: 'metrics', containerPort: 9090 }] },
            { ports: [{ name: 'setup', containerPort: 7000 }] },
          ],
        },
        { podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }, { ip: 'FD00:0::5' }] },
        { name: 'web-1', namespace: 'x', labels: { app: 'web' } },
      ),
    );
    expect(o).toEqual({
      kind: 'Pod',
      value: {
        namespace: 'x',
        name: 'web-1',
        labels: { app: 'web' },
        ips: ['10.244.1.5', 'fd00::5'],
        nodeName: 'node-a',
        hostNetwork: false,
        ports: [
          { name: 'http', containerPort: 8080, protocol: 'TCP' },
          { name: null, containerPort: 9000, protocol: 'UDP' },
          { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
        ],
      },
    });
    const done = parseObject(podObj({}, { phase: 'Succeeded', podIP: '10.244.1.6' }));
    expect(done.kind === 'Pod' && done.value.ips).toEqual([]);
    const bare = parseObject(podObj(undefined, undefined));
    expect(bare.kind === 'Pod' && bare.value).toMatchObject({ ips: [], nodeName: null, hostNetwork: false, ports: [] });
  });

  it('Nodes: only IP addresses', () => {
    const o = parseObject({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-a' },
      status: {
        addresses: [
          { type: 'Hostname', address: 'node-a' },
          { type: 'InternalIP', address: '192.168.1.10' },
          { type: 'InternalIP', address: 'FD00::10' },
          { type: 'InternalDNS', address: '10.0.0.1' },
          { type: 'ExternalIP', address: '192.168.1.10' },
        ],
      },
    });
    expect(o).toEqual({ kind: 'Node', value: { name: 'node-a', addresses: ['192.168.1.10', 'fd00::10'], internalIPs: ['192.168.1.10', 'fd00::10'], podCIDRs: [] } });
  });

  const nodeObj = (spec: unknown, addresses: unknown[] = []) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' }, spec, status: { addresses } });
  const nodeOf = (spec: unknown, addresses: unknown[] = []) => {
    const o = parseObject(nodeObj(spec, addresses));
    if (o.kind !== 'Node') throw new Error(o.kind);
    return o.value;
  };

  it('Nodes: InternalIPs apart from ExternalIPs; pod CIDRs canonical, from podCIDRs or the older podCIDR', () => {
    const n = nodeOf({ podCIDRs: ['198.18.102.7/24', 'FD5A:1AB:2::/64'], podCIDR: '198.18.102.0/24' }, [
      { type: 'ExternalIP', address: '203.0.113.9' },
      { type: 'InternalIP', address: '198.018.000.012' },
      { type: 'InternalIP', address: 'not an address' },
    ]);
    expect(n).toEqual({ name: 'node-b', addresses: ['203.0.113.9', '198.18.0.12'], internalIPs: ['198.18.0.12'], podCIDRs: ['198.18.102.0/24', 'fd5a:1ab:2::/64'] });
    expect(nodeOf({ podCIDR: '10.244.3.0/24' }).podCIDRs).toEqual(['10.244.3.0/24']);
    expect(nodeOf({ podCIDR: '', podCIDRs: null }).podCIDRs).toEqual([]);
    expect(nodeOf(undefined).podCIDRs).toEqual([]);
  });

  it.each([
    [{ podCIDRs: ['10.244.1.0'] }, 'spec.podCIDRs[0]', /must be a valid CIDR/],
    [{ podCIDRs: ['10.244.1.0/24', 'fd00::/200'] }, 'spec.podCIDRs[1]', /must be a valid CIDR/],
    [{ podCIDRs: [7] }, 'spec.podCIDRs[0]', /must be a string/],
    [{ podCIDRs: '10.244.1.0/24' }, 'spec.podCIDRs', /must be an array/],
    [{ podCIDRs: ['10.244.1.0/24', '10.244.2.0/24'] }, 'spec.podCIDRs', /no more than one CIDR for each IP family/],
    [{ podCIDRs: ['10.244.1.0/24', 'fd00::/64', 'fd01::/64'] }, 'spec.podCIDRs', /no more than 2 CIDRs/],
    [{ podCIDR: 'x/24' }, 'spec.podCIDR', /must be a valid CIDR/],
    [{ podCIDR: '10.244.9.0/24', podCIDRs: ['10.244.1.0/24'] }, 'spec.podCIDR', /must equal spec.podCIDRs\[0\] \(10.244.1.0\/24\)/],
  ])('an invalid pod CIDR is an ObjectError at its field: %j', (spec, field, reason) => {
    const e = errorOf(nodeObj(spec));
    expect(e.object).toBe('Node node-b');
    expect(e.field).toBe(field);
    expect(e.reason).toMatch(reason);
  });
});
