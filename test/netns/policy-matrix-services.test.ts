// The NetworkPolicy conformance matrix probed through Services (issue #13): every pod
// has a ClusterIP Service of its own and every probe goes to the target's ClusterIP,
// over three emulated nodes and over one (native routing), with the scenarios' hand-written
// verdicts: policy applies to the real backend (its identity, its named and
// translated port, its address for an ipBlock), so the verdicts are the pod-IP ones.
// Two variants: strait's translation alone ("without kube-proxy"), and with
// kube-proxy's iptables rules on every node as well, whose DNAT must then see no pod
// traffic: strait translated it before the host stack could.
//
// STRAIT_SERVICE_MATRIX=iptables-only runs the matrix the way strait fared before it
// translated Services: kube-proxy's rules, no Service objects for strait, so egress
// policy is judged on the ClusterIP. Some scenarios then fail; that run is the
// baseline this harness was proved against.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { allProbes, runScenario } from '../helpers/policy-matrix.js';
import { np, PORTS, ref, writePolicies } from '../helpers/policy-matrix-objects.js';
import { SCENARIOS } from '../helpers/policy-scenarios.js';
import { clusterIPs, servicePort, useServiceMatrix, type ServiceVariant } from '../helpers/service-matrix.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';
import type { Routing } from '../../src/lab/topology.js';

warnIfNotRoot('NetworkPolicy conformance matrix through Services');

const IPTABLES_ONLY = process.env.STRAIT_SERVICE_MATRIX === 'iptables-only';
const WITHOUT: ServiceVariant = { kubeProxy: false, objects: true };
const WITH: ServiceVariant = { kubeProxy: true, objects: true };
/**
 * Three nodes (x/a, y/a, z/a on n1, the b pods on n2, the c pods on n3: same-node and
 * cross-node pairs) natively routed with and without kube-proxy, over VXLAN without
 * it (the tunnel's path), and one node with it.
 */
const RUNS: (ServiceVariant & { name: string; nodes: number; routing: Routing })[] = IPTABLES_ONLY
  ? [3, 1].map((nodes) => ({ name: "kube-proxy's iptables alone (no Service objects for strait)", kubeProxy: true, objects: false, nodes, routing: 'native' }))
  : [
      { name: 'without kube-proxy', ...WITHOUT, nodes: 3, routing: 'native' },
      { name: 'with kube-proxy', ...WITH, nodes: 3, routing: 'native' },
      { name: 'without kube-proxy', ...WITHOUT, nodes: 3, routing: 'vxlan' },
      { name: 'with kube-proxy', ...WITH, nodes: 1, routing: 'native' },
    ];

/** One TCP request from a node's own netns (a host-network client): the answer, or null. */
function hostFetch(netns: string, host: string, port: number): string | null {
  const script = `const s = require('net').connect(${port}, '${host}'); let d = ''; s.on('data', (x) => (d += x)); s.on('end', () => { console.log(d); process.exit(0); }); s.on('error', () => process.exit(1)); setTimeout(() => process.exit(1), 3000);`;
  const r = spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

describe.skipIf(!isRoot).each(RUNS)('NetworkPolicy conformance matrix through Services over $nodes node(s), routing $routing, $name', (run) => {
  const matrix = useServiceMatrix(run.routing, run, run.nodes);

  it('every pod reaches every other through its IPv6 ClusterIP too', async () => {
    const c = matrix();
    const probes = allProbes(c);
    const got = await c.probe(probes, 6);
    const wrong = probes.filter((_, i) => !got[i]).map((p) => `${ref(p.from)} -> [${clusterIPs(ref(p.to)).v6}]:${servicePort(p.proto, p.port)} ${p.proto}`);
    expect(wrong).toEqual([]);
  });

  for (const s of SCENARIOS) {
    it(s.name, async () => {
      const wrong = await runScenario(matrix(), s);
      expect(wrong, wrong.slice(0, 20).join('\n')).toEqual([]);
    });
  }

  it('a pod reaches itself through its own Service (hairpin), even where policy isolates it: its traffic to itself is not policed', async () => {
    const c = matrix();
    const self = c.pods.flatMap((p) => PORTS.map(([proto, port]) => ({ from: p, to: p, proto, port })));
    try {
      for (const policies of [[], [np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })]]) {
        writePolicies(c, policies);
        await c.waitSynced();
        const got = await c.probe(self);
        expect(self.filter((_, i) => !got[i]).map((p) => `${ref(p.from)} ${p.proto}/${p.port} with ${policies.length} policies`)).toEqual([]);
      }
    } finally {
      writePolicies(c, []);
      await c.waitSynced();
    }
  });

  if (run.objects) {
    it("strait translated the pods' Service traffic on every node, both ways, and lost no connection's way back", () => {
      const c = matrix();
      for (const n of c.nodes.lab.state.nodes) {
        const counters = c.nodes.lab.counters(n.index);
        const get = (name: string): bigint => counters.get(name) ?? 0n;
        expect([get('STAT_LB_TRANSLATED') > 0n, get('STAT_LB_REV_NAT') > 0n, get('STAT_LB_HAIRPIN') > 0n], n.name).toEqual([true, true, true]);
        // every Service keeps its one backend throughout: nothing to reject, no reply without its translation
        const lost = ['STAT_LB_REJECTED', 'DROP_LB_NO_BACKEND', 'DROP_LB_BACKEND_GONE', 'DROP_LB_REV_MISS'].map((k) => `${k}=${get(k)}`);
        expect(lost, n.name).toEqual(['STAT_LB_REJECTED=0', 'DROP_LB_NO_BACKEND=0', 'DROP_LB_BACKEND_GONE=0', 'DROP_LB_REV_MISS=0']);
      }
    });
  }

  if (run.kubeProxy) {
    it("kube-proxy's DNAT rules saw none of the pods' traffic: strait translated it first", () => {
      const counters = matrix().dnatCounters();
      // 9 Services x 4 ports x 2 families on every node
      expect(counters).toHaveLength(9 * 4 * 2 * run.nodes);
      expect(counters.filter((r) => r.packets !== 0n).map((r) => `${r.netns} ${r.chain} ${r.protocol} -> ${r.to}: ${r.packets} packets`)).toEqual([]);
    });

    it('a host-network client still goes through kube-proxy: its DNAT rule counts the connection', () => {
      const c = matrix();
      const node = c.nodes.lab.node(1).netns;
      const target = `${c.pod('x/a').ip}:81`;
      const count = (): bigint => c.dnatCounters().find((r) => r.netns === node && r.protocol === 'tcp' && r.to === target)?.packets ?? -1n;
      const before = count();
      expect(hostFetch(node, clusterIPs('x/a').v4, servicePort('tcp', 81))).toBe('x/a');
      expect(count()).toBe(before + 1n);
    });
  }
});
