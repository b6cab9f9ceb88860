// The node's strait-agent for an e2e file in agent mode: bin/strait-agent on the
// file's own state dir, bpffs and socket (never /run/strait/agent.sock, whose mere
// existence would switch every standalone plugin on the machine to agent mode),
// watching an empty manifest dir. The conflist names its socket (`agentSocket`), so
// bin/strait forwards every call to it. Stopped by its PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentStatus } from '../../src/agent/core.js';
import { waitAgentSynced } from '../helpers/cluster.js';
import { expect } from 'vitest';
import { STRAITCTL, type EndpointRow } from './cni-setup.js';

const AGENT_BIN = new URL('../../bin/strait-agent', import.meta.url).pathname;

/** Which way the runtime's calls reach strait: through the agent, or the Node plugin per call. */
export type CniMode = 'agent' | 'standalone';

export interface E2eAgent {
  socket: string;
  pid: number;
  /** its stdout and stderr so far */
  log(): string;
  /** `straitctl status --socket -o json` */
  status(): AgentStatus;
  stop(): Promise<void>;
}

export async function startAgent(dir: string, o: { stateDir: string; bpfDir: string }): Promise<E2eAgent> {
  const manifests = join(dir, 'manifests');
  mkdirSync(manifests, { recursive: true });
  const socket = join(dir, 'agent.sock');
  const argv = [
    '--node', 'e2e-node', '--source', `dir:${manifests}`, '--state-dir', o.stateDir, '--bpf-dir', o.bpfDir,
    '--socket', socket, '--log-level', 'info',
    // one node, pods talk among themselves: no NAT rules in the host's shared tables
    '--masquerade', 'false',
  ];
  const child: ChildProcess = spawn(AGENT_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitAgentSynced(socket, 20, () => out.slice(-3000));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    socket,
    pid: child.pid!,
    log: () => out,
    status() {
      const r = spawnSync(STRAITCTL, ['status', '--socket', socket, '-o', 'json'], { encoding: 'utf8' });
      if (r.status !== 0 && r.status !== 1) throw new Error(`straitctl status failed (${r.status}): ${r.stderr}`);
      return JSON.parse(r.stdout) as AgentStatus;
    },
    stop,
  };
}

/**
 * What proves the agent served a runtime's calls: every call strait logged for them
 * ran in the agent's process (pino's `pid`), and while pods run the agent counts
 * each of their endpoints and the endpoint map has them READY (which in agent mode
 * only the agent's reconcile pass sets). Standalone, each call ran in a plugin
 * process of its own.
 */
export function callsServedBy(mode: CniMode, agent: E2eAgent | null, requests: { pid: number }[]): void {
  expect(requests.length).toBeGreaterThan(0);
  const pids = requests.map((r) => r.pid);
  if (mode === 'agent') expect(new Set(pids)).toEqual(new Set([agent!.pid]));
  else expect(new Set(pids).size).toBe(pids.length);
}

export function endpointsReadyVia(mode: CniMode, agent: E2eAgent | null, endpoints: EndpointRow[]): void {
  expect(endpoints.length).toBeGreaterThan(0);
  expect(endpoints.every((e) => e.ready)).toBe(true);
  // the agent counts attachments; the map has a row per address
  if (mode === 'agent') expect(agent!.status().endpoints).toBe(new Set(endpoints.map((e) => e.ifindex)).size);
}
