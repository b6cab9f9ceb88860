// Runs the real bin/strait exactly as a runtime does: CNI_* environment, the network
// config on stdin, the result or error as JSON on stdout.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { agentFor, agentMode } from './cni-agents.js';
import { bpffsDir } from './sys.js';

export const STRAIT_BIN = fileURLToPath(new URL('../../bin/strait', import.meta.url));
export const REF_PLUGIN_DIR = '/usr/lib/cni';

export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
  config: Record<string, unknown>;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  path?: string;
  /** replaces the CNI_* variables entirely when given */
  env?: Record<string, string>;
  bin?: string;
  /** run the plugin inside this network namespace (an emulated node), by `ip netns exec` */
  inNetns?: string;
  /** variables added to the CNI_* ones (e.g. STRAIT_BOOT_ID to simulate a reboot) */
  extraEnv?: Record<string, string>;
}

export interface CniReply {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, null when empty */
  json: Record<string, unknown> | null;
}

/** Starts the plugin with the call's environment and its config on stdin. */
export function spawnCni(call: CniCall): ChildProcessWithoutNullStreams {
  const env: Record<string, string> = call.env ?? {
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId ?? '',
    CNI_NETNS: call.netns ?? '',
    CNI_IFNAME: call.ifname ?? 'eth0',
    CNI_PATH: call.path ?? REF_PLUGIN_DIR,
    ...(call.args !== undefined ? { CNI_ARGS: call.args } : {}),
  };
  const bin = call.bin ?? STRAIT_BIN;
  const agent = viaAgent(call, env) ? agentFor(call.config, { ...env, ...call.extraEnv }, call.inNetns) : null;
  const config = agent === null ? call.config : { ...call.config, agentSocket: agent.socket };
  // ip netns exec execs the plugin: the child's PID is the plugin's, to kill.
  const [cmd, args] = call.inNetns === undefined ? [bin, []] : ['ip', ['netns', 'exec', call.inNetns, bin]];
  const child = spawn(cmd, args, {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env, ...agent?.env, ...call.extraEnv },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.on('error', () => {}); // a plugin killed before reading its stdin
  child.stdin.end(JSON.stringify(config));
  return child;
}

/** In agent mode, bin/strait itself with no agentSocket of the test's own and a command the shim forwards. */
function viaAgent(call: CniCall, env: Record<string, string>): boolean {
  return agentMode && call.bin === undefined && !('agentSocket' in call.config) && env.CNI_COMMAND !== 'VERSION';
}

export function runCni(call: CniCall): Promise<CniReply> {
  return new Promise((resolve, reject) => {
    const child = spawnCni(call);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: Record<string, unknown> | null = null;
      if (stdout.trim() !== '') {
        try {
          json = JSON.parse(stdout) as Record<string, unknown>;
        } catch {
          json = null;
        }
      }
      resolve({ exitCode: code ?? -1, stdout, stderr, json });
    });
  });
}

/** A plugin config for strait's own IPAM on test ranges, one network per test file. */
export function straitConfig(opts: {
  name: string;
  cniVersion?: string;
  stateDir: string;
  /** default: one private bpffs per test file */
  bpfDir?: string;
  v4?: string;
  v6?: string;
  extra?: Record<string, unknown>;
  ipam?: Record<string, unknown>;
}): Record<string, unknown> {
  const ranges: unknown[] = [];
  if (opts.v4) ranges.push([{ subnet: opts.v4 }]);
  if (opts.v6) ranges.push([{ subnet: opts.v6 }]);
  return {
    cniVersion: opts.cniVersion ?? '1.1.0',
    name: opts.name,
    type: 'strait',
    stateDir: opts.stateDir,
    bpfDir: opts.bpfDir ?? fileBpffs(),
    ipam: opts.ipam ?? { type: 'strait', ranges },
    ...opts.extra,
  };
}

let shared: string | null = null;
/** The pin dir the tests of one file share; unmounted by cleanupAll. */
export function fileBpffs(): string {
  if (shared === null || !existsSync(shared)) shared = bpffsDir('file');
  return shared;
}
