// The bench's writes to the API emulation of a lab on --source kube (the lab starts
// and stops it, src/lab/api.ts): straight over its unix socket, each answered with
// the resourceVersion it made, which the bench times from. The lab's own writes go
// through a process per object, too slow to seed 10,000 pods.
import { request } from 'node:http';

const COLLECTION = { Namespace: '/api/v1/namespaces', Node: '/api/v1/nodes' };
/** The collection path of an object (Namespaces, Nodes, Pods and NetworkPolicies: what the benches write). */
export function collectionOf(obj) {
  if (COLLECTION[obj.kind]) return COLLECTION[obj.kind];
  if (obj.kind === 'Pod') return `/api/v1/namespaces/${obj.metadata.namespace}/pods`;
  if (obj.kind === 'NetworkPolicy') return `/apis/networking.k8s.io/v1/namespaces/${obj.metadata.namespace}/networkpolicies`;
  throw new Error(`lab-api: no collection for ${obj.kind}`);
}

/** Writes to the lab's API emulation over its unix socket (the bench runs outside every lab netns). */
export class ApiWriter {
  constructor(socket) {
    this.socket = socket;
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

}
