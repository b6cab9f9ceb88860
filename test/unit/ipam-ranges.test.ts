import { describe, expect, it } from 'vitest';
import { cniCodeOf } from '../../src/cni/errors.js';
import { formatIp } from '../../src/ipam/addr.js';
import { parseIpamConfig } from '../../src/ipam/config.js';
import { type IpRange, parseRangeSets, reservedAddresses } from '../../src/ipam/ranges.js';
import { thrown } from '../helpers/thrown.js';

/** The error fn throws; fails the test if it does not throw a StraitError. */
const configError = (ipam: unknown): string => {
  const e = thrown(() => parseRangeSets(ipam));
  expect(e.code).toBe('E_CONFIG');
  expect(cniCodeOf(e)).toBe(7);
  return e.message;
};

const text = (r: IpRange) => ({
  subnet: r.subnet,
  start: formatIp(r.family, r.start),
  end: formatIp(r.family, r.end),
  gateway: r.gateway === null ? null : formatIp(r.family, r.gateway),
});

describe('parseRangeSets', () => {
  it('applies host-local defaults for IPv4: skip network, broadcast; gateway .1', () => {
    const [set] = parseRangeSets({ ranges: [[{ subnet: '198.18.0.0/24' }]] });
    expect(set?.family).toBe(4);
    expect(set?.ranges.map(text)).toEqual([
      { subnet: '198.18.0.0/24', start: '198.18.0.1', end: '198.18.0.254', gateway: '198.18.0.1' },
    ]);
    expect(set?.ranges[0]?.prefixLen).toBe(24);
    expect(set?.ranges[0]?.network).toBe(0xc6120000n);
  });

  it('applies defaults for IPv6: range runs to the last address', () => {
    const [set] = parseRangeSets({ ranges: [[{ subnet: 'FD5A:0::/64' }]] });
    expect(set?.family).toBe(6);
    expect(set?.ranges.map(text)).toEqual([
      { subnet: 'fd5a::/64', start: 'fd5a::1', end: 'fd5a::ffff:ffff:ffff:ffff', gateway: 'fd5a::1' },
    ]);
  });

  it('keeps explicit start, end and gateway', () => {
    const [set] = parseRangeSets({
      ranges: [[{ subnet: '198.18.0.0/24', rangeStart: '198.18.0.10', rangeEnd: '198.18.0.50', gateway: '198.18.0.254' }]],
    });
    expect(set?.ranges.map(text)).toEqual([
      { subnet: '198.18.0.0/24', start: '198.18.0.10', end: '198.18.0.50', gateway: '198.18.0.254' },
    ]);
  });

  it('parses dual-stack as two sets, and several ranges per set in order', () => {
    const sets = parseRangeSets({
      ranges: [
        [{ subnet: '198.18.0.0/24' }, { subnet: '198.18.1.0/24', rangeStart: '198.18.1.100' }],
        [{ subnet: 'fd5a::/64' }],
      ],
    });
    expect(sets.map((s) => s.family)).toEqual([4, 6]);
    expect(sets[0]?.ranges.map((r) => r.subnet)).toEqual(['198.18.0.0/24', '198.18.1.0/24']);
  });

  it('accepts the old single-range form as the first set', () => {
    const sets = parseRangeSets({
      subnet: '198.18.0.0/24',
      rangeStart: '198.18.0.10',
      gateway: '198.18.0.1',
      ranges: [[{ subnet: 'fd5a::/64' }]],
    });
    expect(sets.map((s) => s.ranges.map((r) => r.subnet))).toEqual([['198.18.0.0/24'], ['fd5a::/64']]);
    expect(text(sets[0]!.ranges[0]!).start).toBe('198.18.0.10');
  });

  it('requires at least one set', () => {
    expect(configError({})).toMatch(/no ranges/);
    expect(configError({ ranges: [] })).toMatch(/no ranges/);
    expect(configError({ ranges: [[]] })).toMatch(/ipam\.ranges\[0\] must be a non-empty list/);
    expect(configError({ ranges: 'x' })).toMatch(/list of range sets/);
    expect(configError({ ranges: [[{}]] })).toMatch(/ipam\.ranges\[0\]\[0\]\.subnet is required/);
  });

  it('rejects bad CIDRs, naming the field', () => {
    expect(configError({ ranges: [[{ subnet: '198.18.0.0/33' }]] })).toMatch(
      /ipam\.ranges\[0\]\[0\]\.subnet "198\.18\.0\.0\/33" is not a CIDR/,
    );
    expect(configError({ ranges: [[{ subnet: 'x' }]] })).toMatch(/"x" is not a CIDR/);
    expect(configError({ ranges: [[{ subnet: '198.18.0.0' }]] })).toMatch(/is not a CIDR/);
    expect(configError({ ranges: [[{ subnet: 24 }]] })).toMatch(/subnet must be a string/);
  });

  it('rejects host bits with the network it meant', () => {
    expect(configError({ ranges: [[{ subnet: '198.18.0.5/24' }]] })).toBe(
      'ipam.ranges[0][0].subnet 198.18.0.5/24 has host bits set; the network address for /24 is 198.18.0.0/24',
    );
    expect(configError({ ranges: [[{ subnet: 'fd5a::1/64' }]] })).toMatch(/host bits set.*fd5a::\/64/);
    expect(configError({ subnet: '198.18.0.5/24' })).toMatch(/^ipam\.subnet /);
  });

  it('rejects subnets too small to allocate from', () => {
    for (const subnet of ['198.18.0.0/31', '198.18.0.0/32', 'fd5a::/127', 'fd5a::/128']) {
      expect(configError({ ranges: [[{ subnet }]] }), subnet).toMatch(/too small to allocate from/);
    }
    // /30: .0 network, .1 gateway, .3 broadcast leave exactly one address
    const [set] = parseRangeSets({ ranges: [[{ subnet: '198.18.0.0/30' }]] });
    expect(text(set!.ranges[0]!)).toMatchObject({ start: '198.18.0.1', end: '198.18.0.2' });
  });

  it('rejects a range whose every address is reserved', () => {
    expect(
      configError({ ranges: [[{ subnet: '198.18.0.0/24', rangeStart: '198.18.0.1', rangeEnd: '198.18.0.1' }]] }),
    ).toMatch(/range 198\.18\.0\.0\/24 \(198\.18\.0\.1-198\.18\.0\.1\) has no allocatable address/);
  });

  it('checks start, end and gateway lie in the subnet and in order', () => {
    expect(configError({ ranges: [[{ subnet: '198.18.0.0/24', rangeStart: '198.18.1.5' }]] })).toBe(
      'ipam.ranges[0][0].rangeStart 198.18.1.5 is not in subnet 198.18.0.0/24',
    );
    expect(configError({ ranges: [[{ subnet: '198.18.0.0/24', rangeEnd: 'fd5a::1' }]] })).toMatch(
      /rangeEnd fd5a::1 is not in subnet/,
    );
    expect(configError({ ranges: [[{ subnet: '198.18.0.0/24', gateway: '10.0.0.1' }]] })).toMatch(
      /gateway 10\.0\.0\.1 is not in subnet 198\.18\.0\.0\/24/,
    );
    expect(configError({ ranges: [[{ subnet: '198.18.0.0/24', rangeStart: 'nope' }]] })).toMatch(
      /rangeStart "nope" is not an IP address/,
    );
    expect(
      configError({ ranges: [[{ subnet: '198.18.0.0/24', rangeStart: '198.18.0.50', rangeEnd: '198.18.0.10' }]] }),
    ).toMatch(/rangeStart 198\.18\.0\.50 is after rangeEnd 198\.18\.0\.10/);
    expect(configError({ ranges: [[{ subnet: '198.18.0.0/24', gateway: '198.18.0.255' }]] })).toMatch(
      /gateway 198\.18\.0\.255 is the broadcast address/,
    );
    expect(configError({ ranges: [[{ subnet: '198.18.0.0/24', gateway: '198.18.0.0' }]] })).toMatch(
      /gateway 198\.18\.0\.0 is the network address/,
    );
  });

  it('rejects a set that mixes families', () => {
    expect(configError({ ranges: [[{ subnet: '198.18.0.0/24' }, { subnet: 'fd5a::/64' }]] })).toMatch(
      /ipam\.ranges\[0\] mixes IPv4 \(198\.18\.0\.0\/24\) and IPv6 \(fd5a::\/64\)/,
    );
  });

  it('rejects overlapping ranges anywhere in the config, naming both', () => {
    expect(
      configError({ ranges: [[{ subnet: '198.18.0.0/24' }], [{ subnet: '198.18.0.0/25' }]] }),
    ).toBe('ranges overlap: 198.18.0.0/24 (198.18.0.1-198.18.0.254) and 198.18.0.0/25 (198.18.0.1-198.18.0.126)');
    // a wide range swallowing a narrower one of another set
    expect(
      configError({
        ranges: [
          [{ subnet: '198.18.0.0/16' }],
          [{ subnet: '198.18.1.0/24' }],
          [{ subnet: '198.18.9.0/24' }],
        ],
      }),
    ).toMatch(/198\.18\.0\.0\/16 .* and 198\.18\.1\.0\/24/);
    expect(
      configError({ ranges: [[{ subnet: 'fd5a::/64' }, { subnet: 'fd5a::/120', rangeStart: 'fd5a::80' }]] }),
    ).toMatch(/ranges overlap: fd5a::\/64 .* and fd5a::\/120 \(fd5a::80-fd5a::ff\)/);
  });

  it('allows disjoint ranges of one subnet, and never hands out any range\'s gateway', () => {
    const sets = parseRangeSets({
      ranges: [
        [{ subnet: '198.18.0.0/24', rangeStart: '198.18.0.10', rangeEnd: '198.18.0.50', gateway: '198.18.0.100' }],
        [{ subnet: '198.18.0.0/24', rangeStart: '198.18.0.60', rangeEnd: '198.18.0.200' }],
      ],
    });
    const reserved = reservedAddresses(sets, 4);
    expect(reserved.get(0xc6120064n)).toBe('gateway of 198.18.0.0/24');
    expect(reserved.get(0xc6120000n)).toBe('network address of 198.18.0.0/24');
    expect(reserved.get(0xc61200ffn)).toBe('broadcast address of 198.18.0.0/24');
    expect(reservedAddresses(sets, 6).size).toBe(0);
  });
});

