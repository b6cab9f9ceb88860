// An emulated node: its own network namespace (where host veths, routes and tc
// programs live), its own bpffs and state dir. bin/strait and straitctl run inside
// it, so what straitctl doctor sees there is this test's and nobody else's.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCni, spawnCni, straitConfig, type CniCall, type CniReply } from './cni.js';
import { bpffsDir, createNetns, tempDir, type Netns } from './sys.js';
import type { Problem } from '../../src/doctor/types.js';
import type { FixOutcome } from '../../src/doctor/fix.js';

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));

export interface DoctorReport {
  exitCode: number;
  problems: Problem[];
  fixed?: FixOutcome[];
  remaining?: Problem[];
  raw: string;
}

export class Node {
  readonly ns: Netns;
  readonly stateDir: string;
  readonly bpfDir: string;

  constructor(readonly network: string) {
    this.ns = createNetns('node');
    this.stateDir = tempDir('node-state');
    this.bpfDir = bpffsDir('node');
  }

  config(ranges: { v4?: string; v6?: string }): Record<string, unknown> {
    return straitConfig({ name: this.network, stateDir: this.stateDir, bpfDir: this.bpfDir, ...ranges });
  }

  cni(call: Omit<CniCall, 'nodeNetns'>): Promise<CniReply> {
    return runCni({ ...call, nodeNetns: this.ns.name });
  }

  spawnCni(call: Omit<CniCall, 'nodeNetns'>): ReturnType<typeof spawnCni> {
    return spawnCni({ ...call, nodeNetns: this.ns.name });
  }

  /** `ip …` inside the node */
  ip(args: string[], opts: { allowFail?: boolean } = {}): string {
    return this.ns.exec('ip', args, opts);
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
