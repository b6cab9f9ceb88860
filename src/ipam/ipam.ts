// The IPAM facade the CNI commands call: reads the store, asks the pure allocator,
// writes the result back, every step under the store's lock so that parallel ADDs
// (one plugin process each) never pick the same address.
import { hasCode } from '../errors.js';
import { allocate as pick, findFree, locate, type Picked, reservedByFamily } from './allocator.js';
import { canonicalIp, type Family, formatCidr, formatIp, parseIp, withoutPrefix } from './addr.js';
import { describeSet, type IpRange, type RangeSet } from './ranges.js';
import { type Lease, type LeaseStore, sameOwner } from './store.js';

export interface IpamOwner {
  containerId: string;
  ifname: string;
  /** stored with the lease (K8S_POD_NAMESPACE, K8S_POD_NAME, ...) */
  meta?: Record<string, string>;
  /** stamped on new leases; leases of any other boot are reclaimed when allocating */
  bootId?: string;
  hostVeth?: string;
}

export interface Allocation {
  /** CIDR form with the subnet's prefix, e.g. "198.18.0.10/24" */
  address: string;
  ip: string;
  prefixLen: number;
  gateway: string | null;
  family: Family;
  setIndex: number;
}

export type IpamStatus = { ok: true } | { ok: false; reason: string };

/** How errors name the holder of an address: the pod if known, else the container. */
function describeHolder(lease: Lease): string {
  const where = `container ${lease.containerId} ${lease.ifname}`;
  const ns = lease.meta?.K8S_POD_NAMESPACE;
  const name = lease.meta?.K8S_POD_NAME;
  return ns !== undefined && name !== undefined ? `pod ${ns}/${name} (${where})` : where;
}

const toAllocation = (setIndex: number, range: IpRange, value: bigint): Allocation => ({
  address: formatCidr(range.family, value, range.prefixLen),
  ip: formatIp(range.family, value),
  prefixLen: range.prefixLen,
  gateway: range.gateway === null ? null : formatIp(range.family, range.gateway),
  family: range.family,
  setIndex,
});

/** Unreadable files stepped over in one ADD before giving up: a directory full of
 * them needs a person, not a scan. */
const MAX_SKIPS = 64;

const bySet = (a: Allocation, b: Allocation): number => a.setIndex - b.setIndex;

const ownerKey = (containerId: string, ifname: string): string => JSON.stringify([containerId, ifname]);

