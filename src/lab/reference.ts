// The reference the cluster bench compares strait with: the same kind of emulated
// nodes (the contract's underlay, uplinks, InternalIPs and pod CIDRs), but each pod
// wired by the upstream `bridge` + `host-local` plugins (Debian's
// containernetworking-plugins), and the nodes joined flannel host-gw style: a static
// route per other node's pod CIDR via its InternalIP, and ip_forward on. IPv4 only
// (what the bench measures). No agent, no BPF and no state file: down() removes the
// namespaces (with every link and route in them) and the directory, which is all
// this builds.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { StraitError } from '../errors.js';
import { addNetns, attachToUnderlay, createBridge } from './network.js';
import { inNetns, must, run } from './run.js';
import { checkLabName, DEFAULT_LAB_DIR } from './state.js';
import { removeNetns } from './teardown.js';
import * as topo from './topology.js';

/** Where Debian's containernetworking-plugins install the reference plugins. */
export const REFERENCE_PLUGINS = '/usr/lib/cni';
const BRIDGE = 'cni0';

export interface ReferencePod {
  name: string;
  node: number;
  netns: string;
  ip: string;
}

export interface ReferenceOptions {
  nodes: number;
  podsPerNode: number;
  /** names the namespaces `strait-<name>-…` like a lab of that name */
  name: string;
  /** the directory holding <name>/ (host-local's leases), default /run/strait/lab */
  labDir?: string;
  log?: (line: string) => void;
}

export class ReferenceCluster {
  readonly pods: ReferencePod[] = [];
  /** every netns made or about to be made, in creation order */
  private readonly netns: string[] = [];

  private constructor(
    readonly prefix: string,
    readonly dir: string,
    readonly nodes: number,
  ) {}

  /** Builds it all; on a failure removes what it made and throws. */
  static async up(opts: ReferenceOptions): Promise<ReferenceCluster> {
    const name = checkLabName(opts.name);
    if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > topo.MAX_NODES) throw new StraitError('E_CONFIG', `nodes takes 1..${topo.MAX_NODES}, not ${opts.nodes}`);
    const prefix = `strait-${name}`;
    const r = new ReferenceCluster(prefix, join(opts.labDir ?? DEFAULT_LAB_DIR, name), opts.nodes);
    const underlay = topo.underlayNetns(prefix);
    if (run('ip', ['netns', 'list']).stdout.split('\n').some((l) => l.startsWith(`${prefix}-`))) throw new StraitError('E_CONFIG', `namespaces named ${prefix}-* exist already`);
    try {
      mkdirSync(r.dir, { recursive: true });
      r.makeNetns(underlay);
      createBridge(underlay);
      for (let i = 1; i <= opts.nodes; i++) r.bootNode(i);
      for (let i = 1; i <= opts.nodes; i++) for (let j = 0; j < opts.podsPerNode; j++) r.addPod(i, j);
      opts.log?.(`reference: ${opts.nodes} nodes (bridge ${BRIDGE}, static routes), pods ${r.pods.map((p) => `${p.name} ${p.ip}`).join(', ')}`);
      return r;
    } catch (e) {
      const problems = await r.down();
      if (problems.length > 0) opts.log?.(`cleaning up after the failure left problems:\n  ${problems.join('\n  ')}`);
      throw e;
    }
  }

  nodeNetns(i: number): string {
    return topo.nodeNetns(this.prefix, i);
  }

  pod(name: string): ReferencePod {
    const p = this.pods.find((x) => x.name === name);
    if (p === undefined) throw new StraitError('E_CONFIG', `the reference cluster has no pod ${name}`);
    return p;
  }

  private makeNetns(name: string): void {
    this.netns.push(name);
    addNetns(name);
  }

  /** Node i: uplink on the underlay, forwarding on, a route to every other node's pod CIDR via its InternalIP. */
  private bootNode(i: number): void {
    const ns = this.nodeNetns(i);
    this.makeNetns(ns);
    attachToUnderlay(topo.underlayNetns(this.prefix), ns, `p${i}`, topo.nodeAddresses(i), false);
    must('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    for (let j = 1; j <= this.nodes; j++) {
      if (j === i) continue;
      must('ip', ['-n', ns, 'route', 'add', topo.podCidrs(j, false).v4, 'via', topo.nodeAddresses(j).v4, 'dev', topo.UPLINK]);
    }
  }

  /** The j-th pod of node i, ADDed by the bridge plugin run inside the node's netns as a runtime would. */
  private addPod(i: number, j: number): void {
    const name = topo.podName(i, j);
    const netns = topo.podNetns(this.prefix, name);
    this.makeNetns(netns);
    const config = {
      cniVersion: '1.0.0',
      name: 'reference',
      type: 'bridge',
      bridge: BRIDGE,
      // the bridge holds the gateway address and is the pod's default route
      isDefaultGateway: true,
      mtu: topo.UPLINK_MTU,
      ipam: { type: 'host-local', ranges: [[{ subnet: topo.podCidrs(i, false).v4 }]], dataDir: join(this.dir, topo.nodeName(i), 'ipam') },
    };
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: `${this.prefix}-${name}`,
      CNI_NETNS: `/run/netns/${netns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: REFERENCE_PLUGINS,
    };
    const [cmd, args] = inNetns(this.nodeNetns(i), `${REFERENCE_PLUGINS}/bridge`, []);
    const r = run(cmd, args, { input: JSON.stringify(config), env });
    if (r.status !== 0) throw new StraitError('E_COMMAND', `bridge ADD of ${name} on ${topo.nodeName(i)} failed: ${(r.stdout + r.stderr).trim()}`);
    const answer = JSON.parse(r.stdout) as { ips?: { address: string }[] };
    const ip = answer.ips?.[0]?.address.split('/')[0];
    if (ip === undefined) throw new StraitError('E_COMMAND', `bridge ADD of ${name} answered no address: ${r.stdout}`);
    this.pods.push({ name, node: i, netns, ip });
  }

  /** Removes everything, newest first (its processes, links and routes go with each netns); returns what could not be. */
  async down(): Promise<string[]> {
    const problems: string[] = [];
    await removeNetns([...this.netns].reverse(), problems);
    rmSync(this.dir, { recursive: true, force: true });
    return problems;
  }
}
