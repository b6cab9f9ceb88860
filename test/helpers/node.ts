// An emulated node: a network namespace playing the host (its host veths, routes,
// neighbour table and tc programs), with its own state dir and bpffs. bin/strait
// and straitctl run inside it, so what a test does to it — pods attacking its
// routing, straitctl doctor reading it — touches nothing of the machine's own
// namespace or of another test. Removed by cleanupAll.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readCounters } from '../../src/cli/drops.js';
import type { FixOutcome } from '../../src/doctor/fix.js';
import type { Problem } from '../../src/doctor/types.js';
import { runCni, spawnCni, straitConfig, type CniCall, type CniReply } from './cni.js';
import { bpffsDir, createNetns, rand, tempDir, type Netns } from './sys.js';

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));

export interface NodePod {
  ns: Netns;
  id: string;
  v4: string;
  v6: string | null;
  hostVeth: string;
  hostMac: string;
  mac: string;
}

export interface DoctorReport {
  exitCode: number;
  problems: Problem[];
  fixed?: FixOutcome[];
  remaining?: Problem[];
  raw: string;
}

type NodeCall = Omit<CniCall, 'inNetns' | 'config'> & { config?: Record<string, unknown> };

export class Node {
  readonly ns: Netns;
  readonly stateDir = tempDir('node-state');
  readonly bpfDir = bpffsDir('node');
  readonly network: string;

  constructor(
    prefix: string,
    private readonly ranges: { v4?: string; v6?: string },
  ) {
    this.ns = createNetns(prefix);
    this.network = `${prefix}-${rand(2)}`;
  }

  config(): Record<string, unknown> {
    return straitConfig({ name: this.network, stateDir: this.stateDir, bpfDir: this.bpfDir, ...this.ranges });
  }

  /** bin/strait inside the node's namespace (ip netns exec keeps the CNI_* environment) */
  cni(call: NodeCall): Promise<CniReply> {
    return runCni({ ...call, config: call.config ?? this.config(), inNetns: this.ns.name });
  }

  spawnCni(call: NodeCall): ReturnType<typeof spawnCni> {
    return spawnCni({ ...call, config: call.config ?? this.config(), inNetns: this.ns.name });
  }

  /** config: the network config of this ADD (default: the node's) */
  async addPod(prefix: string, config?: Record<string, unknown>): Promise<NodePod> {
    const ns = createNetns(prefix);
    const id = `${prefix}-${rand()}`;
    const r = await this.cni({ command: 'ADD', containerId: id, netns: ns.path, ...(config ? { config } : {}) });
    if (r.exitCode !== 0) throw new Error(`ADD ${id}: ${r.stdout}${r.stderr}`);
    const res = r.json as { ips: { address: string }[]; interfaces: { name: string; mac: string }[] };
    const addr = (i: number) => res.ips[i]?.address.split('/')[0] ?? null;
    return {
      ns,
      id,
      v4: addr(0)!,
      v6: addr(1),
      hostVeth: res.interfaces[0]!.name,
      hostMac: res.interfaces[0]!.mac,
      mac: res.interfaces[1]!.mac,
    };
  }

  /** `ip …` inside the node */
  ip(args: string[], opts: { allowFail?: boolean } = {}): string {
    return this.ns.exec('ip', args, opts);
  }

  /** Packets per counter (DROP_* and STAT_*) of this node's datapath. */
  counters(): Map<string, bigint> {
    return new Map((readCounters(this.bpfDir) ?? []).map((r) => [r.name, BigInt(r.packets)]));
  }

  sysctl(path: string, value?: string): string {
    if (value !== undefined) this.ns.exec('sysctl', ['-qw', `${path}=${value}`]);
    return this.ns.exec('sysctl', ['-n', path]).trim();
  }

  doctor(fix = false): DoctorReport {
    const r = spawnSync(
      'ip',
      ['netns', 'exec', this.ns.name, STRAITCTL, 'doctor', '--state-dir', this.stateDir, '--bpf-dir', this.bpfDir, '-o', 'json', ...(fix ? ['--fix'] : [])],
      { encoding: 'utf8' },
    );
    let parsed: Omit<DoctorReport, 'exitCode' | 'raw'>;
    try {
      parsed = JSON.parse(r.stdout) as Omit<DoctorReport, 'exitCode' | 'raw'>;
    } catch {
      throw new Error(`straitctl doctor printed no JSON (exit ${r.status}): ${r.stdout} ${r.stderr}`);
    }
    return { exitCode: r.status ?? -1, raw: r.stdout + r.stderr, ...parsed };
  }
}
