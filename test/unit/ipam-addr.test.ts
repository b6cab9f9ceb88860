import { Address4, Address6 } from 'ip-address';
import { describe, expect, it } from 'vitest';
import { canonicalIp, formatIp, lastOf, networkOf, parseCidr, parseIp, withoutPrefix } from '../../src/ipam/addr.js';

describe('ipam addr', () => {
  it('fast IPv4 path agrees with ip-address both ways', () => {
    const samples = [0n, 1n, 255n, 256n, 0x7f000001n, 0xc6120000n, 0xffffffffn];
    let x = 0x9e3779b9n;
    for (let i = 0; i < 500; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
      samples.push(x >> 32n);
    }
    for (const v of samples) {
      const text = formatIp(4, v);
      expect(text).toBe(Address4.fromBigInt(v).correctForm());
      expect(parseIp(text)).toEqual({ family: 4, value: v });
    }
  });

  it('rejects malformed IPv4', () => {
    for (const bad of ['x', '1.2.3', '1.2.3.4.5', '1.2.3.256', '01.2.3.4', '1.2.3.4 ', '', '1..3.4', '+1.2.3.4', '1.2.3.0x1']) {
      expect(parseIp(bad), bad).toBeNull();
    }
  });

  it('parses and canonicalises IPv6 (RFC 5952), refusing zones', () => {
    expect(canonicalIp('FD5A:0000::0001')).toBe('fd5a::1');
    expect(canonicalIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(parseIp('fe80::1%eth0')).toBeNull();
    expect(parseIp('fd5a::/64')).toBeNull();
    expect(parseIp('fd5a:::1')).toBeNull();
    const v = new Address6('fd5a::abcd').bigInt();
    expect(formatIp(6, v)).toBe('fd5a::abcd');
  });

  it('requires an explicit, in-bounds, plain prefix in a CIDR', () => {
    expect(parseCidr('198.18.0.0/24')).toEqual({ family: 4, value: 0xc6120000n, prefixLen: 24 });
    expect(parseCidr('fd5a::/64')?.prefixLen).toBe(64);
    for (const bad of ['198.18.0.0', '198.18.0.0/33', '198.18.0.0/', '198.18.0.0/024', '198.18.0.0/-1', 'fd5a::/129', 'x/24']) {
      expect(parseCidr(bad), bad).toBeNull();
    }
  });

  it('computes network and last address', () => {
    expect(formatIp(4, networkOf(4, 0xc6120085n, 25))).toBe('198.18.0.128');
    expect(formatIp(4, lastOf(4, 0xc6120085n, 25))).toBe('198.18.0.255');
    expect(formatIp(6, lastOf(6, new Address6('fd5a::1').bigInt(), 120))).toBe('fd5a::ff');
    expect(withoutPrefix('198.18.0.9/24')).toBe('198.18.0.9');
  });
});
