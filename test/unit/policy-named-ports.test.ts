// Named ports as the spec reads them: "a named port on a pod" — for egress, the
// destination pod's, whether a selector or an ipBlock matched it (issue #8, item 6).
// The scenarios are the issue's, on the conformance matrix's shape: namespaces x, z,
// pods a, b, c labelled pod=<name>.
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/policy/compile.js';
import type { ClusterState, LocalEndpoint, Pod, Protocol } from '../../src/policy/types.js';
import { cluster, endpoint, node, ns, pod, policy } from '../helpers/policy-builders.js';
import { datapathVerdict, referenceVerdict } from '../helpers/policy-oracle.js';

const HOST = '192.168.1.10';
const opts = { nodeName: 'node-a', hostAddresses: [HOST] };

type Ports = [string, number, string?][];
const SERVE: Ports = [['serve-80-tcp', 80], ['serve-81-tcp', 81], ['serve-80-udp', 80, 'UDP'], ['serve-81-udp', 81, 'UDP']];

/** x/a, x/b, x/c, z/a, z/b, z/c on this node; labels and ports overridable per pod. */
function matrix(over: Record<string, { labels?: Record<string, string>; ports?: Ports }> = {}) {
  const pods: Pod[] = [];
  let n = 10;
  for (const space of ['x', 'z']) {
    for (const name of ['a', 'b', 'c']) {
      const o = over[`${space}/${name}`] ?? {};
      pods.push(pod(space, name, o.labels ?? { pod: name }, { ips: [`10.244.1.${n++}`], ports: o.ports ?? SERVE }));
    }
  }
  const locals = pods.map((p, i) => endpoint(100 + i, p));
  return { pods, locals };
}

function verdicts(state: ClusterState, locals: LocalEndpoint[], from: string, to: Pod, protocol: Protocol, port: number) {
  const l = locals.find((e) => `${e.podNamespace}/${e.podName}` === from)!;
  const compiled = compile(state, locals, opts);
  return {
    got: datapathVerdict(compiled, l.ifindex, 'egress', to.ips[0]!, protocol, port),
    want: referenceVerdict(state, l, 'egress', to.ips[0]!, protocol, port, [HOST]),
  };
}

