// The emulated cluster (README "The emulated cluster"): one implementation for the
// tests, the benches and `straitctl lab`. Every step records what it is about to
// make in the state file first, so down() — in this process or another — removes
// exactly what exists, also after a crash half-way through up().
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { readCounters } from '../cli/drops.js';
import { StraitError } from '../errors.js';
import { agentAlive, sourceArgs, startAgent, waitSynced } from './agent.js';
import { KUBE_API_PORT, labApiState, labApiWait, labApiWrite, startLabApi } from './api.js';
import { cni, writeConflist } from './cni.js';
import { NAMESPACE_FILE, namespaceObject, nodeFile, nodeObject, podFile, podObject, readManifest, removeManifest, writeManifest } from './manifests.js';
import { addNetns, attachToUnderlay, createBridge } from './network.js';
import { inNetns, must, NODE, POD_TOOL, run, type RunResult } from './run.js';
import { checkLabName, DEFAULT_LAB_DIR, readState, writeState, type LabNode, type LabPod, type LabSource, type LabState } from './state.js';
import { releasePod, removeNetns, stopAgent, teardown, unmount } from './teardown.js';
import * as topo from './topology.js';

export interface UpOptions {
  nodes: number;
  podsPerNode: number;
  routing?: topo.Routing;
  dualStack?: boolean;
  /** the lab's name (netns prefix `strait-<name>`), default "lab" */
  name?: string;
  /** where state files and each lab's directory live (default /run/strait/lab) */
  labDir?: string;
  /** the agents' cluster state: the manifest directory (default) or the API emulation (--source kube) */
  source?: LabSource;
  /** progress lines */
  log?: (line: string) => void;
}

export class EmulatedCluster {
  private constructor(
    readonly labDir: string,
    readonly state: LabState,
    private readonly log: (line: string) => void,
  ) {}

