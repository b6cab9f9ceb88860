// A node's strait-agent, run inside the node's netns as the contract says. It is
// started detached, its output in the node's agent.log, so it outlives `lab up`;
// its PID is recorded and it is stopped by that PID (after checking the PID is still
// that agent: a PID may be reused once the agent is gone).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { StraitError } from '../errors.js';
import { BIN, processMatches, run } from './run.js';
import type { LabNode, LabState } from './state.js';
import { UPLINK, type Routing } from './topology.js';

/** The agent's --source flags for a lab: its manifest directory, or the API emulation's kubeconfig. */
export const sourceArgs = (s: LabState): string[] =>
  s.api === undefined ? ['--source', `dir:${s.manifests}`] : ['--source', 'kube', '--kubeconfig', s.api.kubeconfig];

/** `extraArgs` go after the contract's flags (e.g. `--masquerade false`); `env` is added to its environment (e.g. STRAIT_BPF_OBJ_DIR, another build). */
export function startAgent(node: LabNode, source: readonly string[], routing: Routing, extraArgs: readonly string[] = [], env: Readonly<Record<string, string>> = {}): number {
  const log = openSync(node.agentLog, 'a');
  try {
    const argv = ['--node', node.name, ...source, '--state-dir', node.stateDir, '--bpf-dir', node.bpfDir, '--socket', node.socket];
    // native is the agent's default; the flag is only said when it changes something.
    if (routing !== 'native') argv.push('--routing', routing);
    argv.push(...extraArgs);
    const child = spawn('ip', ['netns', 'exec', node.netns, BIN('strait-agent'), ...argv], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, STRAIT_ROUTING: routing, STRAIT_UPLINK: UPLINK, ...env },
    });
    child.unref();
    if (child.pid === undefined) throw new StraitError('E_COMMAND', `could not start the agent of ${node.name}`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

export const agentAlive = (node: LabNode): boolean => node.agentPid !== null && processMatches(node.agentPid, node.socket);

export function agentLogTail(node: LabNode, chars = 2000): string {
  try {
    return readFileSync(node.agentLog, 'utf8').slice(-chars);
  } catch {
    return '';
  }
}

/** `straitctl wait --synced` against the node's socket; throws with the agent's last words. */
export function waitSynced(node: LabNode, timeoutS = 20): void {
  let r = { status: -1, stdout: '', stderr: 'never asked' };
  // In one-second slices, so an agent that died (a bad flag) is reported at once.
  for (let s = 0; s < timeoutS && r.status !== 0 && (s === 0 || agentAlive(node)); s++) {
    r = run(BIN('straitctl'), ['wait', '--synced', '--timeout', '1', '--socket', node.socket], { timeoutMs: 10_000 });
  }
  if (r.status === 0) return;
  const state = agentAlive(node) ? 'running' : 'not running';
  throw new StraitError('E_COMMAND', `the agent of ${node.name} (${state}) is not synced: ${(r.stderr || r.stdout).trim()}\n${node.agentLog}:\n${agentLogTail(node)}`);
}

/** Polls the agent answers and is synced, without waiting: for `lab status`. */
export function agentSynced(node: LabNode): boolean {
  return run(BIN('straitctl'), ['wait', '--synced', '--timeout', '0.2', '--socket', node.socket], { timeoutMs: 5000 }).status === 0;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL if it has not gone after a while. True when it is gone. */
export async function stopProcess(pid: number | null, marker: string): Promise<boolean> {
  if (pid === null || !processMatches(pid, marker)) return true;
  for (const [signal, rounds] of [['SIGTERM', 200], ['SIGKILL', 100]] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return true;
    }
    for (let i = 0; i < rounds; i++) {
      if (!processMatches(pid, marker)) return true;
      await pause(25);
    }
  }
  return !processMatches(pid, marker);
}
