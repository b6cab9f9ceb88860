import { describe, expect, it } from 'vitest';
import { StraitError } from '../../src/errors.js';
import { cniCodeOf } from '../../src/cni/errors.js';
import { formatIp, parseIp } from '../../src/ipam/addr.js';
import { allocate, type AllocatorInput, findFree, reservedByFamily } from '../../src/ipam/allocator.js';
import { parseRangeSets } from '../../src/ipam/ranges.js';
import { thrown } from '../helpers/thrown.js';

const V4 = { subnet: '198.18.0.0/24', rangeStart: '198.18.0.10', rangeEnd: '198.18.0.50', gateway: '198.18.0.1' };
const V6 = { subnet: 'fd5a::/64' };

function run(ranges: unknown[][], over: Partial<AllocatorInput> = {}): string[] {
  const sets = parseRangeSets({ ranges });
  return allocate({ sets, inUse: new Map(), lastReserved: [], requested: [], ...over }).map((p) => p.ip);
}

const used = (...ips: string[]): Map<string, string> => new Map(ips.map((ip) => [ip, `holder-of-${ip}`]));

describe('allocate', () => {
  it('starts at rangeStart and skips what is in use', () => {
    expect(run([[V4]])).toEqual(['198.18.0.10']);
    expect(run([[V4]], { inUse: used('198.18.0.10', '198.18.0.11') })).toEqual(['198.18.0.12']);
  });

  it('never hands out network, gateway or broadcast even when the range covers them', () => {
    const all = { subnet: '198.18.0.0/29', rangeStart: '198.18.0.0', rangeEnd: '198.18.0.7', gateway: '198.18.0.3' };
    const sets = parseRangeSets({ ranges: [[all]] });
    const got: string[] = [];
    const inUse = new Map<string, string>();
    for (;;) {
      let ip: string;
      try {
        [ip] = allocate({ sets, inUse, lastReserved: [got.at(-1) ?? null], requested: [] }).map((p) => p.ip) as [string];
      } catch (e) {
        expect((e as StraitError).code).toBe('E_POOL_EXHAUSTED');
        break;
      }
      got.push(ip);
      inUse.set(ip, 'x');
    }
    expect(got).toEqual(['198.18.0.1', '198.18.0.2', '198.18.0.4', '198.18.0.5', '198.18.0.6']);
  });

  it('exhausts a /30 with rangeStart/rangeEnd, naming the subnet', () => {
    const tiny = { subnet: '198.18.0.0/30', rangeStart: '198.18.0.1', rangeEnd: '198.18.0.2' };
    expect(run([[tiny]])).toEqual(['198.18.0.2']); // .1 is the default gateway
    const e = thrown(() => run([[tiny]], { inUse: used('198.18.0.2') }));
    expect(e.code).toBe('E_POOL_EXHAUSTED');
    expect(cniCodeOf(e)).toBe(101);
    expect(e.message).toBe('no free address in range set 0: 198.18.0.0/30 (198.18.0.1-198.18.0.2)');
  });

  it('falls through to the next range of a set, and reports the set exhausted only when all are', () => {
    const a = { subnet: '198.18.0.0/29', rangeStart: '198.18.0.2', rangeEnd: '198.18.0.3' };
    const b = { subnet: '198.18.1.0/29', rangeStart: '198.18.1.5', rangeEnd: '198.18.1.6' };
    expect(run([[a, b]], { inUse: used('198.18.0.2', '198.18.0.3') })).toEqual(['198.18.1.5']);
    const e = thrown(() => run([[a, b]], { inUse: used('198.18.0.2', '198.18.0.3', '198.18.1.5', '198.18.1.6') }));
    expect(e.message).toMatch(/198\.18\.0\.0\/29 .*, 198\.18\.1\.0\/29 /);
  });

  it('allocates one address per set: dual-stack', () => {
    expect(run([[V4], [V6]])).toEqual(['198.18.0.10', 'fd5a::2']); // fd5a::1 is the gateway
  });

  it('exhausting one set of a dual-stack config fails the whole allocation', () => {
    const tiny = { subnet: '198.18.0.0/30' };
    expect(thrown(() => run([[V6], [tiny]], { inUse: used('198.18.0.2') })).code).toBe('E_POOL_EXHAUSTED');
  });

  describe('round-robin', () => {
    it('continues after the last reserved address of the set', () => {
      expect(run([[V4]], { lastReserved: ['198.18.0.20'] })).toEqual(['198.18.0.21']);
      expect(run([[V4]], { lastReserved: ['198.18.0.20'], inUse: used('198.18.0.21') })).toEqual(['198.18.0.22']);
    });

    it('wraps from the end of the last range to the start of the first', () => {
      expect(run([[V4]], { lastReserved: ['198.18.0.50'] })).toEqual(['198.18.0.10']);
      expect(run([[V4]], { lastReserved: ['198.18.0.48'], inUse: used('198.18.0.49', '198.18.0.50') })).toEqual([
        '198.18.0.10',
      ]);
    });

    it('reuses the addresses before the last one only after wrapping', () => {
      // everything after .30 is taken, .15 is free: the scan wraps and finds .10 first
      const taken = Array.from({ length: 20 }, (_, i) => `198.18.0.${31 + i}`);
      expect(run([[V4]], { lastReserved: ['198.18.0.30'], inUse: used(...taken) })).toEqual(['198.18.0.10']);
      const alsoLow = [...taken, '198.18.0.10', '198.18.0.11'];
      expect(run([[V4]], { lastReserved: ['198.18.0.30'], inUse: used(...alsoLow) })).toEqual(['198.18.0.12']);
    });

    it('moves to the next range of the set when the last one ended a range', () => {
      const a = { subnet: '198.18.0.0/24', rangeStart: '198.18.0.10', rangeEnd: '198.18.0.12' };
      const b = { subnet: '198.18.1.0/24', rangeStart: '198.18.1.10', rangeEnd: '198.18.1.12' };
      expect(run([[a, b]], { lastReserved: ['198.18.0.12'] })).toEqual(['198.18.1.10']);
      expect(run([[a, b]], { lastReserved: ['198.18.1.11'] })).toEqual(['198.18.1.12']);
      expect(run([[a, b]], { lastReserved: ['198.18.1.12'] })).toEqual(['198.18.0.10']);
    });

    it('ignores a last address outside the set (config changed) or of the other family', () => {
      expect(run([[V4]], { lastReserved: ['10.0.0.7'] })).toEqual(['198.18.0.10']);
      expect(run([[V4]], { lastReserved: ['fd5a::9'] })).toEqual(['198.18.0.10']);
      expect(run([[V4]], { lastReserved: ['garbage'] })).toEqual(['198.18.0.10']);
    });

    it('is tracked per set', () => {
      expect(run([[V4], [V6]], { lastReserved: [null, 'fd5a::41'] })).toEqual(['198.18.0.10', 'fd5a::42']);
    });

    it('skips the gateway when stepping past it', () => {
      const r = { subnet: '198.18.0.0/24', rangeStart: '198.18.0.10', rangeEnd: '198.18.0.20', gateway: '198.18.0.15' };
      expect(run([[r]], { lastReserved: ['198.18.0.14'] })).toEqual(['198.18.0.16']);
    });
  });

  describe('requested addresses', () => {
    it('honours a requested address, bare or in CIDR form', () => {
      expect(run([[V4]], { requested: ['198.18.0.33'] })).toEqual(['198.18.0.33']);
      expect(run([[V4]], { requested: ['198.18.0.34/24'] })).toEqual(['198.18.0.34']);
    });

    it('uses a request for its set and allocates the other sets normally', () => {
      expect(run([[V4], [V6]], { requested: ['FD5A::abc'] })).toEqual(['198.18.0.10', 'fd5a::abc']);
      expect(run([[V4], [V6]], { requested: ['fd5a::abc', '198.18.0.40'] })).toEqual(['198.18.0.40', 'fd5a::abc']);
    });

    it('refuses an address held by someone else, naming the holder', () => {
      const e = thrown(() => run([[V4]], { requested: ['198.18.0.33'], inUse: used('198.18.0.33') }));
      expect(e.code).toBe('E_ADDRESS_UNAVAILABLE');
      expect(cniCodeOf(e)).toBe(102);
      expect(e.message).toBe('requested IP 198.18.0.33 is already allocated to holder-of-198.18.0.33');
    });

    it('refuses an address outside every range, including the subnet outside rangeStart-rangeEnd', () => {
      for (const ip of ['10.0.0.1', '198.18.0.9', '198.18.0.51', 'fd5b::1']) {
        const e = thrown(() => run([[V4], [V6]], { requested: [ip] }));
        expect(e.code, ip).toBe('E_ADDRESS_UNAVAILABLE');
        expect(e.message).toBe(`requested IP ${ip} is not in any configured range`);
      }
    });

    it('refuses the gateway, network and broadcast addresses', () => {
      const whole = { subnet: '198.18.0.0/24', rangeStart: '198.18.0.0', rangeEnd: '198.18.0.255' };
      const cases = {
        '198.18.0.1': 'gateway of 198.18.0.0/24',
        '198.18.0.0': 'network address of 198.18.0.0/24',
        '198.18.0.255': 'broadcast address of 198.18.0.0/24',
      };
      for (const [ip, why] of Object.entries(cases)) {
        const e = thrown(() => run([[whole]], { requested: [ip] }));
        expect(e.code).toBe('E_ADDRESS_UNAVAILABLE');
        expect(e.message).toBe(`requested IP ${ip} is reserved (${why})`);
      }
      expect(thrown(() => run([[V6]], { requested: ['fd5a::1'] })).message).toMatch(/reserved \(gateway of fd5a::\/64\)/);
    });

    it('refuses two requests for one set and garbage', () => {
      const e = thrown(() => run([[V4]], { requested: ['198.18.0.20', '198.18.0.21'] }));
      expect(e.code).toBe('E_CONFIG');
      expect(e.message).toMatch(/198\.18\.0\.20 and 198\.18\.0\.21 are both in range set 0/);
      expect(thrown(() => run([[V4]], { requested: ['nope'] })).message).toBe('requested IP "nope" is not an IP address');
    });

    it('refuses a request for a set left out by `only`', () => {
      const e = thrown(() => run([[V4], [V6]], { requested: ['198.18.0.20'], only: new Set([1]) }));
      expect(e.code).toBe('E_ADDRESS_UNAVAILABLE');
    });
  });

  it('allocates only the sets in `only`, keeping their indexes', () => {
    const sets = parseRangeSets({ ranges: [[V4], [V6]] });
    const got = allocate({ sets, inUse: new Map(), lastReserved: [], requested: [], only: new Set([1]) });
    expect(got.map((p) => [p.setIndex, p.ip, p.range.subnet])).toEqual([[1, 'fd5a::2', 'fd5a::/64']]);
  });

  describe('at scale', () => {
    // offset 0 is the gateway (10.1.0.1); 1..65533 are the allocatable addresses of the /16
    const v4Range = (n: number): string => formatIp(4, parseIp('10.1.0.1')!.value + BigInt(n));

    it('finds the one free address of a /16 with 60k leases quickly', () => {
      const sets = parseRangeSets({ ranges: [[{ subnet: '10.1.0.0/16' }]] });
      const inUse = new Map<string, string>();
      for (let i = 1; i <= 65533; i++) if (i !== 60_000) inUse.set(v4Range(i), 'x');
      const t0 = performance.now();
      const [p] = allocate({ sets, inUse, lastReserved: ['10.1.0.1'], requested: [] });
      expect(p?.ip).toBe(v4Range(60_000));
      expect(performance.now() - t0).toBeLessThan(500);
    });

    it('proves a full /16 exhausted quickly', () => {
      const sets = parseRangeSets({ ranges: [[{ subnet: '10.1.0.0/16' }]] });
      const inUse = new Map<string, string>();
      for (let i = 1; i <= 65533; i++) inUse.set(v4Range(i), 'x');
      expect(inUse.has('10.1.255.254')).toBe(true);
      const t0 = performance.now();
      expect(thrown(() => allocate({ sets, inUse, lastReserved: ['10.1.77.7'], requested: [] })).code).toBe(
        'E_POOL_EXHAUSTED',
      );
      expect(performance.now() - t0).toBeLessThan(500);
    });

    it('does not walk a /64 end to end', () => {
      const sets = parseRangeSets({ ranges: [[V6]] });
      const base = parseIp('fd5a::2')!.value;
      const inUse = new Map<string, string>();
      for (let i = 0n; i < 5000n; i++) inUse.set(formatIp(6, base + i), 'x');
      const [p] = allocate({ sets, inUse, lastReserved: ['fd5a::1'], requested: [] });
      expect(p?.ip).toBe(formatIp(6, base + 5000n));
      // wrap from the very last address back to the start
      expect(allocate({ sets, inUse: new Map(), lastReserved: ['fd5a::ffff:ffff:ffff:ffff'], requested: [] })[0]?.ip).toBe(
        'fd5a::2',
      );
    });
  });
});

describe('findFree', () => {
  it('returns null for a full set and the free address otherwise', () => {
    const sets = parseRangeSets({ ranges: [[{ subnet: '198.18.0.0/30' }]] });
    const reserved = reservedByFamily(sets)[4];
    expect(findFree(sets[0]!, 0, used('198.18.0.2'), reserved, null)).toBeNull();
    expect(findFree(sets[0]!, 0, new Map(), reserved, null)?.ip).toBe('198.18.0.2');
  });
});
