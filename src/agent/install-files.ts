// The file primitives of the install step (install.ts): a write that a reader (the
// runtime exec'ing the binary, the kubelet reading the conf dir) sees whole or not at
// all, skipped when the content is already there, and the record of what was written
// that --uninstall undoes exactly.
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** The file's content, or null when there is none. */
export function readOrNull(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Writes `data` to `path` through a temp file in the same directory, fsynced and
 * renamed over, then fsyncs the directory. Returns false (and touches nothing) when
 * the file already holds exactly `data`.
 */
export function writeAtomic(path: string, data: Buffer | string, mode: number): boolean {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const now = readOrNull(path);
  if (now?.equals(bytes)) return false;
  // A dot name: libcni and the kubelet skip it, and no runtime execs it as a plugin.
  const tmp = join(dirname(path), `.${basename(path)}.strait-tmp-${process.pid}`);
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the write's own error is the one to report
    }
    throw e;
  }
  fsyncDir(dirname(path));
  return true;
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** What the install wrote, kept in the state dir so that a later --uninstall knows. */
export interface InstallRecord {
  version: 1;
  /** files strait wrote, with the hash of what it wrote last */
  files: { path: string; sha256: string }[];
  /** other CNIs' configs renamed aside by --cni-exclusive */
  aside: { from: string; to: string }[];
}

export const RECORD_NAME = 'cni-install.json';

export function readRecord(stateDir: string): InstallRecord {
  const raw = readOrNull(join(stateDir, RECORD_NAME));
  if (raw === null) return { version: 1, files: [], aside: [] };
  const r = JSON.parse(raw.toString('utf8')) as Partial<InstallRecord>;
  if (r.version !== 1 || !Array.isArray(r.files) || !Array.isArray(r.aside)) {
    throw new Error(`${join(stateDir, RECORD_NAME)} is not an install record strait understands`);
  }
  return { version: 1, files: r.files, aside: r.aside };
}

export function writeRecord(stateDir: string, r: InstallRecord): void {
  writeAtomic(join(stateDir, RECORD_NAME), `${JSON.stringify(r, null, 2)}\n`, 0o600);
}
