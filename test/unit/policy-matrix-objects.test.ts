// The shared conformance matrix writes the same objects for one node and for several;
// only the placement hook differs. Here, without root: every Pod object a scenario
// writes (relabelled ones too) carries the hook's node and addresses as the agent
// parses them, every scenario undoes its object changes, and its policies are valid.
import { describe, expect, it } from 'vitest';
import { parseManifests } from '../../src/cluster/manifests.js';
import { clusterState } from '../../src/cluster/snapshot.js';
import type { ClusterState } from '../../src/policy/types.js';
import { MATRIX_PODS, writeNamespaces, writePods, writePolicies, type MatrixCluster, type MatrixPod, type PodPlacement } from '../helpers/policy-matrix-objects.js';
import { SCENARIOS } from '../helpers/policy-scenarios.js';

/** Nine pods over three nodes, node i holding 198.18.(100+i).0/24 and fd5a:1ab:<i>::/64, as the lab does. */
function fakeCluster(placement: (r: string) => PodPlacement): MatrixCluster & { files: Map<string, string>; history: string[] } {
  const files = new Map<string, string>();
  const history: string[] = [];
  const pods: MatrixPod[] = MATRIX_PODS.map((p, i) => ({ namespace: p.namespace, name: p.name, ip: `198.18.${101 + (i % 3)}.${10 + i}` }));
  return {
    files,
    history,
    write: (file, text) => {
      files.set(file, text);
      history.push(file);
    },
    waitSynced: () => Promise.resolve(),
    pods,
    pod: (r) => {
      const p = pods.find((x) => `${x.namespace}/${x.name}` === r);
      if (p === undefined) throw new Error(`no pod ${r}`);
      return p;
    },
    probe: (probes) => Promise.resolve(probes.map(() => true)),
    podRange: '198.18.96.0/19',
    placement,
  };
}

const spread = (c: { pod(r: string): MatrixPod }) => (r: string): PodPlacement => {
  const i = MATRIX_PODS.findIndex((p) => `${p.namespace}/${p.name}` === r);
  return { nodeName: `n${1 + (i % 3)}`, podIPs: [c.pod(r).ip, `fd5a:1ab:${1 + (i % 3)}::${(10 + i).toString(16)}`] };
};

function parsed(files: Map<string, string>): ClusterState {
  const objects = [...files].flatMap(([file, text]) => {
    const r = parseManifests(file, text);
    expect(r.errors.map((e) => e.message)).toEqual([]);
    return r.objects.map((o) => o.obj);
  });
  return clusterState(objects);
}

describe('the conformance matrix objects', () => {
  it('one node: Pod objects on node-1 with no status, as the one-node matrix always wrote them', () => {
    const c = fakeCluster(() => ({ nodeName: 'node-1' }));
    writePods(c);
    const text = JSON.parse(c.files.get('pods.json')!) as { items: { status?: unknown; spec: { nodeName: string } }[] };
    expect(text.items).toHaveLength(9);
    expect(text.items.every((o) => o.status === undefined && o.spec.nodeName === 'node-1')).toBe(true);
  });

  it('several nodes: every Pod object each scenario writes carries its node and addresses, relabelled ones included', () => {
    const c = fakeCluster((r) => spread(c)(r));
    writeNamespaces(c);
    writePods(c);
    const baseline = new Map(c.files);
    let relabelled = 0;
    for (const s of SCENARIOS) {
      c.history.length = 0;
      s.before?.(c);
      writePolicies(c, s.policies(c));
      if (c.history.includes('pods.json')) relabelled++;
      const state = parsed(c.files);
      expect(state.pods, s.name).toHaveLength(9);
      for (const p of state.pods) {
        const want = spread(c)(`${p.namespace}/${p.name}`);
        expect({ node: p.nodeName, ips: p.ips }, `${s.name}: ${p.namespace}/${p.name}`).toEqual({ node: want.nodeName, ips: want.podIPs });
      }
      expect(state.policies.length, s.name).toBe(s.policies(c).length);
      s.after?.(c);
      c.files.delete('policies.json');
      expect(c.files, `${s.name} leaves its objects changed`).toEqual(baseline);
    }
    // the scenarios that relabel pods or rename ports: their objects were checked above
    expect(relabelled).toBe(5);
  });
});