describe('parseIpamConfig', () => {
  it('parses routes and dataDir', () => {
    const cfg = parseIpamConfig({
      type: 'strait',
      ranges: [[{ subnet: '198.18.0.0/24' }], [{ subnet: 'fd5a::/64' }]],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'FD5A::1' }],
      dataDir: '/run/strait-ipam',
    });
    expect(cfg.routes).toEqual([
      { family: 4, dst: '0.0.0.0/0' },
      { family: 6, dst: '::/0', gw: 'fd5a::1' },
    ]);
    expect(cfg.dataDir).toBe('/run/strait-ipam');
    expect(cfg.sets).toHaveLength(2);
  });

  it('rejects bad routes', () => {
    const base = { ranges: [[{ subnet: '198.18.0.0/24' }]] };
    const msg = (routes: unknown) => thrown(() => parseIpamConfig({ ...base, routes })).message;
    expect(msg([{ dst: '10.0.0.0/33' }])).toMatch(/ipam\.routes\[0\]\.dst "10\.0\.0\.0\/33" is not a CIDR/);
    expect(msg([{ dst: '10.1.2.3/8' }])).toMatch(/host bits set; the network for \/8 is 10\.0\.0\.0\/8/);
    expect(msg([{}])).toMatch(/dst is required/);
    expect(msg([{ dst: '0.0.0.0/0', gw: 'fd5a::1' }])).toMatch(/not of the same IP family/);
    expect(msg([{ dst: '0.0.0.0/0', gw: 'gw' }])).toMatch(/gw "gw" is not an IP address/);
    expect(msg([{ dst: '::/0' }])).toMatch(/no range set allocates IPv6/);
    expect(msg({})).toMatch(/must be a list/);
    expect(thrown(() => parseIpamConfig({ ...base, dataDir: 'rel' })).message).toMatch(/absolute/);
  });
});
