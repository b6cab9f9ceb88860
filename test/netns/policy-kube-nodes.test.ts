// NetworkPolicy through --source kube over three emulated nodes: the lab's agents
// watch the API emulation (the lab on --source kube: src/lab/api.ts, in the lab's
// outside namespace where the node namespaces reach it), and every manifest the
// matrix writes goes to the API. The whole conformance matrix of policy-scenarios.ts (native
// routing; the dir source's run covers VXLAN too), and a policy created and deleted
// through the API is enforced on every node.
import { describe, expect, it } from 'vitest';
import { agentRequest } from '../../src/agent/client.js';
import type { AgentStatus } from '../../src/agent/core.js';
import { runScenario } from '../helpers/policy-matrix.js';
import { useNodesMatrix } from '../helpers/policy-matrix-nodes.js';
import { SCENARIOS } from '../helpers/policy-scenarios.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('NetworkPolicy through --source kube over three nodes');


describe.skipIf(!isRoot)('NetworkPolicy through --source kube over three nodes', () => {
  const matrix = useNodesMatrix('native', { source: 'kube' });

  it('every agent reads the API: each kind listed and watched, the cluster in it', async () => {
    for (const n of matrix().lab.state.nodes) {
      const s = (await agentRequest(n.socket, 'GET', '/v1/status')).json as AgentStatus;
      expect(s.synced).toBe(true);
      expect(s.source?.kind).toBe('kube');
      const byKind = Object.fromEntries((s.source?.resources ?? []).map((r) => [r.resource, r]));
      expect(Object.keys(byKind).sort()).toEqual(['endpointslices', 'namespaces', 'networkpolicies', 'nodes', 'pods', 'services']);
      expect(Object.values(byKind).every((r) => r.synced)).toBe(true);
      expect(byKind.pods!.objects).toBe(9);
      expect(byKind.nodes!.objects).toBe(3);
      expect(s.source?.problems).toEqual([]);
    }
  });

  for (const s of SCENARIOS) {
    it(s.name, async () => {
      const wrong = await runScenario(matrix(), s);
      expect(wrong, wrong.slice(0, 20).join('\n')).toEqual([]);
    });
  }

  it('a policy created through the API is enforced on every node, and its deletion too', async () => {
    const c = matrix();
    // x/a on n1, x/b on n2, x/c on n3; the senders of y sit on every node too.
    const into = ['x/a', 'x/b', 'x/c'].flatMap((to) => ['y/a', 'y/b', 'y/c'].map((from) => ({ from: c.pod(from), to: c.pod(to), proto: 'tcp' as const, port: 80 })));
    expect(await c.probe(into)).toEqual(into.map(() => true));
    c.write('api-deny.json', JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'api-deny', namespace: 'x' },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    }));
    await c.waitSynced();
    expect(await c.probe(into)).toEqual(into.map(() => false));
    c.lab.removeManifest('api-deny.json');
    await c.waitSynced();
    expect(await c.probe(into)).toEqual(into.map(() => true));
  });
});
