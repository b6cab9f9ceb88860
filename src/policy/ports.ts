// Port ranges as prefixes over the 16-bit port, the shape strait_policy_v1 can hold:
// its LPM key ends with the big-endian destination port, so "ports 8080-8087" is the
// one prefix 8080/13. A range splits into at most 30 prefixes (2 per bit, minus the
// ends), and an exact cover: no port outside the range is ever admitted.

export interface PortPrefix {
  /** first port of the prefix */
  port: number;
  /** leading bits of the 16-bit port that are fixed: 16 = exactly `port`, 0 = every port */
  prefixLen: number;
}

/**
 * The fewest prefixes whose union is exactly first..last (inclusive). A reversed
 * range throws: the model refuses endPort < port, so one reaching here is a bug, and
 * answering [] would quietly turn an allow rule into one that allows nothing.
 */
export function portRangePrefixes(first: number, last: number): PortPrefix[] {
  if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0 || last > 0xffff) {
    throw new RangeError(`port range ${first}-${last} is not within 0-65535`);
  }
  if (last < first) throw new RangeError(`port range ${first}-${last} is reversed`);
  const out: PortPrefix[] = [];
  let lo = first;
  while (lo <= last) {
    // The largest aligned block that starts at lo and does not pass last.
    let size = lo === 0 ? 0x10000 : lo & -lo;
    while (lo + size - 1 > last) size >>>= 1;
    out.push({ port: lo, prefixLen: 16 - Math.log2(size) });
    lo += size;
  }
  return out;
}

/** The ports a prefix covers, inclusive. */
export function prefixRange(p: PortPrefix): [number, number] {
  const size = 2 ** (16 - p.prefixLen);
  return [p.port, p.port + size - 1];
}

export const prefixCovers = (p: PortPrefix, port: number): boolean => {
  const [lo, hi] = prefixRange(p);
  return port >= lo && port <= hi;
};
