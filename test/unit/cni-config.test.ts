import { describe, expect, it } from 'vitest';
import { parseConfig, parseVersionRequest, runtimeConfigValue } from '../../src/cni/config.js';
import { NETWORK_NAME_MAX_BYTES, type CniCommand } from '../../src/cni/env.js';
import { CniCode, cniCodeOf } from '../../src/cni/errors.js';
import { thrown } from '../helpers/thrown.js';

const BASE = { cniVersion: '1.1.0', name: 'strait', type: 'strait', ipam: { type: 'strait', ranges: [[{ subnet: '10.1.0.0/24' }]] } };
const conf = (extra: Record<string, unknown> = {}, command: CniCommand = 'ADD', env: NodeJS.ProcessEnv = {}) =>
  parseConfig(JSON.stringify({ ...BASE, ...extra }), command, env);
const fail = (extra: Record<string, unknown>, command: CniCommand = 'ADD', env: NodeJS.ProcessEnv = {}) =>
  thrown(() => conf(extra, command, env));

describe('parseConfig: a minimal config', () => {
  it('fills defaults', () => {
    const c = conf();
    expect(c).toEqual({
      cniVersion: '1.1.0',
      name: 'strait',
      type: 'strait',
      ipam: { type: 'strait', raw: BASE.ipam },
      mtu: null,
      dns: null,
      paths: { stateDir: '/var/lib/strait', bpfDir: '/sys/fs/bpf/strait', agentSocket: null },
      agentTimeoutMs: null,
      logFile: null,
      logLevel: null,
      runtime: { ips: [], mac: null, raw: {} },
      prevResult: null,
      validAttachments: [],
      raw: BASE,
    });
  });
  it('takes agentTimeoutMs as a whole number of milliseconds in 1..600000', () => {
    expect(conf({ agentTimeoutMs: 2500 }).agentTimeoutMs).toBe(2500);
    expect(() => conf({ agentTimeoutMs: '2500' })).toThrow(/field 'agentTimeoutMs' must be an integer, got string/);
    expect(() => conf({ agentTimeoutMs: 0 })).toThrow(/must be in 1\.\.600000, got 0/);
    expect(() => conf({ agentTimeoutMs: 1.5 })).toThrow(/must be an integer/);
  });
  it('reads a Buffer as UTF-8', () => {
    expect(parseConfig(Buffer.from(JSON.stringify({ ...BASE, name: 'net-1' })), 'DEL', {}).name).toBe('net-1');
  });
  it('keeps the whole config in raw for delegated IPAM', () => {
    const c = conf({ args: { cni: { ips: ['10.1.0.9'] } }, capabilities: { ips: true } });
    expect(c.raw.args).toEqual({ cni: { ips: ['10.1.0.9'] } });
    expect(c.raw.capabilities).toEqual({ ips: true });
  });
  it('tolerates cniVersions, disableCheck, disableGC', () => {
    expect(conf({ cniVersions: ['1.0.0', '1.1.0'], disableCheck: true, disableGC: false }).name).toBe('strait');
  });
});

describe('parseConfig: decoding', () => {
  it('malformed JSON is code 6 with the parser message', () => {
    const e = thrown(() => parseConfig('{"cniVersion": "1.1.0",', 'ADD', {}));
    expect(cniCodeOf(e)).toBe(CniCode.DecodeFailure);
    expect(e.message).toMatch(/not valid JSON: .*JSON/);
  });
  it('empty stdin is code 6', () => {
    expect(cniCodeOf(thrown(() => parseConfig('', 'DEL', {})))).toBe(6);
  });
  it.each(['[]', '"x"', '1', 'null'])('%s is not an object: code 6', (s) => {
    const e = thrown(() => parseConfig(s, 'ADD', {}));
    expect(cniCodeOf(e)).toBe(6);
    expect(e.message).toContain('must be a JSON object');
  });
});

