// Generators of the Kubernetes objects the dir source reads (Namespace, Pod, Node,
// NetworkPolicy) as `kubectl get -o yaml` prints them or a person writes them, and
// of files holding them: YAML or JSON, one or many documents, `kind: List`.
import fc from 'fast-check';
import { stringify } from 'yaml';
import { mostly, type Json, type JsonObject } from './mutate.js';

const lower = fc.constantFrom(...'abcxyz019');
const dnsLabel = mostly(
  fc.tuple(fc.constantFrom(...'abcxyz'), fc.string({ unit: fc.constantFrom(...'abcxyz019-'), maxLength: 8 }), lower).map(([a, b, c]) => a + b + c),
  fc.oneof(fc.string({ maxLength: 10 }), fc.constant('a'.repeat(64)), fc.constantFrom('-a', 'a-', 'A', 'a.b', '')),
);
const labelKey = mostly(fc.constantFrom('app', 'role', 'team', 'kubernetes.io/metadata.name', 'example.com/tier'), fc.string({ maxLength: 12 }));
const labelValue = mostly(fc.constantFrom('web', 'db', 'x', '', 'a.b_c-1'), fc.oneof(fc.string({ maxLength: 8 }), fc.constant('v'.repeat(64))));
const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3 });
const ip = mostly(fc.constantFrom('10.244.1.5', 'fd00:244:1::5', '010.244.001.005', '192.168.50.1'), fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 8 })));
const cidr = mostly(
  fc.constantFrom('10.0.0.0/8', '10.244.0.0/16', '0.0.0.0/0', '::/0', 'fd00::/64', '10.1.2.3/8', '010.0.0.0/8'),
  fc.oneof(fc.tuple(fc.ipV4(), fc.integer({ min: -1, max: 40 })).map(([a, l]) => `${a}/${l}`), fc.string({ maxLength: 10 })),
);
const protocol = mostly(fc.constantFrom('TCP', 'UDP', 'SCTP'), fc.constantFrom('tcp', 'ICMP', '', 6));
const portName = mostly(fc.constantFrom('http', 'dns', 'serve-81-tcp', 'metrics'), fc.string({ maxLength: 16 }));
const portNumber = mostly(fc.integer({ min: 1, max: 65535 }), fc.oneof(fc.integer({ min: -1, max: 70000 }), fc.double()));

const meta = (namespaced: boolean) =>
  fc.record(
    { name: dnsLabel, ...(namespaced ? { namespace: dnsLabel } : {}), labels, uid: fc.uuid(), resourceVersion: fc.nat().map(String) },
    { requiredKeys: namespaced ? ['name', 'namespace'] : ['name'] },
  );

const requirement = fc.oneof(
  fc.record({ key: labelKey, operator: fc.constantFrom('In', 'NotIn'), values: fc.array(labelValue, { minLength: 1, maxLength: 3 }) }),
  fc.record({ key: labelKey, operator: fc.constantFrom('Exists', 'DoesNotExist') }),
  fc.record({ key: labelKey, operator: fc.string({ maxLength: 6 }), values: fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }) }),
);
const selector = fc.record({ matchLabels: labels, matchExpressions: fc.array(requirement, { maxLength: 2 }) }, { requiredKeys: [] });
const ipBlock = fc.record({ cidr, except: fc.array(cidr, { maxLength: 2 }) }, { requiredKeys: ['cidr'] });
const peer = fc.oneof(
  fc.record({ podSelector: selector, namespaceSelector: selector }, { requiredKeys: [] }),
  fc.record({ ipBlock }),
);
const policyPort = fc.oneof(
  fc.record({ protocol, port: fc.oneof(portNumber, portName) }, { requiredKeys: [] }),
  fc.tuple(protocol, fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 2000 })).map(([p, port, span]) => ({ protocol: p, port, endPort: port + span })),
);
const rule = (peers: 'from' | 'to') =>
  fc.record({ [peers]: fc.array(peer, { maxLength: 3 }), ports: fc.array(policyPort, { maxLength: 3 }) }, { requiredKeys: [] });

