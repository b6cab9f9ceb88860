// What the cluster bench measures on one path (a client netns, a server netns and
// the server's address): iperf3 TCP throughput, one stream, and TCP request/response
// latency with sockperf ping-pong (full round trips), as bench/datapath.mjs does.
// The clients run asynchronously and stop on the bench's AbortSignal, so Ctrl-C
// reaches the clean-up at once rather than after the current run.
import { spawn } from 'node:child_process';
import { StraitError } from '../errors.js';
import { inNetns, run, type RunResult } from './run.js';

export const IPERF_PORT = 5201;
export const SOCKPERF_PORT = 11111;

export interface Path {
  clientNetns: string;
  serverNetns: string;
  serverIp: string;
  /** where the measuring processes run (taskset); unset, wherever the scheduler puts them */
  cpus?: CpuPlan;
}

/**
 * The CPU each measuring process is pinned to. Unpinned, the scheduler picks per run
 * whether a ping-pong's client and server share a CPU (about 12 us a round trip on a
 * 2-core VM) or not (about 16 us, a cross-CPU wake-up per message), so a run's p50
 * lands on one of two levels and a few per cent is lost in the swing.
 */
export interface CpuPlan {
  iperfClient: number;
  iperfServer: number;
  sockperfClient: number;
  sockperfServer: number;
}

/**
 * Throughput on two CPUs (sender and receiver each have one: the highest and
 * steadiest), request/response on one (no cross-CPU wake-up: the steadiest). What
 * else runs (an agent, a monitor) has the rest of the machine, and where it takes
 * a measured CPU from the measurement, that shows.
 */
export const PINNED: CpuPlan = { iperfClient: 0, iperfServer: 1, sockperfClient: 0, sockperfServer: 0 };

/** `cmd args` on `cpu` (taskset, which execs in place) when one is given. */
export function onCpu(cpu: number | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
}

/** `cmd args` in `netns`, on `cpu` when one is given. */
const measuring = (netns: string, cpu: number | undefined, cmd: string, args: string[]): [string, string[]] => inNetns(netns, ...onCpu(cpu, cmd, args));

export interface Latency {
  /** microseconds */
  p50: number;
  p99: number;
}

/** A command to its end, or until `signal` aborts (then it is killed and this rejects). */
export function runAsync(cmd: string, args: string[], signal: AbortSignal, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], signal, timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

/**
 * Starts iperf3 and sockperf servers on the path's server address and waits until
 * both listen. Detached (a terminal's Ctrl-C is the bench's to handle); the PIDs
 * are the servers' own (`ip netns exec` and taskset exec in place), to stop them by.
 */
export async function startServers(p: Path, signal: AbortSignal): Promise<number[]> {
  const pids: number[] = [];
  for (const [cpu, cmd0, args] of [
    [p.cpus?.iperfServer, 'iperf3', ['-s', '-B', p.serverIp, '-p', String(IPERF_PORT)]],
    [p.cpus?.sockperfServer, 'sockperf', ['sr', '--tcp', '-i', p.serverIp, '-p', String(SOCKPERF_PORT)]],
  ] as const) {
    const [cmd, a] = measuring(p.serverNetns, cpu, cmd0, [...args]);
    const child = spawn(cmd, a, { detached: true, stdio: 'ignore' });
    child.unref();
    if (child.pid !== undefined) pids.push(child.pid);
  }
  for (let i = 0; ; i++) {
    const listening = run('ip', ['netns', 'exec', p.serverNetns, 'ss', '-Hltn']).stdout;
    if ([IPERF_PORT, SOCKPERF_PORT].every((port) => listening.includes(`${p.serverIp}:${port} `))) return pids;
    if (i >= 100 || signal.aborted) {
      stopServers(pids);
      throw new StraitError('E_COMMAND', `the iperf3 and sockperf servers in ${p.serverNetns} did not listen on ${p.serverIp}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function stopServers(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** iperf3, one TCP stream for `seconds`: Gbit/s received. */
export async function throughput(p: Path, seconds: number, signal: AbortSignal): Promise<number> {
  const [cmd, args] = measuring(p.clientNetns, p.cpus?.iperfClient, 'iperf3', ['-J', '--connect-timeout', '3000', '-t', String(seconds), '-c', p.serverIp, '-p', String(IPERF_PORT)]);
  const r = await runAsync(cmd, args, signal, (seconds + 15) * 1000);
  return parseIperf(r);
}

export function parseIperf(r: RunResult): number {
  let j: { error?: string; end?: { sum_received?: { bits_per_second?: number } } } = {};
  try {
    j = JSON.parse(r.stdout) as typeof j;
  } catch {
    // not JSON: reported below with the raw text
  }
  // -J reports a failed run (no connection) in "error", sometimes with exit status 0.
  const bps = j.end?.sum_received?.bits_per_second;
  if (r.status === 0 && j.error === undefined && bps !== undefined) return bps / 1e9;
  throw new StraitError('E_COMMAND', `iperf3: ${j.error ?? (r.stdout + r.stderr).trim().slice(0, 300)}`);
}

/** sockperf ping-pong over TCP for `seconds`: round-trip p50 and p99. */
export async function requestResponse(p: Path, seconds: number, signal: AbortSignal): Promise<Latency> {
  const [cmd, args] = measuring(p.clientNetns, p.cpus?.sockperfClient, 'sockperf', ['pp', '--tcp', '-i', p.serverIp, '-p', String(SOCKPERF_PORT), '-t', String(seconds), '--full-rtt']);
  return parseSockperf(await runAsync(cmd, args, signal, (seconds + 15) * 1000));
}

export function parseSockperf(r: RunResult): Latency {
  const pct = (p: number): number => Number(new RegExp(`percentile ${p}\\.000 =\\s+([\\d.]+)`).exec(r.stdout)?.[1] ?? NaN);
  const l = { p50: pct(50), p99: pct(99) };
  if (r.status === 0 && Number.isFinite(l.p50) && Number.isFinite(l.p99)) return l;
  throw new StraitError('E_COMMAND', `sockperf: ${(r.stderr + r.stdout).trim().split('\n').slice(-3).join(' ')}`);
}