describe('parseConfig: cniVersion', () => {
  it('missing is code 7', () => {
    const { cniVersion: _v, ...rest } = BASE;
    const e = thrown(() => parseConfig(JSON.stringify(rest), 'ADD', {}));
    expect(cniCodeOf(e)).toBe(7);
    expect(e.message).toContain('cniVersion');
  });
  it('not a string is code 7', () => {
    expect(cniCodeOf(fail({ cniVersion: 1.1 }))).toBe(7);
  });
  it.each(['0.2.0', '0.1.0', '2.0.0', 'latest'])('unsupported %s is code 1', (v) => {
    const e = fail({ cniVersion: v });
    expect(cniCodeOf(e)).toBe(CniCode.IncompatibleVersion);
    expect(e.message).toContain(v);
  });
  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('accepts %s for ADD and DEL', (v) => {
    expect(conf({ cniVersion: v }).cniVersion).toBe(v);
    expect(conf({ cniVersion: v }, 'DEL').cniVersion).toBe(v);
  });
  it('CHECK under 0.3.1 is code 1', () => {
    const e = fail({ cniVersion: '0.3.1' }, 'CHECK');
    expect(cniCodeOf(e)).toBe(1);
    expect(e.message).toContain('config version 0.3.1 does not allow CHECK');
  });
  it.each(['STATUS', 'GC'] as const)('%s under 1.0.0 is code 1', (c) => {
    expect(fail({ cniVersion: '1.0.0', 'cni.dev/valid-attachments': [] }, c).message).toContain(`does not allow ${c}`);
  });
});

describe('parseConfig: unknown fields', () => {
  it('refuses one unknown key with code 2 naming it', () => {
    const e = fail({ bridge: 'cni0' });
    expect(cniCodeOf(e)).toBe(CniCode.UnsupportedField);
    expect(e.message).toContain("'bridge'");
  });
  it('names all unknown keys', () => {
    const e = fail({ bridge: 'cni0', isGateway: true });
    expect(cniCodeOf(e)).toBe(2);
    expect(e.message).toContain("'bridge', 'isGateway'");
  });
  it('is case-sensitive about top-level keys', () => {
    expect(cniCodeOf(fail({ MTU: 1500 }))).toBe(2);
  });
  it('ipMasq=true is code 2', () => {
    const e = fail({ ipMasq: true });
    expect(cniCodeOf(e)).toBe(2);
    expect(e.message).toBe('ipMasq is not supported by strait');
  });
  it('ipMasq=false is accepted', () => {
    expect(conf({ ipMasq: false }).name).toBe('strait');
  });
});

