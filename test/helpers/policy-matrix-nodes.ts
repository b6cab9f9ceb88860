// The conformance matrix's cluster over several emulated nodes (src/lab's
// EmulatedCluster): the nine pods spread round robin over the nodes, each ADDed as
// the contract says — bin/strait inside its node's netns with that node's conflist —
// and its Pod object written as the node's kubelet would (spec.nodeName before ADD,
// status.podIPs after), so every other node's agent learns its address and identity
// from the manifests alone.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect } from 'vitest';
import { agentLogTail } from '../../src/lab/agent.js';
import { EmulatedCluster } from '../../src/lab/cluster.js';
import { agentsCaughtUp } from '../../src/lab/kube-api/client.js';
import { pluginConfig } from '../../src/lab/cni.js';
import type { Routing } from '../../src/lab/topology.js';
import { probeAll, startWorkload, waitAgentSynced, type Prober } from './cluster.js';
import { runCni } from './cni.js';
import { MATRIX_PODS, SERVE, writeNamespaces, writePods, type MatrixCluster, type MatrixProbe, type PodPlacement } from './policy-matrix-objects.js';
import { cleanupAll, createNetns, rand, tempDir, type Netns } from './sys.js';

export interface NodePod {
  namespace: string;
  name: string;
  /** the node index it runs on */
  node: number;
  netns: Netns;
  containerId: string;
  /** IPv4 (what the matrix probes) */
  ip: string;
  /** every address ADD answered, IPv4 first: the Pod's status.podIPs */
  ips: string[];
  prober: Prober;
}

export const NODES = 3;
/** One CIDR over the pod CIDRs of nodes 1..3 (198.18.101-103.0/24, src/lab/topology.ts podCidrs). */
export const POD_RANGE = '198.18.100.0/22';

/** Node index of the k-th matrix pod: x/a n1, x/b n2, x/c n3, y/a n1, … so every namespace spans every node. */
const nodeOf = (podRef: string, nodes: number): number => (MATRIX_PODS.findIndex((p) => `${p.namespace}/${p.name}` === podRef) % nodes) + 1;

export interface MatrixOptions {
  source?: 'dir' | 'kube';
  /** how many nodes (default NODES); the pods go round robin over them */
  nodes?: number;
}

export class NodesMatrix implements MatrixCluster<NodePod> {
  readonly pods: NodePod[] = [];
  readonly podRange = POD_RANGE;
  private readonly children: ChildProcess[] = [];

  private constructor(readonly lab: EmulatedCluster) {}

  private nodeOf(podRef: string): number {
    return nodeOf(podRef, this.lab.state.nodes.length);
  }

  /**
   * Three nodes (or opts.nodes) with their agents, the matrix's namespaces and its nine pods serving
   * SERVE. With `source: 'kube'` the lab's agents watch its API emulation and every
   * write goes to the API.
   */
  static async up(routing: Routing, opts: MatrixOptions = {}): Promise<NodesMatrix> {
    const lab = await EmulatedCluster.up({ nodes: opts.nodes ?? NODES, podsPerNode: 0, routing, dualStack: true, source: opts.source ?? 'dir', name: `mx${rand(3)}`, labDir: tempDir('mx-lab') });
    const m = new NodesMatrix(lab);
    try {
      writeNamespaces(m);
      writePods(m); // scheduled: nodeName, no status yet
      await m.waitSynced();
      for (const spec of MATRIX_PODS) await m.addPod(spec.namespace, spec.name);
      writePods(m); // now with status.podIPs
      await m.waitSynced();
      return m;
    } catch (e) {
      await m.down();
      throw e;
    }
  }

  write(file: string, text: string): void {
    this.lab.writeManifest(file, text);
  }

  async waitSynced(): Promise<void> {
    const api = this.lab.state.api;
    if (api !== undefined) {
      if (!(await agentsCaughtUp(this.lab.state.nodes.map((n) => n.socket), api.written))) throw new Error(`the agents did not catch up with the API: ${JSON.stringify(api.written)}`);
      return;
    }
    await Promise.all(this.lab.state.nodes.map((n) => waitAgentSynced(n.socket, 15, () => agentLogTail(n, 3000))));
  }

  pod(podRef: string): NodePod {
    const p = this.pods.find((x) => `${x.namespace}/${x.name}` === podRef);
    if (p === undefined) throw new Error(`no pod ${podRef}`);
    return p;
  }

  probe(probes: MatrixProbe<NodePod>[]): Promise<boolean[]> {
    return probeAll(probes);
  }

  placement(podRef: string): PodPlacement {
    const node = this.nodeOf(podRef);
    const added = this.pods.find((x) => `${x.namespace}/${x.name}` === podRef);
    return { nodeName: this.lab.node(node).name, ...(added === undefined ? {} : { podIPs: added.ips }) };
  }

  private cniCall(p: { node: number; netns: Netns; containerId: string; namespace: string; name: string }): Parameters<typeof runCni>[0] {
    const node = this.lab.node(p.node);
    return {
      command: 'ADD',
      config: pluginConfig(node),
      containerId: p.containerId,
      netns: p.netns.path,
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${p.namespace};K8S_POD_NAME=${p.name}`,
      inNetns: node.netns,
    };
  }

  private async addPod(namespace: string, name: string): Promise<void> {
    const node = this.nodeOf(`${namespace}/${name}`);
    const at = { node, namespace, name, netns: createNetns(`${namespace}${name}`), containerId: `mx-${namespace}-${name}-${rand()}` };
    const r = await runCni(this.cniCall(at));
    if (r.exitCode !== 0) throw new Error(`ADD ${namespace}/${name} on n${node}: ${r.stdout} ${r.stderr}\nagent log:\n${agentLogTail(this.lab.node(node))}`);
    const ips = (r.json as { ips: { address: string }[] }).ips.map((x) => x.address.split('/')[0]!).sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
    const prober = await startWorkload(at.netns.name, `${namespace}/${name}`, SERVE, this.children);
    this.pods.push({ ...at, ip: ips[0]!, ips, prober });
  }

  /** DELs every pod while the agents still answer, stops the pods' processes by PID, then the lab; what the lab could not remove, as its problems. */
  async down(): Promise<string[]> {
    const problems: string[] = [];
    for (const p of this.pods) {
      const r = await runCni({ ...this.cniCall(p), command: 'DEL' });
      if (r.exitCode !== 0) problems.push(`DEL ${p.namespace}/${p.name}: ${r.stdout} ${r.stderr}`);
    }
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    return [...problems, ...(await this.lab.down())];
  }
}

/** The matrix of a describe block: up (then `ready`) before its tests, down after them (and nothing of it left); the getter throws if it did not come up. */
export function useNodesMatrix(routing: Routing, opts: MatrixOptions & { ready?: (m: NodesMatrix) => Promise<void> } = {}): () => NodesMatrix {
  let m: NodesMatrix | null = null;
  beforeAll(async () => {
    m = await NodesMatrix.up(routing, opts);
    // what a caller builds on the cluster; a failure still takes it down (afterAll)
    await opts.ready?.(m);
  }, 240_000);
  afterAll(async () => {
    const problems = m === null ? [] : await m.down();
    cleanupAll();
    expect(problems).toEqual([]);
  }, 120_000);
  return () => {
    if (m === null) throw new Error('the cluster did not come up');
    return m;
  };
}
