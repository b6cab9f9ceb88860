// One resource of the Kubernetes source: a paginated list, then a watch from the
// list's resourceVersion, forever. What client-node's informer does not do is here:
// retry with jittered exponential backoff on any error, a relist on 410 Gone whose
// result replaces the store (objects that vanished meanwhile become deletes), BOOKMARK
// events, a randomised watch timeout, and a heartbeat: a watch that brings no event
// and no bookmark for heartbeatMs is presumed dead (a half-open connection, a proxy
// that went quiet) and restarted from its resourceVersion.
import type { Watch } from '@kubernetes/client-node';
import { ObjectError, parseObject, type ParsedObject } from '../../policy/model.js';
import type { Logger } from '../../util/log.js';
import type { SourceResourceStatus } from './source.js';

export interface ListPage {
  metadata?: { resourceVersion?: string; _continue?: string };
  items: object[];
}

/** What one watched kind is: where to watch it, how to list it (client-node's typed call). */
export interface ResourceSpec {
  /** "pods", "networkpolicies" */
  name: string;
  kind: ParsedObject['kind'];
  apiVersion: string;
  /** the cluster-wide collection, e.g. /api/v1/pods */
  path: string;
  list(opts: { limit: number; _continue?: string }): Promise<ListPage>;
}

export interface ReflectorOptions {
  pageSize: number;
  heartbeatMs: number;
  /** a watch asks the server to end it after a random time in this range (seconds) */
  watchTimeoutSeconds: [number, number];
  backoffBaseMs: number;
  backoffMaxMs: number;
  listTimeoutMs: number;
}

/** How a watch ended: the server closed it (its timeout), 410, an error or a drop, or the heartbeat. */
type WatchEnd = 'ended' | 'gone' | 'failed' | 'stalled' | 'closed';

/** "HTTP 403: pods is forbidden: ..." from client-node's ApiException (code, body) or its Watch's error (statusCode). */
function errText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const { code, statusCode, body } = e as { code?: unknown; statusCode?: unknown; body?: unknown };
  const status = typeof code === 'number' ? code : typeof statusCode === 'number' ? statusCode : null;
  if (status === null) return e.message;
  let message = e.message.split('\n', 1)[0]!;
  if (typeof body === 'string') {
    try {
      const m = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof m === 'string') message = m;
    } catch {
      // not a Status: keep the library's message
    }
  }
  return `HTTP ${status}: ${message}`;
}

interface Meta {
  name?: unknown;
  namespace?: unknown;
  resourceVersion?: unknown;
}
const metaOf = (o: object): Meta => ((o as { metadata?: Meta }).metadata ?? {});

export class Reflector {
  /** by "namespace/name" (or name): only what strait uses of each object */
  objects = new Map<string, ParsedObject>();
  /** objects refused, by key: the problem as one line */
  invalid = new Map<string, string>();
  resourceVersion = '';
  listed = false;
  /** a watch is connected and nothing is known to be missed */
  live = false;
  lastError: string | null = null;
  reconnects = 0;
  relists = 0;
  /** lists and watches that failed, ever (metrics: strait_source_errors_total) */
  errors = 0;
  private failures = 0;
  private closed = false;
  private wake: (() => void) | null = null;
  private abort: (() => void) | null = null;

  constructor(
    readonly spec: ResourceSpec,
    private readonly watcher: Watch,
    private readonly opts: ReflectorOptions,
    private readonly log: Logger,
    private readonly onChange: () => void,
  ) {}

  start(): void {
    void this.loop();
  }

  close(): void {
    this.closed = true;
    this.abort?.();
    this.wake?.();
  }

  status(): SourceResourceStatus {
    return {
      resource: this.spec.name,
      synced: this.listed && this.live,
      resourceVersion: this.resourceVersion,
      objects: this.objects.size,
      invalid: this.invalid.size,
      lastError: this.lastError,
      reconnects: this.reconnects,
      relists: this.relists,
      errors: this.errors,
    };
  }

