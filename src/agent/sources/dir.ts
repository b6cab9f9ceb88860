// The directory source: the cluster as a directory of manifests (what `kubectl get
// -o yaml` prints, or what a person writes by hand). Each file's parse result is kept,
// so an event re-reads only the files it names; a slow rescan that compares stat
// signatures catches what fs.watch misses (inotify overflow, editors that replace
// the directory entry, ConfigMap volumes that swap a `..data` symlink). Reading the
// text into objects is src/cluster/manifests.ts; here are the watching, the per-file
// bookkeeping and the merge of files (the last in sorted order wins a duplicate).
import { createHash } from 'node:crypto';
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeObject, formatManifestError, objectKey, parseManifests, type LocatedObject, type ManifestError } from '../../cluster/manifests.js';
import { clusterState } from '../../cluster/snapshot.js';
import { StraitError } from '../../errors.js';
import type { ClusterState } from '../../policy/types.js';
import type { Logger } from '../../util/log.js';

export interface DirSourceOptions {
  /** events arriving within this window are handled together */
  debounceMs?: number;
  /** the safety-net rescan period */
  rescanMs?: number;
  /** false: rescans only (filesystems without inotify, such as some network mounts) */
  watch?: boolean;
}

interface FileEntry {
  /** dev, inode, size, mtime and ctime (ns): a rescan re-reads the file when it differs */
  sig: string;
  /** of the text, so a touch or a rewrite with the same bytes changes nothing */
  hash: string;
  objects: LocatedObject[];
  errors: ManifestError[];
}