  /** Builds the whole cluster; on any failure removes what it made and throws. */
  static async up(opts: UpOptions): Promise<EmulatedCluster> {
    const name = checkLabName(opts.name ?? 'lab');
    const labDir = opts.labDir ?? DEFAULT_LAB_DIR;
    if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > topo.MAX_NODES) throw new StraitError('E_CONFIG', `--nodes takes 1..${topo.MAX_NODES}, not ${opts.nodes}`);
    if (!Number.isInteger(opts.podsPerNode) || opts.podsPerNode < 0 || opts.podsPerNode > 64) throw new StraitError('E_CONFIG', `--pods takes 0..64, not ${opts.podsPerNode}`);
    if (readState(labDir, name) !== null) throw new StraitError('E_CONFIG', `lab "${name}" is already up (or was left by a crash): run \`straitctl lab down --name ${name}\` first`);
    const dir = join(labDir, name);
    const prefix = `strait-${name}`;
    const source = opts.source ?? 'dir';
    const s: LabState = { name, prefix, routing: opts.routing ?? 'native', dualStack: opts.dualStack ?? true, dir, source, manifests: join(dir, 'manifests'), netns: [], mounts: [], nodes: [], pods: [] };
    const c = new EmulatedCluster(labDir, s, opts.log ?? (() => {}));
    writeState(labDir, s);
    try {
      mkdirSync(s.manifests, { recursive: true });
      c.makeNetns(topo.underlayNetns(prefix));
      createBridge(topo.underlayNetns(prefix));
      c.makeNetns(topo.outsideNetns(prefix));
      attachToUnderlay(topo.underlayNetns(prefix), topo.outsideNetns(prefix), 'out', topo.OUTSIDE, s.dualStack);
      if (source === 'kube') await c.startApi();
      c.writeManifest(NAMESPACE_FILE, namespaceObject());
      // Every Node object exists before any agent starts: each agent knows the others from its first sync.
      for (let i = 1; i <= opts.nodes; i++) c.writeManifest(nodeFile(i), nodeObject(i, s.dualStack));
      for (let i = 1; i <= opts.nodes; i++) c.bootNode(i);
      c.waitSynced();
      for (const node of s.nodes) for (let j = 0; j < opts.podsPerNode; j++) await c.addPod(node.index, { sync: false });
      c.waitSynced();
      return c;
    } catch (e) {
      const problems = await c.down();
      if (problems.length > 0) c.log(`cleaning up after the failure left problems:\n  ${problems.join('\n  ')}`);
      throw e;
    }
  }

  /** The lab another process brought up, from its state file; null when there is none. */
  static attach(name = 'lab', labDir = DEFAULT_LAB_DIR, log: (line: string) => void = () => {}): EmulatedCluster | null {
    const s = readState(labDir, checkLabName(name));
    return s === null ? null : new EmulatedCluster(labDir, s, log);
  }

  get manifests(): string {
    return this.state.manifests;
  }

  node(i: number): LabNode {
    const n = this.state.nodes.find((x) => x.index === i);
    if (n === undefined) throw new StraitError('E_CONFIG', `lab ${this.state.name} has no node ${i}`);
    return n;
  }

  pod(name: string): LabPod {
    const p = this.state.pods.find((x) => x.name === name);
    if (p === undefined) throw new StraitError('E_CONFIG', `lab ${this.state.name} has no pod ${name}`);
    return p;
  }

  podsOf(i: number): LabPod[] {
    return this.state.pods.filter((p) => p.node === i);
  }

  private save(): void {
    writeState(this.labDir, this.state);
  }

  /** The API emulation in the outside netns, recorded before it starts and again with its PID. */
  private async startApi(): Promise<void> {
    const api = labApiState(this.state.dir);
    this.state.api = api;
    this.save();
    api.pid = await startLabApi(this.state, api);
    this.save();
    this.log(`API emulation: pid ${api.pid}, listening on ${topo.OUTSIDE.v4}:${KUBE_API_PORT}, kubeconfig ${api.kubeconfig}`);
  }

  private makeNetns(name: string): void {
    this.state.netns.push(name);
    this.save();
    addNetns(name);
  }

  /** Node i's netns, uplink, directory, bpffs, conflist and agent (its Node object must exist). */
  private bootNode(i: number): LabNode {
    const s = this.state;
    const dir = join(s.dir, topo.nodeName(i));
    const node: LabNode = {
      index: i,
      name: topo.nodeName(i),
      netns: topo.nodeNetns(s.prefix, i),
      dir,
      stateDir: join(dir, 'state'),
      bpfDir: join(dir, 'bpf'),
      socket: join(dir, 'agent.sock'),
      conflist: join(dir, '10-strait.conflist'),
      agentLog: join(dir, 'agent.log'),
      agentPid: null,
    };
    s.nodes.push(node);
    this.makeNetns(node.netns);
    attachToUnderlay(topo.underlayNetns(s.prefix), node.netns, `p${i}`, topo.nodeAddresses(i), s.dualStack);
    mkdirSync(node.stateDir, { recursive: true });
    mkdirSync(node.bpfDir, { recursive: true });
    // In the root mount namespace: `ip netns exec` gives each process a mount
    // namespace of its own (and a fresh /sys), where a mount would be lost on exit.
    s.mounts.push(node.bpfDir);
    this.save();
    must('mount', ['-t', 'bpf', 'bpf', node.bpfDir]);
    writeConflist(node, s.routing, s.dualStack);
    node.agentPid = startAgent(node, sourceArgs(s), s.routing);
    this.save();
    this.log(`node ${node.name}: netns ${node.netns}, ${topo.nodeAddresses(i).v4}, pods ${Object.values(topo.podCidrs(i, s.dualStack)).filter((x) => x !== null).join(' ')}, agent pid ${node.agentPid}`);
    return node;
  }

  /** Waits until every agent (or node i's) has applied everything in the manifests (on kube: seen every write to the API). */
  waitSynced(i?: number): void {
    const nodes = i === undefined ? this.state.nodes : [this.node(i)];
    for (const node of nodes) waitSynced(node);
    if (this.state.api !== undefined) labApiWait(this.state.api, nodes.map((n) => n.socket));
  }

  /** ADDs a pod on node i as a kubelet would: Pod scheduled, ADD, Pod with its IPs, workload started. */
  async addPod(i: number, opts: { name?: string; labels?: Record<string, string>; sync?: boolean } = {}): Promise<LabPod> {
    const node = this.node(i);
    const taken = new Set(this.state.pods.map((p) => p.name));
    let j = 0;
    while (taken.has(topo.podName(i, j))) j++;
    const name = opts.name ?? topo.podName(i, j);
    if (taken.has(name)) throw new StraitError('E_CONFIG', `pod ${name} exists`);
    const pod: LabPod = {
      name,
      node: i,
      netns: topo.podNetns(this.state.prefix, name),
      containerId: `${this.state.prefix}-${name}`,
      labels: { app: 'lab', pod: name, node: node.name, ...opts.labels },
      ips: [],
      serverPid: null,
    };
    this.state.pods.push(pod);
    this.makeNetns(pod.netns);
    this.writeManifest(podFile(name), podObject(pod, topo.POD_PORT));
    pod.ips = cni('ADD', node, pod);
    this.save();
    this.writeManifest(podFile(name), podObject(pod, topo.POD_PORT));
    pod.serverPid = await startServer(pod);
    this.save();
    this.log(`pod ${name} on ${node.name}: ${pod.ips.join(' ')}`);
    if (opts.sync !== false) this.waitSynced();
    return pod;
  }

  async removePod(name: string): Promise<void> {
    const pod = this.pod(name);
    const problems: string[] = [];
    await releasePod(this.state, pod, problems);
    this.removeManifest(podFile(name));
    await removeNetns([pod.netns], problems);
    this.state.pods = this.state.pods.filter((p) => p !== pod);
    this.state.netns = this.state.netns.filter((n) => n !== pod.netns);
    this.save();
    if (problems.length > 0) throw new StraitError('E_COMMAND', problems.join('; '));
  }

  /** A node joins: its Node object, then its netns, uplink and agent; the others learn it from the manifest. */
  addNode(): LabNode {
    const i = Math.max(0, ...this.state.nodes.map((n) => n.index)) + 1;
    this.writeManifest(nodeFile(i), nodeObject(i, this.state.dualStack));
    const node = this.bootNode(i);
    this.waitSynced();
    return node;
  }

  /** A node leaves: its pods are DELed, its agent stopped, its Node object removed, its netns and files gone. */
  async removeNode(i: number): Promise<void> {
    const node = this.node(i);
    for (const pod of this.podsOf(i)) await this.removePod(pod.name);
    const problems: string[] = [];
    await stopAgent(node, problems);
    this.removeManifest(nodeFile(i));
    await removeNetns([node.netns], problems);
    unmount([node.bpfDir], problems);
    rmSync(node.dir, { recursive: true, force: true });
    this.state.nodes = this.state.nodes.filter((n) => n !== node);
    this.state.netns = this.state.netns.filter((n) => n !== node.netns);
    this.state.mounts = this.state.mounts.filter((m) => m !== node.bpfDir);
    this.save();
    if (problems.length > 0) throw new StraitError('E_COMMAND', problems.join('; '));
    this.waitSynced();
  }

  /**
   * Stops node i's agent (if it runs: one killed is just started) and starts it again, with
   * `agentArgs` added to the contract's flags and `env` to its environment, for this run only.
   */
  async restartAgent(i: number, opts: { agentArgs?: readonly string[]; env?: Readonly<Record<string, string>> } = {}): Promise<void> {
    const node = this.node(i);
    const problems: string[] = [];
    await stopAgent(node, problems);
    if (problems.length > 0) throw new StraitError('E_COMMAND', problems.join('; '));
    node.agentPid = startAgent(node, sourceArgs(this.state), this.state.routing, opts.agentArgs, opts.env);
    this.save();
    this.waitSynced(i);
  }

  agentAlive(i: number): boolean {
    return agentAlive(this.node(i));
  }

  /** What the API server holds, as one file of objects: the manifest directory, and on kube the API emulation too. */
  writeManifest(file: string, object: object | string): void {
    const api = this.state.api;
    if (api !== undefined) {
      labApiWrite(api, readManifest(this.manifests, file), typeof object === 'string' ? object : JSON.stringify(object));
      this.save();
    }
    writeManifest(this.manifests, file, object);
  }

  removeManifest(file: string): void {
    const api = this.state.api;
    if (api !== undefined) {
      labApiWrite(api, readManifest(this.manifests, file), null);
      this.save();
    }
    removeManifest(this.manifests, file);
  }

  /** A command inside a pod's or a node's netns (or the outside host's: `outside`). */
  exec(where: { pod: string } | { node: number } | 'outside', cmd: string, args: string[], timeoutMs?: number): RunResult {
    const ns = where === 'outside' ? topo.outsideNetns(this.state.prefix) : 'pod' in where ? this.pod(where.pod).netns : this.node(where.node).netns;
    const [c, a] = inNetns(ns, cmd, args);
    return run(c, a, timeoutMs === undefined ? {} : { timeoutMs });
  }

  /** Node i's datapath counters (DROP_* and STAT_*), packets each. */
  counters(i: number): Map<string, bigint> {
    return new Map((readCounters(this.node(i).bpfDir) ?? []).map((r) => [r.name, BigInt(r.packets)]));
  }

  /** Removes everything; returns what could not be removed (empty: all gone, state file too). */
  down(): Promise<string[]> {
    return teardown(this.labDir, this.state);
  }
}

/** The pod's workload: pod-tool serve, detached so it outlives `lab up`; resolves once it listens. */
function startServer(pod: LabPod): Promise<number> {
  const [cmd, args] = inNetns(pod.netns, NODE, [POD_TOOL, 'serve', pod.name, String(topo.POD_PORT)]);
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', () => {
      lines.close();
      child.stdout.destroy();
      child.unref();
      resolve(child.pid ?? 0);
    });
    child.once('exit', (code) => reject(new StraitError('E_COMMAND', `the server of ${pod.name} exited (${code})`)));
  });
}
