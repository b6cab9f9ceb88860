import { describe, expect, it } from 'vitest';
import { CONTAINER_ID_MAX_BYTES, NETWORK_NAME_MAX_BYTES, parseCniArgs, parseEnv, ifnameProblem } from '../../src/cni/env.js';
import { ownerAlias } from '../../src/state/host-veth.js';
import { alias as checkAlias } from '../../src/datapath/netlink-args.js';
import { CniCode, cniCodeOf } from '../../src/cni/errors.js';
import { thrown } from '../helpers/thrown.js';

const ADD = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'default-c1',
  CNI_NETNS: '/var/run/netns/cni-1234',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin::/usr/lib/cni:',
};

/** The StraitError thrown by fn (fails the test if nothing or something else is thrown). */
describe('parseEnv: command', () => {
  it('reports a missing CNI_COMMAND with code 4', () => {
    const e = thrown(() => parseEnv({}));
    expect(cniCodeOf(e)).toBe(CniCode.InvalidEnvironment);
    expect(e.message).toBe('required env variables [CNI_COMMAND] missing');
  });
  it('treats an empty CNI_COMMAND as missing', () => {
    expect(thrown(() => parseEnv({ CNI_COMMAND: '' })).message).toContain('[CNI_COMMAND]');
  });
  it('refuses an unknown command with code 4, naming it', () => {
    const e = thrown(() => parseEnv({ ...ADD, CNI_COMMAND: 'INIT' }));
    expect(cniCodeOf(e)).toBe(4);
    expect(e.message).toContain("'INIT'");
  });
  it('is case-sensitive about the command', () => {
    expect(cniCodeOf(thrown(() => parseEnv({ ...ADD, CNI_COMMAND: 'add' })))).toBe(4);
  });
});