  private async loop(): Promise<void> {
    let needList = true;
    while (!this.closed) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        const end = await this.watchOnce();
        if (end === 'gone') {
          needList = true;
          this.relists++;
          this.log.info({ resource: this.spec.name, resourceVersion: this.resourceVersion }, `${this.spec.name}: resourceVersion ${this.resourceVersion} is gone (410); listing again`);
        } else if (end === 'failed' || end === 'stalled') {
          this.reconnects++;
          await this.backoff();
        }
      } catch (e) {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may run while a list awaits
        if (this.closed) return;
        this.fail(`list: ${errText(e)}`);
        await this.backoff();
      }
    }
  }

  private fail(message: string): void {
    this.lastError = message;
    this.errors++;
    if (this.live) {
      this.live = false;
      this.onChange();
    }
    this.log.warn({ resource: this.spec.name, err: message, failures: this.failures }, `${this.spec.name}: ${message}; retrying`);
  }

  /** Full jitter over an exponential ceiling: many agents restarting at once do not retry in step. */
  private async backoff(): Promise<void> {
    const ceiling = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** Math.min(this.failures, 20));
    this.failures++;
    const ms = ceiling / 2 + (Math.random() * ceiling) / 2;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = null;
  }

  /** Every page, then the store is what the list said: what is gone from it was deleted meanwhile. */
  private async relist(): Promise<void> {
    const fresh = new Map<string, ParsedObject>();
    const invalid = new Map<string, string>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.listPage(cont);
      for (const item of page.items) this.take(item, fresh, invalid);
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?._continue || undefined;
    } while (cont !== undefined && !this.closed);
    if (this.closed) return;
    const gone = [...this.objects.keys()].filter((k) => !fresh.has(k));
    if (this.listed && gone.length > 0) {
      this.log.info({ resource: this.spec.name, deleted: gone.slice(0, 20), count: gone.length }, `${this.spec.name}: ${gone.length} deleted while not watched`);
    }
    this.objects = fresh;
    this.invalid = invalid;
    this.resourceVersion = rv;
    this.listed = true;
    this.failures = 0;
    this.onChange();
  }

  private listPage(cont: string | undefined): Promise<ListPage> {
    // client-node's list has no deadline of its own: a server that never answers would hold the source forever.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.opts.listTimeoutMs} ms`)), this.opts.listTimeoutMs);
    });
    const req = this.spec.list(cont === undefined ? { limit: this.opts.pageSize } : { limit: this.opts.pageSize, _continue: cont });
    return Promise.race([req, deadline]).finally(() => clearTimeout(timer));
  }

  /** Parses one object into the maps; false when nothing strait uses changed. */
  private take(raw: object, objects: Map<string, ParsedObject>, invalid: Map<string, string>): boolean {
    // A list's items carry no kind or apiVersion; a watch's objects do.
    const full = { ...raw, kind: this.spec.kind, apiVersion: this.spec.apiVersion };
    const key = this.keyOf(raw);
    try {
      const obj = parseObject(full);
      invalid.delete(key);
      const before = objects.get(key);
      objects.set(key, obj);
      return before === undefined || JSON.stringify(before) !== JSON.stringify(obj);
    } catch (e) {
      const line = e instanceof ObjectError ? [e.object, e.field, e.reason].filter((s) => s !== '').join(': ') : errText(e);
      if (invalid.get(key) !== line) this.log.warn({ resource: this.spec.name, object: key }, `${line} (skipped)`);
      invalid.set(key, line);
      return objects.delete(key);
    }
  }

  private keyOf(raw: object): string {
    const m = metaOf(raw);
    const name = typeof m.name === 'string' ? m.name : '<unnamed>';
    return typeof m.namespace === 'string' && m.namespace !== '' ? `${m.namespace}/${name}` : name;
  }

  private onEvent(type: string, obj: object): WatchEnd | null {
    if (type === 'ERROR') {
      const code = (obj as { code?: unknown }).code;
      if (code === 410) return 'gone';
      this.fail(`watch: ERROR event: ${(obj as { message?: unknown }).message as string}`);
      return 'failed';
    }
    const rv = metaOf(obj).resourceVersion;
    if (typeof rv === 'string' && rv !== '') this.resourceVersion = rv;
    this.failures = 0;
    let changed = false;
    if (type === 'ADDED' || type === 'MODIFIED') changed = this.take(obj, this.objects, this.invalid);
    else if (type === 'DELETED') {
      const key = this.keyOf(obj);
      changed = this.objects.delete(key);
      this.invalid.delete(key);
    }
    if (changed) this.onChange();
    return null;
  }

  private watchOnce(): Promise<WatchEnd> {
    const [lo, hi] = this.opts.watchTimeoutSeconds;
    const timeoutSeconds = lo + Math.floor(Math.random() * (hi - lo + 1));
    return new Promise<WatchEnd>((resolve) => {
      let settled = false;
      let controller: AbortController | null = null;
      let timer: NodeJS.Timeout | undefined;
      const finish = (end: WatchEnd, err?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.abort = null;
        controller?.abort();
        if (err !== undefined) this.fail(err);
        resolve(end);
      };
      this.abort = () => finish('closed');
      const beat = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          this.log.info({ resource: this.spec.name, ms: this.opts.heartbeatMs }, `${this.spec.name}: no event or bookmark for ${this.opts.heartbeatMs} ms; restarting the watch`);
          finish('stalled');
        }, this.opts.heartbeatMs);
      };
      beat();
      const query = { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds };
      this.watcher
        .watch(
          this.spec.path,
          query,
          (type: string, obj: object) => {
            if (settled) return;
            beat();
            const end = this.onEvent(type, obj);
            if (end !== null) finish(end);
          },
          (err: unknown) => {
            if (err === null || err === undefined) finish('ended');
            // client-node's own abort of a watch silent for 30 s: the heartbeat's case, not an error
            else if (err instanceof Error && err.name === 'TimeoutError') finish('stalled');
            // 410 as the answer's status rather than as an ERROR event in the stream: gone all the same
            else if ((err as { statusCode?: unknown }).statusCode === 410) finish('gone');
            else finish('failed', `watch: ${errText(err)}`);
          },
        )
        .then(
          (c) => {
            if (settled) c.abort();
            else {
              controller = c;
              if (!this.live) {
                this.live = true;
                this.lastError = null;
                this.onChange();
              }
            }
          },
          (e: unknown) => finish('failed', `watch: ${errText(e)}`),
        );
    });
  }
}
