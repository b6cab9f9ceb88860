// The API emulation (src/lab/kube-api) as the API server of an emulated cluster: a
// process in the lab's outside namespace listening on 198.18.0.254, where the node
// namespaces reach it, and on a unix socket, where this test process (outside every
// lab namespace) does. Manifests the tests write as text are applied to it object
// by object (PUT, else POST; what a file no longer holds is DELETEd), and waits are
// on resourceVersions: an agent is synced with the API once each of its watched
// kinds has seen at least the resourceVersion of the last write of that kind.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { agentRequest } from '../../src/agent/client.js';
import type { AgentStatus } from '../../src/agent/core.js';
import type { EmulatedCluster } from '../../src/lab/cluster.js';
import { apiVersionOf, RESOURCES, type ResourceDef } from '../../src/lab/kube-api/resources.js';
import { inNetns, NODE, ROOT } from '../../src/lab/run.js';
import { OUTSIDE, outsideNetns } from '../../src/lab/topology.js';

type Json = Record<string, unknown>;
export const KUBE_API_PORT = 6443;

const collection = (r: ResourceDef, namespace: string | null): string =>
  `${r.group === '' ? '/api' : `/apis/${r.group}`}/${r.version}${r.namespaced && namespace !== null ? `/namespaces/${namespace}` : ''}/${r.plural}`;

export class LabApi {
  /** last written resourceVersion by plural */
  private readonly written = new Map<string, number>();
  /** what each manifest file put into the API, by key "plural/ns/name" */
  private readonly byFile = new Map<string, Set<string>>();
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly child: ChildProcess,
    readonly socket: string,
    readonly kubeconfig: string,
  ) {}

  static start(lab: EmulatedCluster): Promise<LabApi> {
    return LabApi.spawn({ netns: outsideNetns(lab.state.prefix), dir: lab.state.dir, listen: `${OUTSIDE.v4}:${KUBE_API_PORT}` });
  }

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
    return new Promise((resolve, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const req = request({ socketPath: this.socket, method, path, headers: text === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (d: string) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) as Json }));
      });
      req.on('error', reject);
      req.end(text);
    });
  }

  private note(r: ResourceDef, json: Json): void {
    const rv = Number((json.metadata as Json | undefined)?.resourceVersion);
    if (Number.isInteger(rv)) this.written.set(r.plural, Math.max(this.written.get(r.plural) ?? 0, rv));
  }

  /** Creates or replaces one object; returns the stored object. */
  async apply(obj: Json): Promise<Json> {
    const r = RESOURCES.find((x) => x.kind === obj.kind && apiVersionOf(x) === obj.apiVersion);
    if (r === undefined) throw new Error(`the emulation serves no ${String(obj.apiVersion)} ${String(obj.kind)}`);
    const meta = obj.metadata as Json;
    const ns = r.namespaced ? String(meta.namespace) : null;
    let res = await this.request('PUT', `${collection(r, ns)}/${String(meta.name)}`, obj);
    if (res.status === 404) res = await this.request('POST', collection(r, ns), obj);
    if (res.status >= 300) throw new Error(`writing ${r.kind} ${String(meta.name)}: ${res.status} ${JSON.stringify(res.json)}`);
    this.note(r, res.json);
    return res.json;
  }

  async remove(kind: string, namespace: string | null, name: string): Promise<void> {
    const r = RESOURCES.find((x) => x.kind === kind)!;
    const res = await this.request('DELETE', `${collection(r, namespace)}/${name}`);
    if (res.status >= 300 && res.status !== 404) throw new Error(`deleting ${kind} ${name}: ${res.status} ${JSON.stringify(res.json)}`);
    if (res.status < 300) this.note(r, res.json);
  }

  /** Queues what a manifest file now holds (in order with earlier writes); synced() waits for the queue. */
  writeFile(file: string, text: string): void {
    this.queue = this.queue.then(() => this.applyFile(file, text));
  }

  private async applyFile(file: string, text: string): Promise<void> {
    const objects: Json[] = [];
    for (const doc of parseAllDocuments(text)) {
      const raw = doc.toJS() as Json | null;
      if (raw === null) continue;
      if (typeof raw.kind === 'string' && raw.kind.endsWith('List') && Array.isArray(raw.items)) objects.push(...(raw.items as Json[]));
      else objects.push(raw);
    }
    const keys = new Set<string>();
    for (const o of objects) {
      const m = o.metadata as Json;
      keys.add(`${String(o.kind)}/${typeof m.namespace === 'string' ? m.namespace : ''}/${String(m.name)}`);
      await this.apply(o);
    }
    for (const key of this.byFile.get(file) ?? []) {
      if (keys.has(key)) continue;
      const [kind, ns, name] = key.split('/') as [string, string, string];
      await this.remove(kind, ns === '' ? null : ns, name);
    }
    this.byFile.set(file, keys);
  }

  /** Every manifest the lab wrote so far (its Namespace, its Nodes), into the API. */
  importDir(dir: string): void {
    for (const name of readdirSync(dir).sort()) {
      if (/\.(ya?ml|json)$/.test(name)) this.writeFile(name, readFileSync(join(dir, name), 'utf8'));
    }
  }

  /** Waits for the queued writes, then until every agent has seen them and is synced. */
  async synced(sockets: string[], tries = 1500): Promise<void> {
    await this.queue;
    const caughtUp = async (socket: string): Promise<boolean> => {
      const res = await agentRequest(socket, 'GET', '/v1/status').catch(() => null);
      if (res?.status !== 200) return false;
      const s = res.json as AgentStatus;
      if (!s.synced || s.source === undefined) return false;
      return s.source.resources.every((r) => Number(r.resourceVersion) >= (this.written.get(r.resource) ?? 0));
    };
    for (let i = 0; i < tries; i++) {
      if ((await Promise.all(sockets.map(caughtUp))).every(Boolean)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`the agents did not catch up with the API: ${JSON.stringify([...this.written])}`);
  }
}