describe('parseConfig: field checks (code 7)', () => {
  it.each([
    [{ name: undefined }, "'name' is required"],
    [{ name: 5 }, "field 'name' must be a string, got number"],
    [{ name: '' }, 'invalid network name'],
    [{ name: '-net' }, 'invalid network name'],
    [{ name: 'my net' }, 'invalid network name'],
    [{ name: 'a/b' }, 'invalid network name'],
    [{ name: 'n'.repeat(NETWORK_NAME_MAX_BYTES + 1) }, `field 'name' is ${NETWORK_NAME_MAX_BYTES + 1} bytes long, at most ${NETWORK_NAME_MAX_BYTES} are allowed`],
    [{ type: undefined }, "'type' is required"],
    [{ type: ['strait'] }, "field 'type' must be a string, got array"],
    [{ type: '' }, 'must not be empty'],
    [{ ipam: undefined }, "'ipam' is required for ADD"],
    [{ ipam: 'strait' }, "field 'ipam' must be an object, got string"],
    [{ ipam: {} }, "'ipam.type' is required"],
    [{ ipam: { type: 1 } }, "field 'ipam.type' must be a string"],
    [{ mtu: '1500' }, "field 'mtu' must be an integer, got string"],
    [{ mtu: 1500.5 }, "field 'mtu' must be an integer"],
    [{ mtu: 67 }, '68..65535'],
    [{ mtu: 65536 }, '68..65535'],
    [{ stateDir: 'var/lib/strait' }, "field 'stateDir' must be an absolute path"],
    [{ stateDir: 1 }, "field 'stateDir' must be a string"],
    [{ bpfDir: './bpf' }, "field 'bpfDir' must be an absolute path"],
    [{ agentSocket: 'agent.sock' }, "field 'agentSocket' must be an absolute path"],
    [{ logFile: 'strait.log' }, "field 'logFile' must be an absolute path"],
    [{ logFile: false }, "field 'logFile' must be a string"],
    [{ logLevel: 'verbose' }, "field 'logLevel' must be one of"],
    [{ logLevel: 30 }, "field 'logLevel' must be a string"],
    [{ dns: 'x' }, 'dns must be an object'],
    [{ dns: { nameservers: ['10.0.0.10', 1] } }, 'dns.nameservers must be an array of strings'],
    [{ dns: { search: 'cluster.local' } }, 'dns.search must be an array of strings'],
    [{ args: [] }, "field 'args' must be an object, got array"],
    [{ capabilities: true }, "field 'capabilities' must be an object"],
    [{ runtimeConfig: 'x' }, "field 'runtimeConfig' must be an object"],
    [{ ipMasq: 'yes' }, "field 'ipMasq' must be a boolean"],
    [{ disableCheck: 'true' }, "field 'disableCheck' must be a boolean"],
    [{ prevResult: [] }, "field 'prevResult' must be an object"],
  ])('%j → %s', (extra, msg) => {
    const e = fail(extra);
    expect(cniCodeOf(e)).toBe(CniCode.InvalidNetworkConfig);
    expect(e.message).toContain(msg);
  });
  it.each(['DEL', 'CHECK', 'STATUS'] as const)('ipam is required for %s', (c) => {
    expect(cniCodeOf(fail({ ipam: undefined }, c))).toBe(7);
  });
  it('ipam is required for GC', () => {
    expect(fail({ ipam: undefined, 'cni.dev/valid-attachments': [] }, 'GC').message).toContain("'ipam' is required for GC");
  });
  it('accepts the mtu bounds', () => {
    expect(conf({ mtu: 68 }).mtu).toBe(68);
    expect(conf({ mtu: 65535 }).mtu).toBe(65535);
  });
  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('accepts logLevel %s', (l) => {
    expect(conf({ logLevel: l }).logLevel).toBe(l);
  });
  it('reads dns', () => {
    const dns = { nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['svc.cluster.local'], options: ['ndots:5'] };
    expect(conf({ dns }).dns).toEqual(dns);
  });
});

describe('parseConfig: paths', () => {
  const env = { STRAIT_STATE_DIR: '/tmp/n1/state', STRAIT_BPF_DIR: '/tmp/n1/bpf', STRAIT_AGENT_SOCKET: '/tmp/n1/agent.sock' };
  it('takes the env when the config is silent', () => {
    expect(conf({}, 'ADD', env).paths).toEqual({ stateDir: '/tmp/n1/state', bpfDir: '/tmp/n1/bpf', agentSocket: '/tmp/n1/agent.sock' });
  });
  it('the config wins over the env', () => {
    const c = conf({ stateDir: '/srv/state', bpfDir: '/srv/bpf', agentSocket: '/srv/a.sock', logFile: '/var/log/strait.log' }, 'ADD', env);
    expect(c.paths).toEqual({ stateDir: '/srv/state', bpfDir: '/srv/bpf', agentSocket: '/srv/a.sock' });
    expect(c.logFile).toBe('/var/log/strait.log');
  });
  it('an empty env value is unset', () => {
    expect(conf({}, 'ADD', { STRAIT_STATE_DIR: '' }).paths.stateDir).toBe('/var/lib/strait');
  });
  it('a relative env path is code 4', () => {
    const e = fail({}, 'ADD', { STRAIT_BPF_DIR: 'bpf' });
    expect(cniCodeOf(e)).toBe(CniCode.InvalidEnvironment);
    expect(e.message).toContain('STRAIT_BPF_DIR');
  });
  it('does not read process.env', () => {
    process.env.STRAIT_STATE_DIR = '/should/not/be/read';
    try {
      expect(conf().paths.stateDir).toBe('/var/lib/strait');
    } finally {
      delete process.env.STRAIT_STATE_DIR;
    }
  });
});