const podNamed = (pods: Pod[], ref: string): Pod => pods.find((p) => `${p.namespace}/${p.name}` === ref)!;
const egressNamed = (port: string, to?: object[]) =>
  policy('z', 'named-out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ...(to === undefined ? {} : { to }), ports: [{ port }] }] });

describe('egress named ports resolve on the destination pod', () => {
  it('x/c relabelled {pod: b} and naming TCP/80 http: z reaches x/c on 80, never x/b (which has no http)', () => {
    const { pods, locals } = matrix({
      'x/c': { labels: { pod: 'b' }, ports: [['http', 80], ['serve-81-tcp', 81]] },
    });
    const state = cluster({ namespaces: [ns('x'), ns('z')], pods, policies: [egressNamed('http')], nodes: [node('node-a', [HOST])] });
    const xb = podNamed(pods, 'x/b');
    const xc = podNamed(pods, 'x/c');
    expect(verdicts(state, locals, 'z/a', xc, 'TCP', 80)).toEqual({ got: true, want: true });
    expect(verdicts(state, locals, 'z/a', xb, 'TCP', 80)).toEqual({ got: false, want: false });
    expect(verdicts(state, locals, 'z/a', xc, 'TCP', 81)).toEqual({ got: false, want: false });
  });

  it('x/a http=80 and x/b http=81 with equal labels: each pod on its own http port only', () => {
    const { pods, locals } = matrix({
      'x/a': { labels: { pod: 'b' }, ports: [['http', 80]] },
      'x/b': { labels: { pod: 'b' }, ports: [['http', 81]] },
    });
    const state = cluster({ namespaces: [ns('x'), ns('z')], pods, policies: [egressNamed('http')], nodes: [node('node-a', [HOST])] });
    const [xa, xb] = [podNamed(pods, 'x/a'), podNamed(pods, 'x/b')];
    expect(verdicts(state, locals, 'z/b', xa, 'TCP', 80).got).toBe(true);
    expect(verdicts(state, locals, 'z/b', xa, 'TCP', 81).got).toBe(false);
    expect(verdicts(state, locals, 'z/b', xb, 'TCP', 81).got).toBe(true);
    expect(verdicts(state, locals, 'z/b', xb, 'TCP', 80).got).toBe(false);
  });

  it('pods with equal labels and equal named ports still share one identity (replicas need no entries of their own)', () => {
    const { pods, locals } = matrix({ 'x/c': { labels: { pod: 'b' } } });
    const s = compile(cluster({ namespaces: [ns('x'), ns('z')], pods }), locals, opts);
    expect(s.ipcache.get(podNamed(pods, 'x/c').ips[0]!)).toBe(s.ipcache.get(podNamed(pods, 'x/b').ips[0]!));
  });

  it('identities that depend on named ports are stable: the same cluster numbers them the same without a previous state', () => {
    const { pods, locals } = matrix({ 'x/a': { labels: { pod: 'b' }, ports: [['http', 80]] } });
    const state = cluster({ namespaces: [ns('x'), ns('z')], pods });
    const first = compile(state, locals, opts);
    const again = compile(cluster({ ...state, pods: [...pods].reverse() }), [...locals].reverse(), opts);
    expect(again.ipcache).toEqual(first.ipcache);
    expect(again.ipcache.get(podNamed(pods, 'x/a').ips[0]!)).not.toBe(again.ipcache.get(podNamed(pods, 'x/b').ips[0]!));
  });
});

describe('an egress named port with an ipBlock peer matches pod addresses inside the block', () => {
  it('ipBlock 0.0.0.0/0 with port serve-81-tcp allows TCP/81 to every pod naming it, and nothing else', () => {
    const { pods, locals } = matrix();
    const p = policy('x', 'to-81', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ port: 'serve-81-tcp' }] }] });
    const state = cluster({ namespaces: [ns('x'), ns('z')], pods, policies: [p], nodes: [node('node-a', [HOST])] });
    for (const to of pods.filter((q) => `${q.namespace}/${q.name}` !== 'x/a')) {
      expect(verdicts(state, locals, 'x/a', to, 'TCP', 81), `${to.namespace}/${to.name}`).toEqual({ got: true, want: true });
      expect(verdicts(state, locals, 'x/a', to, 'TCP', 80).got).toBe(false);
      expect(verdicts(state, locals, 'x/a', to, 'UDP', 81).got).toBe(false);
    }
    const compiled = compile(state, locals, opts);
    const xa = locals.find((e) => e.podName === 'a' && e.podNamespace === 'x')!;
    expect(datapathVerdict(compiled, xa.ifindex, 'egress', '8.8.8.8', 'TCP', 81)).toBe(false); // no pod, no port names
  });

  it('a same-identity pod OUTSIDE the block is not allowed: x/c shares x/b labels, the block is x/b/32', () => {
    const { pods, locals } = matrix({ 'x/c': { labels: { pod: 'b' } } });
    const xb = podNamed(pods, 'x/b');
    const xc = podNamed(pods, 'x/c');
    const p = policy('x', 'to-b', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${xb.ips[0]}/32` } }], ports: [{ port: 'serve-81-tcp' }] }] });
    const state = cluster({ namespaces: [ns('x'), ns('z')], pods, policies: [p], nodes: [node('node-a', [HOST])] });
    expect(verdicts(state, locals, 'x/a', xb, 'TCP', 81)).toEqual({ got: true, want: true });
    expect(verdicts(state, locals, 'x/a', xc, 'TCP', 81)).toEqual({ got: false, want: false });
  });

  it('an except inside the block keeps its pods out, and another block rule still covers the new /32 prefixes', () => {
    const { pods, locals } = matrix();
    const xb = podNamed(pods, 'x/b');
    const named = policy('x', 'named', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: [`${xb.ips[0]}/32`] } }], ports: [{ port: 'serve-81-tcp' }] }] });
    const wide = policy('x', 'wide', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.1.0/24' } }], ports: [{ port: 80 }] }] });
    const state = cluster({ namespaces: [ns('x'), ns('z')], pods, policies: [named, wide], nodes: [node('node-a', [HOST])] });
    expect(verdicts(state, locals, 'x/a', xb, 'TCP', 81)).toEqual({ got: false, want: false });
    expect(verdicts(state, locals, 'x/a', podNamed(pods, 'z/b'), 'TCP', 81)).toEqual({ got: true, want: true });
    for (const to of pods) expect(verdicts(state, locals, 'x/c', to, 'TCP', 80), `${to.namespace}/${to.name}`).toEqual({ got: true, want: true });
  });
});
