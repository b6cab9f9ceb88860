// The NetworkPolicy conformance scenarios, in the shape of the upstream e2e suite, each
// with the verdict every probe must get. Expectations are written by hand from the
// Kubernetes NetworkPolicy documentation, not derived from our compiler. They hold on one
// node and on several alike: nothing here knows where a pod runs.
import { ip32, np, ns, renamed, sel, writeNamespaces, writePods, type MatrixCluster, type Proto } from './policy-matrix-objects.js';

/** Must a probe from pod `from` to pod `to` (both `namespace/name`) on proto/port be answered? */
export type Expect = (from: string, to: string, proto: Proto, port: number) => boolean;

export interface Scenario {
  name: string;
  policies: (c: MatrixCluster) => object[];
  expect: Expect;
  /** object changes beyond policies (labels), applied before and undone after */
  before?: (c: MatrixCluster) => void;
  after?: (c: MatrixCluster) => void;
}

const all: Expect = () => true;
const into = (target: string, allowed: Expect): Expect => (f, t, p, port) => (t === target ? allowed(f, t, p, port) : true);
const outOf = (source: string, allowed: Expect): Expect => (f, t, p, port) => (f === source ? allowed(f, t, p, port) : true);
const resetPods = (c: MatrixCluster): void => writePods(c);