describe('parseEnv: ADD / CHECK / DEL', () => {
  it('parses a full ADD', () => {
    expect(parseEnv(ADD)).toEqual({
      command: 'ADD',
      containerId: 'default-c1',
      netns: '/var/run/netns/cni-1234',
      ifname: 'eth0',
      path: ['/opt/cni/bin', '/usr/lib/cni'],
      args: { ips: [], k8s: {}, raw: {} },
    });
  });
  it('reports every missing variable of ADD in one message, in order', () => {
    const e = thrown(() => parseEnv({ CNI_COMMAND: 'ADD' }));
    expect(cniCodeOf(e)).toBe(4);
    expect(e.message).toBe('required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing');
  });
  it('counts empty values as missing', () => {
    const e = thrown(() => parseEnv({ ...ADD, CNI_NETNS: '', CNI_PATH: '' }));
    expect(e.message).toBe('required env variables [CNI_NETNS,CNI_PATH] missing');
  });
  it('CHECK needs the same variables as ADD', () => {
    const e = thrown(() => parseEnv({ CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'x' }));
    expect(e.message).toBe('required env variables [CNI_NETNS,CNI_IFNAME,CNI_PATH] missing');
    expect(parseEnv({ ...ADD, CNI_COMMAND: 'CHECK' }).command).toBe('CHECK');
  });
  it('accepts DEL with an empty CNI_NETNS (containerd second DEL)', () => {
    const env = parseEnv({ ...ADD, CNI_COMMAND: 'DEL', CNI_NETNS: '' });
    expect(env.command).toBe('DEL');
    expect(env.netns).toBeUndefined();
    expect('netns' in env).toBe(false);
    expect(env.containerId).toBe('default-c1');
  });
  it('accepts DEL without CNI_NETNS at all', () => {
    const { CNI_NETNS: _omit, ...rest } = ADD;
    expect(parseEnv({ ...rest, CNI_COMMAND: 'DEL' }).netns).toBeUndefined();
  });
  it('keeps the netns on DEL when given', () => {
    expect(parseEnv({ ...ADD, CNI_COMMAND: 'DEL' }).netns).toBe('/var/run/netns/cni-1234');
  });
  it('DEL still needs container ID, ifname and path', () => {
    const e = thrown(() => parseEnv({ CNI_COMMAND: 'DEL' }));
    expect(e.message).toBe('required env variables [CNI_CONTAINERID,CNI_IFNAME,CNI_PATH] missing');
  });
  it('refuses a relative netns path with code 4', () => {
    const e = thrown(() => parseEnv({ ...ADD, CNI_NETNS: 'netns/x' }));
    expect(cniCodeOf(e)).toBe(4);
    expect(e.message).toContain('absolute');
  });
  it('refuses a relative netns path on DEL too', () => {
    expect(cniCodeOf(thrown(() => parseEnv({ ...ADD, CNI_COMMAND: 'DEL', CNI_NETNS: 'dummy' })))).toBe(4);
  });
  it.each(['default-c1', 'a', '0', 'A_b.c-d', 'f'.repeat(64)])('accepts container ID %s', (id) => {
    expect(parseEnv({ ...ADD, CNI_CONTAINERID: id }).containerId).toBe(id);
  });
  it.each(['-abc', '_abc', '.abc', 'a b', 'a/b', 'a:b', 'é'])('refuses container ID %j', (id) => {
    const e = thrown(() => parseEnv({ ...ADD, CNI_CONTAINERID: id }));
    expect(cniCodeOf(e)).toBe(4);
    expect(e.message).toContain('invalid characters in containerID');
  });
  // libcni checks only the characters; the length limit is ours: the ID goes into the
  // host veth's alias (IFALIASZ) and into file names (NAME_MAX), and a longer one
  // used to fail deep inside ADD with code 100.
  it(`accepts a container ID of ${CONTAINER_ID_MAX_BYTES} bytes`, () => {
    const id = 'c'.repeat(CONTAINER_ID_MAX_BYTES);
    expect(parseEnv({ ...ADD, CNI_CONTAINERID: id }).containerId).toBe(id);
  });
  it.each(['ADD', 'CHECK', 'DEL'])('refuses a longer container ID on %s with code 4, naming the limit', (cmd) => {
    const id = 'c'.repeat(CONTAINER_ID_MAX_BYTES + 1);
    const e = thrown(() => parseEnv({ ...ADD, CNI_COMMAND: cmd, CNI_CONTAINERID: id }));
    expect(cniCodeOf(e)).toBe(4);
    expect(e.message).toBe(`CNI_CONTAINERID is ${CONTAINER_ID_MAX_BYTES + 1} bytes long, at most ${CONTAINER_ID_MAX_BYTES} are allowed`);
  });
  it('the longest network name, container ID and interface name still fit the host veth alias', () => {
    const owner = { network: 'n'.repeat(NETWORK_NAME_MAX_BYTES), containerId: 'c'.repeat(CONTAINER_ID_MAX_BYTES), ifname: 'e'.repeat(15) };
    expect(checkAlias(ownerAlias(owner))).toBe(ownerAlias(owner));
  });
  it('splits CNI_PATH on colons dropping empties', () => {
    expect(parseEnv({ ...ADD, CNI_PATH: ':/a:/b::/c:' }).path).toEqual(['/a', '/b', '/c']);
  });
});

describe('parseEnv: interface name', () => {
  it.each(['eth0', 'net1', 'a', 'x'.repeat(15), 'eth0.100', 'veth-ab_c'])('accepts %s', (n) => {
    expect(parseEnv({ ...ADD, CNI_IFNAME: n }).ifname).toBe(n);
  });
  it.each([
    ['x'.repeat(16), 'at most 15'],
    ['éééééééé', 'at most 15'], // 8 characters but 16 bytes
    ['.', "must not be '.'"],
    ['..', "must not be '..'"],
    ['a/b', "'/'"],
    ['a:b', "':'"],
    ['a b', 'whitespace'],
    ['a\tb', 'whitespace'],
    ['eth0\n', 'whitespace'],
  ])('refuses %j with the reason', (n, reason) => {
    const e = thrown(() => parseEnv({ ...ADD, CNI_IFNAME: n }));
    expect(cniCodeOf(e)).toBe(4);
    expect(e.message).toContain(reason);
  });
  it('ifnameProblem names emptiness', () => {
    expect(ifnameProblem('')).toContain('empty');
    expect(ifnameProblem('eth0')).toBeNull();
  });
});

