// Chooses addresses: one per range set, from the parsed config, what is in use and
// where each set's previous allocation ended. Pure: the facade (ipam.ts) reads the
// store and writes the result back under its lock.
//
// Like host-local, each set is scanned round-robin, starting after the address it
// handed out last and wrapping to its first range, so a freed address is not reused
// at once (a stale peer, conntrack entry or policy identity may still point at it).
//
// Cost: a scan only steps over addresses that are in use or reserved before it finds
// a free one, or proves the set full by stepping over all of them; either way it is
// O(in-use + reserved), never O(range size) for a mostly free /64 and never O(n^2).
import { errors } from '../errors.js';
import { type Family, formatIp, parseIp, withoutPrefix } from './addr.js';
import { describeSet, type IpRange, type RangeSet, reservedAddresses } from './ranges.js';

export interface AllocatorInput {
  sets: readonly RangeSet[];
  /** Canonical address text (as formatIp prints it) → a description of its holder,
   * used in "already allocated to ..." errors. Stores list canonical addresses. */
  inUse: ReadonlyMap<string, string>;
  /** Per set index: the address that set handed out last, or null. */
  lastReserved: readonly (string | null)[];
  /** Addresses the runtime asked for (runtimeConfig.ips, CNI_ARGS IP=), bare or in
   * CIDR form; the prefix length is ignored, as host-local ignores it. */
  requested: readonly string[];
  /** Set indexes to allocate for; default all. The facade leaves out sets the
   * owner already holds a lease in (a retried ADD). */
  only?: ReadonlySet<number>;
}

export interface Picked {
  setIndex: number;
  range: IpRange;
  value: bigint;
  /** canonical text of value */
  ip: string;
  /** whether the runtime asked for this address (else the scan chose it) */
  requested: boolean;
}

interface Located {
  setIndex: number;
  range: IpRange;
}

/** The set and range whose allocatable interval holds the address, if any. */
export function locate(sets: readonly RangeSet[], family: Family, value: bigint): Located | null {
  for (const [setIndex, set] of sets.entries()) {
    if (set.family !== family) continue;
    for (const range of set.ranges) {
      if (value >= range.start && value <= range.end) return { setIndex, range };
    }
  }
  return null;
}

type Reserved = Record<Family, ReadonlyMap<bigint, string>>;

function pickRequested(input: AllocatorInput, reserved: Reserved): Map<number, Picked> {
  const bySet = new Map<number, Picked>();
  for (const text of input.requested) {
    const ip = parseIp(withoutPrefix(text));
    if (ip === null) throw errors.config(`requested IP "${text}" is not an IP address`);
    const canonical = formatIp(ip.family, ip.value);
    const at = locate(input.sets, ip.family, ip.value);
    if (at === null) throw errors.addressUnavailable(`requested IP ${canonical} is not in any configured range`);
    if (input.only !== undefined && !input.only.has(at.setIndex)) {
      throw errors.addressUnavailable(
        `requested IP ${canonical} is in range set ${at.setIndex}, which this container already holds an address in`,
      );
    }
    const why = reserved[ip.family].get(ip.value);
    if (why !== undefined) throw errors.addressUnavailable(`requested IP ${canonical} is reserved (${why})`);
    const holder = input.inUse.get(canonical);
    if (holder !== undefined) {
      throw errors.addressUnavailable(`requested IP ${canonical} is already allocated to ${holder}`);
    }
    const other = bySet.get(at.setIndex);
    if (other !== undefined) {
      throw errors.config(
        `requested IPs ${other.ip} and ${canonical} are both in range set ${at.setIndex}; ` +
          'a set yields one address, so request at most one per set',
      );
    }
    bySet.set(at.setIndex, { setIndex: at.setIndex, range: at.range, value: ip.value, ip: canonical, requested: true });
  }
  return bySet;
}

/** The position to scan from: just after `last` if it is in the set, else the start. */
function scanStart(set: RangeSet, last: string | null): { rangeIndex: number; value: bigint } {
  const ip = last === null ? null : parseIp(last);
  if (ip !== null && ip.family === set.family) {
    const i = set.ranges.findIndex((r) => ip.value >= r.start && ip.value <= r.end);
    const range = set.ranges[i];
    if (range !== undefined) {
      if (ip.value < range.end) return { rangeIndex: i, value: ip.value + 1n };
      const next = (i + 1) % set.ranges.length;
      return { rangeIndex: next, value: set.ranges[next]!.start };
    }
  }
  return { rangeIndex: 0, value: set.ranges[0]!.start };
}

/**
 * The next free address of one set, round-robin from `last`, or null if the set is
 * full. Exported for the facade's status check.
 */
export function findFree(
  set: RangeSet,
  setIndex: number,
  inUse: ReadonlyMap<string, string>,
  reserved: ReadonlyMap<bigint, string>,
  last: string | null,
): Picked | null {
  const first = scanStart(set, last);
  let rangeIndex = first.rangeIndex;
  let value = first.value;
  // Walk the ranges as one ring, beginning mid-range and ending just before the
  // starting point, i.e. at most every address once.
  for (let lap = 0; lap <= set.ranges.length; lap++) {
    const range = set.ranges[rangeIndex]!;
    const stop = lap === set.ranges.length ? first.value - 1n : range.end;
    for (; value <= stop; value++) {
      if (reserved.has(value)) continue;
      const ip = formatIp(set.family, value);
      if (!inUse.has(ip)) return { setIndex, range, value, ip, requested: false };
    }
    rangeIndex = (rangeIndex + 1) % set.ranges.length;
    value = set.ranges[rangeIndex]!.start;
  }
  return null;
}

export function reservedByFamily(sets: readonly RangeSet[]): Reserved {
  return { 4: reservedAddresses(sets, 4), 6: reservedAddresses(sets, 6) };
}

/**
 * One address per set (or per set in `only`), in set order. Throws
 * addressUnavailable for a requested address that cannot be had, poolExhausted for
 * a set with no free address.
 */
export function allocate(input: AllocatorInput): Picked[] {
  const reserved = reservedByFamily(input.sets);
  const requested = pickRequested(input, reserved);
  const picked: Picked[] = [];
  for (const [setIndex, set] of input.sets.entries()) {
    if (input.only !== undefined && !input.only.has(setIndex)) continue;
    const got =
      requested.get(setIndex) ??
      findFree(set, setIndex, input.inUse, reserved[set.family], input.lastReserved[setIndex] ?? null);
    if (got === null) {
      throw errors.poolExhausted(`no free address in range set ${setIndex}: ${describeSet(set)}`);
    }
    picked.push(got);
  }
  return picked;
}
