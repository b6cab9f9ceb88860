// Where leases live. The facade (ipam.ts) talks only to this interface, so the
// allocation logic is tested against the in-memory store and the disk store is
// tested on its own (host-local's Store split).

export interface Lease {
  /** canonical address text (as addr.ts formatIp prints it) */
  ip: string;
  /** index of the range set it was allocated from when it was reserved */
  setIndex: number;
  containerId: string;
  ifname: string;
  /** ISO 8601 */
  createdAt: string;
  /** e.g. K8S_POD_NAMESPACE, K8S_POD_NAME: for people and straitctl, never for logic */
  meta?: Record<string, string>;
  /** the boot it was made in (util/boot-id.ts); absent in leases written before boot stamping */
  bootId?: string;
  /** the host veth of the attachment, for straitctl doctor to pair leases with links */
  hostVeth?: string;
}

export interface LeaseStore {
  /**
   * Runs fn holding the store's lock, which serialises against other processes
   * (runtimes call ADD in parallel, each in its own plugin process). Nested calls
   * in the same process just run fn. Mutating methods must be called inside it.
   */
  withLock<T>(fn: () => T): T;
  /** Every lease, with canonical ip. */
  list(): Lease[];
  /** Records a lease atomically. Throws addressUnavailable if ip is already leased. */
  reserve(lease: Lease): void;
  /** Drops one lease by address; returns it, or null if there was none. Used to undo
   * a partly reserved ADD and by GC (which would be O(n^2) by owner). */
  releaseIp(ip: string): Lease | null;
  /** Drops every lease of the owner; returns them ([] if none). */
  releaseByOwner(containerId: string, ifname: string): Lease[];
  /** The address a set handed out last, for round-robin; null if none recorded. */
  lastReserved(setIndex: number): string | null;
  setLastReserved(setIndex: number, ip: string): void;
}

export const sameOwner = (lease: Lease, containerId: string, ifname: string): boolean =>
  lease.containerId === containerId && lease.ifname === ifname;
