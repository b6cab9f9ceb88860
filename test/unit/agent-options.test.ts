// strait-agent's flags, and the executable's answers before it touches anything
// (bin/strait-agent runs the compiled dist/: `npx tsc -p tsconfig.json` first).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AGENT_USAGE, parseAgentFlags } from '../../src/agent/options.js';
import { UsageError } from '../../src/errors.js';

const ROOT = new URL('../..', import.meta.url).pathname;

describe('parseAgentFlags', () => {
  it('defaults: host name, the standard paths, info', () => {
    expect(parseAgentFlags(['--source', 'dir:/etc/strait/cluster'], {})).toEqual({
      nodeName: hostname(),
      source: { kind: 'dir', path: '/etc/strait/cluster' },
      stateDir: '/var/lib/strait',
      bpfDir: '/sys/fs/bpf/strait',
      socketPath: '/run/strait/agent.sock',
      logLevel: 'info',
      maxEntries: {},
      mapSizes: {},
      routing: 'native',
      uplink: null,
      vxlanPort: 8472,
      masquerade: true,
      flows: { enabled: true, rate: 50000, buffer: 8192 },
      deploy: { health: null, metrics: { host: '127.0.0.1', port: 9962, explicit: false }, install: null, uninstall: false },
    });
  });

  it('flow events: --flow-events on|off, --flow-events-rate (0: no limit), --flow-buffer 1..1,000,000', () => {
    const p = (...a: string[]) => parseAgentFlags(['--source', 'dir:/c', ...a], {})?.flows;
    expect(p('--flow-events', 'off', '--flow-events-rate', '0', '--flow-buffer', '1')).toEqual({ enabled: false, rate: 0, buffer: 1 });
    expect(p('--flow-events=on', '--flow-events-rate=4294967295', '--flow-buffer=1000000')).toEqual({ enabled: true, rate: 4294967295, buffer: 1000000 });
    expect(() => p('--flow-events', 'yes')).toThrow(/--flow-events takes on or off, not "yes"/);
    expect(() => p('--flow-events-rate=-1')).toThrow(/--flow-events-rate takes an integer 0-4294967295/);
    expect(() => p('--flow-events-rate', '4294967296')).toThrow(/--flow-events-rate/);
    expect(() => p('--flow-buffer', '0')).toThrow(/--flow-buffer takes an integer 1-1000000, not "0"/);
    expect(() => p('--flow-buffer', '1000001')).toThrow(/--flow-buffer/);
    expect(() => p('--flow-buffer', '1e3')).toThrow(/--flow-buffer/);
    expect(AGENT_USAGE).toMatch(/--flow-events on\|off[\s\S]*--flow-events-rate N[\s\S]*--flow-buffer N/);
  });

  it('deploy: --health-addr and the install flags (paths made absolute, the conf name checked)', () => {
    const argv = ['--source', 'dir:/c', '--health-addr', '127.0.0.1:9876', '--cni-bin-dir', '/opt/cni/bin', '--cni-conf-dir', 'net.d', '--cni-exclusive', '--cni-conflist-template', '/etc/strait/t.json'];
    expect(parseAgentFlags(argv, {})?.deploy).toEqual({
      health: { host: '127.0.0.1', port: 9876 },
      metrics: { host: '127.0.0.1', port: 9962, explicit: false },
      install: { binDir: '/opt/cni/bin', confDir: join(process.cwd(), 'net.d'), confName: '10-strait.conflist', template: '/etc/strait/t.json', exclusive: true },
      uninstall: false,
    });
    expect(parseAgentFlags(['--source', 'dir:/c', '--cni-bin-dir', '/b', '--uninstall'], {})?.deploy).toMatchObject({ install: { binDir: '/b', confDir: null }, uninstall: true });
    for (const bad of [['--cni-conf-name', 'x.conflist'], ['--cni-conf-dir', '/d', '--cni-conf-name', 'strait.yaml'], ['--cni-conf-dir', '/d', '--cni-conf-name', '../x.conf'], ['--cni-exclusive'], ['--cni-bin-dir', ''], ['--health-addr', '9876']]) {
      expect(() => parseAgentFlags(['--source', 'dir:/c', ...bad], {}), bad.join(' ')).toThrow(UsageError);
    }
  });

  it('--metrics-addr: 127.0.0.1:9962 unless given; off turns it off; a bad address is a usage error naming the flag', () => {
    const deploy = (...a: string[]) => parseAgentFlags(['--source', 'dir:/c', ...a], {})?.deploy;
    expect(deploy('--metrics-addr', '[::1]:0')?.metrics).toEqual({ host: '::1', port: 0, explicit: true });
    expect(deploy('--metrics-addr', '0.0.0.0:9090')?.metrics).toEqual({ host: '0.0.0.0', port: 9090, explicit: true });
    expect(deploy('--metrics-addr', 'off')?.metrics).toBeNull();
    for (const bad of ['9962', '127.0.0.1:70000', '']) expect(() => deploy('--metrics-addr', bad), bad).toThrow(/--metrics-addr takes HOST:PORT/);
  });

  it('node networking: --routing, --uplink (env STRAIT_ROUTING, STRAIT_UPLINK), --vxlan-port, --masquerade', () => {
    const env = { STRAIT_ROUTING: 'vxlan', STRAIT_UPLINK: 'ens3' };
    expect(parseAgentFlags(['--source', 'dir:/c'], env)).toMatchObject({ routing: 'vxlan', uplink: 'ens3' });
    const flags = ['--source', 'dir:/c', '--routing', 'native', '--uplink', 'eth1', '--vxlan-port', '4789', '--masquerade', 'false'];
    expect(parseAgentFlags(flags, env)).toMatchObject({ routing: 'native', uplink: 'eth1', vxlanPort: 4789, masquerade: false });
    expect(parseAgentFlags(['--source', 'dir:/c', '--masquerade', 'true'], {})).toMatchObject({ masquerade: true });
  });

  it('--max-entries: per-map planning limits', () => {
    expect(parseAgentFlags(['--source', 'dir:/c', '--max-entries', 'policy=30,cidr=8'], {})).toMatchObject({ maxEntries: { policy: 30, cidr: 8 } });
    for (const bad of ['policy', 'policy=0', 'ct=5', 'policy=-1', 'policy=1e3'])
      expect(() => parseAgentFlags(['--source', 'dir:/c', '--max-entries', bad], {}), bad).toThrow(/--max-entries takes MAP=N/);
  });

  it('--max-entries: the sizes of the Service maps, apart from the planning limits', () => {
    const f = parseAgentFlags(['--source', 'dir:/c', '--max-entries', 'service=8,backend=16,flow=32,affinity=4,policy=9'], {});
    expect(f).toMatchObject({ maxEntries: { policy: 9 }, mapSizes: { service: 8, backend: 16, flow: 32, affinity: 4 } });
    expect(f?.maxEntries).not.toHaveProperty('service');
    expect(parseAgentFlags(['--source', 'dir:/c'], {})).toMatchObject({ mapSizes: {} });
    expect(() => parseAgentFlags(['--source', 'dir:/c', '--max-entries', 'services=8'], {})).toThrow(/--max-entries takes MAP=N/);
  });

  it('environment, then flags win', () => {
    const env = { STRAIT_NODE_NAME: 'n1', STRAIT_STATE_DIR: '/s', STRAIT_BPF_DIR: '/b', STRAIT_AGENT_SOCKET: '/r/a.sock' };
    expect(parseAgentFlags(['--source', 'dir:/c'], env)).toMatchObject({ nodeName: 'n1', stateDir: '/s', bpfDir: '/b', socketPath: '/r/a.sock' });
    const flags = ['--source', 'dir:/c', '--node', 'n2', '--state-dir', '/s2', '--bpf-dir', '/b2', '--socket', '/r/b.sock', '--log-level', 'debug'];
    expect(parseAgentFlags(flags, env)).toMatchObject({ nodeName: 'n2', stateDir: '/s2', bpfDir: '/b2', socketPath: '/r/b.sock', logLevel: 'debug' });
  });

  it('relative paths are made absolute', () => {
    expect(parseAgentFlags(['--source', 'dir:cluster', '--socket', 'a.sock'], {})).toMatchObject({
      source: { kind: 'dir', path: join(process.cwd(), 'cluster') },
      socketPath: join(process.cwd(), 'a.sock'),
    });
  });

  it('--help', () => expect(parseAgentFlags(['--help'], {})).toBeNull());

  it.each([
    [[], /--source is required/],
    [['--source', 'kube'], /--source kube needs --kubeconfig PATH/],
    [['--source', 'kube:/etc/kubeconfig'], /--source takes dir:PATH or kube, not "kube:\/etc\/kubeconfig"/],
    [['--source', 'dir:/c', '--kubeconfig', '/k'], /--kubeconfig goes with --source kube/],
    [['--source', 'dir:'], /--source dir:PATH needs a directory/],
    [['--source', 'git:x'], /--source takes dir:PATH or kube, not "git:x"/],
    [['--source', 'dir:/c', '--log-level', 'loud'], /--log-level takes .*not "loud"/],
    [['--source', 'dir:/c', '--node', ''], /--node is empty/],
    [['--source', 'dir:/c', '--routing', 'bgp'], /--routing takes native or vxlan, not "bgp"/],
    [['--source', 'dir:/c', '--routing', ''], /--routing takes native or vxlan, not ""/],
    [['--source', 'dir:/c', '--uplink', 'a/b'], /--uplink takes an interface name/],
    [['--source', 'dir:/c', '--uplink', 'x'.repeat(16)], /--uplink takes an interface name/],
    [['--source', 'dir:/c', '--vxlan-port', '0'], /--vxlan-port takes a UDP port \(1-65535\), not "0"/],
    [['--source', 'dir:/c', '--vxlan-port', '65536'], /--vxlan-port takes a UDP port/],
    [['--source', 'dir:/c', '--vxlan-port', '84x'], /--vxlan-port takes a UDP port/],
    [['--source', 'dir:/c', '--masquerade', 'yes'], /--masquerade takes true or false, not "yes"/],
    [['--source', 'dir:/c', '--frobnicate'], /frobnicate/],
    [['--source', 'dir:/c', 'extra'], /extra/],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseAgentFlags(argv, {})).toThrow(UsageError);
    expect(() => parseAgentFlags(argv, {})).toThrow(message);
  });
});

function agent(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(ROOT, 'bin/strait-agent'), args, { env: { PATH: process.env.PATH }, timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
    );
  });
}

describe('bin/strait-agent before it touches anything', () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist/agent/options.js'))) {
      throw new Error('dist/ has no strait-agent: run `npx tsc -p tsconfig.json` (or bash scripts/setup.sh) first');
    }
  });

  it('--help exits 0 with the usage', async () => {
    const r = await agent(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: strait-agent/);
  });

  it('a usage error exits 2', async () => {
    const r = await agent(['--source', 'git:x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^strait-agent: --source takes dir:PATH or kube, not "git:x"\n\nusage:/);
  });

  it('a missing manifest directory exits 1 before the datapath is touched', async () => {
    const r = await agent(['--source', 'dir:/nonexistent/strait-cluster', '--bpf-dir', '/nonexistent/bpf', '--socket', '/nonexistent/a.sock']);
    expect(r.code).toBe(1);
    const fatal = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .find((l) => l.level === 60);
    expect(fatal?.msg).toBe('strait-agent cannot start: manifest directory /nonexistent/strait-cluster does not exist');
  });
});
