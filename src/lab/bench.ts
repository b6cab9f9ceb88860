// The cluster bench (`straitctl lab bench`, bench/cluster.mjs): in one run,
// interleaved round by round, iperf3 throughput and TCP request/response latency of
//   node   node → node over the underlay (the limit): two nodes' uplinks, no BPF on them
//   native pod → pod across nodes, strait with native routing
//   vxlan  pod → pod across nodes, strait with VXLAN
//   bridge pod → pod across nodes, the reference bridge + host-local plugins with
//          static host routes (flannel host-gw style)
//   kvxlan node → node through the kernel's own VXLAN (a plain device, no BPF), on the
//          reference's nodes: what a tunnel costs here before strait adds anything
// as ratios to node → node, with issue #10's targets beside them. The two strait
// clusters and the reference run side by side (each lab has its own underlay netns,
// so the contract's addresses do not collide). Everything built is removed at the
// end, also after a failure or a SIGINT/SIGTERM/SIGHUP (exit 130).
import { closeSync, openSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { StraitError, UsageError } from '../errors.js';
import { requestResponse, startServers, stopServers, throughput, type Path } from './bench-measure.js';
import { renderReport, verdicts, type SetupResult } from './bench-report.js';
import { EmulatedCluster } from './cluster.js';
import { ReferenceCluster } from './reference.js';
import { inNetns, run } from './run.js';
import { checkLabName, DEFAULT_LAB_DIR } from './state.js';
import { nodeAddresses, UPLINK_MTU, VXLAN_OVERHEAD, type Routing } from './topology.js';

export interface BenchOptions {
  rounds: number;
  seconds: number;
  /** the labs are <name>n (native), <name>v (VXLAN) and <name>r (reference) */
  name: string;
  labDir: string;
}

export const BENCH_FLAGS = '[--rounds N] [--seconds S] [--name NAME] [--dir DIR]';

function positive(text: string | undefined, flag: string, def: number, max: number): number {
  if (text === undefined) return def;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new UsageError(`--${flag} takes a whole number 1..${max}, not "${text}"`);
  return Number(text);
}

/** The bench's flags, as `straitctl lab bench` and bench/cluster.mjs both take them. */
export function benchOptions(values: { rounds?: string; seconds?: string; name?: string; dir?: string }): BenchOptions {
  const name = values.name ?? `b${randomBytes(3).toString('hex')}`;
  if (name.length > 11) throw new UsageError(`--name takes at most 11 characters for the bench (it adds one per lab), not "${name}"`);
  checkLabName(name);
  return { rounds: positive(values.rounds, 'rounds', 3, 100), seconds: positive(values.seconds, 'seconds', 3, 60), name, labDir: values.dir ?? DEFAULT_LAB_DIR };
}

class Interrupted extends Error {}

interface Setup extends SetupResult {
  path: Path | null;
  /** the datapath counters of its nodes ("n1 DROP_…"), so a failure can say where its packets went */
  counters?: () => Map<string, bigint>;
  servers: number[];
}

const setup = (id: string, label: string): Setup => ({ id, label, samples: { throughput: [], p50: [], p99: [] }, failure: null, path: null, servers: [] });

/**
 * Keeps the CPUs out of deep idle states while measuring (a PM QoS request of 0 µs
 * held while the file is open), as bench/lib.mjs does: an idle core's wake-up would
 * otherwise dominate request/response latency. Every setup is measured under it.
 */
function holdCpusAwake(): () => void {
  try {
    const fd = openSync('/dev/cpu_dma_latency', 'w');
    writeSync(fd, Buffer.alloc(4));
    return () => closeSync(fd);
  } catch (e) {
    console.error(`note: cannot hold /dev/cpu_dma_latency (${(e as NodeJS.ErrnoException).code}); latency includes CPU wake-ups`);
    return () => {};
  }
}

/** A path that answers no ping gets its reason now, not an iperf3 time-out per round. */
function reachable(p: Path): string | null {
  const [cmd, args] = inNetns(p.clientNetns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', p.serverIp]);
  const r = run(cmd, args, { timeoutMs: 15_000 });
  return r.status === 0 ? null : `${p.serverIp} does not answer ping from ${p.clientNetns}`;
}

/** onResults: the table's data once measured (bench/cluster.mjs records it for its results folder). */
export async function clusterBench(opts: BenchOptions, onResults?: (title: string, setups: readonly SetupResult[]) => void): Promise<number> {
  const ac = new AbortController();
  const { signal } = ac;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!signal.aborted) console.error(`\n${sig}: stopping; removing everything the bench built`);
    ac.abort();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  const check = (): void => {
    if (signal.aborted) throw new Interrupted();
  };
  const log = (l: string): void => console.log(`  ${l}`);
  const setups = {
    node: setup('node', 'node -> node'),
    native: setup('native', 'strait native'),
    vxlan: setup('vxlan', 'strait vxlan'),
    bridge: setup('bridge', 'bridge + host-local'),
    kvxlan: setup('kvxlan', 'node -> node, kernel vxlan'),
  };
  const all = Object.values(setups);
  const teardowns: (() => Promise<string[]>)[] = [];
  const releaseCpus = holdCpusAwake();
  let interrupted = false;
  let leftover: string[] = [];
  try {
    console.log(`cluster bench: labs ${opts.name}r (reference), ${opts.name}n (strait native), ${opts.name}v (strait vxlan) in ${opts.labDir}`);
    try {
      const ref = await ReferenceCluster.up({ nodes: 2, podsPerNode: 1, name: `${opts.name}r`, labDir: opts.labDir, log });
      teardowns.push(() => ref.down());
      setups.node.path = { clientNetns: ref.nodeNetns(1), serverNetns: ref.nodeNetns(2), serverIp: nodeAddresses(2).v4 };
      const [a, b] = [ref.pod('n1-a'), ref.pod('n2-a')];
      setups.bridge.path = { clientNetns: a.netns, serverNetns: b.netns, serverIp: b.ip };
      setups.kvxlan.path = kernelVxlan(ref.nodeNetns(1), ref.nodeNetns(2));
    } catch (e) {
      setups.node.failure = setups.bridge.failure = setups.kvxlan.failure = `the reference cluster: ${(e as Error).message}`;
    }
    for (const [s, routing, suffix] of [[setups.native, 'native', 'n'], [setups.vxlan, 'vxlan', 'v']] as const) {
      check();
      await buildStrait(s, routing, `${opts.name}${suffix}`, opts.labDir, log, teardowns);
    }
    check();
    for (const s of all.filter((x) => x.failure === null)) {
      const before = s.counters?.();
      s.failure = reachable(s.path!);
      if (s.failure !== null && before !== undefined && s.counters !== undefined) s.failure += moved(before, s.counters());
      if (s.failure !== null) continue;
      try {
        s.servers = await startServers(s.path!, signal);
        log(`${s.label}: ${s.path!.clientNetns} -> ${s.path!.serverIp}, iperf3 and sockperf servers pid ${s.servers.join(' and pid ')}`);
      } catch (e) {
        s.failure = (e as Error).message;
      }
    }
    for (let r = 0; r < opts.rounds; r++) {
      const live = all.filter((s) => s.failure === null);
      // Each round starts one setup further on, so none is always measured first.
      for (const s of live.map((_, i) => live[(i + r) % live.length]!)) {
        check();
        try {
          s.samples.throughput.push(await throughput(s.path!, opts.seconds, signal));
          const l = await requestResponse(s.path!, opts.seconds, signal);
          s.samples.p50.push(l.p50);
          s.samples.p99.push(l.p99);
          log(`round ${r + 1}/${opts.rounds} ${s.label}: ${s.samples.throughput.at(-1)!.toFixed(2)} Gbit/s, RR p50 ${l.p50.toFixed(1)} us, p99 ${l.p99.toFixed(1)} us`);
        } catch (e) {
          check();
          s.failure = `round ${r + 1}: ${(e as Error).message}`;
        }
      }
    }
    check();
    const title = `Pods across nodes vs node -> node, ${opts.rounds} interleaved rounds of ${opts.seconds} s, medians, ${new Date().toISOString()}`;
    console.log(`\n${renderReport(title, all, 'node').join('\n')}`);
    onResults?.(title, all);
    const missed = verdicts(all, 'node').filter((v) => v.met === false);
    if (missed.length > 0) console.log(`targets missed: ${missed.map((v) => `${v.setup} ${v.metric}`).join(', ')}`);
  } catch (e) {
    if (!(e instanceof Interrupted) && !signal.aborted) throw e;
    interrupted = true;
  } finally {
    for (const s of all) stopServers(s.servers);
    for (const down of teardowns.reverse()) leftover = leftover.concat(await down());
    releaseCpus();
    for (const s of signals) process.off(s, onSignal);
  }
  for (const p of leftover) console.error(`  clean-up: ${p}`);
  console.log(leftover.length === 0 ? 'everything the bench built is removed' : `${leftover.length} things NOT removed (see above; \`straitctl lab down --name NAME\` retries the strait labs)`);
  if (interrupted) return 130;
  return leftover.length > 0 || all.some((s) => s.failure !== null) ? 1 : 0;
}

/** Addresses of the kernel VXLAN pair: outside every range of the cluster contract. */
const KVXLAN = ['198.18.250.1', '198.18.250.2'] as const;

/**
 * A plain VXLAN device (VNI 42, UDP 4789, the uplink's MTU less 50) in each of two
 * reference nodes, pointed at the other: node → node through the kernel's tunnel
 * alone. Removed with the nodes' netns.
 */
function kernelVxlan(client: string, server: string): Path {
  const nodes = [client, server] as const;
  nodes.forEach((ns, i) => {
    const [self, peer] = [nodeAddresses(i + 1).v4, nodeAddresses(2 - i).v4];
    for (const args of [
      ['link', 'add', 'kvxlan', 'type', 'vxlan', 'id', '42', 'local', self, 'remote', peer, 'dstport', '4789', 'dev', 'eth0'],
      ['addr', 'add', `${KVXLAN[i]!}/24`, 'dev', 'kvxlan'],
      ['link', 'set', 'kvxlan', 'mtu', String(UPLINK_MTU - VXLAN_OVERHEAD), 'up'],
    ]) {
      const r = run('ip', ['-n', ns, ...args]);
      if (r.status !== 0) throw new StraitError('E_COMMAND', `ip -n ${ns} ${args.join(' ')}: ${r.stderr.trim()}`);
    }
  });
  return { clientNetns: client, serverNetns: server, serverIp: KVXLAN[1] };
}

/** One strait cluster (2 nodes, 1 pod each, IPv4) and its path n1-a → n2-a; a failure is the setup's, not the bench's. */
async function buildStrait(s: Setup, routing: Routing, name: string, labDir: string, log: (l: string) => void, teardowns: (() => Promise<string[]>)[]): Promise<void> {
  try {
    const c = await EmulatedCluster.up({ nodes: 2, podsPerNode: 1, routing, dualStack: false, name, labDir, log });
    teardowns.push(() => c.down());
    const [a, b] = [c.pod('n1-a'), c.pod('n2-a')];
    const ip = b.ips[0];
    if (ip === undefined) throw new StraitError('E_COMMAND', 'n2-a has no address');
    s.path = { clientNetns: a.netns, serverNetns: b.netns, serverIp: ip };
    s.counters = () => new Map(c.state.nodes.flatMap((n) => [...c.counters(n.index)].map(([k, v]) => [`${n.name} ${k}`, v] as const)));
  } catch (e) {
    s.failure = `the ${routing} cluster: ${brief((e as Error).message)}`;
  }
}

/** The counters that grew, e.g. " (meanwhile n1 STAT_TO_STACK +3, n2 DROP_POLICY_INGRESS +3)". */
function moved(before: Map<string, bigint>, after: Map<string, bigint>): string {
  const grew = [...after].filter(([k, v]) => v > (before.get(k) ?? 0n)).map(([k, v]) => `${k} +${v - (before.get(k) ?? 0n)}`);
  return ` (meanwhile ${grew.join(', ') || 'no datapath counter moved'})`;
}

/** A lab error's first line, and the first line of the agent log it quotes that says what went wrong. */
function brief(message: string): string {
  const [first, ...rest] = message.split('\n');
  const why = rest.find((l) => /error|fail|invalid|unknown|refus/i.test(l));
  return why === undefined ? (first ?? '') : `${first ?? ''} (agent log: ${why.trim().slice(0, 200)})`;
}