/** `*.yaml`, `*.yml`, `*.json`, but not dotfiles (editor swap and lock files, `..data`) nor backups. */
export function isManifestName(name: string): boolean {
  if (name.startsWith('.') || name.startsWith('#') || name.endsWith('~')) return false;
  return /\.(ya?ml|json)$/i.test(name);
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

export class DirSource {
  private readonly files = new Map<string, FileEntry>();
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private readonly useWatch: boolean;
  private generation = 0;
  private lastState: string | null = null;
  private duplicates: ManifestError[] = [];
  private dirError: ManifestError | null = null;
  private watcher: FSWatcher | null = null;
  private watchedIno: bigint | null = null;
  private pending = new Set<string>();
  private pendingAll = false;
  private debounce: NodeJS.Timeout | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private rescanQueued = false;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private busy = 0;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    private readonly onChange: (state: ClusterState, generation: number) => void,
    opts: DirSourceOptions = {},
  ) {
    // Short: a file written is in the datapath well under 100 ms; long enough to fold
    // the few events of one editor save or one rename into a single pass.
    this.debounceMs = opts.debounceMs ?? 10;
    this.rescanMs = opts.rescanMs ?? 5000;
    this.useWatch = opts.watch ?? true;
  }

  /** Reads the directory and delivers the first snapshot (generation 1, even when empty). */
  async start(): Promise<void> {
    let st;
    try {
      st = await stat(this.dir, { bigint: true });
    } catch (e) {
      throw new StraitError(
        'E_SOURCE',
        errCode(e) === 'ENOENT' ? `manifest directory ${this.dir} does not exist` : `manifest directory ${this.dir}: ${errText(e)}`,
      );
    }
    if (!st.isDirectory()) throw new StraitError('E_SOURCE', `manifest source ${this.dir} is not a directory`);
    // Watch first: a change between the scan and the watch would otherwise go unseen.
    if (this.useWatch) this.rewatch(st.ino);
    // Through the queue, so an event that arrives meanwhile waits for this pass.
    const initial = this.chain.then(() => this.sync(new Set(), true));
    this.chain = initial.catch(() => {});
    await initial;
    if (this.lastState === null) {
      this.close();
      throw new StraitError('E_SOURCE', this.dirError?.message ?? `manifest directory ${this.dir} could not be read`);
    }
    this.rescanTimer = setInterval(() => this.rescan(), this.rescanMs);
    this.rescanTimer.unref();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.debounce !== null) clearTimeout(this.debounce);
    if (this.rescanTimer !== null) clearInterval(this.rescanTimer);
    this.debounce = this.rescanTimer = null;
  }

  /** Everything not applied now: unreadable documents, invalid objects, overridden duplicates. */
  errors(): ManifestError[] {
    const out: ManifestError[] = [];
    if (this.dirError !== null) out.push(this.dirError);
    for (const name of [...this.files.keys()].sort()) out.push(...this.files.get(name)!.errors);
    out.push(...this.duplicates);
    return out;
  }

  get currentGeneration(): number {
    return this.generation;
  }

  /**
   * True when what the directory holds now has been delivered: no event waiting, no
   * pass running, and every manifest's stat signature what the last pass read.
   * `straitctl wait --synced` relies on it, so a file written a moment before the
   * question is not reported as synced. A difference schedules a pass.
   */
  isCurrent(): boolean {
    if (this.debounce !== null || this.busy > 0 || this.pending.size > 0 || this.pendingAll) return false;
    try {
      const names = readdirSync(this.dir).filter(isManifestName);
      if (names.length !== this.files.size) return this.stale();
      for (const name of names) {
        const prev = this.files.get(name);
        if (prev === undefined) return this.stale();
        const st = statSync(join(this.dir, name), { bigint: true });
        if (prev.sig !== `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`) return this.stale();
      }
      return true;
    } catch {
      return this.stale();
    }
  }

  private stale(): false {
    this.onEvent(null);
    return false;
  }

  private rewatch(ino: bigint): void {
    this.watcher?.close();
    this.watcher = null;
    this.watchedIno = ino;
    try {
      const w = watch(this.dir, { persistent: false }, (_event, filename) => this.onEvent(filename));
      w.on('error', (e) => {
        this.log.warn({ dir: this.dir, err: errText(e) }, `watching ${this.dir} failed; the periodic rescan goes on`);
        w.close();
        if (this.watcher === w) {
          this.watcher = null;
          this.watchedIno = null;
        }
      });
      this.watcher = w;
    } catch (e) {
      this.watchedIno = null;
      this.log.warn({ dir: this.dir, err: errText(e) }, `cannot watch ${this.dir}; changes are seen by the periodic rescan only`);
    }
  }

  private onEvent(filename: string | Buffer | null): void {
    if (this.closed) return;
    // Any event schedules a pass (a `..data` swap changes files it does not name);
    // the named file is re-read even if its stat signature looks unchanged.
    if (filename === null) this.pendingAll = true;
    else this.pending.add(filename.toString());
    this.debounce ??= setTimeout(() => this.flush(), this.debounceMs);
  }

  private flush(): void {
    this.debounce = null;
    const forced = this.pending;
    const all = this.pendingAll;
    this.pending = new Set();
    this.pendingAll = false;
    this.enqueue(() => this.sync(forced, all));
  }

  private rescan(): void {
    if (this.rescanQueued) return;
    this.rescanQueued = true;
    this.enqueue(async () => {
      this.rescanQueued = false;
      await this.sync(new Set(), false);
    });
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((e: unknown) => {
      this.log.error({ dir: this.dir, err: errText(e) }, `manifest source: ${errText(e)}`);
    });
  }

  /** One pass: re-read what changed (or was named by an event), then merge and deliver. */
  private async sync(forced: Set<string>, forceAll: boolean): Promise<void> {
    this.busy++;
    try {
      await this.syncPass(forced, forceAll);
    } finally {
      this.busy--;
    }
  }

  private async syncPass(forced: Set<string>, forceAll: boolean): Promise<void> {
    if (this.closed) return;
    let names: string[];
    let dirIno: bigint;
    try {
      dirIno = (await stat(this.dir, { bigint: true })).ino;
      names = await readdir(this.dir);
    } catch (e) {
      // Keep what was applied: a vanished directory is far more likely a mistake or a
      // remount in progress than a wish to drop every policy on the node.
      if (this.dirError === null) {
        this.dirError = { file: null, document: null, item: null, object: null, field: null, message: `cannot read ${this.dir}: ${errText(e)}; keeping the last state` };
        this.log.error({ dir: this.dir, err: errText(e) }, this.dirError.message);
      }
      return;
    }
    if (this.dirError !== null) {
      this.log.info({ dir: this.dir }, `${this.dir} is readable again`);
      this.dirError = null;
    }
    if (this.useWatch && dirIno !== this.watchedIno) this.rewatch(dirIno); // recreated, or the watch failed earlier

    const wanted = new Set(names.filter(isManifestName));
    let changed = false;
    for (const name of [...this.files.keys()]) {
      if (!wanted.has(name)) changed = this.drop(name) || changed;
    }
    for (const name of [...wanted].sort()) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may run while refresh() awaits
      if (this.closed) return;
      changed = (await this.refresh(name, forceAll || forced.has(name))) || changed;
    }
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may run while refresh() awaits
    if (this.closed) return;
    if (changed || this.lastState === null) this.merge();
  }

  private drop(name: string): boolean {
    if (!this.files.delete(name)) return false;
    this.log.info({ dir: this.dir, file: name }, `manifest ${name} removed`);
    return true;
  }

  /** Re-reads one file when needed; true when its parse result may differ. */
  private async refresh(name: string, force: boolean): Promise<boolean> {
    const path = join(this.dir, name);
    const prev = this.files.get(name);
    let sig: string;
    let text: string;
    try {
      const st = await stat(path, { bigint: true });
      if (!st.isFile()) return this.drop(name);
      sig = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      if (prev?.sig === sig && !force) return false;
      text = await readFile(path, 'utf8');
    } catch (e) {
      if (errCode(e) === 'ENOENT') return this.drop(name); // gone between readdir and read
      const err: ManifestError = { file: name, document: null, item: null, object: null, field: null, message: `cannot read: ${errText(e)}` };
      // Retried by every rescan; said once.
      if (prev?.sig !== '' || prev.errors[0]?.message !== err.message) {
        this.log.warn({ dir: this.dir, file: name, err: errText(e) }, formatManifestError(err));
      }
      // Keep the objects of the last good read: an unreadable file is not an empty one.
      this.files.set(name, { sig: '', hash: '', objects: prev?.objects ?? [], errors: [err] });
      return true;
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (prev?.hash === hash) {
      prev.sig = sig;
      return false;
    }
    const { objects, errors } = parseManifests(name, text);
    this.files.set(name, { sig, hash, objects, errors });
    for (const err of errors) {
      this.log.warn(
        { dir: this.dir, file: name, document: err.document, item: err.item, object: err.object, field: err.field },
        `${formatManifestError(err)} (skipped)`,
      );
    }
    this.log.debug({ dir: this.dir, file: name, objects: objects.length, errors: errors.length }, `manifest ${name} read`);
    return true;
  }

  /** Folds the files in sorted order (the last one wins a conflict) and delivers a changed state. */
  private merge(): void {
    const byKey = new Map<string, { file: string; at: LocatedObject }>();
    const duplicates: ManifestError[] = [];
    for (const name of [...this.files.keys()].sort()) {
      for (const at of this.files.get(name)!.objects) {
        const key = objectKey(at.obj);
        const before = byKey.get(key);
        if (before !== undefined) {
          duplicates.push({
            file: before.file,
            document: before.at.document,
            item: before.at.item,
            object: describeObject(before.at.obj),
            field: null,
            message:
              before.file === name
                ? `defined again later in ${name} (document ${at.document}), which wins`
                : `also defined in ${name}, which wins (the last file in sorted order)`,
          });
        }
        byKey.set(key, { file: name, at });
      }
    }
    const seen = new Set(this.duplicates.map(formatManifestError));
    for (const d of duplicates) {
      const line = formatManifestError(d);
      if (!seen.has(line)) this.log.warn({ dir: this.dir, file: d.file, object: d.object }, line);
    }
    this.duplicates = duplicates;

    const state = clusterState([...byKey.values()].map((v) => v.at.obj));
    const text = JSON.stringify(state);
    if (text === this.lastState) return;
    this.lastState = text;
    this.generation += 1;
    this.log.info(
      {
        dir: this.dir,
        generation: this.generation,
        namespaces: state.namespaces.length,
        pods: state.pods.length,
        policies: state.policies.length,
        nodes: state.nodes.length,
      },
      `cluster state generation ${this.generation}`,
    );
    try {
      this.onChange(state, this.generation);
    } catch (e) {
      this.log.error({ dir: this.dir, generation: this.generation, err: errText(e) }, `applying generation ${this.generation} failed: ${errText(e)}`);
    }
  }
}
