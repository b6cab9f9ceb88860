// What a runtime needs to find strait, and what a test reads back afterwards: a CNI
// bin dir (strait plus Debian's reference plugins), a conflist, the calls strait
// logged, and whatever a pod may have left behind on the host.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REF_PLUGIN_DIR, STRAIT_BIN } from '../helpers/cni.js';
import { leaseCount } from '../helpers/leases.js';
import { listEndpointRecords } from '../../src/state/endpoint-record.js';

export const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));
export const REF_PLUGINS = ['loopback', 'portmap', 'bandwidth'] as const;

/**
 * A CNI bin dir: `strait` (a symlink to bin/strait, or with `recordDir` a shim that
 * records every call there and then execs it) and links to the reference plugins.
 */
export function cniBinDir(dir: string, opts: { recordDir?: string } = {}): string {
  mkdirSync(dir, { recursive: true });
  if (opts.recordDir === undefined) {
    symlinkSync(STRAIT_BIN, join(dir, 'strait'));
  } else {
    mkdirSync(opts.recordDir, { recursive: true });
    writeFileSync(join(dir, 'strait'), recordingShim(opts.recordDir), { mode: 0o755 });
    chmodSync(join(dir, 'strait'), 0o755);
  }
  for (const p of REF_PLUGINS) symlinkSync(join(REF_PLUGIN_DIR, p), join(dir, p));
  return dir;
}

// One directory per call (nanosecond timestamp first, so they sort in call order)
// with the CNI_* environment, stdin, stdout and exit code: everything the runtime
// sent, even for VERSION, which strait itself answers before reading any config.
function recordingShim(recordDir: string): string {
  return `#!/bin/sh
d=${JSON.stringify(recordDir)}/$(date +%s%N)-$$
mkdir -p "$d"
env | grep '^CNI_' >"$d/env"
cat >"$d/stdin"
${JSON.stringify(STRAIT_BIN)} <"$d/stdin" >"$d/stdout"
rc=$?
echo "$rc" >"$d/rc"
cat "$d/stdout"
exit "$rc"
`;
}

export interface RecordedCall {
  env: Record<string, string>;
  stdin: string;
  stdout: string;
  exitCode: number;
}

export function recordedCalls(recordDir: string): RecordedCall[] {
  if (!existsSync(recordDir)) return [];
  return readdirSync(recordDir)
    .sort()
    .map((name) => {
      const d = join(recordDir, name);
      const read = (f: string) => (existsSync(join(d, f)) ? readFileSync(join(d, f), 'utf8') : '');
      const env: Record<string, string> = {};
      for (const line of read('env').split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
      }
      return { env, stdin: read('stdin'), stdout: read('stdout'), exitCode: Number(read('rc').trim() || -1) };
    });
}

export interface StraitPluginOptions {
  stateDir: string;
  bpfDir: string;
  logFile: string;
  v4: string;
  v6?: string;
  /** agent mode: the node's strait-agent socket (test/e2e/agent.ts); absent: standalone */
  agentSocket?: string;
}

/** strait's entry in a conflist (no name or cniVersion: the list carries those). */
export function straitPlugin(o: StraitPluginOptions): Record<string, unknown> {
  return {
    type: 'strait',
    stateDir: o.stateDir,
    bpfDir: o.bpfDir,
    logFile: o.logFile,
    ...(o.agentSocket === undefined ? {} : { agentSocket: o.agentSocket }),
    ipam: { type: 'strait', ranges: [[{ subnet: o.v4 }], ...(o.v6 ? [[{ subnet: o.v6 }]] : [])] },
  };
}

/** Debian's reference plugins speak CNI up to 1.0.0, so a list with them is 1.0.0. */
export function conflist(name: string, plugins: Record<string, unknown>[]): Record<string, unknown> {
  return { cniVersion: '1.0.0', name, plugins };
}

export const PORTMAP = { type: 'portmap', capabilities: { portMappings: true } };
export const BANDWIDTH = { type: 'bandwidth', capabilities: { bandwidth: true } };

export function writeConflist(dir: string, file: string, list: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, JSON.stringify(list, null, 2));
  return path;
}

