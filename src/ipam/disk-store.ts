// LeaseStore on disk: one file per lease in one directory per network
// (<stateDir>/ipam/<network>/), as host-local keeps them, so an operator can see and
// repair state with ls and cat, and a crash can never leave half a lease behind.
//
//   198.18.0.10            a lease: JSON {containerId, ifname, setIndex, createdAt, meta,
//                          bootId, hostVeth}
//   fd5a__a                an IPv6 lease: ':' is not safe in every tool, '_' never
//                          occurs in an address, so the name maps back exactly
//   last_reserved_ip.<n>   the address set n handed out last (round-robin)
//   lock                   flock(2)ed for the length of every ADD/DEL/GC
//   .tmp-*                 a write in progress (or abandoned by a crash); ignored
//
// Each file is written whole to a temp file in the same directory, then linked
// (leases: fails if the address is taken, like O_EXCL) or renamed (the round-robin
// marker) into place, so readers see the old file or the new one.
//
// Nothing is fsynced. A killed process leaves its writes in the page cache, whole, so
// they hold against any crash short of the machine's. And a machine that crashed
// reboots: every lease of the earlier boot is released then (bootId), since no pod of
// that boot is alive, so a lease lost or torn by the crash costs nothing that would
// not be freed anyway. A torn file is skipped by every reader. fsync was four disk
// flushes in every ADD, on the agent's one thread.
// Node has no flock, so the lock comes in as a Locker (the native addon's flock).
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { errors } from '../errors.js';
import { canonicalIp } from './addr.js';
import { type Lease, type LeaseStore, sameOwner } from './store.js';
import { applyChange, cachedLeases, forgetLeases, nameKey, readGeneration, rememberLeases, writeGeneration } from './lease-view.js';

/** Takes and drops an exclusive lock on an open file; lock blocks until it has it. */
export interface Locker {
  lock(fd: number): void;
  unlock(fd: number): void;
}

export type FlockFn = (fd: number, mode: 'exclusive' | 'shared' | 'unlock', wait: boolean) => boolean;

/** Adapts the native addon's flock(fd, mode, wait) to a blocking Locker. */
export function flockLocker(flock: FlockFn): Locker {
  return {
    lock(fd) {
      if (!flock(fd, 'exclusive', true)) throw errors.io('could not lock the IPAM lease directory');
    },
    unlock(fd) {
      flock(fd, 'unlock', false);
    },
  };
}

export interface DiskStoreOptions {
  /** Told about files that are skipped (corrupt, foreign); default: ignore. */
  warn?: (message: string) => void;
}

const LOCK = 'lock';
const LAST_PREFIX = 'last_reserved_ip.';
const TMP_PREFIX = '.tmp-';

/** Lease file name for a canonical address; reversed by ipOfFileName. */
export const leaseFileName = (ip: string): string => ip.replaceAll(':', '_');

/** The canonical address a lease file name stands for, or null for any other name
 * (including a non-canonical spelling, which would let one address have two files). */
export function ipOfFileName(name: string): string | null {
  const ip = name.replaceAll('_', ':');
  return canonicalIp(ip) === ip ? ip : null;
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

const isStringRecord = (v: unknown): v is Record<string, string> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.values(v).every((x) => typeof x === 'string');

/** A view's leases and names less those of `ips` (in place). */
function dropFromView(leases: Lease[], names: string[], ips: readonly string[]): void {
  for (const ip of ips) {
    const at = leases.findIndex((l) => l.ip === ip);
    if (at >= 0) leases.splice(at, 1);
    const n = names.indexOf(leaseFileName(ip));
    if (n >= 0) names.splice(n, 1);
  }
}

/** Validates a lease file's JSON; null if it is not one of ours. */
function decodeLease(ip: string, text: string): Lease | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const { containerId, ifname, setIndex, createdAt, meta, bootId, hostVeth } = o;
  if (typeof containerId !== 'string' || containerId === '') return null;
  if (typeof ifname !== 'string' || ifname === '') return null;
  if (typeof setIndex !== 'number' || !Number.isInteger(setIndex) || setIndex < 0) return null;
  if (typeof createdAt !== 'string') return null;
  if (meta !== undefined && !isStringRecord(meta)) return null;
  if (bootId !== undefined && typeof bootId !== 'string') return null;
  if (hostVeth !== undefined && typeof hostVeth !== 'string') return null;
  return {
    ip,
    setIndex,
    containerId,
    ifname,
    createdAt,
    ...(meta === undefined ? {} : { meta }),
    ...(bootId === undefined ? {} : { bootId }),
    ...(hostVeth === undefined ? {} : { hostVeth }),
  };
}