describe('parseEnv: VERSION, STATUS, GC', () => {
  it('accepts VERSION with podman dummy values', () => {
    const env = parseEnv({
      CNI_COMMAND: 'VERSION',
      CNI_CONTAINERID: 'dummy',
      CNI_NETNS: 'dummy',
      CNI_IFNAME: 'dummy',
      CNI_PATH: 'dummy',
      CNI_ARGS: 'garbage without equals;Unknown=1',
    });
    expect(env).toEqual({ command: 'VERSION', path: [], args: { ips: [], k8s: {}, raw: {} } });
  });
  it('accepts VERSION with nothing else set', () => {
    expect(parseEnv({ CNI_COMMAND: 'VERSION' }).command).toBe('VERSION');
  });
  it('accepts VERSION with an invalid ifname and container ID', () => {
    expect(parseEnv({ CNI_COMMAND: 'VERSION', CNI_IFNAME: 'way-too-long-interface', CNI_CONTAINERID: '-x' }).command).toBe(
      'VERSION',
    );
  });
  it.each(['STATUS', 'GC'])('%s needs nothing but the command and reads CNI_PATH', (command) => {
    expect(parseEnv({ CNI_COMMAND: command })).toEqual({ command, path: [], args: { ips: [], k8s: {}, raw: {} } });
    expect(parseEnv({ CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin' }).path).toEqual(['/opt/cni/bin']);
  });
  it('GC ignores container variables a runtime left behind', () => {
    const env = parseEnv({ CNI_COMMAND: 'GC', CNI_CONTAINERID: '-bad', CNI_NETNS: 'rel', CNI_ARGS: 'X' });
    expect(env.containerId).toBeUndefined();
    expect(env.netns).toBeUndefined();
  });
});

describe('CNI_ARGS', () => {
  const withArgs = (a: string) => parseEnv({ ...ADD, CNI_ARGS: a }).args;

  it('parses the CRI set', () => {
    const args = withArgs(
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=u-1',
    );
    expect(args.k8s).toEqual({ namespace: 'default', name: 'web-0', infraContainerId: 'abc123', uid: 'u-1' });
    expect(args.ips).toEqual([]);
    expect(args.raw).toEqual({
      IgnoreUnknown: '1',
      K8S_POD_NAMESPACE: 'default',
      K8S_POD_NAME: 'web-0',
      K8S_POD_INFRA_CONTAINER_ID: 'abc123',
      K8S_POD_UID: 'u-1',
    });
  });

  it('gives the same result for every order of the pairs', () => {
    const pairs = ['K8S_POD_UID=u-1', 'IgnoreUnknown=1', 'K8S_POD_NAME=web-0', 'K8S_POD_NAMESPACE=ns', 'Foo=bar'];
    const expected = withArgs(pairs.join(';'));
    expect(expected.k8s).toEqual({ uid: 'u-1', name: 'web-0', namespace: 'ns' });
    // all 120 permutations
    const perms = (xs: string[]): string[][] =>
      xs.length <= 1 ? [xs] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    const all = perms(pairs);
    expect(all).toHaveLength(120);
    for (const p of all) expect(withArgs(p.join(';'))).toEqual(expected);
  });

  it('honours IgnoreUnknown placed after the unknown key', () => {
    const args = withArgs('K8S_POD_NETWORK=x;Other=y;IgnoreUnknown=1');
    expect(args.raw).toEqual({ K8S_POD_NETWORK: 'x', Other: 'y', IgnoreUnknown: '1' });
  });

  it('refuses an unknown key without IgnoreUnknown, naming it', () => {
    const e = thrown(() => withArgs('K8S_POD_NAME=a;FOO=1'));
    expect(cniCodeOf(e)).toBe(4);
    expect(e.message).toBe("unknown CNI_ARGS key 'FOO'");
  });
  it('names every unknown key', () => {
    expect(thrown(() => withArgs('FOO=1;BAR=2')).message).toBe("unknown CNI_ARGS keys 'FOO', 'BAR'");
  });
  it.each(['IgnoreUnknown=0', 'IgnoreUnknown=false', 'IgnoreUnknown=False'])('%s does not ignore', (flag) => {
    expect(cniCodeOf(thrown(() => withArgs(`FOO=1;${flag}`)))).toBe(4);
  });
  it.each(['1', 'true', 'True'])('IgnoreUnknown=%s ignores', (v) => {
    expect(withArgs(`FOO=1;IgnoreUnknown=${v}`).raw.FOO).toBe('1');
  });
  it('refuses an IgnoreUnknown that is not a boolean', () => {
    expect(thrown(() => withArgs('IgnoreUnknown=yes')).message).toContain('IgnoreUnknown');
  });
  it('refuses a pair without "=" with code 4', () => {
    const e = thrown(() => withArgs('IgnoreUnknown=1;K8S_POD_NAME'));
    expect(cniCodeOf(e)).toBe(4);
    expect(e.message).toContain("'K8S_POD_NAME'");
  });
  it('refuses an empty key', () => {
    expect(cniCodeOf(thrown(() => withArgs('=x')))).toBe(4);
  });
  it('tolerates whitespace and empty pairs', () => {
    const args = withArgs('  K8S_POD_NAME = web-0 ;; IgnoreUnknown=1 ;\tK8S_POD_NAMESPACE=ns;');
    expect(args.k8s).toEqual({ name: 'web-0', namespace: 'ns' });
  });
  it('keeps "=" inside values', () => {
    expect(parseCniArgs('IgnoreUnknown=1;X=a=b').raw.X).toBe('a=b');
  });
  it('splits IP into a list, keeping prefixes as given', () => {
    expect(withArgs('IP=10.1.0.5, fd00::5/64 ,').ips).toEqual(['10.1.0.5', 'fd00::5/64']);
  });
  it('reads MAC (podman --mac-address)', () => {
    const args = withArgs('IgnoreUnknown=1;K8S_POD_NAME=c;MAC=0a:58:0a:01:00:05;IP=10.1.0.5');
    expect(args.mac).toBe('0a:58:0a:01:00:05');
    expect(args.ips).toEqual(['10.1.0.5']);
  });
  it('takes MAC in any case and keeps it in lower case', () => {
    expect(withArgs('MAC=02:AA:bb:CC:00:01').mac).toBe('02:aa:bb:cc:00:01');
  });
  it.each([
    ['02:aa:bb:cc:00', 'is not a MAC address'],
    ['02-aa-bb-cc-00-01', 'is not a MAC address'],
    ['01:00:5e:00:00:01', 'is a multicast address'],
    ['00:00:00:00:00:00', 'is all zero'],
  ])('refuses MAC=%s with code 4 (%s)', (mac, why) => {
    const e = thrown(() => withArgs(`MAC=${mac}`));
    expect(cniCodeOf(e)).toBe(4);
    expect(e.message.startsWith(`CNI_ARGS MAC='${mac}' ${why}`)).toBe(true);
  });
  it('leaves empty values out of the typed fields', () => {
    const args = withArgs('MAC=;IP=;K8S_POD_NAME=');
    expect(args.mac).toBeUndefined();
    expect(args.ips).toEqual([]);
    expect(args.k8s).toEqual({});
  });
  it('an empty CNI_ARGS is no args', () => {
    expect(parseCniArgs('')).toEqual({ ips: [], k8s: {}, raw: {} });
  });
  it('a __proto__ key stays a plain own property', () => {
    const args = parseCniArgs('IgnoreUnknown=1;__proto__=x');
    expect(Object.getPrototypeOf(args.raw)).toBe(Object.prototype);
    expect(Object.keys(args.raw)).toContain('__proto__');
  });
});
