// Running the commands the lab is made of (ip, mount, bin/strait, ping, iperf3),
// in the machine's namespaces or inside one of the lab's.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StraitError } from '../errors.js';

/** The checkout: two levels above both src/lab and dist/lab. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = (name: 'strait' | 'strait-agent' | 'straitctl'): string => `${ROOT}bin/${name}`;
/** The project's Node.js 24 (what bin/* run on), for the lab's own pod tool. */
export const NODE = existsSync(`${ROOT}tools/node24/bin/node`) ? `${ROOT}tools/node24/bin/node` : process.execPath;
export const POD_TOOL = `${ROOT}dist/lab/pod-tool.js`;

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input ?? '', env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.error ? `${r.stderr}${r.error.message}` : r.stderr };
}

export function must(cmd: string, args: string[], opts: { input?: string } = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new StraitError('E_COMMAND', `${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** `ip netns exec NS cmd …`: ip execs the command in place, so a spawned child's PID is the command's. */
export const inNetns = (netns: string, cmd: string, args: string[]): [string, string[]] => ['ip', ['netns', 'exec', netns, cmd, ...args]];

export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

/** Mount points (as the root mount namespace sees them) at or below `dir`. */
export function mountsBelow(dir: string): string[] {
  const d = dir.endsWith('/') ? dir.slice(0, -1) : dir;
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === d || m.startsWith(`${d}/`));
}

/** True when `pid` is alive and its command line contains `marker` (a PID may have been reused). */
export function processMatches(pid: number, marker: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    // empty: a zombie (or a kernel thread), nothing left to stop
    return cmdline !== '' && cmdline.includes(marker);
  } catch {
    return false;
  }
}
