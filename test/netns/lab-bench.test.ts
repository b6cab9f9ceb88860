// The cluster bench (`straitctl lab bench`, bench/cluster.mjs) end to end: its
// reference cluster (bridge + host-local pods, nodes joined by static routes) carries
// pod traffic across nodes through those routes; one run measures every setup it can
// reach and prints each other one as FAILED with its reason (the strait rows, until
// the cross-node datapath of #10 is merged); and everything it built is gone
// afterwards, also when it is interrupted with Ctrl-C half-way through building.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ReferenceCluster } from '../../src/lab/reference.js';
import { mountsBelow } from '../../src/lab/run.js';
import { nodeAddresses, podCidrs } from '../../src/lab/topology.js';
import { cleanupAll, isRoot, rand, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('cluster bench tests');

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));
const netnsOf = (prefix: string): string[] => sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix));
const pinging = (netns: string, ip: string): boolean => spawnSync('ip', ['netns', 'exec', netns, 'ping', '-c', '1', '-W', '1', ip]).status === 0;

/** Every process the bench said it started (agents, iperf3 and sockperf servers) that still runs. */
function survivors(output: string, labDir: string): string[] {
  return [...output.matchAll(/pid (\d+)/g)]
    .map((m) => Number(m[1]))
    .filter((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
        return cmd.includes(labDir) || /iperf3|sockperf/.test(cmd);
      } catch {
        return false;
      }
    })
    .map((pid) => `pid ${pid}`);
}

/** What a bench named `name` in `labDir` could leave: namespaces, mounts, files, processes. */
const traces = (name: string, labDir: string, output: string): string[] => [
  ...netnsOf(`strait-${name}`).map((n) => `netns ${n}`),
  ...mountsBelow(labDir).map((m) => `mount ${m}`),
  ...readdirSync(labDir).map((f) => `file ${f}`),
  ...survivors(output, labDir),
];

const cells = (line: string): string[] => line.split('|').slice(1, -1).map((c) => c.trim());

describe.skipIf(!isRoot)('cluster bench', () => {
  afterAll(() => cleanupAll());

  it('reference cluster: bridge + host-local pods reach across nodes through the static host routes, and down removes it all', async () => {
    const labDir = tempDir('ref');
    const name = `r${rand(3)}`;
    const r = await ReferenceCluster.up({ nodes: 2, podsPerNode: 1, name, labDir });
    try {
      const [a, b] = [r.pod('n1-a'), r.pod('n2-a')];
      expect(b.ip.startsWith(podCidrs(2, false).v4.replace('0/24', ''))).toBe(true);
      expect(sh('ip', ['-n', r.nodeNetns(1), '-o', 'addr', 'show', 'dev', 'eth0'])).toContain(`${nodeAddresses(1).v4}/24`);
      expect(pinging(a.netns, b.ip)).toBe(true);
      expect(pinging(r.nodeNetns(1), nodeAddresses(2).v4)).toBe(true);
      // host-gw: without n1's route to n2's pod CIDR there is no way across
      sh('ip', ['-n', r.nodeNetns(1), 'route', 'del', podCidrs(2, false).v4]);
      expect(pinging(a.netns, b.ip)).toBe(false);
    } finally {
      expect(await r.down()).toEqual([]);
    }
    expect(traces(name, labDir, '')).toEqual([]);
  }, 60_000);

  it('measures every setup, the kernel VXLAN reference included, and removes everything', () => {
    const labDir = tempDir('bench');
    const name = `b${rand(3)}`;
    const r = spawnSync(STRAITCTL, ['lab', 'bench', '--rounds', '2', '--seconds', '1', '--name', name, '--dir', labDir], { encoding: 'utf8', timeout: 280_000 });
    const out = r.stdout;
    expect(r.stderr).not.toMatch(/clean-up|NOT removed/);
    const header = cells(out.split('\n').find((l) => l.startsWith('| metric'))!);
    expect(header).toEqual([
      'metric',
      'node -> node',
      'strait native',
      'strait vxlan',
      'bridge + host-local',
      'node -> node, kernel vxlan',
      'native / node',
      'vxlan / node',
      'bridge / node',
      'kvxlan / node',
    ]);
    for (const metric of ['throughput', 'p50', 'p99']) {
      const row = cells(out.split('\n').find((l) => l.startsWith('|') && l.includes(metric))!);
      // every setup has its figures, each strait path and the kernel's own tunnel included
      for (const [i, label] of [[1, 'node -> node'], [2, 'strait native'], [3, 'strait vxlan'], [4, 'bridge'], [5, 'kernel vxlan']] as const) {
        expect(Number(row[i]), `${label} ${metric}`).toBeGreaterThan(0);
      }
      for (const i of [8, 9]) expect(row[i]).toMatch(/^\d+\.\d\dx$/);
    }
    expect(out).toMatch(/native \/ node[\s\S]*\(target >= 1\.00x/);
    // two interleaved rounds of every setup
    for (const label of ['node -> node', 'strait native', 'strait vxlan', 'bridge \\+ host-local', 'node -> node, kernel vxlan']) {
      expect(out.match(new RegExp(`round [12]/2 ${label}:`, 'g'))).toHaveLength(2);
    }
    expect(out).not.toContain(': FAILED: ');
    expect(r.status).toBe(0);
    expect(out).toContain('everything the bench built is removed');
    expect(traces(name, labDir, out)).toEqual([]);
  }, 300_000);

  it('Ctrl-C while it builds its clusters: exit 130, and nothing is left', async () => {
    const labDir = tempDir('benchint');
    const name = `b${rand(3)}`;
    // its own process group, signalled as a terminal's Ctrl-C signals the foreground group
    const child = spawn(STRAITCTL, ['lab', 'bench', '--rounds', '1', '--seconds', '1', '--name', name, '--dir', labDir], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const interrupted = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        // the reference cluster is up and the native one half-built
        if (out.includes('pod n1-a on n1')) resolve();
      });
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await Promise.race([interrupted, exited]);
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(130);
    expect(out).toContain('SIGINT: stopping');
    expect(out).toContain('everything the bench built is removed');
    expect(traces(name, labDir, out)).toEqual([]);
  }, 180_000);
});
