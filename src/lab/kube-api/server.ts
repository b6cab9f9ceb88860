// An emulated Kubernetes API server, enough of it for the real client library
// (@kubernetes/client-node) to be exercised against it: lists with limit/continue
// over a consistent snapshot, watches as chunked streams of {"type","object"} lines
// from a resourceVersion, BOOKMARK events, timeoutSeconds, 410 Gone after a
// compaction, POST/PUT/DELETE/GET on the resource paths, and faults under /_emu/
// (drop every watch, stall them, fail the next N requests, compact, bookmark period).
// Plain http and no auth by default; with `tls` (and `token`) its TCP listener is
// https and asks for a bearer token, as the in-cluster config of a pod reaches the
// real one. It serves tests, benches and the lab, never a cluster.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { apiVersionOf, parseTarget, type ResourceDef, type Target } from './resources.js';
import { ApiError, metaOf, ObjectStore, type Json, type StoredEvent } from './store.js';

export interface KubeApiOptions {
  host?: string;
  /** 0: any free port */
  port?: number;
  /** period of BOOKMARK events on watches that ask for them (a real server: about a minute) */
  bookmarkMs?: number;
  /** a watch from a compacted resourceVersion is answered 410 outright, not with an ERROR event in a 200 stream */
  goneAsStatus?: boolean;
  /** PEM certificate chain and key: the TCP listener speaks https (the unix socket stays plain) */
  tls?: { cert: string; key: string };
  /** requests on the TCP listener must carry `Authorization: Bearer <token>` (401 otherwise) */
  token?: string;
}

export interface KubeApiStats {
  resourceVersion: number;
  compacted: number;
  watches: number;
  stalled: number;
  /** requests served, by verb: list, watch, get, create, replace, delete */
  requests: Record<string, number>;
}

interface OpenWatch {
  res: ServerResponse;
  resource: ResourceDef;
  namespace: string | null;
  stalled: boolean;
  timers: NodeJS.Timeout[];
}

const MAX_BODY = 4 << 20;

const statusBody = (code: number, reason: string, message: string): Json => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  code,
});

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const encodeContinue = (rv: number, after: string): string => Buffer.from(JSON.stringify({ rv, after })).toString('base64url');

function decodeContinue(token: string): { rv: number; after: string } {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString()) as { rv?: unknown; after?: unknown };
    if (typeof v.rv === 'number' && typeof v.after === 'string') return { rv: v.rv, after: v.after };
  } catch {
    // fall through
  }
  throw new ApiError(400, 'BadRequest', 'continue key is not valid');
}

function parseRv(text: string | null): number | null {
  if (text === null || text === '' || text === '0') return null;
  if (!/^[0-9]+$/.test(text)) throw new ApiError(400, 'BadRequest', `resourceVersion "${text}" is not valid`);
  return Number(text);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', 'the body is too large');
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError(400, 'BadRequest', 'the body is not JSON');
  }
}

