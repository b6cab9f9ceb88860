// What the cross-node drills (test/netns/cross-node*.test.ts) need on top of
// EmulatedCluster: long-lived helper processes inside the lab's namespaces (servers,
// streams, monitors), stopped by PID; a node's strait routes and strait_remote_v1
// entries as text; and bounded polling for what an agent applies a moment later.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listRemote } from '../../src/agent/node-network-effects.js';
import * as bpf from '../../src/datapath/bpf.js';
import { decodeIpcacheValue, encodeEndpointKey, MapName } from '../../src/datapath/maps/index.js';
import { afterAll, beforeAll, expect } from 'vitest';
import { EmulatedCluster, type UpOptions } from '../../src/lab/cluster.js';
import { inNetns, NODE } from '../../src/lab/run.js';
import { cleanupAll, rand, tempDir } from './sys.js';
import { outsideNetns } from '../../src/lab/topology.js';

export const PEER_SERVER = fileURLToPath(new URL('./peer-server.mjs', import.meta.url));
export const POD_SERVER = fileURLToPath(new URL('./pod-server.mjs', import.meta.url));
export const STREAM = fileURLToPath(new URL('./stream.mjs', import.meta.url));
const REMOTE_WATCH = fileURLToPath(new URL('./remote-watch.mjs', import.meta.url));

export type Place = { pod: string } | { node: number } | 'outside';

export const netnsOf = (c: EmulatedCluster, where: Place): string =>
  where === 'outside' ? outsideNetns(c.state.prefix) : 'pod' in where ? c.pod(where.pod).netns : c.node(where.node).netns;

/** A process inside a lab namespace whose output the test reads as it comes. */
export class Helper {
  out = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  /** Resolves once the output matches; rejects when the process exits first. */
  async waitFor(re: RegExp): Promise<void> {
    for (;;) {
      if (re.test(this.out)) return;
      if (this.child.exitCode !== null) throw new Error(`exited (${this.child.exitCode}) before ${String(re)}: ${this.out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }
}

const running = new Set<Helper>();

function track(bin: string, argv: string[]): Helper {
  const h = new Helper(spawn(bin, argv, { stdio: ['pipe', 'pipe', 'pipe'] }));
  running.add(h);
  void h.exited.then(() => running.delete(h));
  return h;
}

/** Starts `cmd` inside `where`'s netns (ip netns exec execs in place: the PID is the command's). */
export const startIn = (c: EmulatedCluster, where: Place, cmd: string, args: string[]): Helper => track(...inNetns(netnsOf(c, where), cmd, args));

/**
 * Every state node i's strait_remote_v1 goes through from now on, one JSON line each
 * (test/helpers/remote-watch.mjs, in the root mount namespace where the bpffs is).
 */
export async function watchRemote(c: EmulatedCluster, i: number): Promise<Helper> {
  const h = track(NODE, [REMOTE_WATCH, c.node(i).bpfDir]);
  await h.waitFor(/^ready$/m);
  return h;
}

/** The JSON lines a watchRemote helper printed: each distinct state of the map (or a read error). */
export const remoteStates = (h: Helper): (string[] | { error: string })[] =>
  h.out.split('\n').filter((l) => l.startsWith('[') || l.startsWith('{')).map((l) => JSON.parse(l) as string[] | { error: string });

/** A Node.js script of test/helpers inside a lab namespace, resolved once it printed "ready". */
export async function startScript(c: EmulatedCluster, where: Place, script: string, args: string[]): Promise<Helper> {
  const h = startIn(c, where, NODE, [script, ...args]);
  await h.waitFor(/^ready$/m);
  return h;
}

/** What a stream.mjs sender printed at its end: every byte the server saw, in order (ok), or the socket error. */
export interface StreamEnd {
  sent?: number;
  ok?: boolean;
  answer?: string;
  error?: string;
}

/** Ends a stream.mjs sender's side and reads its verdict. */
export async function finishStream(s: Helper): Promise<StreamEnd> {
  s.send('end');
  await s.exited;
  const line = s.out.split('\n').find((l) => l.startsWith('{'));
  return line === undefined ? { error: `no result: ${s.out}` } : (JSON.parse(line) as StreamEnd);
}

/** Ends every helper still running, each by its PID. */
export async function stopHelpers(): Promise<void> {
  for (const h of [...running]) {
    if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGKILL');
    await h.exited;
  }
}

/** Node i's strait routes (protocol 200), both families, one line each, sorted. */
export function straitRoutes(c: EmulatedCluster, i: number): string[] {
  const lines = ['-4', '-6'].flatMap((f) => c.exec({ node: i }, 'ip', [f, 'route', 'show', 'proto', '200']).stdout.split('\n'));
  return lines.map((l) => l.trim()).filter((l) => l !== '').sort();
}

/**
 * An emulated cluster for the tests of one describe block: up before them (then
 * `ready`, e.g. servers in it), and down after them, with every helper process,
 * asserting that nothing was left. Call it inside the describe; the function it
 * returns gives the cluster to the tests.
 */
export function useLab(opts: Pick<UpOptions, 'nodes' | 'podsPerNode' | 'routing'> & { prefix: string }, ready?: (c: EmulatedCluster) => Promise<void>): () => EmulatedCluster {
  let c: EmulatedCluster | undefined;
  beforeAll(async () => {
    c = await EmulatedCluster.up({ nodes: opts.nodes, podsPerNode: opts.podsPerNode, routing: opts.routing, dualStack: true, name: `${opts.prefix}${rand(3)}`, labDir: tempDir(`lab-${opts.prefix}`) });
    await ready?.(c);
  }, 120_000);
  afterAll(async () => {
    await stopHelpers();
    const problems = await c?.down();
    cleanupAll();
    expect(problems ?? []).toEqual([]);
  }, 60_000);
  return () => {
    if (c === undefined) throw new Error('the lab is not up');
    return c;
  };
}

/** Node i's strait_remote_v1 as "cidr -> node address" lines, sorted. */
export const remoteEntries = (c: EmulatedCluster, i: number): string[] =>
  [...listRemote(c.node(i).bpfDir)].map(([cidr, ip]) => `${cidr} -> ${ip}`).sort();

/** Node i's strait_ipcache_v1 identity of each address asked for (0: not in it). */
export function ipcacheIdentities(c: EmulatedCluster, i: number, ips: readonly string[]): number[] {
  const fd = bpf.getPinned(join(c.node(i).bpfDir, MapName.ipcache));
  if (fd === null) throw new Error(`node ${i} has no ${MapName.ipcache}`);
  try {
    return ips.map((ip) => {
      const v = bpf.mapLookup(fd, encodeEndpointKey({ family: ip.includes(':') ? 6 : 4, ip }));
      return v === null ? 0 : decodeIpcacheValue(v).identity;
    });
  } finally {
    bpf.closeFd(fd);
  }
}

/**
 * Retries `check` (a throwing assertion) until it passes: an agent applies a manifest
 * change a moment after `straitctl wait --synced` may already have answered. Bounded
 * by rounds, and the last failure is the one reported.
 */
export async function eventually(check: () => void, rounds = 100): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      check();
      return;
    } catch (e) {
      if (i >= rounds) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
