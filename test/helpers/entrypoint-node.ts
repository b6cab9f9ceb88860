// deploy/entrypoint.sh as an emulated node's agent: temp dirs standing in for the
// host paths the DaemonSet mounts, the agent started (and stopped) by its PID inside
// the node's netns, its health endpoint probed from there, and the dirs snapshotted
// so a test can say "left as they were".
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bpffsDir, onCleanup, tempDir, type Netns } from './sys.js';

export const ENTRYPOINT = fileURLToPath(new URL('../../deploy/entrypoint.sh', import.meta.url));
const NODE = fileURLToPath(new URL('../../tools/node24/bin/node', import.meta.url));
const HEALTH = '127.0.0.1:9876'; // the node namespace's own loopback: no other test shares it

export type Snapshot = Record<string, { data: string; mode: number; ino: number; mtimeMs: number }>;

export function snapshot(dir: string): Snapshot {
  return Object.fromEntries(
    readdirSync(dir).sort().map((n) => {
      const st = statSync(join(dir, n));
      return [n, { data: readFileSync(join(dir, n), 'latin1'), mode: st.mode, ino: st.ino, mtimeMs: st.mtimeMs }];
    }),
  );
}

export interface EntrypointDirs {
  root: string;
  bin: string;
  conf: string;
  state: string;
  run: string;
  /** the ConfigMap's mount */
  config: string;
  bpfDir: string;
  socket: string;
}

export function entrypointDirs(prefix: string): EntrypointDirs {
  const root = tempDir(`${prefix}-node`);
  const d = { bin: join(root, 'opt-cni-bin'), conf: join(root, 'etc-cni-net.d'), state: join(root, 'var-lib-strait'), run: join(root, 'run-strait'), config: join(root, 'etc-strait') };
  for (const p of Object.values(d)) mkdirSync(p);
  return { root, ...d, bpfDir: join(bpffsDir(prefix), 'strait'), socket: join(d.run, 'agent.sock') };
}

/** The environment the entrypoint reads its paths from (the DaemonSet leaves them at their defaults). */
export const entrypointEnv = (d: EntrypointDirs, source: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  STRAIT_CONFIG_DIR: d.config,
  STRAIT_SOURCE: source,
  STRAIT_CNI_BIN_DIR: d.bin,
  STRAIT_CNI_CONF_DIR: d.conf,
  STRAIT_STATE_DIR: d.state,
  STRAIT_BPF_DIR: d.bpfDir,
  STRAIT_AGENT_SOCKET: d.socket,
  STRAIT_HEALTH_ADDR: HEALTH,
  ...extra,
});

export class EntrypointAgent {
  private agent: ChildProcess | null = null;
  readonly logFile: string;

  /** `wrap`: what runs the entrypoint inside the netns (e.g. unshare), ending in the command it execs. */
  constructor(
    private readonly node: Netns,
    private readonly env: NodeJS.ProcessEnv,
    root: string,
    private readonly wrap: (entrypoint: string) => string[] = (e) => [e],
  ) {
    this.logFile = join(root, 'agent.log');
    onCleanup(() => {
      const a = this.agent;
      if (a !== null && a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
    });
  }

  start(): void {
    const out = openSync(this.logFile, 'a');
    // ip netns exec execs the entrypoint (the wrapper execs too), which execs the agent: the PID is the agent's.
    this.agent = spawn('ip', ['netns', 'exec', this.node.name, ...this.wrap(ENTRYPOINT)], { env: this.env, stdio: ['ignore', out, out] });
    closeSync(out);
  }

  async stop(): Promise<void> {
    const a = this.agent!;
    if (a.exitCode !== null || a.signalCode !== null) return;
    const exited = new Promise((r) => a.once('exit', r));
    a.kill('SIGTERM');
    await exited;
  }

  uninstall(): { status: number | null; output: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.node.name, ...this.wrap(ENTRYPOINT), '--uninstall'], { env: this.env, encoding: 'utf8' });
    return { status: r.status, output: r.stdout + r.stderr };
  }

  probe(path: string): { status: number; body: Record<string, unknown> } | null {
    const js = `fetch('http://${HEALTH}${path}').then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.json() })), () => console.log('null'))`;
    const r = spawnSync('ip', ['netns', 'exec', this.node.name, NODE, '-e', js], { encoding: 'utf8' });
    return JSON.parse(r.stdout || 'null') as { status: number; body: Record<string, unknown> } | null;
  }

  async untilReady(tries = 400): Promise<void> {
    for (let i = 0; i < tries; i++) {
      if (this.probe('/readyz')?.status === 200) return;
      if (this.agent!.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the agent never became ready:\n${this.log()}`);
  }

  log(): string {
    return readFileSync(this.logFile, 'utf8').slice(-3000);
  }
}