export class KubeApiServer {
  readonly store = new ObjectStore();
  private readonly servers: Server[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly sockets = new Set<Socket>();
  private readonly requests: Record<string, number> = {};
  private failNext = 0;
  private failCode = 500;
  private bookmarkMs: number;
  goneAsStatus: boolean;
  private url = '';

  constructor(private readonly opts: KubeApiOptions = {}) {
    this.bookmarkMs = opts.bookmarkMs ?? 60_000;
    this.goneAsStatus = opts.goneAsStatus ?? false;
    this.store.onEvent((e) => this.fanOut(e));
  }

  private async serveOn(listen: (s: Server, done: () => void) => void, tcp: boolean): Promise<Server> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      if (tcp && this.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.opts.token}`) {
        sendJson(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
        return;
      }
      void this.handle(req, res);
    };
    const tls = tcp ? this.opts.tls : undefined;
    const server = tls === undefined ? createServer(handler) : createHttpsServer({ cert: tls.cert, key: tls.key }, handler);
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      listen(server, resolve);
    });
    this.servers.push(server);
    return server;
  }

  async listen(): Promise<string> {
    const server = await this.serveOn((s, done) => s.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', done), true);
    const a = server.address() as AddressInfo;
    this.url = `${this.opts.tls === undefined ? 'http' : 'https'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    return this.url;
  }

  /** The same API on a unix socket too: a process in another network namespace (a test outside the lab's) reaches it through the filesystem. */
  async listenUnix(path: string): Promise<void> {
    await this.serveOn((s, done) => s.listen(path, done), false);
  }

  get serverUrl(): string {
    return this.url;
  }

  async close(): Promise<void> {
    for (const w of this.watches) this.endWatch(w);
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  // ---- faults and compaction (also reachable over HTTP under /_emu/) ----

  /** Destroys every watch's socket mid-stream: the client sees the connection die, no clean end. */
  dropWatches(): number {
    const n = this.watches.size;
    for (const w of [...this.watches]) {
      this.endWatch(w);
      w.res.socket?.destroy();
    }
    return n;
  }

  /** The open watches go silent for good (no events, no bookmarks) with their connections kept open. */
  stallWatches(): number {
    for (const w of this.watches) {
      w.stalled = true;
      for (const t of w.timers) clearTimeout(t);
      w.timers = [];
    }
    return this.watches.size;
  }

  /** The next n requests (not /_emu/) are answered with this status. */
  failRequests(n: number, code = 500): void {
    this.failNext = n;
    this.failCode = code;
  }

  setBookmarkMs(ms: number): void {
    this.bookmarkMs = ms;
  }

  compact(): void {
    this.store.compact();
  }

  stats(): KubeApiStats {
    const stalled = [...this.watches].filter((w) => w.stalled).length;
    return { resourceVersion: this.store.resourceVersion, compacted: this.store.compactedVersion, watches: this.watches.size, stalled, requests: { ...this.requests } };
  }

  // ---- requests ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emu');
    try {
      if (url.pathname.startsWith('/_emu/')) {
        this.admin(req.method ?? 'GET', url, res);
        return;
      }
      if (this.failNext > 0) {
        this.failNext--;
        throw new ApiError(this.failCode, 'InternalError', 'injected failure (emulation)');
      }
      const target = parseTarget(url.pathname);
      if (target === null) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
      await this.serve(req, res, url, target);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(500, 'InternalError', e instanceof Error ? e.message : String(e));
      if (!res.headersSent) sendJson(res, err.code, statusBody(err.code, err.reason, err.message));
      else res.destroy();
    }
  }

  private count(verb: string): void {
    this.requests[verb] = (this.requests[verb] ?? 0) + 1;
  }

  private async serve(req: IncomingMessage, res: ServerResponse, url: URL, t: Target): Promise<void> {
    const method = req.method ?? 'GET';
    const q = url.searchParams;
    const ns = t.namespace ?? '';
    if (method === 'GET' && t.name === null) {
      const watch = q.get('watch');
      if (watch === '1' || watch === 'true') this.watch(res, t, q);
      else this.list(res, t, q);
      return;
    }
    if (method === 'GET') {
      this.count('get');
      const o = this.store.get(t.resource, ns, t.name!);
      if (o === undefined) throw new ApiError(404, 'NotFound', `${t.resource.plural} "${t.name}" not found`);
      {
        sendJson(res, 200, o);
        return;
      }
    }
    if (method === 'POST' && t.name === null) {
      if (t.resource.namespaced && t.namespace === null) throw new ApiError(405, 'MethodNotAllowed', 'create a namespaced object under namespaces/NS/');
      this.count('create');
      {
        sendJson(res, 201, this.store.write(t.resource, await readBody(req), 'create', t.namespace));
        return;
      }
    }
    if (method === 'PUT' && t.name !== null) {
      this.count('replace');
      {
        sendJson(res, 200, this.store.write(t.resource, await readBody(req), 'replace', t.namespace, t.name));
        return;
      }
    }
    if (method === 'DELETE' && t.name !== null) {
      this.count('delete');
      {
        sendJson(res, 200, this.store.remove(t.resource, ns, t.name));
        return;
      }
    }
    throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported on ${url.pathname}`);
  }

  private list(res: ServerResponse, t: Target, q: URLSearchParams): void {
    this.count('list');
    const limitText = q.get('limit');
    const limit = limitText === null ? 0 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 0) throw new ApiError(400, 'BadRequest', `limit "${limitText}" is not valid`);
    const token = q.get('continue');
    const cont = token === null || token === '' ? null : decodeContinue(token);
    const rv = cont?.rv ?? this.store.resourceVersion;
    const page = this.store.listPage(t.resource, t.namespace, rv, cont?.after ?? null, limit);
    if (page === null) {
      throw new ApiError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
    }
    const metadata: Json = { resourceVersion: String(rv) };
    if (page.more !== null) metadata.continue = encodeContinue(rv, page.more);
    // A real server leaves kind and apiVersion out of a list's items.
    const items = page.items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
    sendJson(res, 200, { kind: `${t.resource.kind}List`, apiVersion: apiVersionOf(t.resource), metadata, items });
  }

  private watch(res: ServerResponse, t: Target, q: URLSearchParams): void {
    this.count('watch');
    const from = parseRv(q.get('resourceVersion'));
    if (this.goneAsStatus && from !== null && from < this.store.compactedVersion) throw new ApiError(410, 'Expired', `too old resource version: ${from} (${this.store.compactedVersion})`);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: OpenWatch = { res, resource: t.resource, namespace: t.namespace, stalled: false, timers: [] };
    let backlog: StoredEvent[] | null;
    if (from === null) {
      // No resourceVersion: every object as ADDED, then what follows.
      const page = this.store.listPage(t.resource, t.namespace, this.store.resourceVersion, null, 0)!;
      for (const o of page.items) this.send(w, 'ADDED', o);
      backlog = [];
    } else backlog = this.store.eventsSince(t.resource, from);
    if (backlog === null) {
      this.send(w, 'ERROR', statusBody(410, 'Expired', `too old resource version: ${from} (${this.store.compactedVersion})`));
      res.end();
      return;
    }
    this.watches.add(w);
    for (const e of backlog) this.sendEvent(w, e);
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (Number.isFinite(timeout) && timeout > 0) w.timers.push(setTimeout(() => this.endWatch(w, true), timeout * 1000));
    if (q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1') this.scheduleBookmark(w);
    res.on('close', () => this.endWatch(w));
  }

  private scheduleBookmark(w: OpenWatch): void {
    const timer = setTimeout(() => {
      w.timers = w.timers.filter((x) => x !== timer);
      if (!this.watches.has(w) || w.stalled) return;
      const r = w.resource;
      this.send(w, 'BOOKMARK', { kind: r.kind, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(this.store.resourceVersion) } });
      this.scheduleBookmark(w);
    }, this.bookmarkMs);
    w.timers.push(timer);
  }

  private fanOut(e: StoredEvent): void {
    for (const w of this.watches) this.sendEvent(w, e);
  }

  private sendEvent(w: OpenWatch, e: StoredEvent): void {
    if (w.resource !== e.resource || w.stalled) return;
    if (w.namespace !== null && metaOf(e.object).namespace !== w.namespace) return;
    this.send(w, e.type, e.object);
  }

  private send(w: OpenWatch, type: string, object: Json): void {
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  private endWatch(w: OpenWatch, clean = false): void {
    if (!this.watches.delete(w)) return;
    for (const t of w.timers) clearTimeout(t);
    w.timers = [];
    if (clean) w.res.end();
  }

  private admin(method: string, url: URL, res: ServerResponse): void {
    const q = url.searchParams;
    const num = (name: string, def: number): number => {
      const v = Number(q.get(name) ?? def);
      if (!Number.isInteger(v) || v < 0) throw new ApiError(400, 'BadRequest', `${name} must be a non-negative integer`);
      return v;
    };
    const op = url.pathname.slice('/_emu/'.length);
    if (method === 'GET' && op === 'stats') {
        sendJson(res, 200, this.stats());
        return;
      }
    if (method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', 'the /_emu/ operations are POSTs (but GET /_emu/stats)');
    switch (op) {
      case 'compact':
        this.compact();
        {
        sendJson(res, 200, { compacted: this.store.compactedVersion });
        return;
      }
      case 'drop-watches':
        {
        sendJson(res, 200, { dropped: this.dropWatches() });
        return;
      }
      case 'stall-watches':
        {
        sendJson(res, 200, { stalled: this.stallWatches() });
        return;
      }
      case 'fail':
        this.failRequests(num('count', 1), num('code', 500));
        {
        sendJson(res, 200, { failing: this.failNext });
        return;
      }
      case 'bookmarks':
        this.setBookmarkMs(Math.max(1, num('ms', 60_000)));
        {
        sendJson(res, 200, { bookmarkMs: this.bookmarkMs });
        return;
      }
      default:
        throw new ApiError(404, 'NotFound', `no emulation operation ${op} (compact, drop-watches, stall-watches, fail, bookmarks, stats)`);
    }
  }
}

/** Starts one on loopback (or opts.host), resolving once it listens. */
export async function startKubeApi(opts: KubeApiOptions = {}): Promise<KubeApiServer> {
  const s = new KubeApiServer(opts);
  await s.listen();
  return s;
}
