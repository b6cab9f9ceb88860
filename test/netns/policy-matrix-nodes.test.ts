// The NetworkPolicy conformance matrix over three emulated nodes, in both routing
// modes: the scenarios and hand-written expectations of test/helpers/policy-scenarios.ts
// (the one-node matrix's), with pods x/y/z × a/b/c spread round robin so that every
// scenario has same-node and cross-node pairs (x/a, y/a, z/a on n1; b on n2; c on n3).
// A cross-node probe is judged by the receiving node (from_uplink, or from_tunnel in
// VXLAN mode) from the ipcache the Pod objects of other nodes fill, and by the
// sending node's egress policy in from_pod.
import { describe, expect, it } from 'vitest';
import type { Routing } from '../../src/lab/topology.js';
import { churn, runScenario } from '../helpers/policy-matrix.js';
import { np, writePolicies } from '../helpers/policy-matrix-objects.js';
import { useNodesMatrix } from '../helpers/policy-matrix-nodes.js';
import { SCENARIOS } from '../helpers/policy-scenarios.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('NetworkPolicy conformance matrix over three nodes');

const MODES: Routing[] = ['native', 'vxlan'];
/** The counters of a cross-node packet: sent by from_pod on the source node, taken by the receiving node's program into the pod. */
const PATH = { native: { tx: 'STAT_TO_NODE', rx: 'STAT_FROM_NODE' }, vxlan: { tx: 'STAT_TUNNEL_TX', rx: 'STAT_TUNNEL_RX' } } as const;

describe.skipIf(!isRoot).each(MODES)('NetworkPolicy conformance matrix over three nodes, routing %s', (routing) => {
  const matrix = useNodesMatrix(routing);

  it('places pods of every namespace on every node', () => {
    const nodes = (namespace: string) => new Set(matrix().pods.filter((p) => p.namespace === namespace).map((p) => p.node));
    for (const namespace of ['x', 'y', 'z']) expect(nodes(namespace)).toEqual(new Set([1, 2, 3]));
  });

  it('carries cross-node probes through the datapath and judges them on the receiving node', async () => {
    const c = matrix();
    const count = (i: number, name: string): bigint => c.lab.counters(i).get(name) ?? 0n;
    const [from, to] = [c.pods.filter((p) => p.node === 1), c.pods.filter((p) => p.node === 2)];
    const probes = from.flatMap((f) => to.map((t) => ({ from: f, to: t, proto: 'tcp' as const, port: 80 })));
    const [tx, rx] = [count(1, PATH[routing].tx), count(2, PATH[routing].rx)];
    expect(await c.probe(probes)).toEqual(probes.map(() => true));
    // every connection's SYN at least: left n1 by strait's path, entered its pod on n2 by it
    expect(count(1, PATH[routing].tx) - tx).toBeGreaterThanOrEqual(BigInt(probes.length));
    expect(count(2, PATH[routing].rx) - rx).toBeGreaterThanOrEqual(BigInt(probes.length));
    // a denial of y/b (n2) -> x/a (n1) is the receiving node's
    writePolicies(c, [np('x', 'deny-in', { podSelector: {}, policyTypes: ['Ingress'] })]);
    await c.waitSynced();
    try {
      const drops = count(1, 'DROP_POLICY_INGRESS');
      expect(await c.probe([{ from: c.pod('y/b'), to: c.pod('x/a'), proto: 'tcp', port: 80 }])).toEqual([false]);
      expect(count(1, 'DROP_POLICY_INGRESS')).toBeGreaterThan(drops);
    } finally {
      writePolicies(c, []);
      await c.waitSynced();
    }
  });

  it('traffic keeps flowing while policies unrelated to it change', async () => {
    const { rounds, failures } = await churn(matrix());
    expect(rounds).toBeGreaterThan(5);
    expect(failures).toEqual([]);
  });

  for (const s of SCENARIOS) {
    it(s.name, async () => {
      const wrong = await runScenario(matrix(), s);
      expect(wrong, wrong.slice(0, 20).join('\n')).toEqual([]);
    });
  }
});
