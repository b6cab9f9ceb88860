// straitctl lab: the emulated cluster (src/lab) from a shell. Plain `lab` is the
// README's main job; `up` leaves a cluster running for `status`, the manifests and
// the nodes' straitctl, until `down` (from any process: the state file says what exists).
import { parseArgs } from 'node:util';
import { isStraitError, UsageError } from '../errors.js';
import { agentAlive, agentSynced } from '../lab/agent.js';
import { EmulatedCluster } from '../lab/cluster.js';
import { DEFAULT_LAB_DIR, readState, type LabSource } from '../lab/state.js';
import { leftovers } from '../lab/teardown.js';
import { nodeAddresses, type Routing } from '../lab/topology.js';

export const LAB_USAGE = `usage: straitctl lab [up|status|down|bench] [flags]

  lab [--routing native|vxlan] [--source dir|kube]
                  the main job: 3 nodes x 2 pods (dual-stack, native routing), pings
                  same-node and across nodes, a NetworkPolicy and the probes it denies,
                  masquerade to an outside host, iperf3; then everything removed
  lab up --nodes N --pods M [--routing native|vxlan] [--ipv4-only] [--source dir|kube]
                  bring a cluster up and leave it running
  --source        where the agents' cluster state comes from: dir (default), the
                  lab's manifest directory; kube, an emulated API server in the
                  lab's outside netns, which the lab writes its objects to
  lab status      nodes, agents (alive, synced), pods, counters      [-o json]
  lab down        remove it all (also what a crashed \`lab up\` left)
  lab bench [--rounds N] [--seconds S]
                  node -> node, pod -> pod across nodes (strait native, strait
                  VXLAN, bridge + host-local with static routes): iperf3 and TCP
                  request/response, interleaved rounds (default 3 of 3 s), ratios
                  to node -> node beside issue #10's targets; then all removed.
                  Its labs are NAMEn, NAMEv and NAMEr (--name default random)

  --name NAME     which lab (default "lab"); --dir DIR where labs are recorded
                  (env STRAIT_LAB_DIR, default ${DEFAULT_LAB_DIR})
`;

const FLAGS = {
  nodes: { type: 'string' },
  pods: { type: 'string' },
  routing: { type: 'string' },
  source: { type: 'string' },
  'ipv4-only': { type: 'boolean' },
  name: { type: 'string' },
  dir: { type: 'string' },
  output: { type: 'string', short: 'o' },
  rounds: { type: 'string' },
  seconds: { type: 'string' },
} as const;

