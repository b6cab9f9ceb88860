// The TS half of the netlink boundary: everything is checked and converted here,
// before C++ sees it, so these need neither root nor the built addon.
import { describe, expect, it } from 'vitest';

import { formatIpBytes, formatMac, ipBytes, macBytes, prefixLen } from '../../src/datapath/addr-bytes.js';
import {
  addrGenModeName,
  alias,
  ifName,
  InvalidArgError,
  mtu,
  netnsPath,
  routeFilter,
  routeProtocol,
  routeSpec,
  scopeName,
  vxlanSpec,
} from '../../src/datapath/netlink-args.js';
import { flock } from '../../src/datapath/flock.js';
import { Netlink } from '../../src/datapath/netlink.js';

const invalid = (f: () => unknown) => {
  expect(f).toThrow(InvalidArgError);
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TypeError);
    expect((e as { code?: string }).code).toBe('ERR_INVALID_ARG');
  }
};

describe('ifName', () => {
  it('accepts 1..15 bytes', () => {
    expect(ifName('eth0')).toBe('eth0');
    expect(ifName('a'.repeat(15))).toBe('a'.repeat(15));
  });
  it.each(['', 'a'.repeat(16), 'a/b', 'a:b', 'a b', 'a\tb', '.', '..', 'ü'.repeat(8)])('rejects %j', (n) => {
    invalid(() => ifName(n));
  });
  it('rejects non-strings', () => invalid(() => ifName(3)));
});

describe('ipBytes / formatIpBytes', () => {
  it('converts IPv4', () => {
    expect(ipBytes('198.18.0.10')).toEqual({ family: 4, bytes: Uint8Array.from([198, 18, 0, 10]) });
  });
  it('converts IPv6 to exactly 16 bytes, leading zeros included', () => {
    const { family, bytes } = ipBytes('::1');
    expect(family).toBe(6);
    expect(bytes).toHaveLength(16);
    expect(bytes[15]).toBe(1);
    expect(ipBytes('FD5A::10').bytes.slice(0, 2)).toEqual(Uint8Array.from([0xfd, 0x5a]));
  });
  it.each(['198.18.0.10/32', 'fe80::1%eth0', '01.2.3.4', '1.2.3', '1::2::3', 'host', '', ' 1.2.3.4'])(
    'rejects %j',
    (a) => invalid(() => ipBytes(a)),
  );
  it('formats what the kernel returns, IPv6 compressed and lower case', () => {
    expect(formatIpBytes(Uint8Array.from([169, 254, 1, 1]))).toBe('169.254.1.1');
    expect(formatIpBytes(ipBytes('FD5A:0:0::0010').bytes)).toBe('fd5a::10');
    expect(formatIpBytes(new Uint8Array(16))).toBe('::');
    expect(() => formatIpBytes(new Uint8Array(5))).toThrow(RangeError);
  });
  it('writes IPv4 directly, the same text ipBytes reads back, at both ends of the range', () => {
    expect(formatIpBytes(new Uint8Array(4))).toBe('0.0.0.0');
    expect(formatIpBytes(Uint8Array.from([255, 255, 255, 255]))).toBe('255.255.255.255');
    for (const text of ['10.0.0.1', '198.18.100.7', '1.2.3.4', '203.0.113.250']) expect(formatIpBytes(ipBytes(text).bytes)).toBe(text);
  });
});

describe('prefixLen, mtu, alias, netnsPath', () => {
  it('bounds prefixes by family', () => {
    expect(prefixLen(32, 4)).toBe(32);
    expect(prefixLen(128, 6)).toBe(128);
    invalid(() => prefixLen(33, 4));
    invalid(() => prefixLen(-1, 6));
    invalid(() => prefixLen(1.5, 6));
  });
  it('bounds mtu', () => {
    expect(mtu(1400)).toBe(1400);
    invalid(() => mtu(0));
    invalid(() => mtu(70000));
  });
  it('bounds alias and netns paths', () => {
    expect(alias('strait:test')).toBe('strait:test');
    invalid(() => alias('x'.repeat(256)));
    invalid(() => netnsPath(''));
    invalid(() => netnsPath('/run/netns/a\0b'));
  });
});

