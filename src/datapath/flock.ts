// flock(2) through the addon: the advisory file locks that serialize CNI calls on
// the IPAM store and the loader's pin directory. Not netlink; its own module so a
// lock-taker does not load the netlink wrapper.
import { InvalidArgError, syscall } from '../errors.js';
import { native } from './native.js';

const FLOCK_MODES = new Set(['exclusive', 'shared', 'unlock']);

/**
 * flock(2) on an open fd (e.g. from fs.openSync). wait=false returns false instead
 * of blocking when another open file holds a conflicting lock; wait=true blocks the
 * whole process until it is free. Locks belong to the open file, not the process:
 * two opens of one file in this process do conflict.
 */
export function flock(fd: number, mode: 'exclusive' | 'shared' | 'unlock', wait: boolean): boolean {
  if (!Number.isInteger(fd) || fd < 0) throw new InvalidArgError(`fd must be a non-negative integer: ${fd}`);
  if (!FLOCK_MODES.has(mode)) throw new InvalidArgError(`mode must be exclusive, shared or unlock: ${JSON.stringify(mode)}`);
  if (typeof wait !== 'boolean') throw new InvalidArgError(`wait must be a boolean: ${JSON.stringify(wait)}`);
  return syscall(() => native().flock(fd, mode, wait));
}
