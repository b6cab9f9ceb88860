// Writing to the emulated API server over its unix socket, as the lab and the tests
// do (they run outside the namespace it listens in): a manifest's objects applied
// (PUT, else POST) and what its previous text held but the new one does not DELETEd;
// and waiting until agents have seen those writes: an agent is caught up once each
// kind it watches has reached the resourceVersion of the last write of that kind.
import { request } from 'node:http';
import { parseAllDocuments } from 'yaml';
import { agentRequest } from '../../agent/client.js';
import type { AgentStatus } from '../../agent/core.js';
import { StraitError } from '../../errors.js';
import { apiVersionOf, RESOURCES, type ResourceDef } from './resources.js';

type Json = Record<string, unknown>;
/** last written resourceVersion by plural */
export type Written = Record<string, number>;

const collection = (r: ResourceDef, namespace: string | null): string =>
  `${r.group === '' ? '/api' : `/apis/${r.group}`}/${r.version}${r.namespaced && namespace !== null ? `/namespaces/${namespace}` : ''}/${r.plural}`;

export function apiRequest(socket: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: socket, method, path, headers: text === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (d: string) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) as Json }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

function note(written: Written, r: ResourceDef, json: Json): void {
  const rv = Number((json.metadata as Json | undefined)?.resourceVersion);
  if (Number.isInteger(rv)) written[r.plural] = Math.max(written[r.plural] ?? 0, rv);
}

function resourceOf(kind: unknown, apiVersion?: unknown): ResourceDef {
  const r = RESOURCES.find((x) => x.kind === kind && (apiVersion === undefined || apiVersionOf(x) === apiVersion));
  if (r === undefined) throw new StraitError('E_CONFIG', `the emulation serves no ${JSON.stringify(apiVersion ?? '')} ${JSON.stringify(kind)}`);
  return r;
}

/** Creates or replaces one object; returns the stored object. */
export async function applyObject(socket: string, obj: Json, written: Written = {}): Promise<Json> {
  const r = resourceOf(obj.kind, obj.apiVersion);
  const meta = obj.metadata as Json;
  const ns = r.namespaced ? String(meta.namespace) : null;
  let res = await apiRequest(socket, 'PUT', `${collection(r, ns)}/${String(meta.name)}`, obj);
  if (res.status === 404) res = await apiRequest(socket, 'POST', collection(r, ns), obj);
  if (res.status >= 300) throw new StraitError('E_COMMAND', `writing ${r.kind} ${String(meta.name)}: ${res.status} ${JSON.stringify(res.json)}`);
  note(written, r, res.json);
  return res.json;
}

export async function removeObject(socket: string, kind: string, namespace: string | null, name: string, written: Written = {}): Promise<void> {
  const r = resourceOf(kind);
  const res = await apiRequest(socket, 'DELETE', `${collection(r, namespace)}/${name}`);
  if (res.status >= 300 && res.status !== 404) throw new StraitError('E_COMMAND', `deleting ${kind} ${name}: ${res.status} ${JSON.stringify(res.json)}`);
  if (res.status < 300) note(written, r, res.json);
}

/** The objects of a manifest's text (YAML or JSON, several documents, a List's items). */
export function manifestObjects(text: string | null): Json[] {
  const objects: Json[] = [];
  for (const doc of text === null ? [] : parseAllDocuments(text)) {
    const raw = doc.toJS() as Json | null;
    if (raw === null) continue;
    if (typeof raw.kind === 'string' && raw.kind.endsWith('List') && Array.isArray(raw.items)) objects.push(...(raw.items as Json[]));
    else objects.push(raw);
  }
  return objects;
}

const keyOf = (o: Json): string => {
  const m = o.metadata as Json;
  return `${String(o.kind)}/${typeof m.namespace === 'string' ? m.namespace : ''}/${String(m.name)}`;
};

/** A manifest file that held `previous` now holds `next` (null: gone): the API is made to match. */
export async function applyManifest(socket: string, previous: string | null, next: string | null, written: Written = {}): Promise<Written> {
  const objects = manifestObjects(next);
  const keys = new Set(objects.map(keyOf));
  for (const o of objects) await applyObject(socket, o, written);
  for (const o of manifestObjects(previous)) {
    const key = keyOf(o);
    if (keys.has(key)) continue;
    const [kind, ns, name] = key.split('/') as [string, string, string];
    await removeObject(socket, kind, ns === '' ? null : ns, name, written);
  }
  return written;
}

/** Waits until every agent is synced and has seen `written`; false when it did not happen within `tries` × 20 ms. */
export async function agentsCaughtUp(sockets: readonly string[], written: Written, tries = 1500): Promise<boolean> {
  const caughtUp = async (socket: string): Promise<boolean> => {
    const res = await agentRequest(socket, 'GET', '/v1/status').catch(() => null);
    if (res?.status !== 200) return false;
    const s = res.json as AgentStatus;
    if (!s.synced || s.source === undefined) return false;
    return s.source.resources.every((r) => Number(r.resourceVersion) >= (written[r.resource] ?? 0));
  };
  for (let i = 0; i < tries; i++) {
    if ((await Promise.all(sockets.map(caughtUp))).every(Boolean)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
