// podman 4.3 with its CNI backend and a private configuration (storage, tmp dir,
// network config dir holding only our conflist). podman calls VERSION with
// CNI_NETNS, CNI_IFNAME and CNI_PATH set to `dummy` — strait answers those before
// reading any config, so they are seen through a recording shim in the CNI bin dir.
// `--ip` and `--mac-address` arrive as CNI_ARGS IP= and MAC=. Through the node's
// strait-agent, and standalone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bpffsDir, cleanupAll, rand, tempDir } from '../helpers/sys.js';
import { unmountUnder } from './containerd.js';
import {
  cachedResults,
  removeCachedResults,
  cniBinDir,
  conflist,
  keepLogs,
  leftovers,
  loggedErrors,
  loggedRequests,
  NOTHING_LEFT,
  recordedCalls,
  straitctlEndpoints,
  straitPlugin,
  writeConflist,
  type RecordedCall,
} from './cni-setup.js';
import { callsServedBy, endpointsReadyVia, startAgent, type CniMode, type E2eAgent } from './agent.js';
import { buildTestImages } from './image.js';
import { e2eSkipReason } from './wait.js';

const NETWORK = 'strait-e2e-podman';
const V4 = '198.18.72.0/24';
const V6 = 'fd5a:72::/64';
const ROUTE_PREFIXES = ['198.18.72.', 'fd5a:72:'];
const STATIC_IP = '198.18.72.50';
const STATIC_MAC = '02:aa:00:00:72:50';
const skip = e2eSkipReason('podman e2e tests', ['podman', 'conmon', 'runc']);

interface NetworkSettings {
  IPAddress: string;
  GlobalIPv6Address: string;
  MacAddress: string;
}

