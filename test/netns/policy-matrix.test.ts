// NetworkPolicy conformance matrix on one node, in the shape of the upstream e2e suite:
// namespaces x, y, z with pods a, b, c each (network namespaces added through the
// real bin/strait with a real strait-agent), TCP and UDP servers on ports 80 and 81,
// every pod probing every other with real packets. The scenarios and their hand-written
// expectations are test/helpers/policy-scenarios.ts, shared with the multi-node matrix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type ClusterPod } from '../helpers/cluster.js';
import { churn, runScenario } from '../helpers/policy-matrix.js';
import { MATRIX_PODS, SERVE, writeNamespaces, writePods, type MatrixCluster } from '../helpers/policy-matrix-objects.js';
import { SCENARIOS } from '../helpers/policy-scenarios.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('NetworkPolicy conformance matrix');

/** One node: every pod on node-1, Pod objects without status (the agent knows its own pods' addresses). */
function oneNode(cluster: Cluster): MatrixCluster<ClusterPod> {
  return {
    write: (file, text) => cluster.write(file, text),
    waitSynced: () => cluster.waitSynced(),
    pods: cluster.pods,
    pod: (r) => cluster.pod(r),
    probe: (probes) => cluster.probe(probes),
    podRange: cluster.subnet,
    placement: () => ({ nodeName: 'node-1' }),
  };
}

describe.skipIf(!isRoot)('NetworkPolicy conformance matrix', () => {
  const cluster = isRoot ? new Cluster('198.18.90.0/24') : (null as unknown as Cluster);
  const matrix = isRoot ? oneNode(cluster) : (null as unknown as MatrixCluster<ClusterPod>);

  beforeAll(async () => {
    writeNamespaces(matrix);
    writePods(matrix);
    await cluster.startAgent();
    for (const pod of MATRIX_PODS) await cluster.addPod(pod, SERVE);
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
    cleanupAll();
  });

  it('traffic keeps flowing while policies unrelated to it change', async () => {
    const { rounds, failures } = await churn(matrix);
    expect(rounds).toBeGreaterThan(5);
    expect(failures).toEqual([]);
  });

  for (const s of SCENARIOS) {
    it(s.name, async () => {
      const wrong = await runScenario(matrix, s);
      expect(wrong, wrong.slice(0, 20).join('\n')).toEqual([]);
    });
  }
});
