// compile(), phase 4: the CIDR prefixes strait_cidr_v1 holds and which of their
// identities an ipBlock covers. The datapath classifies an address by its longest
// prefix only, so a block stands for every prefix inside it (minus its excepts):
// a longer prefix another rule added must not take an address out of the block.
// Pure.
import { canonicalIp, type Family, formatCidr, hostCidr, lastOf, networkOf, parseCidr, withoutPrefix } from '../ipam/addr.js';
import { assignCidrIdentities, isCidrIdentity } from './identity.js';
import { type IpBlock, IDENTITY_HOST, IDENTITY_WORLD } from './types.js';

interface Prefix {
  text: string;
  family: Family;
  first: bigint;
  last: bigint;
  len: number;
  id: number;
}

function parsePrefix(text: string, id: number): Prefix | null {
  const c = parseCidr(text);
  if (c === null) return null;
  const first = networkOf(c.family, c.value, c.prefixLen);
  return { text, family: c.family, first, last: lastOf(c.family, c.value, c.prefixLen), len: c.prefixLen, id };
}

const inside = (p: Prefix, outer: Prefix): boolean =>
  p.family === outer.family && p.len >= outer.len && p.first >= outer.first && p.last <= outer.last;

/** Model output is canonical already; objects built by hand may not be. */
export function canonicalCidr(text: string): string | null {
  const c = parseCidr(text);
  return c === null ? null : formatCidr(c.family, networkOf(c.family, c.value, c.prefixLen), c.prefixLen);
}

/** An address as its own prefix: "10.0.0.1/32", "fd00::1/128". */
export const hostPrefix = hostCidr;

/** This node's addresses as /32 and /128 prefixes. */
export function hostPrefixes(addresses: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const text of addresses) {
    const ip = canonicalIp(withoutPrefix(text));
    if (ip !== null) out.add(hostPrefix(ip));
  }
  return out;
}

/** Is `ip` inside the block and outside its excepts? */
export function blockHolds(block: IpBlock, ip: string): boolean {
  const addr = parsePrefix(hostPrefix(ip), 0);
  const outer = parsePrefix(block.cidr, 0);
  if (addr === null || outer === null || !inside(addr, outer)) return false;
  return !block.except.some((e) => {
    const x = parsePrefix(e, 0);
    return x !== null && inside(addr, x);
  });
}

export class Prefixes {
  /** canonical CIDR → identity: ipBlock prefixes, the two /0s (WORLD), this node (HOST) */
  readonly cidrs = new Map<string, number>();
  private readonly sorted: Prefix[] = [];
  private readonly memo = new Map<string, number[]>();

  /** `blocks`: every prefix a rule names (cidr, except, pod addresses of named ports). */
  constructor(blocks: ReadonlySet<string>, host: ReadonlySet<string>, previous: ReadonlyMap<string, number> | undefined) {
    const previousIds = new Map<string, number>();
    for (const [text, id] of previous ?? []) if (isCidrIdentity(id)) previousIds.set(text, id);
    const ids = assignCidrIdentities([...blocks].filter((t) => !host.has(t)), previousIds);
    this.cidrs.set('0.0.0.0/0', IDENTITY_WORLD);
    this.cidrs.set('::/0', IDENTITY_WORLD);
    for (const [text, id] of ids) this.cidrs.set(text, id);
    for (const text of host) this.cidrs.set(text, IDENTITY_HOST);
    for (const [text, id] of this.cidrs) {
      const p = parsePrefix(text, id);
      if (p !== null) this.sorted.push(p);
    }
    // Sorted so that the prefixes inside a block are one contiguous run.
    this.sorted.sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : a.len - b.len));
  }

  /** The identities of every prefix inside the block and outside its excepts (HOST never). */
  idsIn(block: IpBlock): number[] {
    const memoKey = `${block.cidr} ${block.except.join(' ')}`;
    let hit = this.memo.get(memoKey);
    if (hit !== undefined) return hit;
    hit = [];
    const outer = parsePrefix(block.cidr, 0);
    const excepts = block.except.map((e) => parsePrefix(e, 0)).filter((e): e is Prefix => e !== null);
    if (outer !== null) {
      // First prefix of the family whose start is >= outer.first.
      let lo = 0;
      let hi = this.sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const m = this.sorted[mid]!;
        if (m.family < outer.family || (m.family === outer.family && m.first < outer.first)) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < this.sorted.length; i++) {
        const p = this.sorted[i]!;
        if (p.family !== outer.family || p.first > outer.last) break;
        if (!inside(p, outer) || p.id === IDENTITY_HOST) continue;
        if (excepts.some((e) => inside(p, e))) continue;
        hit.push(p.id);
      }
    }
    this.memo.set(memoKey, hit);
    return hit;
  }
}