describe.skipIf(skip !== null).each<CniMode>(['agent', 'standalone'])('podman (CNI backend) drives strait (%s)', (mode) => {
  let dir = '';
  let stateDir = '';
  let bpfDir = '';
  let logFile = '';
  let recordDir = '';
  let rootfs = '';
  let env: NodeJS.ProcessEnv = {};
  let agent: E2eAgent | null = null;
  const containers = new Set<string>();

  const podman = (args: string[], opts: { allowFail?: boolean } = {}) => {
    const r = spawnSync('podman', args, { env, encoding: 'utf8', timeout: 60_000 });
    const res = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    if (res.status !== 0 && !opts.allowFail) throw new Error(`podman ${args.join(' ')} failed (${res.status}): ${res.stderr}`);
    return res;
  };

  beforeAll(async () => {
    removeCachedResults(NETWORK);
    dir = tempDir('e2e-podman');
    stateDir = join(dir, 'state');
    bpfDir = bpffsDir('e2e-podman');
    logFile = join(dir, 'strait.log');
    recordDir = join(dir, 'calls');
    rootfs = buildTestImages(join(dir, 'images')).rootfs;
    const binDir = cniBinDir(join(dir, 'cni-bin'), { recordDir });
    const netDir = join(dir, 'net.d');
    if (mode === 'agent') agent = await startAgent(join(dir, 'agent'), { stateDir, bpfDir });
    const agentSocket = agent ? { agentSocket: agent.socket } : {};
    writeConflist(netDir, '10-strait.conflist', conflist(NETWORK, [straitPlugin({ stateDir, bpfDir, logFile, v4: V4, v6: V6, ...agentSocket })]));

    const q = JSON.stringify;
    writeFileSync(
      join(dir, 'containers.conf'),
      [
        '[containers]',
        'default_ulimits = ["nofile=1024:1024", "nproc=32768:32768"]',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `tmp_dir = ${q(join(dir, 'libpod-tmp'))}`,
        'runtime = "runc"',
        '[network]',
        // apt brings netavark too, and podman would pick it on a fresh store.
        'network_backend = "cni"',
        `cni_plugin_dirs = [${q(binDir)}]`,
        `network_config_dir = ${q(netDir)}`,
      ].join('\n') + '\n',
    );
    writeFileSync(
      join(dir, 'storage.conf'),
      ['[storage]', 'driver = "overlay"', `graphroot = ${q(join(dir, 'graph'))}`, `runroot = ${q(join(dir, 'run'))}`].join('\n') + '\n',
    );
    env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };
    expect(podman(['info', '--format', '{{.Host.NetworkBackend}}']).stdout.trim()).toBe('cni');
  });

  afterAll(async () => {
    for (const name of containers) podman(['rm', '-f', '-t', '0', name], { allowFail: true });
    await agent?.stop();
    if (agent) writeFileSync(join(dir, 'agent.log'), agent.log());
    if (dir !== '') unmountUnder(dir);
    keepLogs(`podman-${mode}`, { 'strait.log': logFile, 'agent.log': join(dir, 'agent.log') });
    removeCachedResults(NETWORK);
    cleanupAll();
  });

  /** A container on the strait network serving `hello from <name>` on TCP 8080. */
  const run = (name: string, extra: string[] = []) => {
    containers.add(name);
    return podman([
      'run', '-d', '--name', name, '--network', NETWORK, ...extra,
      '--rootfs', `${rootfs}:O`, 'sh', '-c', `exec nc -ll -p 8080 -e echo hello from ${name}`,
    ]).stdout.trim();
  };
  const settings = (name: string): NetworkSettings =>
    (JSON.parse(podman(['inspect', '--format', '{{json .NetworkSettings.Networks}}', name]).stdout) as Record<string, NetworkSettings>)[NETWORK]!;
  const exec = (name: string, cmd: string[]) => podman(['exec', name, ...cmd]).stdout;

  it('two containers reach each other, --ip and --mac-address are honoured, and stop/rm release everything', () => {
    const a = `pa-${rand(3)}`;
    const b = `pb-${rand(3)}`;
    const idA = run(a);
    const idB = run(b, ['--ip', STATIC_IP, '--mac-address', STATIC_MAC]);

    const [sa, sb] = [settings(a), settings(b)];
    expect(sa.IPAddress).toMatch(/^198\.18\.72\.\d+$/);
    expect(sa.GlobalIPv6Address).toMatch(/^fd5a:72::/);
    expect(sb.IPAddress).toBe(STATIC_IP);
    expect(sb.MacAddress).toBe(STATIC_MAC);
    expect(exec(b, ['cat', '/sys/class/net/eth0/address']).trim()).toBe(STATIC_MAC);
    const endpoints = straitctlEndpoints(bpfDir, stateDir);
    expect(endpoints.filter((e) => e.containerId === idA).map((e) => e.ip).sort()).toEqual([sa.IPAddress, sa.GlobalIPv6Address].sort());
    expect(endpoints.filter((e) => e.containerId === idB).map((e) => e.ip).sort()).toEqual([sb.IPAddress, sb.GlobalIPv6Address].sort());

    endpointsReadyVia(mode, agent, endpoints);
    exec(a, ['ping', '-c', '1', '-W', '2', sb.IPAddress]);
    exec(b, ['ping', '-c', '1', '-W', '2', sa.IPAddress]);
    exec(a, ['ping', '-c', '1', '-W', '2', sb.GlobalIPv6Address]);
    expect(exec(a, ['nc', '-w', '2', STATIC_IP, '8080'])).toBe(`hello from ${b}\n`);
    expect(exec(b, ['nc', '-w', '2', sa.GlobalIPv6Address, '8080'])).toBe(`hello from ${a}\n`);

    // `podman stop` tears the network down (DEL with the netns of ADD)...
    podman(['stop', '-t', '0', a, b]);
    expect(leftovers({ stateDir, bpfDir, network: NETWORK, routePrefixes: ROUTE_PREFIXES })).toEqual(NOTHING_LEFT);
    // ...and `podman rm` after it finds nothing more to release.
    podman(['rm', a, b]);
    containers.delete(a);
    containers.delete(b);
    expect(leftovers({ stateDir, bpfDir, network: NETWORK, routePrefixes: ROUTE_PREFIXES })).toEqual(NOTHING_LEFT);
    expect(cachedResults(NETWORK)).toEqual([]);

    const calls = recordedCalls(recordDir);
    const of = (id: string, cmd: string) => calls.filter((c) => c.env.CNI_CONTAINERID === id && c.env.CNI_COMMAND === cmd);
    for (const [id, name] of [[idA, a], [idB, b]] as const) {
      const [add] = of(id, 'ADD');
      expect(add?.exitCode).toBe(0);
      expect(add!.env.CNI_NETNS).toMatch(/^\/run\/netns\/netns-[0-9a-f-]+$/);
      const args = add!.env.CNI_ARGS!.split(';').sort();
      expect(args).toEqual(
        ['IgnoreUnknown=1', `K8S_POD_NAME=${name}`, ...(id === idB ? [`IP=${STATIC_IP}`, `MAC=${STATIC_MAC}`] : [])].sort(),
      );
      const dels = of(id, 'DEL');
      expect(dels.length).toBeGreaterThanOrEqual(1);
      for (const d of dels) {
        expect(d.exitCode).toBe(0);
        expect(d.env.CNI_NETNS).toBe(add!.env.CNI_NETNS);
      }
    }
    expectVersionsAnswered(calls);
    callsServedBy(mode, agent, loggedRequests(logFile).filter((r) => r.containerId === idA || r.containerId === idB));
    if (agent) expect(agent.status().endpoints).toBe(0);
    expect(loggedErrors(logFile)).toEqual([]);
  });

  it('an --ip outside strait\'s ranges fails with strait\'s error and leaves nothing behind', () => {
    const name = `pc-${rand(3)}`;
    containers.add(name);
    const r = podman(
      ['run', '-d', '--name', name, '--network', NETWORK, '--ip', '198.18.99.9', '--rootfs', `${rootfs}:O`, 'sleep', '60'],
      { allowFail: true },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/198\.18\.99\.9/);
    const add = recordedCalls(recordDir).filter((c) => c.env.CNI_COMMAND === 'ADD' && c.env.CNI_ARGS?.includes('198.18.99.9'));
    expect(add).toHaveLength(1);
    expect(JSON.parse(add[0]!.stdout)).toMatchObject({ code: 102 });
    callsServedBy(mode, agent, loggedRequests(logFile).filter((r) => r.args.IP === '198.18.99.9'));
    podman(['rm', '-f', '-t', '0', name], { allowFail: true });
    containers.delete(name);
    expect(leftovers({ stateDir, bpfDir, network: NETWORK, routePrefixes: ROUTE_PREFIXES })).toEqual(NOTHING_LEFT);
  });
});

/**
 * podman's VERSION calls (once per podman process that loads the network list, to
 * validate it, rather than strictly before every ADD and DEL) carry `dummy` in
 * CNI_NETNS, CNI_IFNAME and CNI_PATH; strait answers every one.
 */
function expectVersionsAnswered(calls: RecordedCall[]): void {
  const versions = calls.filter((c) => c.env.CNI_COMMAND === 'VERSION');
  expect(versions.length).toBeGreaterThan(0);
  for (const v of versions) {
    expect(v.env).toMatchObject({ CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' });
    expect(v.exitCode).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ supportedVersions: expect.arrayContaining(['1.0.0']) });
  }
}