export class Ipam {
  constructor(
    private readonly sets: readonly RangeSet[],
    private readonly store: LeaseStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * One address per range set, honouring `requested` (runtimeConfig.ips, CNI_ARGS
   * IP=). If the owner already holds leases, those are returned instead of new ones
   * for their sets: a runtime that timed out waiting for ADD retries it without a
   * DEL in between, and allocating again would leak the first addresses. Only sets
   * the owner holds nothing in (an ADD that died half-way) get new addresses.
   */
  allocate(owner: IpamOwner, requested: readonly string[] = []): Allocation[] {
    return this.allocateMarked(owner, requested).all;
  }

  /** allocate, also saying which addresses this call leased (not held before): the undo of an ADD frees only those. */
  allocateMarked(owner: IpamOwner, requested: readonly string[] = []): { all: Allocation[]; fresh: string[] } {
    return this.store.withLock(() => {
      const listed = this.store.list();
      const reclaimed = new Set(owner.bootId === undefined ? [] : this.releaseOtherBoots(listed, owner.bootId).map((l) => l.ip));
      const leases = listed.filter((l) => !reclaimed.has(l.ip));
      const held = this.heldBySet(leases, owner);
      const heldIps = new Set([...held.values()].map((a) => a.ip));
      const wanted = requested.filter((r) => !heldIps.has(canonicalIp(withoutPrefix(r)) ?? r));
      const missing = new Set([...this.sets.keys()].filter((i) => !held.has(i)));
      if (missing.size === 0 && wanted.length === 0) return { all: [...held.values()].sort(bySet), fresh: [] };

      const inUse = new Map(leases.map((l) => [l.ip, describeHolder(l)]));
      const picked = pick({
        sets: this.sets,
        inUse,
        lastReserved: this.sets.map((_, i) => (missing.has(i) ? this.store.lastReserved(i) : null)),
        requested: wanted,
        only: missing,
      });
      this.reserveAll(owner, picked, inUse);
      const fresh = picked.map((p) => toAllocation(p.setIndex, p.range, p.value));
      return { all: [...held.values(), ...fresh].sort(bySet), fresh: fresh.map((a) => a.ip) };
    });
  }

  /** Drops the owner's leases; [] when there are none (DEL must be idempotent). */
  release(owner: IpamOwner): Lease[] {
    return this.store.withLock(() => this.store.releaseByOwner(owner.containerId, owner.ifname));
  }

  /** Drops those of `ips` the owner still holds: the undo of one ADD, which must not
   * free what an earlier ADD of the same owner holds (a retry of a live attachment). */
  releaseAddresses(owner: IpamOwner, ips: readonly string[]): Lease[] {
    return this.store.withLock(() => {
      const mine = new Set(this.store.list().filter((l) => sameOwner(l, owner.containerId, owner.ifname)).map((l) => l.ip));
      return ips.filter((ip) => mine.has(ip)).flatMap((ip) => this.store.releaseIp(ip) ?? []);
    });
  }

  /**
   * Releases every lease stamped with another boot. After a reboot no pod of an
   * earlier boot is alive (its netns and veth went with it), and the runtime may
   * never DEL it; leases without a stamp (older strait) are left to DEL and GC.
   */
  reclaimOtherBoots(bootId: string): Lease[] {
    return this.store.withLock(() => this.releaseOtherBoots(this.store.list(), bootId));
  }

  /** Of `leases` (as the store listed them, under its lock), releases those of another boot. */
  private releaseOtherBoots(leases: readonly Lease[], bootId: string): Lease[] {
    return leases.filter((l) => l.bootId !== undefined && l.bootId !== bootId).flatMap((l) => this.store.releaseIp(l.ip) ?? []);
  }

  leasesOf(owner: IpamOwner): Lease[] {
    return this.store.withLock(() =>
      this.store.list().filter((l) => sameOwner(l, owner.containerId, owner.ifname)),
    );
  }

  /** Releases every lease whose owner is not in `valid` (CNI GC); returns them. */
  gc(valid: readonly { containerId: string; ifname: string }[]): Lease[] {
    const keep = new Set(valid.map((v) => ownerKey(v.containerId, v.ifname)));
    return this.store.withLock(() => {
      const released: Lease[] = [];
      for (const lease of this.store.list()) {
        if (keep.has(ownerKey(lease.containerId, lease.ifname))) continue;
        const gone = this.store.releaseIp(lease.ip);
        if (gone !== null) released.push(gone);
      }
      return released;
    });
  }

  /** Leases of no configured range (the ranges changed under them: a new pod CIDR), held until DEL or GC. */
  outsideRanges(): Lease[] {
    return this.store.withLock(() =>
      this.store.list().filter((l) => {
        const ip = parseIp(l.ip);
        return ip === null || locate(this.sets, ip.family, ip.value) === null;
      }),
    );
  }

  /** Not ok when some range set has no free address, so ADD would fail. */
  status(): IpamStatus {
    return this.store.withLock(() => {
      const inUse = new Map(this.store.list().map((l) => [l.ip, describeHolder(l)]));
      const reserved = reservedByFamily(this.sets);
      const full = this.sets
        .map((set, i) => ({ set, i }))
        .filter(({ set, i }) => findFree(set, i, inUse, reserved[set.family], null) === null)
        .map(({ set, i }) => `range set ${i} (${describeSet(set)}) is fully allocated`);
      return full.length === 0 ? { ok: true } : { ok: false, reason: full.join('; ') };
    });
  }

  /** The owner's current leases that still fall in a configured set, by set index. */
  private heldBySet(leases: readonly Lease[], owner: IpamOwner): Map<number, Allocation> {
    const held = new Map<number, Allocation>();
    for (const lease of leases) {
      if (!sameOwner(lease, owner.containerId, owner.ifname)) continue;
      const ip = parseIp(lease.ip);
      // A lease outside every range (the config changed) is left for DEL or GC.
      const at = ip === null ? null : locate(this.sets, ip.family, ip.value);
      if (ip === null || at === null || held.has(at.setIndex)) continue;
      held.set(at.setIndex, toAllocation(at.setIndex, at.range, ip.value));
    }
    return held;
  }

  /** Writes the picked leases; on failure, removes the ones already written. */
  private reserveAll(owner: IpamOwner, picked: Picked[], inUse: Map<string, string>): void {
    const done: string[] = [];
    try {
      for (const [i, first] of picked.entries()) {
        const p = this.reserveOne(owner, first, inUse);
        picked[i] = p;
        done.push(p.ip);
        this.store.setLastReserved(p.setIndex, p.ip);
      }
    } catch (e) {
      for (const ip of done) {
        try {
          this.store.releaseIp(ip);
        } catch {
          // the original error matters more; GC reclaims what is left
        }
      }
      throw e;
    }
  }

  /**
   * Reserves p, or the next free address of its set if p's name is taken by a file
   * list() could not read (corrupt, or written by something else): such a file must
   * neither be clobbered nor block the pool. A requested address is not swapped.
   */
  private reserveOne(owner: IpamOwner, p: Picked, inUse: Map<string, string>): Picked {
    for (let attempt = 0; ; attempt++) {
      try {
        this.store.reserve({
          ip: p.ip,
          setIndex: p.setIndex,
          containerId: owner.containerId,
          ifname: owner.ifname,
          createdAt: this.now().toISOString(),
          ...(owner.meta === undefined ? {} : { meta: { ...owner.meta } }),
          ...(owner.bootId === undefined ? {} : { bootId: owner.bootId }),
          ...(owner.hostVeth === undefined ? {} : { hostVeth: owner.hostVeth }),
        });
        return p;
      } catch (e) {
        if (p.requested || !hasCode(e, 'E_ADDRESS_UNAVAILABLE') || attempt >= MAX_SKIPS) throw e;
        inUse.set(p.ip, 'an unreadable lease record');
        const lastReserved = this.sets.map((_, i) => (i === p.setIndex ? p.ip : null));
        [p] = pick({ sets: this.sets, inUse, lastReserved, requested: [], only: new Set([p.setIndex]) }) as [Picked];
      }
    }
  }
}