describe('parseConfig: runtimeConfig', () => {
  it.each(['ips', 'IPs', 'Ips', 'IPS'])('reads %s case-insensitively', (key) => {
    const c = conf({ runtimeConfig: { [key]: ['10.1.0.9/24', 'fd00::9'] } });
    expect(c.runtime.ips).toEqual(['10.1.0.9/24', 'fd00::9']);
  });
  it.each(['mac', 'Mac', 'MAC'])('reads %s case-insensitively', (key) => {
    expect(conf({ runtimeConfig: { [key]: '0a:58:0a:01:00:09' } }).runtime.mac).toBe('0a:58:0a:01:00:09');
  });
  it('keeps a MAC in lower case and refuses one no interface can have (code 7)', () => {
    expect(conf({ runtimeConfig: { Mac: '0A:58:0A:01:00:09' } }).runtime.mac).toBe('0a:58:0a:01:00:09');
    expect(fail({ runtimeConfig: { mac: 'ff:ff:ff:ff:ff:ff' } }).message).toBe("runtimeConfig.mac 'ff:ff:ff:ff:ff:ff' is a multicast address");
    expect(cniCodeOf(fail({ runtimeConfig: { mac: 'nope' } }))).toBe(7);
  });
  it('keeps the original runtimeConfig untouched', () => {
    const rc = {
      PortMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }],
      IPs: ['10.1.0.9'],
      Bandwidth: { IngressRate: 1000 },
    };
    const c = conf({ runtimeConfig: rc });
    expect(c.runtime.raw).toEqual(rc);
    expect(Object.keys(c.runtime.raw)).toEqual(['PortMappings', 'IPs', 'Bandwidth']);
    expect(c.runtime.ips).toEqual(['10.1.0.9']);
  });
  it('agreeing duplicate spellings are fine, conflicting ones are code 7', () => {
    expect(conf({ runtimeConfig: { ips: ['10.1.0.9'], IPs: ['10.1.0.9'] } }).runtime.ips).toEqual(['10.1.0.9']);
    const e = fail({ runtimeConfig: { ips: ['10.1.0.9'], IPs: ['10.1.0.8'] } });
    expect(cniCodeOf(e)).toBe(7);
    expect(e.message).toContain("'ips' and 'IPs'");
  });
  it('wrong types are code 7', () => {
    expect(fail({ runtimeConfig: { IPs: '10.1.0.9' } }).message).toContain('runtimeConfig.ips');
    expect(fail({ runtimeConfig: { mac: 1 } }).message).toContain('runtimeConfig.mac');
  });
  it('runtimeConfigValue finds other keys too', () => {
    expect(runtimeConfigValue({ PortMappings: [1] }, 'portMappings')).toEqual([1]);
    expect(runtimeConfigValue({}, 'portMappings')).toBeUndefined();
  });
});