describe('macBytes / formatMac', () => {
  it('round-trips, formatting lower case', () => {
    const b = macBytes('AA:bb:0c:dd:ee:0F');
    expect(b).toEqual(Uint8Array.from([0xaa, 0xbb, 0x0c, 0xdd, 0xee, 0x0f]));
    expect(formatMac(b)).toBe('aa:bb:0c:dd:ee:0f');
  });
  it.each(['aa:bb:cc:dd:ee', 'aa-bb-cc-dd-ee-ff', 'aabb.ccdd.eeff', 'gg:bb:cc:dd:ee:ff', ''])('rejects %j', (m) =>
    invalid(() => macBytes(m)),
  );
});

describe('routeSpec', () => {
  it('takes the family from dst, gateway or the explicit field', () => {
    expect(routeSpec({ dst: '169.254.1.1', prefixLen: 32, ifname: 'eth0', scope: 'link' })).toEqual({
      family: 4,
      dst: Uint8Array.from([169, 254, 1, 1]),
      prefixLen: 32,
      gateway: null,
      ifname: 'eth0',
      scope: 253,
      onlink: false,
      protocol: null,
    });
    expect(routeSpec({ dst: null, prefixLen: 0, gateway: 'fe80::1', ifname: 'eth0' })).toMatchObject({
      family: 6,
      dst: null,
      scope: null,
    });
    expect(routeSpec({ dst: null, prefixLen: 0, ifname: 'eth0', family: 4, onlink: true })).toMatchObject({
      family: 4,
      onlink: true,
    });
  });
  it('needs a family for a default route without gateway', () => {
    invalid(() => routeSpec({ dst: null, prefixLen: 0, ifname: 'eth0' }));
  });
  it('rejects mixed families', () => {
    invalid(() => routeSpec({ dst: null, prefixLen: 0, gateway: 'fe80::1', ifname: 'eth0', family: 4 }));
    invalid(() => routeSpec({ dst: '10.0.0.0', prefixLen: 8, gateway: 'fe80::1', ifname: 'eth0' }));
  });
  it('rejects a default route with a prefix and a dst with host bits', () => {
    invalid(() => routeSpec({ dst: null, prefixLen: 8, gateway: '10.0.0.1', ifname: 'eth0' }));
    invalid(() => routeSpec({ dst: '10.0.0.1', prefixLen: 24, ifname: 'eth0' }));
    invalid(() => routeSpec({ dst: 'fd5a::1', prefixLen: 64, ifname: 'eth0' }));
    expect(routeSpec({ dst: '10.0.0.0', prefixLen: 24, ifname: 'eth0' }).prefixLen).toBe(24);
    expect(routeSpec({ dst: '10.128.0.0', prefixLen: 9, ifname: 'eth0' }).prefixLen).toBe(9);
  });
  it('rejects unknown scopes and bad interface names', () => {
    invalid(() => routeSpec({ dst: null, prefixLen: 0, gateway: '10.0.0.1', ifname: 'eth0', scope: 'host' as 'link' }));
    invalid(() => routeSpec({ dst: null, prefixLen: 0, gateway: '10.0.0.1', ifname: 'eth0:1' }));
  });
});

describe('route protocols', () => {
  it('passes a protocol through; absent is null (static on add, any on delete)', () => {
    expect(routeSpec({ dst: '198.18.102.0', prefixLen: 24, gateway: '198.18.0.12', ifname: 'eth0', protocol: 200 })).toMatchObject({
      family: 4,
      gateway: Uint8Array.from([198, 18, 0, 12]),
      protocol: 200,
    });
    expect(routeSpec({ dst: 'fd5a:1ab:2::', prefixLen: 64, ifname: 'strait_vxlan' }).protocol).toBeNull();
  });
  it.each([0, 256, -1, 1.5, '200', null, Number.NaN])('rejects protocol %j', (p) => {
    invalid(() => routeProtocol(p));
    invalid(() => routeSpec({ dst: '10.0.0.0', prefixLen: 8, ifname: 'eth0', protocol: p as number }));
  });
  it('accepts 1..255', () => {
    expect([1, 4, 200, 255].map((p) => routeProtocol(p))).toEqual([1, 4, 200, 255]);
  });
});

