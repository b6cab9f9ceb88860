// The API emulation as the API server of a bench lab: run in the lab's outside netns
// on 198.18.0.254:6443 (where the node namespaces reach it) and on a unix socket
// (where the bench, outside every lab netns, writes to it). The same arrangement as
// test/helpers/kube-api-lab.ts, for a plain-node bench.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
const { inNetns, NODE } = await import(`${ROOT}dist/lab/run.js`);
const { OUTSIDE, outsideNetns } = await import(`${ROOT}dist/lab/topology.js`);

const COLLECTION = { Namespace: '/api/v1/namespaces', Node: '/api/v1/nodes' };
/** The collection path of an object (Namespaces, Nodes, Pods and NetworkPolicies: what the benches write). */
export function collectionOf(obj) {
  if (COLLECTION[obj.kind]) return COLLECTION[obj.kind];
  if (obj.kind === 'Pod') return `/api/v1/namespaces/${obj.metadata.namespace}/pods`;
  if (obj.kind === 'NetworkPolicy') return `/apis/networking.k8s.io/v1/namespaces/${obj.metadata.namespace}/networkpolicies`;
  throw new Error(`lab-api: no collection for ${obj.kind}`);
}

export class BenchApi {
  constructor(child, socket, kubeconfig) {
    this.child = child;
    this.socket = socket;
    this.kubeconfig = kubeconfig;
  }

  static async start(lab) {
    const socket = join(lab.state.dir, 'kube-api.sock');
    const kubeconfig = join(lab.state.dir, 'kubeconfig');
    const args = [`${ROOT}dist/lab/kube-api/main.js`, '--listen', `${OUTSIDE.v4}:6443`, '--socket', socket, '--kubeconfig', kubeconfig];
    const child = spawn(...inNetns(outsideNetns(lab.state.prefix), NODE, args), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (out += d));
    for (let i = 0; i < 500 && !/^http:\/\//m.test(out); i++) {
      if (child.exitCode !== null) throw new Error(`the API emulation exited (${child.exitCode}): ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!/^http:\/\//m.test(out)) {
      child.kill('SIGKILL');
      throw new Error(`the API emulation did not start: ${out}`);
    }
    return new BenchApi(child, socket, kubeconfig);
  }

  get pid() {
    return this.child.pid;
  }

  /** SIGTERM by its PID (ip netns exec execs in place), and waits for it. */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }

  request(method, path, body) {
    return new Promise((resolve, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const req = request({ socketPath: this.socket, method, path, headers: text === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) }));
      });
      req.on('error', reject);
      req.end(text);
    });
  }

  /** Creates or replaces an object; resolves with its resourceVersion. */
  async apply(obj) {
    let res = await this.request('PUT', `${collectionOf(obj)}/${obj.metadata.name}`, obj);
    if (res.status === 404) res = await this.request('POST', collectionOf(obj), obj);
    if (res.status >= 300) throw new Error(`writing ${obj.kind} ${obj.metadata.name}: ${res.status} ${JSON.stringify(res.json)}`);
    return Number(res.json.metadata.resourceVersion);
  }

  async post(path, obj) {
    const res = await this.request('POST', path, obj);
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.json)}`);
  }

  /** Deletes an object; resolves with the resourceVersion of its deletion. */
  async remove(obj) {
    const res = await this.request('DELETE', `${collectionOf(obj)}/${obj.metadata.name}`);
    if (res.status >= 300) throw new Error(`deleting ${obj.kind} ${obj.metadata.name}: ${res.status} ${JSON.stringify(res.json)}`);
    return Number(res.json.metadata.resourceVersion);
  }

  /** Every manifest the lab wrote (its Namespace, Nodes and Pods), into the API. */
  async importDir(dir) {
    for (const name of readdirSync(dir).sort()) if (name.endsWith('.json')) await this.apply(JSON.parse(readFileSync(join(dir, name), 'utf8')));
  }
}
