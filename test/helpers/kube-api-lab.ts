// The API emulation (src/lab/kube-api) as a process a test starts in a netns of its
// own (the DaemonSet entrypoint's test: https, a token), listening there and on a
// unix socket, where this test process (outside every such namespace) writes to it
// (src/lab/kube-api/client.ts). A lab on --source kube runs its own (src/lab/api.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { agentsCaughtUp, apiRequest, applyObject, type Written } from '../../src/lab/kube-api/client.js';
import { inNetns, NODE, ROOT } from '../../src/lab/run.js';

type Json = Record<string, unknown>;

export class LabApi {
  private readonly written: Written = {};

  private constructor(
    private readonly child: ChildProcess,
    readonly socket: string,
    readonly kubeconfig: string,
  ) {}

  /**
   * The emulation in `netns`, listening on `listen` (and on a unix socket in `dir`,
   * where its kubeconfig goes too); `args` are more of its flags (--tls-cert, --token-file).
   */
  static async spawn(o: { netns: string; dir: string; listen: string; args?: string[] }): Promise<LabApi> {
    const socket = join(o.dir, 'kube-api.sock');
    const kubeconfig = join(o.dir, 'kubeconfig');
    const script = join(ROOT, 'dist/lab/kube-api/main.js');
    const args = [script, '--listen', o.listen, '--socket', socket, '--kubeconfig', kubeconfig, '--bookmark-ms', '5000', ...(o.args ?? [])];
    const child = spawn(...inNetns(o.netns, NODE, args), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const up = (): boolean => /^https?:\/\//m.test(out);
    for (let i = 0; i < 500 && !up(); i++) {
      if (child.exitCode !== null) throw new Error(`the API emulation exited (${child.exitCode}): ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!up()) {
      child.kill('SIGKILL');
      throw new Error(`the API emulation did not start: ${out}`);
    }
    return new LabApi(child, socket, kubeconfig);
  }

  /** Stops the process by its PID (ip netns exec execs in place) and waits for it. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }

  request(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
    return apiRequest(this.socket, method, path, body);
  }

  /** Creates or replaces one object; returns the stored object. */
  apply(obj: Json): Promise<Json> {
    return applyObject(this.socket, obj, this.written);
  }

  /** Waits until every agent is synced and has seen every write so far. */
  async synced(sockets: string[], tries = 1500): Promise<void> {
    if (!(await agentsCaughtUp(sockets, this.written, tries))) throw new Error(`the agents did not catch up with the API: ${JSON.stringify(this.written)}`);
  }
}