describe('routeFilter', () => {
  it('takes an interface name, or an object with an interface and/or a protocol', () => {
    expect(routeFilter(undefined)).toEqual({ ifname: null, protocol: null });
    expect(routeFilter('eth0')).toEqual({ ifname: 'eth0', protocol: null });
    expect(routeFilter({ protocol: 200 })).toEqual({ ifname: null, protocol: 200 });
    expect(routeFilter({ ifname: 'eth0', protocol: 4 })).toEqual({ ifname: 'eth0', protocol: 4 });
  });
  it('rejects bad filters', () => {
    invalid(() => routeFilter({ protocol: 0 }));
    invalid(() => routeFilter({ ifname: 'a/b' }));
    invalid(() => routeFilter(null as unknown as string));
    invalid(() => routeFilter({ ifname: 'eth0', table: 254 } as unknown as { ifname: string }));
  });
});

describe('vxlanSpec', () => {
  it('checks name, UDP port and MTU', () => {
    expect(vxlanSpec({ name: 'strait_vxlan', port: 8472, mtu: 1450 })).toEqual({ name: 'strait_vxlan', port: 8472, mtu: 1450 });
    expect(vxlanSpec({ name: 'v', port: 1, mtu: 68 }).port).toBe(1);
    expect(vxlanSpec({ name: 'v', port: 65535, mtu: 65535 }).port).toBe(65535);
  });
  it.each([
    { name: 'strait_vxlan_too_long', port: 8472, mtu: 1450 },
    { name: 'a:b', port: 8472, mtu: 1450 },
    { name: 'v', port: 0, mtu: 1450 },
    { name: 'v', port: 65536, mtu: 1450 },
    { name: 'v', port: 84.72, mtu: 1450 },
    { name: 'v', port: '8472', mtu: 1450 },
    { name: 'v', port: 8472, mtu: 67 },
    { name: 'v', port: 8472 },
  ])('rejects %j', (v) => invalid(() => vxlanSpec(v as unknown as { name: string; port: number; mtu: number })));
  it('rejects a non-object', () => invalid(() => vxlanSpec(null as unknown as { name: string; port: number; mtu: number })));
});

describe('addrGenModeName', () => {
  it('names the IN6_ADDR_GEN_MODE_* values and passes unknown ones and null through', () => {
    expect([0, 1, 2, 3, 9, null].map(addrGenModeName)).toEqual(['eui64', 'none', 'stable-privacy', 'random', 9, null]);
  });
});

describe('scopeName', () => {
  it('names the common scopes and passes others through', () => {
    expect([0, 253, 254, 200].map(scopeName)).toEqual(['universe', 'link', 'host', 200]);
  });
});

describe('wrapper validates before loading or calling the addon', () => {
  it('Netlink.open rejects a bad path', () => invalid(() => Netlink.open('')));
  it('setLinkMtu, createVxlan and listRoutes reject bad arguments first', () => {
    // No handle exists without the addon; the prototype's checks run before `this.handle` is read.
    const nl = Object.create(Netlink.prototype) as Netlink;
    invalid(() => nl.setLinkMtu('eth0', 0));
    invalid(() => nl.setLinkMtu('', 1500));
    invalid(() => nl.createVxlan({ name: 'strait_vxlan', port: 0, mtu: 1450 }));
    invalid(() => nl.listRoutes(4, { protocol: 300 }));
    invalid(() => nl.listAddresses('a b'));
    invalid(() => nl.addRoute({ dst: '10.0.0.0', prefixLen: 8, ifname: 'eth0', protocol: 0 }));
    invalid(() => nl.replaceRoute({ dst: '10.0.0.0', prefixLen: 8, ifname: 'eth0', protocol: 256 }));
  });
  it('flock rejects bad arguments', () => {
    invalid(() => flock(-1, 'exclusive', false));
    invalid(() => flock(3, 'both' as 'shared', false));
  });
});