export const SCENARIOS: Scenario[] = [
  { name: 'no policy: everything reaches everything', policies: () => [], expect: all },
  {
    name: 'default deny ingress in x',
    policies: () => [np('x', 'deny-in', { podSelector: {}, policyTypes: ['Ingress'] })],
    expect: (_f, t) => ns(t) !== 'x',
  },
  {
    name: 'default deny egress in x (ingress into x still works: replies pass)',
    policies: () => [np('x', 'deny-out', { podSelector: {}, policyTypes: ['Egress'] })],
    expect: (f) => ns(f) !== 'x',
  },
  {
    name: 'default deny ingress and egress in x',
    policies: () => [np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
    expect: (f, t) => ns(f) !== 'x' && ns(t) !== 'x',
  },
  {
    name: 'allow all ingress (one empty rule) is no isolation',
    policies: () => [np('x', 'allow-in', { podSelector: {}, ingress: [{}] })],
    expect: all,
  },
  {
    name: 'allow all egress (one empty rule) is no isolation',
    policies: () => [np('x', 'allow-out', { podSelector: {}, policyTypes: ['Egress'], egress: [{}] })],
    expect: all,
  },
  {
    name: 'podSelector peer: x/a accepts only pods b of its own namespace',
    policies: () => [np('x', 'a-from-b', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }] }] })],
    expect: into('x/a', (f) => f === 'x/b'),
  },
  {
    name: 'namespaceSelector matchLabels: x/a accepts every pod of y',
    policies: () => [np('x', 'a-from-y', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }] }] })],
    expect: into('x/a', (f) => ns(f) === 'y'),
  },
  {
    name: 'namespaceSelector matchExpressions In [y, z]',
    policies: () => [
      np('x', 'a-from-yz', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: ['y', 'z'] }] } }] }],
      }),
    ],
    expect: into('x/a', (f) => ns(f) !== 'x'),
  },
  {
    name: 'namespaceSelector matchExpressions NotIn [y]',
    policies: () => [
      np('x', 'a-not-y', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['y'] }] } }] }],
      }),
    ],
    expect: into('x/a', (f) => ns(f) !== 'y'),
  },
  {
    name: 'podSelector matchExpressions Exists and DoesNotExist (labels changed on two pods)',
    before: (c) => writePods(c, { 'y/b': { pod: 'b', tier: 'web' }, 'z/c': { pod: 'c', tier: 'db' } }),
    after: resetPods,
    policies: () => [
      np('x', 'a-from-tiered', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } }] }],
      }),
      np('x', 'b-from-untiered', {
        podSelector: sel({ pod: 'b' }),
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] } }] }],
      }),
    ],
    expect: (f, t) => (t === 'x/a' ? f === 'y/b' || f === 'z/c' : t === 'x/b' ? f !== 'y/b' && f !== 'z/c' : true),
  },
  {
    name: 'podSelector and namespaceSelector in one peer: pods b of namespace y only',
    policies: () => [
      np('x', 'a-from-yb', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }), podSelector: sel({ pod: 'b' }) }] }] }),
    ],
    expect: into('x/a', (f) => f === 'y/b'),
  },
  {
    name: 'two peers are a union: pods b of x, or any pod of z',
    policies: () => [
      np('x', 'a-from-b-or-z', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }, { namespaceSelector: sel({ ns: 'z' }) }] }] }),
    ],
    expect: into('x/a', (f) => f === 'x/b' || ns(f) === 'z'),
  },
  {
    name: 'port TCP 80 only, from anywhere',
    policies: () => [np('x', 'a-tcp80', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ protocol: 'TCP', port: 80 }] }] })],
    expect: into('x/a', (_f, _t, p, port) => p === 'tcp' && port === 80),
  },
  {
    name: 'port UDP 81 only',
    policies: () => [np('x', 'a-udp81', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ protocol: 'UDP', port: 81 }] }] })],
    expect: into('x/a', (_f, _t, p, port) => p === 'udp' && port === 81),
  },
  {
    name: 'protocol default is TCP: port 81 without protocol',
    policies: () => [np('x', 'a-81', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ port: 81 }] }] })],
    expect: into('x/a', (_f, _t, p, port) => p === 'tcp' && port === 81),
  },
  {
    name: 'endPort range TCP 80-81',
    policies: () => [np('x', 'a-range', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ protocol: 'TCP', port: 80, endPort: 81 }] }] })],
    expect: into('x/a', (_f, _t, p) => p === 'tcp'),
  },
  {
    name: 'named port (ingress): serve-81-tcp resolved on the destination pod',
    policies: () => [np('x', 'a-named', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
    expect: into('x/a', (_f, _t, p, port) => p === 'tcp' && port === 81),
  },
  {
    name: 'named UDP port (ingress)',
    policies: () => [np('x', 'a-named-udp', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ protocol: 'UDP', port: 'serve-80-udp' }] }] })],
    expect: into('x/a', (_f, _t, p, port) => p === 'udp' && port === 80),
  },
  {
    name: 'named port (egress): x/a may only reach serve-80-tcp of peers',
    policies: () => [
      np('x', 'a-out-named', { podSelector: sel({ pod: 'a' }), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'serve-80-tcp' }] }] }),
    ],
    expect: outOf('x/a', (_f, _t, p, port) => p === 'tcp' && port === 80),
  },
  {
    name: 'ipBlock matches pod addresses: x/a accepts only y/b by its /32',
    policies: (c) => [np('x', 'a-from-ip', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ ipBlock: { cidr: ip32(c, 'y/b') } }] }] })],
    expect: into('x/a', (f) => f === 'y/b'),
  },
  {
    name: 'ipBlock with except: the whole pod range except y/b',
    policies: (c) => [
      np('x', 'a-except', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ ipBlock: { cidr: c.podRange, except: [ip32(c, 'y/b')] } }] }] }),
    ],
    expect: into('x/a', (f) => f !== 'y/b'),
  },
  {
    name: 'egress ipBlock: x/a may only reach z/c',
    policies: (c) => [np('x', 'a-to-ip', { podSelector: sel({ pod: 'a' }), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: ip32(c, 'z/c') } }] }] })],
    expect: outOf('x/a', (_f, t) => t === 'z/c'),
  },
  {
    // upstream's "should enforce except clause while egress access to server in CIDR block": the block is wide
    // (all of 198.18.0.0/15: pods, nodes and the Service range), only the server's own address is excepted
    name: 'egress ipBlock with except: x/a may reach all of 198.18.0.0/15 but x/b',
    policies: (c) => [
      np('x', 'a-out-except-b', { podSelector: sel({ pod: 'a' }), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '198.18.0.0/15', except: [ip32(c, 'x/b')] } }] }] }),
    ],
    expect: outOf('x/a', (_f, t) => t !== 'x/b'),
  },
  {
    name: 'egress to a namespace on one port',
    policies: () => [
      np('x', 'x-to-y-80', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: sel({ ns: 'y' }) }], ports: [{ protocol: 'TCP', port: 80 }] }] }),
    ],
    expect: (f, t, p, port) => (ns(f) === 'x' ? ns(t) === 'y' && p === 'tcp' && port === 80 : true),
  },
  {
    name: 'several policies on one pod are a union',
    policies: () => [
      np('x', 'a-from-b', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }] }] }),
      np('x', 'a-from-z-udp', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'z' }) }], ports: [{ protocol: 'UDP', port: 80 }] }] }),
    ],
    expect: into('x/a', (f, _t, p, port) => f === 'x/b' || (ns(f) === 'z' && p === 'udp' && port === 80)),
  },
  {
    name: 'policyTypes [Egress] ignores ingress rules: x/a isolated for egress only',
    policies: () => [
      np('x', 'a-egress-only', {
        podSelector: sel({ pod: 'a' }),
        policyTypes: ['Egress'],
        ingress: [{ from: [{ podSelector: sel({ pod: 'nobody' }) }] }],
        egress: [{ to: [{ namespaceSelector: sel({ ns: 'z' }) }] }],
      }),
    ],
    expect: outOf('x/a', (_f, t) => ns(t) === 'z'),
  },
  {
    name: 'policyTypes absent with an egress section isolates both directions',
    policies: () => [np('x', 'a-both', { podSelector: sel({ pod: 'a' }), egress: [{ to: [{ namespaceSelector: sel({ ns: 'y' }) }] }] })],
    expect: (f, t) => (t === 'x/a' ? false : f === 'x/a' ? ns(t) === 'y' : true),
  },
  {
    name: 'a rule with ports and no from: anyone on TCP 80',
    policies: () => [np('y', 'all-80', { podSelector: {}, ingress: [{ ports: [{ protocol: 'TCP', port: 80 }] }] })],
    expect: (_f, t, p, port) => (ns(t) === 'y' ? p === 'tcp' && port === 80 : true),
  },
  {
    name: 'a policy in y does not touch pods of the same names in x and z',
    policies: () => [np('y', 'deny-a', { podSelector: sel({ pod: 'a' }), policyTypes: ['Ingress'] })],
    expect: (_f, t) => t !== 'y/a',
  },
  {
    name: 'a pod label change takes effect: x/c relabelled pod=b is now accepted by x/a',
    before: (c) => writePods(c, { 'x/c': { pod: 'b' } }),
    after: resetPods,
    policies: () => [np('x', 'a-from-b', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }] }] })],
    expect: into('x/a', (f) => f === 'x/b' || f === 'x/c'),
  },
  {
    name: 'a namespace label change takes effect: z labelled team=blue is accepted',
    before: (c) => writeNamespaces(c, { z: { team: 'blue' } }),
    after: (c) => writeNamespaces(c),
    policies: () => [np('x', 'a-from-blue', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ team: 'blue' }) }] }] })],
    expect: into('x/a', (f) => ns(f) === 'z'),
  },
  {
    name: 'the kubernetes.io/metadata.name label selects a namespace by name',
    policies: () => [
      np('x', 'a-from-z-by-name', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ 'kubernetes.io/metadata.name': 'z' }) }] }] }),
    ],
    expect: into('x/a', (f) => ns(f) === 'z'),
  },
  {
    name: 'namespaceSelector {} (any pod of the cluster) on one port',
    policies: () => [np('x', 'a-from-all', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ protocol: 'TCP', port: 80 }] }] })],
    expect: into('x/a', (_f, _t, p, port) => p === 'tcp' && port === 80),
  },
  {
    name: 'podSelector {} peer: every pod of the policy namespace',
    policies: () => [np('x', 'a-from-x', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ podSelector: {} }] }] })],
    expect: into('x/a', (f) => ns(f) === 'x'),
  },
  {
    // issue #8: x/c shares x/b's labels (so its identity, before named ports took part) and alone names TCP/80 http
    name: 'egress named port resolves on the destination pod: only x/c names http, so z reaches x/c on TCP/80 and nothing else',
    before: (c) => writePods(c, { 'x/c': { pod: 'b' } }, { 'x/c': renamed({ 'serve-80-tcp': 'http' }) }),
    after: resetPods,
    policies: () => [np('z', 'named-http', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'http' }] }] })],
    expect: (f, t, p, port) => (ns(f) === 'z' ? t === 'x/c' && p === 'tcp' && port === 80 : true),
  },
  {
    name: 'egress named port, same labels, different numbers: x/a http=80 and x/b http=81, each only on its own',
    before: (c) =>
      writePods(c, { 'x/a': { pod: 'b' } }, { 'x/a': renamed({ 'serve-80-tcp': 'http' }), 'x/b': renamed({ 'serve-81-tcp': 'http' }) }),
    after: resetPods,
    policies: () => [np('z', 'named-http', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'http' }] }] })],
    expect: (f, t, p, port) => (ns(f) === 'z' ? p === 'tcp' && ((t === 'x/a' && port === 80) || (t === 'x/b' && port === 81)) : true),
  },
  {
    name: 'egress named port with an ipBlock 0.0.0.0/0 peer: x/a reaches every pod on serve-81-tcp',
    policies: () => [
      np('x', 'a-to-named-81', { podSelector: sel({ pod: 'a' }), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ port: 'serve-81-tcp' }] }] }),
    ],
    expect: outOf('x/a', (_f, _t, p, port) => p === 'tcp' && port === 81),
  },
  {
    name: 'egress named port with an ipBlock peer never admits a same-identity pod outside the block (x/c relabelled pod=b, block x/b/32)',
    before: (c) => writePods(c, { 'x/c': { pod: 'b' } }),
    after: resetPods,
    policies: (c) => [
      np('x', 'a-to-b-named', { podSelector: sel({ pod: 'a' }), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: ip32(c, 'x/b') } }], ports: [{ port: 'serve-81-tcp' }] }] }),
    ],
    expect: outOf('x/a', (_f, t, p, port) => t === 'x/b' && p === 'tcp' && port === 81),
  },
  {
    name: 'a deleted policy stops applying (nothing from the previous scenarios remains)',
    policies: () => [],
    expect: all,
  },
];