/** A call as strait logged it (the 'request' line every command writes to logFile). */
export interface LoggedRequest {
  cmd: string;
  containerId: string;
  ifname: string;
  network: string;
  netns: string | null;
  args: Record<string, string>;
  runtimeConfig: Record<string, unknown>;
  prevResult: boolean;
  /** the process that ran the call: the agent's PID in agent mode, the plugin's standalone */
  pid: number;
}

export function loggedRequests(logFile: string): LoggedRequest[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'request') as unknown as LoggedRequest[];
}

/** Lines strait logged at error level: a runtime test that passes should have none. */
export function loggedErrors(logFile: string): string[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
}

export interface EndpointRow {
  ip: string;
  family: 4 | 6;
  ifindex: number;
  hostVeth: string | null;
  pod: string | null;
  network: string | null;
  containerId: string | null;
  /** READY in the endpoint map: in agent mode only the agent's reconcile pass sets it */
  ready: boolean;
}

/** `straitctl endpoints -o json`: the endpoint map joined with ADD's records. */
export function straitctlEndpoints(bpfDir: string, stateDir: string): EndpointRow[] {
  const r = spawnSync(STRAITCTL, ['endpoints', '--bpf-dir', bpfDir, '--state-dir', stateDir, '-o', 'json'], { encoding: 'utf8' });
  if (r.status !== 0) {
    if (r.stderr.includes('no endpoint map pinned')) return [];
    throw new Error(`straitctl endpoints failed (${r.status}): ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as EndpointRow[];
}

/** Host links strait made for `network` (their alias names the owner). */
export function straitVeths(network: string): string[] {
  const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string; ifalias?: string }[];
  return links.filter((l) => l.ifalias?.startsWith(`strait/${network}/`)).map((l) => l.ifname);
}

/** Host routes whose destination starts with one of `prefixes` (e.g. '198.18.70.'). */
export function routesTo(prefixes: string[]): string[] {
  const out: string[] = [];
  for (const f of ['-4', '-6']) {
    const routes = JSON.parse(execFileSync('ip', ['-j', f, 'route', 'show'], { encoding: 'utf8' })) as { dst: string; dev?: string }[];
    for (const r of routes) if (prefixes.some((p) => r.dst.startsWith(p))) out.push(`${r.dst} dev ${r.dev ?? '?'}`);
  }
  return out;
}

export interface Leftovers {
  leases: number;
  records: number;
  endpoints: EndpointRow[];
  veths: string[];
  routes: string[];
}

/** Everything of `network` still on the host: all empty once every pod is gone. */
export function leftovers(o: { stateDir: string; bpfDir: string; network: string; routePrefixes: string[] }): Leftovers {
  return {
    leases: leaseCount(o.stateDir, o.network),
    records: listEndpointRecords(o.stateDir).filter((r) => r.network === o.network).length,
    endpoints: straitctlEndpoints(o.bpfDir, o.stateDir),
    veths: straitVeths(o.network),
    routes: routesTo(o.routePrefixes),
  };
}

export const NOTHING_LEFT: Leftovers = { leases: 0, records: 0, endpoints: [], veths: [], routes: [] };

const CNI_CACHE = '/var/lib/cni/results';

/** libcni caches results per attachment in /var/lib/cni/results; ours are named after our network. */
export function cachedResults(network: string, cacheDir = CNI_CACHE): string[] {
  if (!existsSync(cacheDir)) return [];
  return readdirSync(cacheDir).filter((f) => f.startsWith(`${network}-`));
}

/** Drops cache entries a crashed earlier run of the same test file left (only our network's). */
export function removeCachedResults(network: string, cacheDir = CNI_CACHE): void {
  for (const f of cachedResults(network, cacheDir)) rmSync(join(cacheDir, f), { force: true });
}

/** With STRAIT_E2E_LOGS=DIR, a test file copies its logs there before cleaning up. */
export function keepLogs(prefix: string, files: Record<string, string>): void {
  const to = process.env.STRAIT_E2E_LOGS;
  if (!to) return;
  mkdirSync(to, { recursive: true });
  for (const [name, path] of Object.entries(files)) {
    if (existsSync(path)) copyFileSync(path, join(to, `${prefix}-${name}`));
  }
}
