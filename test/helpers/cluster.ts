// A one-node cluster for policy tests: a real strait-agent watching a manifest
// directory, pods added through the real bin/strait (with agentSocket, so ADD waits
// for the agent), a TCP/UDP server and a prober in every pod. Everything it starts
// is stopped by `stop()`, processes by their PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runCni, straitConfig } from './cni.js';
import { bpffsDir, createNetns, rand, tempDir, type Netns } from './sys.js';

const BIN = (n: string) => fileURLToPath(new URL(`../../bin/${n}`, import.meta.url));
const HELPER = (n: string) => fileURLToPath(new URL(`./${n}`, import.meta.url));

export interface PodSpec {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ports?: { name: string; containerPort: number; protocol: 'TCP' | 'UDP' | 'SCTP' }[];
}

export interface ClusterPod extends PodSpec {
  netns: Netns;
  containerId: string;
  ip: string;
  /** with a dual-stack cluster */
  ip6?: string;
  /** the pod's eth0 and its gateway (the host veth): what a crafted frame needs */
  mac: string;
  gatewayMac: string;
  prober: Prober;
}

export interface Probe {
  from: ClusterPod;
  to: ClusterPod;
  proto: 'tcp' | 'udp';
  port: number;
}

/** One prober process in a pod (test/helpers/prober.mjs): batches of probes in, replies out. */
export class Prober {
  private next = 1;
  private readonly waiting = new Map<number, (r: (string | null)[]) => void>();
  constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { id?: number; results?: (string | null)[] };
      if (msg.id !== undefined) {
        this.waiting.get(msg.id)?.(msg.results ?? []);
        this.waiting.delete(msg.id);
      }
    });
  }
  run(probes: { host: string; port: number; proto: string }[]): Promise<(string | null)[]> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin!.write(JSON.stringify({ id, probes }) + '\n');
    });
  }
}

function waitLine(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not start`)), 10_000);
    child.stdout!.once('data', () => {
      clearTimeout(t);
      resolve();
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code})`)));
  });
}

export interface ClusterOptions {
  /** also give pods an IPv6 address from this subnet */
  subnet6?: string;
  /** the node's own namespace, where the plugin and the agent run (default: the test's) */
  node?: Netns;
  /** more environment for the plugin and the agent, e.g. STRAIT_BOOT_ID */
  env?: Record<string, string>;
  /** the same node after a reboot: its state dir, manifests and network, a new bpffs */
  rebootOf?: Cluster;
}

export class Cluster {
  readonly stateDir: string;
  readonly manifests: string;
  readonly bpfDir = bpffsDir('cl');
  readonly socket: string;
  readonly network: string;
  readonly pods: ClusterPod[] = [];
  private readonly children: ChildProcess[] = [];
  agent: ChildProcess | null = null;
  agentLog = '';

  readonly subnet6: string | undefined;

  constructor(
    readonly subnet: string,
    private readonly opts: ClusterOptions = {},
  ) {
    this.subnet6 = opts.subnet6;
    this.stateDir = opts.rebootOf?.stateDir ?? tempDir('cl-state');
    this.manifests = opts.rebootOf?.manifests ?? tempDir('cl-manifests');
    this.network = opts.rebootOf?.network ?? `cl-${rand(2)}`;
    this.socket = join(this.stateDir, 'agent.sock');
  }

  /** How the plugin is run: in the node's namespace, with the node's environment. */
  get cniRun(): { inNetns?: string; extraEnv?: Record<string, string> } {
    return { ...(this.opts.node ? { inNetns: this.opts.node.name } : {}), ...(this.opts.env ? { extraEnv: this.opts.env } : {}) };
  }

  config(): Record<string, unknown> {
    return straitConfig({
      name: this.network,
      stateDir: this.stateDir,
      bpfDir: this.bpfDir,
      v4: this.subnet,
      ...(this.subnet6 === undefined ? {} : { v6: this.subnet6 }),
      extra: { agentSocket: this.socket },
    });
  }

  /** Writes (or replaces) one manifest file; YAML or JSON text. */
  write(file: string, text: string): void {
    writeFileSync(join(this.manifests, `${file}.tmp`), text);
    // rename: the agent never reads a half-written file
    spawnSync('mv', [join(this.manifests, `${file}.tmp`), join(this.manifests, file)]);
  }

  remove(file: string): void {
    rmSync(join(this.manifests, file), { force: true });
  }

