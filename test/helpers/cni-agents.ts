// Real bin/strait-agent processes that serve CNI calls to tests: the agent mode of the
// contract tests (STRAIT_TEST_CNI_MODE=agent: runCni adds the socket of the agent that
// serves the call's stateDir and bpfDir in the call's namespace), and the agents the
// kill and DEL-queue drills start, kill and start again. Every agent is stopped by PID
// from cleanupAll, before the bpffs it serves is unmounted and its temp dirs removed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bpffsDir, isRoot, onCleanup, tempDir } from './sys.js';

const BIN = (n: string) => fileURLToPath(new URL(`../../bin/${n}`, import.meta.url));

const asked = process.env.STRAIT_TEST_CNI_MODE === 'agent';
if (asked && !isRoot) console.warn('\n*** STRAIT_TEST_CNI_MODE=agent ignored: strait-agent needs root; calls run standalone ***\n');
/** Calls of the contract tests go through a real strait-agent. */
export const agentMode = asked && isRoot;

export interface AgentDirs {
  stateDir: string;
  bpfDir: string;
  /** the namespace the agent runs in (`ip netns exec`), else the test's */
  inNetns?: string;
}

const running = new Set<CniAgent>();

/** One strait-agent with an empty manifest dir; start() again after a kill is a restart on the same dirs and socket. */
export class CniAgent {
  readonly socket: string;
  readonly logFile: string;
  /** the agent's source (dir:): a test may write Node objects there */
  readonly manifests: string;
  child: ChildProcess | null = null;

  constructor(readonly dirs: AgentDirs) {
    const own = tempDir('cni-agent');
    this.manifests = tempDir('cni-agent-src');
    this.socket = join(own, 'agent.sock');
    this.logFile = join(own, 'agent.log');
  }

  /** Starts the agent and waits (blocking: the first CNI call needs it) until it is synced. */
  start(): this {
    const argv = ['--node', 'node-1', '--source', `dir:${this.manifests}`, '--state-dir', this.dirs.stateDir, '--bpf-dir', this.dirs.bpfDir, '--socket', this.socket, '--masquerade', 'false'];
    const ns = this.dirs.inNetns;
    // A file, not a pipe: nobody drains a pipe while the test process waits below.
    const out = openSync(this.logFile, 'a');
    // `ip netns exec` execs the agent in place: the child's PID is the agent's.
    this.child = spawn(ns === undefined ? BIN('strait-agent') : 'ip', ns === undefined ? argv : ['netns', 'exec', ns, BIN('strait-agent'), ...argv], { stdio: ['ignore', out, out] });
    closeSync(out);
    running.add(this);
    const w = spawnSync(BIN('straitctl'), ['wait', '--synced', '--timeout', '20', '--socket', this.socket], { encoding: 'utf8' });
    if (w.status !== 0) {
      this.kill();
      throw new Error(`strait-agent for ${JSON.stringify(this.dirs)} never synced: ${w.stdout}${w.stderr}\nagent log:\n${this.log().slice(-3000)}`);
    }
    return this;
  }

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` and resolves once the agent has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const c = this.child;
    if (c === null || !this.alive) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await exited;
  }

  kill(): void {
    if (this.alive) this.child!.kill('SIGKILL');
    running.delete(this);
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}

const served = new Map<string, CniAgent>();
let spare: AgentDirs | null = null;

const killAll = (): void => {
  for (const a of running) a.kill();
};
// A worker that ends without its afterAll (a crash, a timeout) still leaves no agent.
process.once('exit', killAll);

onCleanup(() => {
  killAll();
  served.clear();
  spare = null; // its dirs are removed with the others
});

const pathOf = (v: unknown, env: string | undefined, fallback: string | null): string | null =>
  typeof v === 'string' ? (isAbsolute(v) ? resolve(v) : null) : env !== undefined ? (isAbsolute(env) ? resolve(env) : null) : fallback;

/**
 * The agent serving `config` in `inNetns` (started on first use): its socket, and the
 * variables the call needs besides. A config whose stateDir or bpfDir is not a usable
 * absolute path (an error test), or that names none (the machine's default, never
 * touched by tests), goes to a spare agent of its own dirs, given as the node's
 * STRAIT_STATE_DIR and STRAIT_BPF_DIR where the call sets neither: the agent parses a
 * call before it checks the dirs, so an error is the plugin's.
 */
export function agentFor(config: Record<string, unknown>, env: Record<string, string | undefined>, inNetns?: string): { socket: string; env: Record<string, string> } {
  let stateDir = pathOf(config.stateDir, env.STRAIT_STATE_DIR, null);
  let bpfDir = pathOf(config.bpfDir, env.STRAIT_BPF_DIR, null);
  const extra: Record<string, string> = {};
  if (stateDir === null || bpfDir === null) {
    spare ??= { stateDir: tempDir('spare-agent-state'), bpfDir: bpffsDir('spare-agent') };
    ({ stateDir, bpfDir } = spare);
    if (config.stateDir === undefined && env.STRAIT_STATE_DIR === undefined) extra.STRAIT_STATE_DIR = stateDir;
    if (config.bpfDir === undefined && env.STRAIT_BPF_DIR === undefined) extra.STRAIT_BPF_DIR = bpfDir;
  }
  const key = `${inNetns ?? ''}\0${stateDir}\0${bpfDir}`;
  let a = served.get(key);
  if (!a?.alive) {
    a = new CniAgent({ stateDir, bpfDir, ...(inNetns === undefined ? {} : { inNetns }) }).start();
    served.set(key, a);
  }
  return { socket: a.socket, env: extra };
}

/** For a test that runs bin/strait on raw stdin (no config object to add agentSocket to): the variables of agent mode. */
export function agentEnv(inNetns?: string): Record<string, string> {
  if (!agentMode) return {};
  const a = agentFor({}, {}, inNetns);
  return { STRAIT_AGENT_SOCKET: a.socket, ...a.env };
}
