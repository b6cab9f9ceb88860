// The lab's traffic checks: ping, a TCP probe of a pod's server, iperf3. Each runs
// inside the lab's namespaces only and says what it saw; none decides pass or fail
// by how long something took.
import { spawn, spawnSync } from 'node:child_process';
import type { FlowRecord } from '../flows/types.js';
import { StraitError } from '../errors.js';
import type { EmulatedCluster } from './cluster.js';
import { BIN, inNetns, NODE, POD_TOOL } from './run.js';
import { POD_PORT } from './topology.js';

export type Where = { pod: string } | { node: number } | 'outside';

export interface PingResult {
  ok: boolean;
  /** the round trip as ping printed it, e.g. "0.061 ms" */
  rtt: string | null;
}

export function ping(c: EmulatedCluster, from: Where, to: string): PingResult {
  const r = c.exec(from, 'ping', ['-c', '1', '-W', '2', to]);
  return { ok: r.status === 0, rtt: /time=([\d.]+ ms)/.exec(r.stdout)?.[1] ?? null };
}

/** Connects to the pod server at `to`; the answering pod's name, or null (refused, dropped). */
export function probe(c: EmulatedCluster, from: Where, to: string, timeoutMs = 1500, port = POD_PORT): string | null {
  const r = c.exec(from, NODE, [POD_TOOL, 'probe', to, String(port), String(timeoutMs)], timeoutMs + 10_000);
  return r.status === 0 ? r.stdout.trim() : null;
}

/** iperf3 TCP, one stream, `seconds` long, from → server at `to` (in `server`'s netns). Bits per second. */
export async function iperf(c: EmulatedCluster, from: Where, server: Where, to: string, seconds = 2): Promise<number> {
  const ns = server === 'outside' ? null : 'pod' in server ? c.pod(server.pod).netns : c.node(server.node).netns;
  if (ns === null) throw new StraitError('E_CONFIG', 'iperf3 runs its server in a pod or a node');
  const [cmd, args] = inNetns(ns, 'iperf3', ['-s', '-1', '-B', to]);
  const srv = spawn(cmd, args, { stdio: 'ignore' });
  try {
    // The server needs a moment to listen: retry the client rather than sleep blindly.
    for (let attempt = 0; ; attempt++) {
      const r = c.exec(from, 'iperf3', ['-J', '--connect-timeout', '3000', '-t', String(seconds), '-c', to], (seconds + 15) * 1000);
      // -J reports a failed run (no connection) in "error", sometimes with exit status 0.
      const j = parseIperf(r.stdout);
      const bps = j?.end?.sum_received?.bits_per_second;
      if (bps !== undefined) return bps;
      const why = j?.error ?? (r.stdout + r.stderr).slice(0, 300);
      // Refused: the server is not listening yet. Anything else is the answer.
      if (attempt >= 20 || !/refused/i.test(why)) throw new StraitError('E_COMMAND', `iperf3 to ${to} failed: ${why}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    if (srv.exitCode === null) srv.kill('SIGKILL');
  }
}

interface IperfReport {
  error?: string;
  end?: { sum_received?: { bits_per_second: number } };
}

/** iperf3 -J's report; null when it printed none (it died before). */
function parseIperf(stdout: string): IperfReport | null {
  try {
    return JSON.parse(stdout) as IperfReport;
  } catch {
    return null;
  }
}

/** Packets of one counter on node i. */
export const counter = (c: EmulatedCluster, i: number, name: string): bigint => c.counters(i).get(name) ?? 0n;

/** The newest flow records node i's agent holds that match `filter` (straitctl flows flags), oldest first. */
export function flows(c: EmulatedCluster, i: number, filter: string[], last = 50): FlowRecord[] {
  const r = spawnSync(BIN('straitctl'), ['flows', '--last', String(last), '-o', 'json', '--socket', c.node(i).socket, ...filter], { encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) throw new StraitError('E_COMMAND', `straitctl flows on ${c.node(i).name}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as FlowRecord);
}
