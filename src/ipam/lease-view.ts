// What this process last read of each lease directory, so that a long-lived process
// (the agent serves every CNI call of the node) does not open and read every lease
// file on every ADD: one readdir and an 8-byte read of the lock file decide whether
// that view still holds.
//
// Every strait writer bumps a generation counter kept in the lock file, under the
// lock, before it changes the directory; a view is valid while the counter and the
// set of lease file names are what they were when it was taken. The counter catches
// a lease released and taken again by another process under the same name; the name
// set catches files a person added or removed by hand. (A lease file edited in place
// by hand is seen at the next change strait makes there from another process, or
// the next start.)
import { readSync, writeSync } from 'node:fs';
import type { Lease } from './store.js';

interface View {
  generation: bigint;
  /** the lease file names, sorted and joined: the directory as readdir saw it */
  names: string;
  leases: Lease[];
}

const views = new Map<string, View>();

export const nameKey = (names: readonly string[]): string => [...names].sort().join('\n');

/** The leases of `dir` if nothing changed since they were read; null otherwise. */
export function cachedLeases(dir: string, generation: bigint, names: string): Lease[] | null {
  const v = views.get(dir);
  return v?.generation === generation && v.names === names ? [...v.leases] : null;
}

export function rememberLeases(dir: string, generation: bigint, names: string, leases: readonly Lease[]): void {
  views.set(dir, { generation, names, leases: [...leases] });
}

/**
 * After this process's own change at `generation` (one past the view's): the view
 * brought up to date, if it was current before the change; else dropped.
 */
export function applyChange(dir: string, generation: bigint, change: (leases: Lease[], names: string[]) => void): void {
  const v = views.get(dir);
  if (v?.generation !== generation - 1n) {
    views.delete(dir);
    return;
  }
  const names = v.names === '' ? [] : v.names.split('\n');
  change(v.leases, names);
  views.set(dir, { generation, names: nameKey(names), leases: v.leases });
}

export function forgetLeases(dir: string): void {
  views.delete(dir);
}

/** The counter in the lock file (0 for an empty one: no strait writer bumped it yet). */
export function readGeneration(lockFd: number): bigint {
  const buf = Buffer.alloc(8);
  const n = readSync(lockFd, buf, 0, 8, 0);
  return n === 8 ? buf.readBigUInt64LE(0) : 0n;
}

export function writeGeneration(lockFd: number, generation: bigint): void {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(generation);
  if (writeSync(lockFd, buf, 0, 8, 0) !== 8) throw new Error('short write of the lease generation');
}