describe('parseConfig: prevResult', () => {
  it('converts a 0.4.0 prevResult to the internal form', () => {
    const c = conf({
      cniVersion: '0.4.0',
      prevResult: {
        cniVersion: '0.4.0',
        interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/x' }],
        ips: [{ version: '4', address: '10.1.0.5/32', interface: 0 }],
      },
    }, 'CHECK');
    expect(c.prevResult).toEqual({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/x' }],
      ips: [{ address: '10.1.0.5/32', interface: 0 }],
    });
  });
  it('assumes the config version when prevResult has none', () => {
    expect(conf({ prevResult: { ips: [{ address: 'fd00::5/128' }] } }, 'DEL').prevResult?.cniVersion).toBe('1.1.0');
  });
  it('a broken prevResult is code 7 and says where', () => {
    const e = fail({ prevResult: { cniVersion: '1.1.0', ips: [{ address: 'nope' }] } }, 'DEL');
    expect(cniCodeOf(e)).toBe(7);
    expect(e.message).toContain('prevResult.ips[0].address');
  });
  it('null prevResult is no prevResult', () => {
    expect(conf({ prevResult: null }, 'DEL').prevResult).toBeNull();
  });
});

describe('parseConfig: GC attachments', () => {
  const list = [
    { containerID: 'c1', ifname: 'eth0' },
    { containerID: 'c2', ifname: 'net1', extra: true },
  ];
  const want = [
    { containerId: 'c1', ifname: 'eth0' },
    { containerId: 'c2', ifname: 'net1' },
  ];
  it('reads cni.dev/valid-attachments', () => {
    expect(conf({ 'cni.dev/valid-attachments': list }, 'GC').validAttachments).toEqual(want);
  });
  it('reads the older cni.dev/attachments', () => {
    expect(conf({ 'cni.dev/attachments': list }, 'GC').validAttachments).toEqual(want);
  });
  it('prefers valid-attachments when both are sent', () => {
    const c = conf({ 'cni.dev/valid-attachments': list, 'cni.dev/attachments': [list[0]] }, 'GC');
    expect(c.validAttachments).toEqual(want);
  });
  it('an empty list is an empty list', () => {
    expect(conf({ 'cni.dev/valid-attachments': [] }, 'GC').validAttachments).toEqual([]);
  });
  it('GC without any list is code 7 (it would otherwise release every lease)', () => {
    const e = fail({}, 'GC');
    expect(cniCodeOf(e)).toBe(7);
    expect(e.message).toContain('cni.dev/valid-attachments');
  });
  it('other commands default to an empty list', () => {
    expect(conf({}, 'STATUS').validAttachments).toEqual([]);
  });
  it.each([
    [{}, 'must be an array'],
    [['c1'], "[0]' must be an object"],
    [[{ ifname: 'eth0' }], '[0].containerID'],
    [[{ containerID: 'c1' }], '[0].ifname'],
    [[{ containerID: 'c1', ifname: 0 }], '[0].ifname'],
    [[{ containerID: '', ifname: 'eth0' }], '[0].containerID'],
  ])('wrong shape %j is code 7', (v, msg) => {
    const e = fail({ 'cni.dev/valid-attachments': v }, 'GC');
    expect(cniCodeOf(e)).toBe(7);
    expect(e.message).toContain(msg);
  });
  it('checks the older key too', () => {
    expect(fail({ 'cni.dev/valid-attachments': [], 'cni.dev/attachments': 'x' }, 'GC').message).toContain('cni.dev/attachments');
  });
});

describe('parseConfig: VERSION', () => {
  it('does not need ipam', () => {
    expect(conf({ ipam: undefined }, 'VERSION').ipam).toEqual({ type: '', raw: {} });
  });
});

describe('parseVersionRequest', () => {
  it('reads cniVersion alone', () => {
    expect(parseVersionRequest('{"cniVersion":"x"}')).toEqual({ cniVersion: 'x' });
  });
  it('reads it from a full config', () => {
    expect(parseVersionRequest(Buffer.from(JSON.stringify({ ...BASE, junk: 1 })))).toEqual({ cniVersion: '1.1.0' });
  });
  it.each(['', 'not json', '[]', '{"cniVersion":1}', 'null'])('never fails: %j', (s) => {
    expect(parseVersionRequest(s)).toEqual({ cniVersion: null });
  });
});
