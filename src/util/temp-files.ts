// Files strait writes whole (leases in disk-store.ts, endpoint records) go through a
// `.tmp-<pid>-…` file beside their target, then a link or rename. A writer killed in
// between leaves that file behind, and once its process is gone nothing finishes or
// removes it: GC sweeps such files and straitctl doctor reports them.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const TEMP = /^\.tmp-(\d+)-/;

/** The pid that wrote a temp file, or null when the name is not one of strait's temp files. */
export function writerOf(name: string): number | null {
  const m = TEMP.exec(name);
  return m === null ? null : Number(m[1]);
}

/** Whether that process still runs (in this pid namespace; EPERM: it runs as someone else). */
export function writerAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temp files in `dir` whose writer is gone; [] when the dir does not exist. */
export function deadTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => {
    const pid = writerOf(n);
    return pid !== null && !writerAlive(pid);
  }).map((n) => join(dir, n));
}

/** Removes them; returns their paths. */
export function sweepDeadTempFiles(dir: string): string[] {
  const dead = deadTempFiles(dir);
  for (const path of dead) rmSync(path, { force: true });
  return dead;
}
