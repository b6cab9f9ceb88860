// A node of its own: a network namespace playing the host, with its own state dir
// and bpffs, whose pods are ADDed by running the real bin/strait inside it (as
// DESIGN.md's emulated cluster does). Tests that let pods attack their node's
// routing and neighbour tables need this: the machine's own namespace must never
// be the victim. Removed by cleanupAll.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCounters } from '../../src/cli/drops.js';
import { runCni, straitConfig, STRAIT_BIN, type CniReply } from './cni.js';
import { bpffsDir, createNetns, rand, tempDir, type Netns } from './sys.js';

export interface NodePod {
  ns: Netns;
  id: string;
  v4: string;
  v6: string | null;
  hostVeth: string;
  hostMac: string;
  mac: string;
}

export class NodeNetns {
  readonly ns: Netns;
  readonly stateDir = tempDir('node-state');
  readonly bpfDir = bpffsDir('node');
  readonly network = `node-${rand(2)}`;
  /** bin/strait, run inside the node's namespace (ip netns exec keeps the CNI_* environment) */
  private readonly bin: string;

  constructor(prefix: string, private readonly ranges: { v4: string; v6?: string }) {
    this.ns = createNetns(prefix);
    this.bin = join(tempDir('node-bin'), 'strait');
    writeFileSync(this.bin, `#!/bin/sh\nexec ip netns exec ${this.ns.name} ${STRAIT_BIN}\n`);
    chmodSync(this.bin, 0o755);
  }

  config(): Record<string, unknown> {
    return straitConfig({ name: this.network, stateDir: this.stateDir, bpfDir: this.bpfDir, ...this.ranges });
  }

  cni(command: 'ADD' | 'DEL', pod: { id: string; ns: Netns }): Promise<CniReply> {
    return runCni({ command, config: this.config(), containerId: pod.id, netns: pod.ns.path, bin: this.bin });
  }

  async addPod(prefix: string): Promise<NodePod> {
    const ns = createNetns(prefix);
    const id = `${prefix}-${rand()}`;
    const r = await this.cni('ADD', { id, ns });
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

  /** Packets per counter (DROP_* and STAT_*) of this node's datapath. */
  counters(): Map<string, bigint> {
    return new Map((readCounters(this.bpfDir) ?? []).map((r) => [r.name, BigInt(r.packets)]));
  }

  sysctl(path: string, value?: string): string {
    if (value !== undefined) this.ns.exec('sysctl', ['-qw', `${path}=${value}`]);
    return this.ns.exec('sysctl', ['-n', path]).trim();
  }
}
