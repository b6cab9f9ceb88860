// Parses and validates the `ipam.ranges` part of a network config (host-local's
// format) into range sets. Pure: no I/O, every problem is a config error (CNI code 7)
// that names the offending field, because an operator reads it in a kubelet event.
//
// One address is allocated per range set; within a set, ranges are tried in order.
// Defaults mirror host-local so its configs keep their meaning: rangeStart is
// network+1, rangeEnd the last address (IPv4: broadcast-1), gateway network+1.
import { errors } from '../errors.js';
import {
  bitsOf,
  type Family,
  formatCidr,
  formatIp,
  lastOf,
  networkOf,
  parseCidr,
  parseIp,
} from './addr.js';

export interface IpRange {
  family: Family;
  network: bigint;
  prefixLen: number;
  /** first and last address the allocator may hand out, inclusive */
  start: bigint;
  end: bigint;
  /** Never allocated. Always set by the parser today (host-local defaults it to
   * network+1); null is kept in the type for a future opt-out. */
  gateway: bigint | null;
  /** canonical CIDR text, e.g. "198.18.0.0/24" */
  subnet: string;
}

export interface RangeSet {
  family: Family;
  ranges: readonly IpRange[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const familyName = (f: Family): string => (f === 4 ? 'IPv4' : 'IPv6');

/** "198.18.0.0/24 (198.18.0.10-198.18.0.50)", as error messages name a range. */
export const describeRange = (r: IpRange): string =>
  `${r.subnet} (${formatIp(r.family, r.start)}-${formatIp(r.family, r.end)})`;

export const describeSet = (set: RangeSet): string => set.ranges.map(describeRange).join(', ');

/**
 * Addresses of one family that no range may hand out, with the reason: every
 * range's network address (for IPv6 the Subnet-Router anycast address, RFC 4291
 * 2.6.1), IPv4 broadcast address and gateway. Computed across the whole config so
 * that one range's gateway is not handed out by another range of the same subnet.
 */
export function reservedAddresses(sets: readonly RangeSet[], family: Family): Map<bigint, string> {
  const reserved = new Map<bigint, string>();
  for (const set of sets) {
    if (set.family !== family) continue;
    for (const r of set.ranges) {
      if (r.gateway !== null) reserved.set(r.gateway, `gateway of ${r.subnet}`);
      reserved.set(r.network, `network address of ${r.subnet}`);
      if (family === 4) reserved.set(lastOf(4, r.network, r.prefixLen), `broadcast address of ${r.subnet}`);
    }
  }
  return reserved;
}

function optionalString(obj: Json, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw errors.config(`${where}.${key} must be a string`);
  return v;
}

/** Parses an address field of a range and checks it lies in the range's subnet. */
function addressIn(
  obj: Json,
  key: string,
  where: string,
  family: Family,
  network: bigint,
  prefixLen: number,
): bigint | undefined {
  const text = optionalString(obj, key, where);
  if (text === undefined) return undefined;
  const ip = parseIp(text);
  if (ip === null) throw errors.config(`${where}.${key} "${text}" is not an IP address`);
  const subnet = formatCidr(family, network, prefixLen);
  if (ip.family !== family || networkOf(family, ip.value, prefixLen) !== network) {
    throw errors.config(`${where}.${key} ${text} is not in subnet ${subnet}`);
  }
  return ip.value;
}

function parseRange(obj: unknown, where: string): IpRange {
  if (!isObject(obj)) throw errors.config(`${where} must be an object`);
  const subnetText = optionalString(obj, 'subnet', where);
  if (subnetText === undefined) throw errors.config(`${where}.subnet is required`);
  const cidr = parseCidr(subnetText);
  if (cidr === null) {
    throw errors.config(`${where}.subnet "${subnetText}" is not a CIDR (address/prefix-length)`);
  }
  const { family, prefixLen } = cidr;
  const network = networkOf(family, cidr.value, prefixLen);
  const subnet = formatCidr(family, network, prefixLen);
  // host-local rejects this too; masking silently would hide a typo in the prefix
  // length or the address, which then allocates from a network nobody intended.
  if (network !== cidr.value) {
    throw errors.config(
      `${where}.subnet ${subnetText} has host bits set; the network address for /${prefixLen} is ${subnet}`,
    );
  }
  // Fewer than four addresses leave nothing once the network address, the gateway
  // and (IPv4) the broadcast address are set aside; host-local refuses these too.
  if (prefixLen > bitsOf(family) - 2) {
    throw errors.config(
      `${where}.subnet ${subnet} is too small to allocate from: the network address, ` +
        `${family === 4 ? 'broadcast address ' : ''}and gateway are never allocated`,
    );
  }
  const last = lastOf(family, network, prefixLen);

  const gateway = addressIn(obj, 'gateway', where, family, network, prefixLen) ?? network + 1n;
  if (gateway === network || (family === 4 && gateway === last)) {
    throw errors.config(
      `${where}.gateway ${formatIp(family, gateway)} is the ${gateway === network ? 'network' : 'broadcast'} address of ${subnet}`,
    );
  }

  const start = addressIn(obj, 'rangeStart', where, family, network, prefixLen) ?? network + 1n;
  const end =
    addressIn(obj, 'rangeEnd', where, family, network, prefixLen) ?? (family === 4 ? last - 1n : last);
  if (start > end) {
    throw errors.config(
      `${where}: rangeStart ${formatIp(family, start)} is after rangeEnd ${formatIp(family, end)} in ${subnet}`,
    );
  }
  return { family, network, prefixLen, start, end, gateway, subnet };
}

function parseSet(raw: unknown, where: string): RangeSet {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw errors.config(`${where} must be a non-empty list of ranges`);
  }
  const ranges = raw.map((r, i) => parseRange(r, `${where}[${i}]`));
  const first = ranges[0]!;
  for (const r of ranges) {
    if (r.family !== first.family) {
      throw errors.config(
        `${where} mixes ${familyName(first.family)} (${first.subnet}) and ${familyName(r.family)} (${r.subnet}); ` +
          'a range set yields one address, so its ranges must share a family',
      );
    }
  }
  return { family: first.family, ranges };
}

/** Rejects any two ranges, in any sets, whose allocatable intervals share an address. */
function checkOverlaps(sets: readonly RangeSet[]): void {
  const all = sets.flatMap((s) => s.ranges).sort((a, b) =>
    a.family !== b.family ? a.family - b.family : a.start < b.start ? -1 : a.start > b.start ? 1 : 0,
  );
  // Sorted by start, if any two ranges overlap then some adjacent two do (the first
  // range to start inside another starts inside its predecessor): O(n log n).
  for (const [i, r] of all.entries()) {
    const prev = all[i - 1];
    if (prev?.family === r.family && r.start <= prev.end) {
      throw errors.config(`ranges overlap: ${describeRange(prev)} and ${describeRange(r)}`);
    }
  }
}

/** Rejects ranges that hold no address the allocator may hand out (/31, /32, ...). */
function checkNonEmpty(sets: readonly RangeSet[]): void {
  for (const family of [4, 6] as const) {
    const reserved = [...reservedAddresses(sets, family).keys()];
    for (const set of sets) {
      if (set.family !== family) continue;
      for (const r of set.ranges) {
        const size = r.end - r.start + 1n;
        const blocked = BigInt(reserved.filter((a) => a >= r.start && a <= r.end).length);
        if (size <= blocked) {
          throw errors.config(
            `range ${describeRange(r)} has no allocatable address: the network address, ` +
              `${family === 4 ? 'broadcast address ' : ''}and gateway are never allocated`,
          );
        }
      }
    }
  }
}

/**
 * Parses the range part of an `ipam` object. Accepts `ranges` (a list of range
 * sets) and host-local's older single-range form (`subnet`, `rangeStart`, ...
 * directly under ipam), which becomes the first set, as host-local does.
 */
export function parseRangeSets(ipam: unknown): RangeSet[] {
  if (!isObject(ipam)) throw errors.config('ipam must be an object');
  const sets: RangeSet[] = [];
  if (ipam.subnet !== undefined) {
    const range = parseRange(ipam, 'ipam');
    sets.push({ family: range.family, ranges: [range] });
  }
  const ranges = ipam.ranges;
  if (ranges !== undefined) {
    if (!Array.isArray(ranges)) throw errors.config('ipam.ranges must be a list of range sets');
    ranges.forEach((s, i) => sets.push(parseSet(s, `ipam.ranges[${i}]`)));
  }
  if (sets.length === 0) throw errors.config('ipam has no ranges: set ipam.ranges (or ipam.subnet)');
  checkOverlaps(sets);
  checkNonEmpty(sets);
  return sets;
}