export class DiskStore implements LeaseStore {
  private depth = 0;
  /** while locked: the lock file (it holds the directory's generation) and that generation */
  private lockFd = -1;
  private generation = 0n;
  private readonly warn: (message: string) => void;

  constructor(
    readonly dir: string,
    private readonly locker: Locker,
    options: DiskStoreOptions = {},
  ) {
    this.warn = options.warn ?? (() => {});
  }

  withLock<T>(fn: () => T): T {
    // flock locks belong to an open file description: a second open+lock in this
    // process would wait on itself, so nested calls ride on the outer lock.
    if (this.depth > 0) return fn();
    this.io('create the lease directory', () => mkdirSync(this.dir, { recursive: true, mode: 0o700 }));
    const fd = this.io('open the lock file', () =>
      openSync(join(this.dir, LOCK), constants.O_RDWR | constants.O_CREAT, 0o600),
    );
    try {
      this.locker.lock(fd);
      this.depth++;
      try {
        this.lockFd = fd;
        this.generation = this.io('read the lease generation', () => readGeneration(fd));
        return fn();
      } finally {
        this.lockFd = -1;
        this.depth--;
        this.locker.unlock(fd);
      }
    } finally {
      closeSync(fd);
    }
  }

  list(): Lease[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      if (errno(e) === 'ENOENT') return [];
      throw errors.io(`cannot list IPAM leases in ${this.dir}`, '', e);
    }
    const leaseNames: string[] = [];
    const ips: string[] = [];
    for (const name of names) {
      if (name === LOCK || name.startsWith(LAST_PREFIX) || name.startsWith(TMP_PREFIX)) continue;
      const ip = ipOfFileName(name);
      if (ip === null) {
        this.warn(`ignoring ${join(this.dir, name)}: not a lease file (name is not an IP address)`);
        continue;
      }
      leaseNames.push(name);
      ips.push(ip);
    }
    // Only under the lock is the generation known (and nobody else changing things).
    const key = this.depth > 0 ? nameKey(leaseNames) : null;
    const cached = key === null ? null : cachedLeases(this.dir, this.generation, key);
    if (cached !== null) return cached;
    const leases: Lease[] = [];
    for (const ip of ips) {
      const lease = this.readLease(ip);
      if (lease !== null) leases.push(lease);
    }
    if (key !== null) rememberLeases(this.dir, this.generation, key, leases);
    return leases;
  }

  /** Runs one change of the directory: the generation bumped first (a writer killed
   * half-way leaves it bumped, which only costs a re-read), the view updated after. */
  private change<T>(fn: () => T, update: (result: T, leases: Lease[], names: string[]) => void): T {
    this.generation += 1n;
    this.io('write the lease generation', () => writeGeneration(this.lockFd, this.generation));
    let result: T;
    try {
      result = fn();
    } catch (e) {
      forgetLeases(this.dir);
      throw e;
    }
    applyChange(this.dir, this.generation, (leases, names) => update(result, leases, names));
    return result;
  }

  reserve(lease: Lease): void {
    this.mustHoldLock('reserve');
    const ip = canonicalIp(lease.ip);
    if (ip === null) throw errors.internal(`lease address "${lease.ip}" is not an IP address`);
    const record = {
      containerId: lease.containerId,
      ifname: lease.ifname,
      setIndex: lease.setIndex,
      createdAt: lease.createdAt,
      ...(lease.meta === undefined ? {} : { meta: lease.meta }),
      ...(lease.bootId === undefined ? {} : { bootId: lease.bootId }),
      ...(lease.hostVeth === undefined ? {} : { hostVeth: lease.hostVeth }),
    };
    const tmp = this.writeTemp(`${JSON.stringify(record)}\n`);
    this.change(
      () => {
        try {
          // link(2), unlike rename(2), fails if the target exists: two writers can never
          // both believe they hold the address, even if one skipped the lock.
          linkSync(tmp, this.path(leaseFileName(ip)));
        } catch (e) {
          if (errno(e) === 'EEXIST') throw errors.addressUnavailable(`${ip} is already leased`);
          throw errors.io(`cannot write the lease for ${ip}`, '', e);
        } finally {
          this.unlinkQuietly(tmp);
        }
      },
      (_, leases, names) => {
        leases.push({ ...record, ip });
        names.push(leaseFileName(ip));
      },
    );
  }

  releaseIp(ip: string): Lease | null {
    this.mustHoldLock('releaseIp');
    const canonical = canonicalIp(ip);
    if (canonical === null) return null;
    const lease = this.readLease(canonical);
    // A corrupt file is left for a person to look at; list() never reports it either.
    if (lease === null) return null;
    const removed = this.change(() => this.remove(canonical), (gone, leases, names) => {
      if (gone) dropFromView(leases, names, [canonical]);
    });
    return removed ? lease : null;
  }

  releaseByOwner(containerId: string, ifname: string): Lease[] {
    this.mustHoldLock('releaseByOwner');
    const mine = this.list().filter((l) => sameOwner(l, containerId, ifname));
    if (mine.length === 0) return [];
    return this.change(
      () => mine.filter((l) => this.remove(l.ip)),
      (gone, leases, names) => dropFromView(leases, names, gone.map((l) => l.ip)),
    );
  }

  lastReserved(setIndex: number): string | null {
    const name = `${LAST_PREFIX}${setIndex}`;
    let text: string;
    try {
      text = readFileSync(this.path(name), 'utf8').trim();
    } catch (e) {
      if (errno(e) === 'ENOENT') return null;
      throw errors.io(`cannot read ${this.path(name)}`, '', e);
    }
    const ip = canonicalIp(text);
    if (ip === null) this.warn(`ignoring ${this.path(name)}: "${text}" is not an IP address`);
    return ip;
  }

  setLastReserved(setIndex: number, ip: string): void {
    this.mustHoldLock('setLastReserved');
    const tmp = this.writeTemp(ip);
    try {
      renameSync(tmp, this.path(`${LAST_PREFIX}${setIndex}`));
    } catch (e) {
      this.unlinkQuietly(tmp);
      throw errors.io(`cannot record the last reserved address of range set ${setIndex}`, '', e);
    }
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  private mustHoldLock(op: string): void {
    if (this.depth === 0) throw errors.internal(`DiskStore.${op} called outside withLock`);
  }

  private io<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw errors.io(`cannot ${what} in ${this.dir}`, '', e);
    }
  }

  private readLease(ip: string): Lease | null {
    const file = this.path(leaseFileName(ip));
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if (errno(e) === 'ENOENT') return null;
      // A directory or an unreadable file under a lease name: not ours, skip it.
      this.warn(`ignoring ${file}: ${errno(e) ?? String(e)}`);
      return null;
    }
    const lease = decodeLease(ip, text);
    if (lease === null) this.warn(`ignoring ${file}: not a valid lease record`);
    return lease;
  }

  /** Writes data to a fresh temp file in the directory; returns its path. */
  private writeTemp(data: string): string {
    const tmp = this.path(`${TMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    this.io('write a temp file', () => {
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeFileSync(fd, data);
      } catch (e) {
        closeSync(fd);
        this.unlinkQuietly(tmp);
        throw e;
      }
      closeSync(fd);
    });
    return tmp;
  }

  /** Deletes a lease file; false if it was already gone. */
  private remove(ip: string): boolean {
    try {
      unlinkSync(this.path(leaseFileName(ip)));
      return true;
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
      throw errors.io(`cannot delete the lease for ${ip}`, '', e);
    }
  }

  private unlinkQuietly(path: string): void {
    try {
      unlinkSync(path);
    } catch {
      // best effort: a leftover .tmp- file is ignored by every reader
    }
  }
}
