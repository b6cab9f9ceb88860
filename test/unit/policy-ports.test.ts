import { describe, expect, it } from 'vitest';
import { portRangePrefixes, prefixCovers, prefixRange } from '../../src/policy/ports.js';

/** Why the prefixes are not an exact, minimal cover of lo..hi, or null when they are. */
function coverProblem(lo: number, hi: number): string | null {
  const prefixes = portRangePrefixes(lo, hi);
  let next = lo;
  for (const p of prefixes) {
    if (p.prefixLen < 0 || p.prefixLen > 16) return `${p.port}/${p.prefixLen}: bad length`;
    const [a, b] = prefixRange(p);
    if (a % 2 ** (16 - p.prefixLen) !== 0) return `${p.port}/${p.prefixLen}: not aligned`;
    // contiguous and disjoint, so the union is exactly [lo, next)
    if (a !== next) return `${p.port}/${p.prefixLen}: expected to start at ${next}`;
    next = b + 1;
  }
  if (next !== hi + 1) return `ends at ${next - 1}, not ${hi}`;
  // Minimal: no two neighbours could merge into one aligned prefix of the next size.
  for (let i = 0; i + 1 < prefixes.length; i++) {
    const x = prefixes[i]!;
    const y = prefixes[i + 1]!;
    if (x.prefixLen === y.prefixLen && x.prefixLen > 0 && x.port % 2 ** (17 - x.prefixLen) === 0) {
      return `${x.port}/${x.prefixLen} and ${y.port}/${y.prefixLen} merge`;
    }
  }
  return prefixes.length <= 32 ? null : `${prefixes.length} prefixes`;
}

describe('policy port prefixes', () => {
  it('examples', () => {
    expect(portRangePrefixes(8080, 8087)).toEqual([{ port: 8080, prefixLen: 13 }]);
    expect(portRangePrefixes(80, 80)).toEqual([{ port: 80, prefixLen: 16 }]);
    expect(portRangePrefixes(0, 65535)).toEqual([{ port: 0, prefixLen: 0 }]);
    expect(portRangePrefixes(32768, 65535)).toEqual([{ port: 32768, prefixLen: 1 }]);
    expect(portRangePrefixes(8080, 8090)).toEqual([
      { port: 8080, prefixLen: 13 },
      { port: 8088, prefixLen: 15 },
      { port: 8090, prefixLen: 16 },
    ]);
    const all = portRangePrefixes(1, 65535);
    expect(all).toHaveLength(16);
    expect(all[0]).toEqual({ port: 1, prefixLen: 16 });
    expect(all.at(-1)).toEqual({ port: 32768, prefixLen: 1 });
    expect(() => portRangePrefixes(0, 65536)).toThrow(RangeError);
  });

  it('refuses a reversed range: the model rejects endPort < port, so one reaching here is a bug, not "no ports"', () => {
    expect(() => portRangePrefixes(5, 4)).toThrow(RangeError);
    expect(() => portRangePrefixes(10, 9)).toThrow(RangeError);
  });

  it('covers every random range exactly, with the fewest prefixes', () => {
    let x = 0x2545f491;
    const rnd = (n: number): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    for (let i = 0; i < 20000; i++) {
      const a = rnd(65536);
      const b = i % 3 === 0 ? Math.min(65535, a + rnd(64)) : rnd(65536);
      const [lo, hi] = [Math.min(a, b), Math.max(a, b)];
      const problem = coverProblem(lo, hi);
      if (problem !== null) expect.fail(`${lo}-${hi}: ${problem}`);
    }
    for (const [lo, hi] of [[0, 0], [65535, 65535], [1, 65534], [0, 65534], [1, 65535], [1024, 65535]] as const) {
      expect(coverProblem(lo, hi), `${lo}-${hi}`).toBeNull();
    }
  });

  it('port by port, on a few ranges: covered exactly when inside', () => {
    for (const [lo, hi] of [[1, 1000], [30000, 32767], [65000, 65535]] as const) {
      const prefixes = portRangePrefixes(lo, hi);
      for (let port = Math.max(0, lo - 300); port <= Math.min(65535, hi + 300); port++) {
        const n = prefixes.filter((p) => prefixCovers(p, port)).length;
        expect(n, `port ${port}`).toBe(port >= lo && port <= hi ? 1 : 0);
      }
    }
  });
});
