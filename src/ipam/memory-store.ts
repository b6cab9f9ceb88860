// In-memory LeaseStore for tests. It keeps the disk store's rules (canonical keys,
// reserve refuses a taken address, mutations only under the lock) so that tests
// against it catch the same facade mistakes the disk store would.
import { errors } from '../errors.js';
import { canonicalIp } from './addr.js';
import { type Lease, type LeaseStore, sameOwner } from './store.js';

function canonical(ip: string): string {
  const c = canonicalIp(ip);
  if (c === null) throw errors.internal(`lease address "${ip}" is not an IP address`);
  return c;
}

export class MemoryStore implements LeaseStore {
  private readonly leases = new Map<string, Lease>();
  private readonly last = new Map<number, string>();
  private depth = 0;
  /** how many times the lock was taken from outside (tests assert on it) */
  lockCount = 0;

  constructor(leases: readonly Lease[] = []) {
    for (const l of leases) this.leases.set(canonical(l.ip), { ...l, ip: canonical(l.ip) });
  }

  withLock<T>(fn: () => T): T {
    if (this.depth === 0) this.lockCount++;
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }

  private mustHoldLock(op: string): void {
    if (this.depth === 0) throw errors.internal(`MemoryStore.${op} called outside withLock`);
  }

  list(): Lease[] {
    return [...this.leases.values()].map((l) => ({ ...l }));
  }

  reserve(lease: Lease): void {
    this.mustHoldLock('reserve');
    const ip = canonical(lease.ip);
    if (this.leases.has(ip)) throw errors.addressUnavailable(`${ip} is already leased`);
    this.leases.set(ip, { ...lease, ip });
  }

  releaseIp(ip: string): Lease | null {
    this.mustHoldLock('releaseIp');
    const key = canonical(ip);
    const lease = this.leases.get(key);
    if (lease === undefined) return null;
    this.leases.delete(key);
    return lease;
  }

  releaseByOwner(containerId: string, ifname: string): Lease[] {
    this.mustHoldLock('releaseByOwner');
    const gone = [...this.leases.values()].filter((l) => sameOwner(l, containerId, ifname));
    for (const l of gone) this.leases.delete(l.ip);
    return gone;
  }

  lastReserved(setIndex: number): string | null {
    return this.last.get(setIndex) ?? null;
  }

  setLastReserved(setIndex: number, ip: string): void {
    this.mustHoldLock('setLastReserved');
    this.last.set(setIndex, canonical(ip));
  }
}
