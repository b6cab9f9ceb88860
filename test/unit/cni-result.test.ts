import { describe, expect, it } from 'vitest';
import { CniCode, cniCodeOf } from '../../src/cni/errors.js';
import { ipFamily } from '../../src/ipam/addr.js';
import { fromAnyVersion, parseResult, toVersion, type Result } from '../../src/cni/result.js';
import {
  assertCommandAllowed,
  assertSupported,
  commandAllowed,
  compareVersions,
  SUPPORTED_VERSIONS,
  versionReply,
} from '../../src/cni/version.js';
import { thrown } from '../helpers/thrown.js';

/** Everything 1.1.0 can say, dual-stack. */
const FULL: Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'lxc1a2b3c', mac: '0a:58:0a:01:00:01', mtu: 1500 },
    { name: 'eth0', mac: '0a:58:0a:01:00:05', mtu: 1500, sandbox: '/var/run/netns/cni-1', socketPath: '/run/s.sock', pciID: '0000:00:1f.6' },
  ],
  ips: [
    { address: '10.1.0.5/32', gateway: '169.254.1.1', interface: 1 },
    { address: 'fd00:1::5/128', gateway: 'fe80::1', interface: 1 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '169.254.1.1', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 },
    { dst: '::/0', gw: 'fe80::1' },
  ],
  dns: { nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['default.svc.cluster.local'], options: ['ndots:5'] },
};

const LEGACY_SHAPE = (v: string) => ({
  cniVersion: v,
  interfaces: [
    { name: 'lxc1a2b3c', mac: '0a:58:0a:01:00:01' },
    { name: 'eth0', mac: '0a:58:0a:01:00:05', sandbox: '/var/run/netns/cni-1' },
  ],
  ips: [
    { version: '4', address: '10.1.0.5/32', gateway: '169.254.1.1', interface: 1 },
    { version: '6', address: 'fd00:1::5/128', gateway: 'fe80::1', interface: 1 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '169.254.1.1' },
    { dst: '::/0', gw: 'fe80::1' },
  ],
  dns: FULL.dns,
});