export const networkPolicy = fc.record({
  apiVersion: fc.constant('networking.k8s.io/v1'),
  kind: fc.constant('NetworkPolicy'),
  metadata: meta(true),
  spec: fc.record(
    {
      podSelector: selector,
      policyTypes: mostly(fc.subarray(['Ingress', 'Egress']), fc.array(fc.string({ maxLength: 7 }), { maxLength: 3 })),
      ingress: fc.array(rule('from'), { maxLength: 3 }),
      egress: fc.array(rule('to'), { maxLength: 3 }),
    },
    { requiredKeys: ['podSelector'] },
  ),
});

const containerPort = fc.record({ name: portName, containerPort: portNumber, protocol }, { requiredKeys: ['containerPort'] });
const container = fc.record({ name: dnsLabel, image: fc.constant('busybox'), ports: fc.array(containerPort, { maxLength: 3 }), restartPolicy: fc.constantFrom('Always', 'OnFailure') }, { requiredKeys: ['name'] });
export const pod = fc.record({
  apiVersion: fc.constant('v1'),
  kind: fc.constant('Pod'),
  metadata: meta(true),
  spec: fc.record({ nodeName: dnsLabel, hostNetwork: fc.boolean(), containers: fc.array(container, { maxLength: 2 }), initContainers: fc.array(container, { maxLength: 1 }) }, { requiredKeys: [] }),
  status: fc.record({ phase: fc.constantFrom('Pending', 'Running', 'Succeeded', 'Failed'), podIP: ip, podIPs: fc.array(fc.record({ ip }), { maxLength: 2 }) }, { requiredKeys: [] }),
});
export const namespace = fc.record({ apiVersion: fc.constant('v1'), kind: fc.constant('Namespace'), metadata: meta(false) });
export const node = fc.record({
  apiVersion: fc.constant('v1'),
  kind: fc.constant('Node'),
  metadata: meta(false),
  status: fc.record({ addresses: fc.array(fc.record({ type: fc.constantFrom('InternalIP', 'ExternalIP', 'Hostname'), address: fc.oneof(ip, dnsLabel) }), { maxLength: 3 }) }),
});

export const k8sObject = fc.oneof(networkPolicy, pod, namespace, node) as fc.Arbitrary<JsonObject>;

export type Layout = 'yaml' | 'json' | 'list';
/** A file's text holding `objects`: YAML documents, one JSON value each, or one List. */
export function fileText(objects: Json[], layout: Layout): string {
  switch (layout) {
    case 'yaml':
      return objects.map((o) => stringify(o)).join('---\n');
    case 'json':
      return objects.map((o) => JSON.stringify(o, null, 1)).join('\n---\n');
    case 'list':
      return stringify({ apiVersion: 'v1', kind: 'List', items: objects });
  }
}
export const layout = fc.constantFrom<Layout>('yaml', 'json', 'list');

/** Text damaged the way hand edits and truncated writes damage it. */
export const damagedText = (text: string): fc.Arbitrary<string> =>
  fc.array(fc.tuple(fc.nat(), fc.constantFrom('cut', 'delete', 'insert'), fc.constantFrom('\t', ':', '-', '---\n', '&a ', '*a', '!!binary ', '{', '[', '"', '\n  ', '? ', '%YAML 1.1\n', '\u0000')), { minLength: 1, maxLength: 4 }).map((edits) => {
    let t = text;
    for (const [at, op, s] of edits) {
      const i = t.length === 0 ? 0 : at % t.length;
      t = op === 'cut' ? t.slice(0, i) : op === 'delete' ? t.slice(0, i) + t.slice(i + 1) : t.slice(0, i) + s + t.slice(i);
    }
    return t;
  });
