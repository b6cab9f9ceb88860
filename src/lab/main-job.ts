// `straitctl lab` with no subcommand, the README's main job: three nodes with two
// pods each (dual-stack, native routing), then pings same-node and cross-node over
// both families, a NetworkPolicy and the probes it denies counted on the receiving
// node, a Service's ClusterIPs answered by pods of several nodes, the outside host
// reached through masquerade, iperf3 same-node, cross-node and
// node-to-node — and everything removed, whatever failed. Exit 1 if any check failed.
import { counter, flows, iperf, ping, probe, type Where } from './checks.js';
import { EmulatedCluster } from './cluster.js';
import { serviceDemo } from './service-demo.js';
import type { LabPod, LabSource } from './state.js';
import { nodeAddresses, OUTSIDE, type Routing } from './topology.js';

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

const POLICY_FILE = 'policy-n2-a.json';

class Report {
  failed = 0;
  check(ok: boolean, line: string): void {
    if (!ok) this.failed++;
    console.log(`  ${ok ? 'ok    ' : 'FAILED'} ${line}`);
  }
}

const family = (ip: string): string => (ip.includes(':') ? 'IPv6' : 'IPv4');

function pings(c: EmulatedCluster, r: Report, pairs: [LabPod, LabPod][]): void {
  for (const [a, b] of pairs) {
    for (const ip of b.ips) {
      const p = ping(c, { pod: a.name }, ip);
      r.check(p.ok, `${a.name} -> ${b.name}  ${family(ip)} ${ip.padEnd(20)} ${p.rtt ?? ''}`);
    }
  }
}

function policyDemo(c: EmulatedCluster, r: Report): void {
  const [n1a, n1b, n2a, n2b] = ['n1-a', 'n1-b', 'n2-a', 'n2-b'].map((n) => c.pod(n)) as [LabPod, LabPod, LabPod, LabPod];
  const target = n2a.ips[0]!;
  c.writeManifest(POLICY_FILE, {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: 'lab', name: 'n2-a-from-n1-a' },
    spec: { podSelector: { matchLabels: { pod: 'n2-a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'n1-a' } } }], ports: [{ port: 'http' }] }] },
  });
  c.waitSynced();
  console.log(`  NetworkPolicy lab/n2-a-from-n1-a: n2-a takes tcp/http only from n1-a (${c.state.api === undefined ? `${c.manifests}/${POLICY_FILE}` : 'written to the API'})`);
  r.check(probe(c, { pod: n1a.name }, target) === n2a.name, `n1-a -> n2-a tcp/8080 allowed (across nodes)`);
  for (const from of [n2b, n1b]) {
    const before = counter(c, 2, 'DROP_POLICY_INGRESS');
    const answer = probe(c, { pod: from.name }, target);
    const dropped = counter(c, 2, 'DROP_POLICY_INGRESS') - before;
    const where = from.node === 2 ? 'same node' : 'across nodes';
    r.check(answer === null && dropped > 0n, `${from.name} -> n2-a tcp/8080 denied (${where}): ${answer === null ? 'no answer' : `answered by ${answer}`}, n2 counted ${dropped} DROP_POLICY_INGRESS`);
    // What n2's agent saw: the denial as a flow record, named (straitctl flows / monitor).
    const seen = flows(c, 2, ['--verdict', 'denied', '--pod', `lab/${from.name}`]).find((f) => f.dst.ip === target && f.dst.pod === 'lab/n2-a');
    r.check(seen !== undefined, seen === undefined ? `no denied flow record of ${from.name} -> n2-a on n2` : `  n2 saw it: ${seen.verdict} ${seen.src.pod} -> ${seen.dst.pod}:${seen.dst.port} ${seen.protocol} (${seen.reason}, at ${seen.point})`);
  }
  c.removeManifest(POLICY_FILE);
  c.waitSynced();
}

async function throughput(c: EmulatedCluster, r: Report, what: string, from: Where, server: Where, to: string): Promise<void> {
  try {
    const bps = await iperf(c, from, server, to);
    r.check(bps > 0, `${what.padEnd(34)} ${(bps / 1e9).toFixed(2)} Gbit/s`);
  } catch (e) {
    r.check(false, `${what.padEnd(34)} ${(e as Error).message.split('\n')[0]}`);
  }
}

function counters(c: EmulatedCluster): void {
  for (const node of c.state.nodes) {
    const shown = [...c.counters(node.index)].filter(([, v]) => v !== 0n).map(([k, v]) => `${k}=${v}`);
    console.log(`  ${node.name}: ${shown.join(' ') || '(all zero)'}`);
  }
}

export async function mainJob(routing: Routing = 'native', opts: { source?: LabSource; labDir?: string } = {}): Promise<number> {
  const source = opts.source ?? 'dir';
  const r = new Report();
  let leftover = 0;
  let c: EmulatedCluster | null = null;
  try {
    console.log(bold(`strait lab: 3 nodes x 2 pods, dual-stack, ${routing} routing, --source ${source}`));
    c = await EmulatedCluster.up({ nodes: 3, podsPerNode: 2, routing, dualStack: true, source, name: `main${process.pid % 100000}`, log: (l) => console.log(`  ${l}`), ...(opts.labDir === undefined ? {} : { labDir: opts.labDir }) });
    const a = (i: number): LabPod => c!.podsOf(i)[0]!;
    const b = (i: number): LabPod => c!.podsOf(i)[1]!;
    console.log(bold('ping, same node'));
    pings(c, r, [1, 2, 3].map((i) => [a(i), b(i)]));
    console.log(bold('ping, across nodes'));
    pings(c, r, [[a(1), a(2)], [a(2), b(3)], [a(3), b(1)], [b(1), a(3)], [b(2), a(1)], [b(3), b(2)]]);
    console.log(bold('NetworkPolicy'));
    policyDemo(c, r);
    console.log(bold('Service (translated in BPF, no kube-proxy)'));
    serviceDemo(c, (ok, line) => r.check(ok, line));
    console.log(bold(`masquerade: pods reach the outside host (${OUTSIDE.v4}, ${OUTSIDE.v6}), which has no route to any pod`));
    for (const i of [1, 2, 3]) for (const ip of [OUTSIDE.v4, OUTSIDE.v6]) r.check(ping(c, { pod: a(i).name }, ip).ok, `${a(i).name} -> outside ${ip}`);
    console.log(bold('iperf3 TCP, one stream, 2 s'));
    await throughput(c, r, 'same node (n1-a -> n1-b)', { pod: a(1).name }, { pod: b(1).name }, b(1).ips[0]!);
    await throughput(c, r, 'across nodes (n1-a -> n2-a)', { pod: a(1).name }, { pod: a(2).name }, a(2).ips[0]!);
    await throughput(c, r, 'node to node (n1 -> n2, underlay)', { node: 1 }, { node: 2 }, nodeAddresses(2).v4);
    console.log(bold('datapath counters (non-zero)'));
    counters(c);
  } catch (e) {
    r.failed++;
    console.error(`lab failed: ${(e as Error).message}`);
  } finally {
    if (c !== null) {
      const problems = await c.down();
      for (const p of problems) console.error(`  cleanup: ${p}`);
      leftover = problems.length;
    }
  }
  const removed = leftover === 0 ? 'everything removed' : `${leftover} things NOT removed (see above; \`straitctl lab down\` retries)`;
  console.log(bold(r.failed > 0 ? `lab FAILED (${r.failed} checks); ${removed}` : `done: every check passed; ${removed}`));
  return r.failed > 0 || leftover > 0 ? 1 : 0;
}
