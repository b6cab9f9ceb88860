// The agent around the matrix: fail closed when it does not answer, explain and
// policy from straitctl, and a restart that neither flushes nor loosens anything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Cluster } from '../helpers/cluster.js';
import { runCni } from '../helpers/cni.js';
import { leaseCount } from '../helpers/leases.js';
import { cleanupAll, createNetns, isRoot, rand, sh, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('agent integration tests');

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));

const ctl = (c: Cluster, ...args: string[]) =>
  spawnSync(STRAITCTL, [...args, '--socket', c.socket, '--bpf-dir', c.bpfDir, '--state-dir', c.stateDir], { encoding: 'utf8' });

const list = (items: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const namespaces = list(['p', 'q'].map((n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n, labels: { ns: n } } })));
const pods = list(
  [['p', 'web'], ['p', 'client'], ['q', 'other']].map(([ns, name]) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name, labels: { app: name } },
    spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
  })),
);
const webFromClient = list([
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: 'p', name: 'web-from-client' },
    spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }] },
  },
]);

describe.skipIf(!isRoot)('strait-agent', () => {
  const c = isRoot ? new Cluster('198.18.91.0/24') : (null as unknown as Cluster);

  beforeAll(async () => {
    c.write('namespaces.yaml', namespaces);
    c.write('pods.yaml', pods);
    await c.startAgent();
    await c.addPod({ namespace: 'p', name: 'web', labels: {} }, ['tcp:80', 'tcp:81']);
    await c.addPod({ namespace: 'p', name: 'client', labels: {} }, ['tcp:80']);
    await c.addPod({ namespace: 'q', name: 'other', labels: {} }, ['tcp:80']);
    c.write('policy.yaml', webFromClient);
    await c.waitSynced();
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
    cleanupAll();
  });

  const reach = async (from: string, to: string, port = 80) =>
    (await c.probe([{ from: c.pod(from), to: c.pod(to), proto: 'tcp', port }]))[0];

  it('explain gives the datapath verdict and the policy behind it', async () => {
    const [web, client, other] = [c.pod('p/web'), c.pod('p/client'), c.pod('q/other')];
    let r = ctl(c, 'explain', client.ip, web.ip, 'tcp/80', '-o', 'json');
    expect(r.status, r.stderr).toBe(0);
    const allow = JSON.parse(r.stdout) as { verdict: string; reason: string };
    expect(allow.verdict).toBe('allow');
    expect(allow.reason).toContain('p/web-from-client');
    r = ctl(c, 'explain', other.ip, web.ip, 'tcp/80', '-o', 'json');
    expect(r.status).toBe(1);
    const deny = JSON.parse(r.stdout) as { verdict: string; reason: string };
    expect(deny.verdict).toBe('deny');
    expect(deny.reason).toMatch(/isolated for ingress/);
    // The named port resolved to 80 only: 81 is denied even from the client.
    expect(ctl(c, 'explain', client.ip, web.ip, 'tcp/81').status).toBe(1);
    // And the real packets agree with explain.
    expect(await reach('p/client', 'p/web')).toBe(true);
    expect(await reach('q/other', 'p/web')).toBe(false);
    expect(await reach('p/client', 'p/web', 81)).toBe(false);
  });

  it('policy lists the effective rules of a pod and where they came from', () => {
    const r = ctl(c, 'policy', 'p/web', '-o', 'json');
    expect(r.status, r.stderr).toBe(0);
    const [rep] = JSON.parse(r.stdout) as { pod: string; ingressIsolated: boolean; egressIsolated: boolean; rules: { policy: string; direction: string; ports: string[] }[] }[];
    expect(rep!.pod).toBe('p/web');
    expect(rep!.ingressIsolated).toBe(true);
    expect(rep!.egressIsolated).toBe(false);
    expect(rep!.rules).toEqual([expect.objectContaining({ policy: 'p/web-from-client', direction: 'ingress' })]);
    expect(rep!.rules[0]!.ports.join(' ')).toMatch(/http/);
  });

  it('a restarted agent adopts the datapath: policy holds while it is down and after', async () => {
    await c.stopAgent();
    // Nothing runs now; the programs and maps still enforce.
    expect(await reach('q/other', 'p/web')).toBe(false);
    expect(await reach('p/client', 'p/web')).toBe(true);
    await c.startAgent();
    expect(await reach('q/other', 'p/web')).toBe(false);
    expect(await reach('p/client', 'p/web')).toBe(true);
    expect(c.agentLog).toMatch(/adopted the datapath/);
    // And it still follows the source.
    c.remove('policy.yaml');
    await c.waitSynced();
    expect(await reach('q/other', 'p/web')).toBe(true);
    c.write('policy.yaml', webFromClient);
    await c.waitSynced();
    expect(await reach('q/other', 'p/web')).toBe(false);
  });

  it('an invalid object is reported and skipped; the rest keeps working', async () => {
    c.write('broken.yaml', list([{ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'p', name: 'bad' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 80, endPort: 70 }] }] } }]));
    await c.waitSynced();
    await new Promise((r) => setTimeout(r, 200));
    expect(c.agentLog).toMatch(/broken\.yaml/);
    expect(c.agentLog).toMatch(/endPort/);
    expect(await reach('p/client', 'p/web')).toBe(true);
    expect(await reach('q/other', 'p/web')).toBe(false);
    c.remove('broken.yaml');
  });

  it('an established connection that a policy no longer allows is cut', async () => {
    const [web, client] = [c.pod('p/web'), c.pod('p/client')];
    const allowAll = list([
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { namespace: 'p', name: 'web-from-client' },
        spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }] },
      },
    ]);
    c.write('policy.yaml', allowAll);
    await c.waitSynced();
    const echo = spawn('ip', ['netns', 'exec', web.netns.name, process.execPath, '-e',
      "require('net').createServer(s => s.on('data', d => s.write(d))).listen(9000, () => console.log('up'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => echo.stdout.once('data', r));
    // One connection, a byte every 50 ms; prints a line per echo it gets back.
    const talker = spawn('ip', ['netns', 'exec', client.netns.name, process.execPath, '-e',
      `const s = require('net').connect(9000, '${web.ip}', () => setInterval(() => s.write('x'), 50)); s.on('data', () => console.log(Date.now())); s.on('error', () => {});`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const echoes: number[] = [];
      talker.stdout.setEncoding('utf8').on('data', (d: string) => echoes.push(...d.trim().split('\n').map(Number)));
      await new Promise((r) => setTimeout(r, 600));
      expect(echoes.length).toBeGreaterThan(3);
      // The policy narrows to the named port http (80): port 9000 is no longer allowed.
      c.write('policy.yaml', webFromClient);
      await c.waitSynced();
      const cutAt = Date.now();
      await new Promise((r) => setTimeout(r, 600));
      expect(echoes.filter((t) => t > cutAt + 100)).toEqual([]);
      expect(c.agentLog).toMatch(/cut connections that policy no longer allows/);
    } finally {
      talker.kill('SIGKILL');
      echo.kill('SIGKILL');
    }
  });

  it('straitctl status: synced, every map with its fill, no problem', () => {
    const r = ctl(c, 'status', '-o', 'json');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { synced: boolean; problems: unknown[]; maps: { map: string; entries: number; capacity: number }[] };
    expect(s.synced).toBe(true);
    expect(s.problems).toEqual([]);
    expect(s.maps.map((m) => [m.map, m.capacity])).toEqual([['strait_policy_v1', 1 << 19], ['strait_ipcache_v1', 1 << 18], ['strait_cidr_v1', 1 << 16]]);
    expect(s.maps[0]!.entries).toBeGreaterThan(0);
  });

  it('a policy that does not fit is refused whole and loudly, fails closed, and later changes still land', async () => {
    // The compiled maps are too big to fill here: the agent plans with a smaller limit.
    await c.stopAgent();
    await c.startAgent(['--max-entries', 'policy=4']);
    try {
      // client accepts web on five ports: five more entries than the one web-from-client has
      c.write('broad.yaml', list([{
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { namespace: 'p', name: 'client-from-web' },
        spec: { podSelector: { matchLabels: { app: 'client' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [80, 81, 82, 83, 84].map((port) => ({ port })) }] },
      }]));
      await c.waitSynced();
      const r = ctl(c, 'status');
      expect(r.status, r.stdout).toBe(1);
      expect(r.stdout).toMatch(/policy-refused\s+p\/client-from-web\s+NetworkPolicy p\/client-from-web refused: does not fit: strait_policy_v1/);
      expect(r.stdout).toMatch(/counters: 1 policy refusals/);
      expect(c.agentLog).toMatch(/NetworkPolicy p\/client-from-web refused/);
      // fail closed: client is isolated and allows nothing; what was applied stays
      expect(await reach('p/web', 'p/client')).toBe(false);
      expect(await reach('p/client', 'p/web')).toBe(true);
      expect(await reach('q/other', 'p/web')).toBe(false);
      // a revocation lands while the refusal stands
      c.remove('policy.yaml');
      await c.waitSynced();
      expect(await reach('q/other', 'p/web')).toBe(true);
      expect(await reach('p/web', 'p/client')).toBe(false);
    } finally {
      c.remove('broad.yaml');
      c.write('policy.yaml', webFromClient);
      await c.stopAgent();
      await c.startAgent();
    }
    expect(ctl(c, 'status').status).toBe(0);
    expect(await reach('p/web', 'p/client')).toBe(true);
    expect(await reach('q/other', 'p/web')).toBe(false);
  });

  it('fails closed: with an agent that does not answer, ADD returns code 11 and leaves nothing behind', async () => {
    const ns = createNetns('nocl');
    const config = { ...c.config(), agentSocket: `${c.stateDir}/nobody-listens.sock` };
    const before = leaseCount(c.stateDir, c.network);
    const r = await runCni({ command: 'ADD', config, containerId: `nocl-${rand()}`, netns: ns.path, args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=p;K8S_POD_NAME=late' });
    expect(r.exitCode).toBe(1);
    expect(r.json).toMatchObject({ code: 11 });
    expect(String(r.json!.msg)).toMatch(/nobody-listens\.sock is not reachable/);
    expect(leaseCount(c.stateDir, c.network)).toBe(before);
    expect(ns.exec('ip', ['link', 'show'])).not.toContain('eth0');
    expect(sh('ip', ['-o', 'link', 'show']).includes(`strait/${c.network}/nocl-`)).toBe(false);
  });
});
