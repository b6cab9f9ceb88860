// The emulated API server's objects: one global resourceVersion counter (as etcd's
// revision), the objects as they are now, and the log of changes since the last
// compaction, from which a watch replays and a paginated list reads the snapshot its
// first page was taken at. Plain JSON objects: what a real server stores.
import { randomUUID } from 'node:crypto';
import type { ResourceDef } from './resources.js';

export type Json = Record<string, unknown>;
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  rv: number;
  type: EventType;
  resource: ResourceDef;
  key: string;
  object: Json;
  /** the object before this change (undefined for ADDED): undoing it gives the older snapshot */
  prev: Json | undefined;
}

/** A request the store refuses, with the HTTP status and reason a real server gives. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export const metaOf = (o: Json): Json => (typeof o.metadata === 'object' && o.metadata !== null ? (o.metadata as Json) : {});
const keyOf = (r: ResourceDef, namespace: string, name: string): string => (r.namespaced ? `${namespace}/${name}` : name);

export class ObjectStore {
  private rv = 1;
  private compacted = 0;
  private readonly objects = new Map<ResourceDef, Map<string, Json>>();
  private readonly log: StoredEvent[] = [];
  private readonly listeners = new Set<(e: StoredEvent) => void>();

  get resourceVersion(): number {
    return this.rv;
  }

  /** Events at or before this were forgotten: a watch or a continue token from before it gets 410. */
  get compactedVersion(): number {
    return this.compacted;
  }

  onEvent(fn: (e: StoredEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private table(r: ResourceDef): Map<string, Json> {
    let t = this.objects.get(r);
    if (t === undefined) {
      t = new Map<string, Json>();
      this.objects.set(r, t);
    }
    return t;
  }

  get(r: ResourceDef, namespace: string, name: string): Json | undefined {
    return this.table(r).get(keyOf(r, namespace, name));
  }

  /** Create (POST) or replace (PUT); the namespace of a namespaced kind comes from the path or the object. */
  write(r: ResourceDef, body: unknown, mode: 'create' | 'replace' | 'apply', pathNamespace: string | null, pathName: string | null = null): Json {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'BadRequest', 'the body must be a JSON object');
    const obj = structuredClone(body) as Json;
    const meta = { ...metaOf(obj) };
    const name = typeof meta.name === 'string' ? meta.name : '';
    if (name === '') throw new ApiError(422, 'Invalid', 'metadata.name: Required value');
    if (pathName !== null && pathName !== name) throw new ApiError(400, 'BadRequest', `the name in the body (${name}) does not match the path (${pathName})`);
    let namespace = '';
    if (r.namespaced) {
      namespace = pathNamespace ?? (typeof meta.namespace === 'string' ? meta.namespace : '');
      if (namespace === '') throw new ApiError(422, 'Invalid', 'metadata.namespace: Required value');
      if (meta.namespace !== undefined && meta.namespace !== namespace) throw new ApiError(400, 'BadRequest', 'the namespace of the object does not match the path');
      meta.namespace = namespace;
    } else delete meta.namespace;
    const key = keyOf(r, namespace, name);
    const table = this.table(r);
    const prev = table.get(key);
    if (mode === 'create' && prev !== undefined) throw new ApiError(409, 'AlreadyExists', `${r.plural} "${name}" already exists`);
    if (mode === 'replace' && prev === undefined) throw new ApiError(404, 'NotFound', `${r.plural} "${name}" not found`);
    const prevMeta = prev === undefined ? {} : metaOf(prev);
    meta.uid = prevMeta.uid ?? randomUUID();
    meta.creationTimestamp = prevMeta.creationTimestamp ?? new Date().toISOString();
    const rv = ++this.rv;
    meta.resourceVersion = String(rv);
    obj.metadata = meta;
    obj.kind = r.kind;
    obj.apiVersion = r.group === '' ? r.version : `${r.group}/${r.version}`;
    table.set(key, obj);
    this.emit({ rv, type: prev === undefined ? 'ADDED' : 'MODIFIED', resource: r, key, object: obj, prev });
    return obj;
  }

  remove(r: ResourceDef, namespace: string, name: string): Json {
    const key = keyOf(r, namespace, name);
    const table = this.table(r);
    const prev = table.get(key);
    if (prev === undefined) throw new ApiError(404, 'NotFound', `${r.plural} "${name}" not found`);
    table.delete(key);
    const rv = ++this.rv;
    // A DELETED event carries the object as last seen, at the deletion's resourceVersion.
    const gone = { ...prev, metadata: { ...metaOf(prev), resourceVersion: String(rv) } };
    this.emit({ rv, type: 'DELETED', resource: r, key, object: gone, prev });
    return gone;
  }

  private emit(e: StoredEvent): void {
    this.log.push(e);
    for (const fn of this.listeners) fn(e);
  }

  /** Forgets the change log up to now (etcd compaction). */
  compact(): void {
    this.compacted = this.rv;
    this.log.length = 0;
  }

  /** Changes of one kind after rv, oldest first; null when rv is older than the log. */
  eventsSince(r: ResourceDef, rv: number): StoredEvent[] | null {
    if (rv < this.compacted) return null;
    return this.log.filter((e) => e.rv > rv && e.resource === r);
  }

  /**
   * One page of a list at snapshot rv (the first page's: later pages of the same list
   * see the same objects): keys in order after `after`, at most `limit` of them.
   * null when rv is compacted away.
   */
  listPage(r: ResourceDef, namespace: string | null, rv: number, after: string | null, limit: number): { items: Json[]; more: string | null } | null {
    if (rv < this.compacted) return null;
    const current = this.table(r);
    let snap: Map<string, Json> = current;
    const later = this.log.filter((e) => e.rv > rv && e.resource === r);
    if (later.length > 0) {
      snap = new Map(current);
      for (const e of later.reverse()) {
        if (e.prev === undefined) snap.delete(e.key);
        else snap.set(e.key, e.prev);
      }
    }
    const keys = [...snap.keys()].filter((k) => namespace === null || k.startsWith(`${namespace}/`)).sort();
    const start = after === null ? 0 : keys.findIndex((k) => k > after);
    const from = start < 0 ? keys.length : start;
    const page = limit > 0 ? keys.slice(from, from + limit) : keys.slice(from);
    const last = page.at(-1);
    const more = last !== undefined && from + page.length < keys.length ? last : null;
    return { items: page.map((k) => snap.get(k)!), more };
  }
}