describe('version', () => {
  it('lists the supported versions, 1.1.0 current', () => {
    expect(versionReply()).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });
  it('versionReply does not hand out the module constant', () => {
    versionReply().supportedVersions.pop();
    expect(versionReply().supportedVersions).toHaveLength(5);
  });
  it('compares numerically, not as text', () => {
    expect(compareVersions('0.10.0', '0.4.0')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
    expect(compareVersions('0.3.1', '0.4.0')).toBeLessThan(0);
    expect(compareVersions('1.1.0', '1.0.9')).toBeGreaterThan(0);
  });
  it('refuses malformed versions in compare with code 1', () => {
    expect(cniCodeOf(thrown(() => compareVersions('1.0', '1.0.0')))).toBe(1);
    expect(thrown(() => compareVersions('1.0.0', 'v1.0.0')).message).toContain('v1.0.0');
  });
  it.each(['0.1.0', '0.2.0', '1.2.0', '2.0.0', '', '1.0'])('assertSupported refuses %j with code 1 naming it and the supported ones', (v) => {
    const e = thrown(() => assertSupported(v));
    expect(cniCodeOf(e)).toBe(CniCode.IncompatibleVersion);
    expect(e.message).toContain(`'${v}'`);
    expect(e.message).toContain('0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
  });
  it('assertSupported refuses non-strings', () => {
    expect(cniCodeOf(thrown(() => assertSupported(1)))).toBe(1);
  });
  it.each(SUPPORTED_VERSIONS)('allows ADD, DEL and VERSION under %s', (v) => {
    for (const c of ['ADD', 'DEL', 'VERSION'] as const) expect(commandAllowed(v, c)).toBe(true);
  });
  it('CHECK needs 0.4.0', () => {
    expect(commandAllowed('0.3.1', 'CHECK')).toBe(false);
    expect(commandAllowed('0.4.0', 'CHECK')).toBe(true);
    const e = thrown(() => assertCommandAllowed('0.3.1', 'CHECK'));
    expect(cniCodeOf(e)).toBe(1);
    expect(e.message).toContain('config version 0.3.1 does not allow CHECK');
  });
  it.each(['STATUS', 'GC'] as const)('%s needs 1.1.0', (c) => {
    expect(commandAllowed('1.0.0', c)).toBe(false);
    expect(commandAllowed('1.1.0', c)).toBe(true);
    expect(thrown(() => assertCommandAllowed('1.0.0', c)).message).toContain(`config version 1.0.0 does not allow ${c}`);
  });
});

describe('ipFamily', () => {
  it.each([
    ['10.0.0.1', 4],
    ['10.0.0.0/8', 4],
    ['fd00::1', 6],
    ['::/0', 6],
    ['::ffff:10.0.0.1', 6],
  ] as const)('%s is IPv%i', (s, f) => expect(ipFamily(s)).toBe(f));
});

describe('toVersion', () => {
  it('1.1.0 keeps every field', () => {
    expect(toVersion(FULL, '1.1.0')).toEqual(FULL);
  });
  it('1.0.0 drops the 1.1.0-only fields and adds no version', () => {
    const out = toVersion(FULL, '1.0.0');
    expect(out).toEqual({
      ...LEGACY_SHAPE('1.0.0'),
      ips: FULL.ips, // no `version`
    });
    expect(out.ips?.[0]).not.toHaveProperty('version');
    expect(out.routes?.[0]).toEqual({ dst: '0.0.0.0/0', gw: '169.254.1.1' });
    expect(out.interfaces?.[1]).not.toHaveProperty('pciID');
  });
  it.each(['0.3.0', '0.3.1', '0.4.0'])('%s adds version on every ip and drops 1.1.0 fields', (v) => {
    expect(toVersion(FULL, v)).toEqual(LEGACY_SHAPE(v));
  });
  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('%s output is exactly serialisable (no undefined keys)', (v) => {
    const out = toVersion({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.1/24' }] }, v);
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
    expect(Object.keys(out)).toEqual(['cniVersion', 'ips']);
    expect(Object.keys(out.ips?.[0] ?? {})).toEqual(v.startsWith('0.') ? ['version', 'address'] : ['address']);
  });
  it('always sets cniVersion to the target', () => {
    expect(toVersion({ cniVersion: '0.3.1' }, '1.1.0')).toEqual({ cniVersion: '1.1.0' });
  });
  it('refuses an unsupported target with code 1', () => {
    expect(cniCodeOf(thrown(() => toVersion(FULL, '0.2.0')))).toBe(1);
  });
  it('does not alias or mutate its input', () => {
    const before = structuredClone(FULL);
    const out = toVersion(FULL, '1.1.0');
    out.ips?.push({ address: '10.9.9.9/32' });
    out.dns?.nameservers?.push('1.1.1.1');
    out.interfaces![0]!.name = 'changed';
    expect(FULL).toEqual(before);
  });
});

describe('fromAnyVersion', () => {
  it.each(['0.3.0', '0.3.1', '0.4.0'])('reads %s and drops version', (v) => {
    const r = fromAnyVersion(LEGACY_SHAPE(v));
    expect(r.cniVersion).toBe(v);
    expect(r.ips).toEqual(FULL.ips);
    expect(r.ips?.[0]).not.toHaveProperty('version');
  });
  it.each(SUPPORTED_VERSIONS)('round-trips through %s', (v) => {
    const back = fromAnyVersion(JSON.parse(JSON.stringify(toVersion(FULL, v))));
    expect(back.cniVersion).toBe(v);
    expect(toVersion(back, v)).toEqual(toVersion(FULL, v));
    expect(toVersion(back, '1.1.0').ips).toEqual(FULL.ips);
  });
  it('reads 1.1.0 with every field', () => {
    expect(fromAnyVersion(JSON.parse(JSON.stringify(FULL)))).toEqual(FULL);
  });
  it('drops fields no version defines', () => {
    const r = fromAnyVersion({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/24', extra: 1 }], foo: 'bar' });
    expect(r).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/24' }] });
  });
  it('takes the fallback version when none is declared', () => {
    expect(fromAnyVersion({ ips: [] }, { fallbackVersion: '0.4.0' }).cniVersion).toBe('0.4.0');
  });
  it('treats null optional fields as absent', () => {
    expect(fromAnyVersion({ cniVersion: '1.0.0', dns: null, routes: null, ips: [{ address: '10.0.0.1/8', gateway: null }] })).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.0.0.1/8' }],
    });
  });
  it('accepts an IPAM result (no interfaces, no interface index)', () => {
    const r = fromAnyVersion({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }], routes: [{ dst: '0.0.0.0/0' }] });
    expect(r.interfaces).toBeUndefined();
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0' }]);
  });

  describe('garbage', () => {
    it.each([null, 'x', 1, [], true])('%j is code 6', (g) => {
      expect(cniCodeOf(thrown(() => fromAnyVersion(g)))).toBe(CniCode.DecodeFailure);
    });
    it('missing cniVersion without fallback is code 7', () => {
      expect(cniCodeOf(thrown(() => fromAnyVersion({ ips: [] })))).toBe(7);
    });
    it('non-string cniVersion is code 7', () => {
      expect(cniCodeOf(thrown(() => fromAnyVersion({ cniVersion: 1 })))).toBe(7);
    });
    it('an 0.2.0 result is code 1', () => {
      expect(cniCodeOf(thrown(() => fromAnyVersion({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.1/24' } })))).toBe(1);
    });
    it('an unsupported version names where it was found (fuzz: prevResult)', () => {
      const e = thrown(() => fromAnyVersion({ cniVersion: '0.2.0' }, { what: 'prevResult' }));
      expect(cniCodeOf(e)).toBe(1);
      expect(e.message).toBe("prevResult.cniVersion: incompatible CNI version '0.2.0': strait supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
    });
    it.each([
      [{ ips: {} }, 'result.ips must be an array'],
      [{ ips: ['10.0.0.1/24'] }, 'result.ips[0] must be an object'],
      [{ ips: [{}] }, 'result.ips[0].address is required'],
      [{ ips: [{ address: '10.0.0.1' }] }, 'CIDR'],
      [{ ips: [{ address: '10.0.0.1/33' }] }, 'CIDR'],
      [{ ips: [{ address: 'fd00::1/129' }] }, 'CIDR'],
      [{ ips: [{ address: '10.0.0.256/24' }] }, 'CIDR'],
      [{ ips: [{ address: '10.0.0.1/24/1' }] }, 'CIDR'],
      [{ ips: [{ address: '10.0.0.1/24', gateway: 'nope' }] }, 'result.ips[0].gateway'],
      [{ ips: [{ address: '10.0.0.1/24', interface: -1 }] }, 'result.ips[0].interface'],
      [{ ips: [{ address: '10.0.0.1/24', interface: 1.5 }] }, 'result.ips[0].interface'],
      [{ interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.1/24', interface: 1 }] }, 'result.ips[0].interface'],
      [{ interfaces: [{}] }, 'result.interfaces[0].name is required'],
      [{ interfaces: [{ name: '' }] }, 'must not be empty'],
      [{ interfaces: [{ name: 'eth0', mac: 5 }] }, 'result.interfaces[0].mac must be a string'],
      [{ interfaces: [{ name: 'eth0', mtu: '1500' }] }, 'result.interfaces[0].mtu'],
      [{ routes: [{ gw: '10.0.0.1' }] }, 'result.routes[0].dst is required'],
      [{ routes: [{ dst: 'default' }] }, 'result.routes[0].dst'],
      [{ routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1/24' }] }, 'result.routes[0].gw'],
      [{ routes: [{ dst: '0.0.0.0/0', scope: 256 }] }, 'result.routes[0].scope'],
      [{ routes: [{ dst: '0.0.0.0/0', table: 'main' }] }, 'result.routes[0].table'],
      [{ dns: [] }, 'result.dns must be an object'],
      [{ dns: { nameservers: '10.0.0.10' } }, 'result.dns.nameservers must be an array of strings'],
      [{ dns: { domain: 1 } }, 'result.dns.domain must be a string'],
    ])('%j → code 7 (%s)', (body, msg) => {
      const e = thrown(() => fromAnyVersion({ cniVersion: '1.1.0', ...body }));
      expect(cniCodeOf(e)).toBe(CniCode.InvalidNetworkConfig);
      expect(e.message).toContain(msg);
    });
    it('refuses a legacy version field that disagrees with the address', () => {
      const e = thrown(() => fromAnyVersion({ cniVersion: '0.4.0', ips: [{ version: '6', address: '10.0.0.1/24' }] }));
      expect(cniCodeOf(e)).toBe(7);
      expect(e.message).toContain("version '6'");
    });
    it('refuses a legacy version field that is not 4 or 6', () => {
      expect(cniCodeOf(thrown(() => fromAnyVersion({ cniVersion: '0.3.1', ips: [{ version: 4, address: '10.0.0.1/24' }] })))).toBe(7);
    });
    it('names the place with `what`', () => {
      const e = thrown(() => fromAnyVersion({ cniVersion: '1.0.0', ips: [{}] }, { what: 'prevResult' }));
      expect(e.message).toBe('prevResult.ips[0].address is required');
    });
  });
});

describe('parseResult', () => {
  it('parses a delegated plugin stdout from a Buffer', () => {
    const out = Buffer.from(JSON.stringify({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.1.0.7/24', gateway: '10.1.0.1' }] }));
    expect(parseResult(out)).toEqual({ cniVersion: '0.4.0', ips: [{ address: '10.1.0.7/24', gateway: '10.1.0.1' }] });
  });
  it('refuses non-JSON with code 6 and the parser message', () => {
    const e = thrown(() => parseResult('{"cniVersion":'));
    expect(cniCodeOf(e)).toBe(6);
    expect(e.message).toMatch(/not valid JSON: .+/);
  });
  it('refuses empty output with code 6', () => {
    expect(cniCodeOf(thrown(() => parseResult('')))).toBe(6);
  });
});