function count(text: string | undefined, flag: string, def: number): number {
  if (text === undefined) return def;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${flag} takes a number, not "${text}"`);
  return Number(text);
}

function routing(text: string | undefined): Routing {
  if (text === undefined || text === 'native' || text === 'vxlan') return text ?? 'native';
  throw new UsageError(`--routing takes native or vxlan, not "${text}"`);
}

function source(text: string | undefined): LabSource {
  if (text === undefined || text === 'dir' || text === 'kube') return text ?? 'dir';
  throw new UsageError(`--source takes dir or kube, not "${text}"`);
}

export async function lab(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true });
    const [sub, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    if ((values.rounds !== undefined || values.seconds !== undefined) && sub !== 'bench') throw new UsageError('--rounds and --seconds are flags of lab bench');
    if (values.source !== undefined && sub !== undefined && sub !== 'up') throw new UsageError('--source is a flag of lab and lab up');
    const src = source(values.source);
    const dir = values.dir ?? (process.env.STRAIT_LAB_DIR || undefined) ?? DEFAULT_LAB_DIR;
    const bench = sub === 'bench' ? await import('../lab/bench.js') : null;
    const benchOpts = bench?.benchOptions({ ...values, dir });
    if (process.getuid?.() !== 0) {
      console.error('straitctl lab needs root: it creates network namespaces, veth pairs and bpffs mounts');
      return 1;
    }
    if (bench !== null && benchOpts !== undefined) return await bench.clusterBench(benchOpts);
    const name = values.name ?? 'lab';
    switch (sub) {
      case undefined:
        if (values.nodes !== undefined || values.pods !== undefined) throw new UsageError('--nodes and --pods are flags of lab up; the main job is 3 nodes × 2 pods');
        return await (await import('../lab/main-job.js')).mainJob(routing(values.routing), { source: src, labDir: dir });
      case 'up':
        return await up(dir, name, src, values);
      case 'status':
        return status(dir, name, values.output === 'json');
      case 'down':
        return await down(dir, name);
      default:
        throw new UsageError(`unknown lab command "${sub}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`straitctl lab: ${e.message}\n\n${LAB_USAGE}`);
      return 2;
    }
    if (isStraitError(e)) {
      process.stderr.write(`straitctl lab: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function up(dir: string, name: string, src: LabSource, values: { nodes?: string; pods?: string; routing?: string; 'ipv4-only'?: boolean }): Promise<number> {
  const c = await EmulatedCluster.up({
    source: src,
    nodes: count(values.nodes, 'nodes', 3),
    podsPerNode: count(values.pods, 'pods', 2),
    routing: routing(values.routing),
    dualStack: values['ipv4-only'] !== true,
    name,
    labDir: dir,
    log: (l) => console.log(l),
  });
  const s = c.state;
  const flags = `${name === 'lab' ? '' : ` --name ${name}`}${dir === DEFAULT_LAB_DIR ? '' : ` --dir ${dir}`}`;
  console.log(`\nlab "${name}" is up (${s.routing} routing).`);
  if (s.api === undefined) console.log(`Manifests (the API server): ${s.manifests}`);
  else console.log(`API server (emulated): KUBECONFIG=${s.api.kubeconfig} from the outside netns, or its socket ${s.api.socket}; the lab's record of its writes: ${s.manifests}`);
  for (const n of s.nodes) {
    console.log(`  ${n.name} ${nodeAddresses(n.index).v4}: ip netns exec ${n.netns} bin/straitctl status --socket ${n.socket}`);
    console.log(`      drops: bin/straitctl drops --bpf-dir ${n.bpfDir}`);
  }
  for (const p of s.pods) console.log(`  pod ${p.name}: ip netns exec ${p.netns} ping ${p.ips[0] ?? ''}`);
  console.log(`status: straitctl lab status${flags}    remove: straitctl lab down${flags}`);
  return 0;
}

function status(dir: string, name: string, json: boolean): number {
  const c = EmulatedCluster.attach(name, dir);
  if (c === null) {
    console.error(`no lab "${name}" in ${dir}`);
    return 1;
  }
  const nodes = c.state.nodes.map((n) => ({
    name: n.name,
    netns: n.netns,
    agentPid: n.agentPid,
    alive: agentAlive(n),
    synced: agentSynced(n),
    pods: c.podsOf(n.index).map((p) => ({ name: p.name, ips: p.ips })),
    counters: Object.fromEntries([...c.counters(n.index)].filter(([, v]) => v !== 0n).map(([k, v]) => [k, String(v)])),
  }));
  const healthy = nodes.every((n) => n.alive && n.synced);
  if (json) {
    console.log(JSON.stringify({ name, routing: c.state.routing, source: c.state.source ?? 'dir', manifests: c.manifests, healthy, nodes }, null, 2));
    return healthy ? 0 : 1;
  }
  console.log(`lab "${name}": ${nodes.length} nodes, ${c.state.routing} routing, source ${c.state.source ?? 'dir'}, manifests ${c.manifests}`);
  for (const n of nodes) {
    console.log(`  ${n.name}  agent ${n.alive ? `pid ${n.agentPid}` : 'NOT RUNNING'}${n.synced ? ', synced' : ', NOT synced'}`);
    for (const p of n.pods) console.log(`    ${p.name}  ${p.ips.join('  ')}`);
    const cs = Object.entries(n.counters).map(([k, v]) => `${k}=${v}`);
    console.log(`    counters: ${cs.join(' ') || '(all zero)'}`);
  }
  return healthy ? 0 : 1;
}

async function down(dir: string, name: string): Promise<number> {
  const s = readState(dir, name);
  if (s === null) {
    console.log(`no lab "${name}" in ${dir}: nothing to remove`);
    return 0;
  }
  const problems = await (EmulatedCluster.attach(name, dir)?.down() ?? Promise.resolve([]));
  for (const p of problems) console.error(`  ${p}`);
  const left = leftovers(s);
  if (problems.length > 0 || left.length > 0) {
    console.error(`lab "${name}" not fully removed: ${left.join(', ')}`);
    return 1;
  }
  console.log(`lab "${name}" removed`);
  return 0;
}