  /** `extra`: more strait-agent flags (e.g. --max-entries). */
  async startAgent(extra: string[] = []): Promise<void> {
    const argv = ['--node', 'node-1', '--source', `dir:${this.manifests}`, '--state-dir', this.stateDir, '--bpf-dir', this.bpfDir, '--socket', this.socket, '--log-level', 'info', ...extra];
    const node = this.opts.node;
    // `ip netns exec` execs the agent in place: the child's PID is the agent's.
    const child = spawn(node ? 'ip' : BIN('strait-agent'), node ? ['netns', 'exec', node.name, BIN('strait-agent'), ...argv] : argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.opts.env },
    });
    child.stdout.on('data', (d: Buffer) => (this.agentLog += d.toString()));
    child.stderr.on('data', (d: Buffer) => (this.agentLog += d.toString()));
    this.agent = child;
    this.children.push(child);
    await this.waitSynced(15);
  }

  async stopAgent(): Promise<void> {
    const a = this.agent;
    if (a?.exitCode !== null) return;
    const exited = new Promise((r) => a.once('exit', r));
    a.kill('SIGTERM');
    await exited;
    this.agent = null;
  }

  waitSynced(timeoutS = 10): Promise<void> {
    return waitAgentSynced(this.socket, timeoutS, () => this.agentLog.slice(-3000));
  }

  /** Adds the pod through bin/strait (ADD returns once the agent made it ready), then starts its server and prober. */
  async addPod(spec: PodSpec, serve: string[]): Promise<ClusterPod> {
    const netns = createNetns(`${spec.namespace}${spec.name}`);
    const containerId = `cl-${spec.namespace}-${spec.name}-${rand()}`;
    const r = await runCni({
      command: 'ADD',
      config: this.config(),
      containerId,
      netns: netns.path,
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${spec.namespace};K8S_POD_NAME=${spec.name}`,
      ...this.cniRun,
    });
    if (r.exitCode !== 0) throw new Error(`ADD ${spec.namespace}/${spec.name}: ${r.stdout} ${r.stderr}\nagent log:\n${this.agentLog.slice(-3000)}`);
    const result = r.json as { ips: { address: string }[]; interfaces: { mac?: string; sandbox?: string }[] };
    const addrs = result.ips.map((x) => x.address.split('/')[0]!);
    const ip = addrs.find((x) => !x.includes(':'))!;
    const ip6 = addrs.find((x) => x.includes(':'));
    const mac = result.interfaces.find((i) => i.sandbox !== undefined)?.mac ?? '';
    const gatewayMac = result.interfaces.find((i) => i.sandbox === undefined)?.mac ?? '';
    const prober = await startWorkload(netns.name, `${spec.namespace}/${spec.name}`, serve, this.children);
    const pod = { ...spec, netns, containerId, ip, ...(ip6 === undefined ? {} : { ip6 }), mac, gatewayMac, prober };
    this.pods.push(pod);
    return pod;
  }

  pod(ref: string): ClusterPod {
    const p = this.pods.find((x) => `${x.namespace}/${x.name}` === ref);
    if (p === undefined) throw new Error(`no pod ${ref}`);
    return p;
  }

  /** Runs every probe (grouped per source pod, in parallel); true where the right pod answered. */
  probe(probes: Probe[]): Promise<boolean[]> {
    return probeAll(probes);
  }

  async stop(): Promise<void> {
    for (const p of this.pods) {
      await runCni({ command: 'DEL', config: this.config(), containerId: p.containerId, netns: p.netns.path, ...this.cniRun });
    }
    this.crash();
  }

  /** Every process it started dies at once, as at a power cut: no DEL, nothing cleaned. */
  crash(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

/** `straitctl wait --synced` against an agent's socket, without blocking the event loop (probes run meanwhile). */
export function waitAgentSynced(socket: string, timeoutS: number, logTail: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN('straitctl'), ['wait', '--synced', '--timeout', String(timeoutS), '--socket', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`straitctl wait --synced: ${code} ${out}\nagent log:\n${logTail()}`))));
  });
}

/** A pod's workload in its netns: pod-server.mjs serving `serve` as `who`, and a prober; both added to `children`. */
export async function startWorkload(netns: string, who: string, serve: string[], children: ChildProcess[]): Promise<Prober> {
  const server = spawn('ip', ['netns', 'exec', netns, process.execPath, HELPER('pod-server.mjs'), who, ...serve], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  await waitLine(server, `server in ${who}`);
  const prober = spawn('ip', ['netns', 'exec', netns, process.execPath, HELPER('prober.mjs'), '400'], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(prober);
  await waitLine(prober, `prober in ${who}`);
  return new Prober(prober);
}

/** What a probe needs of a pod: its prober, and the address and name it must answer from. */
export interface ProbedPod {
  namespace: string;
  name: string;
  ip: string;
  prober: Prober;
}

/** Runs every probe (grouped per source pod, in parallel); true where the right pod answered. */
export async function probeAll<P extends ProbedPod>(probes: { from: P; to: P; proto: 'tcp' | 'udp'; port: number }[]): Promise<boolean[]> {
  const bySource = new Map<P, number[]>();
  probes.forEach((p, i) => bySource.set(p.from, [...(bySource.get(p.from) ?? []), i]));
  const out: boolean[] = new Array<boolean>(probes.length).fill(false);
  await Promise.all(
    [...bySource].map(async ([from, idx]) => {
      const res = await from.prober.run(idx.map((i) => ({ host: probes[i]!.to.ip, port: probes[i]!.port, proto: probes[i]!.proto })));
      idx.forEach((i, k) => {
        const to = probes[i]!.to;
        out[i] = res[k] === `${to.namespace}/${to.name}`;
      });
    }),
  );
  return out;
}
