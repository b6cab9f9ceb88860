// bench/service.mjs end to end with one short round and small sizes: every cell of
// its tables holds a figure (timings are never judged), every target a verdict, and
// everything it started or made (both labs' namespaces and bpffs mounts, their files,
// the agents, the servers in the pods) is gone once it exits.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { mountsBelow } from '../../src/lab/run.js';
import { aliveAsOwn, cells, runBench } from '../helpers/bench-run.js';
import { cleanupAll, isRoot, rand, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('Service bench');

const BENCH = fileURLToPath(new URL('../../bench/service.mjs', import.meta.url));
describe.skipIf(!isRoot)('Service bench', () => {
  afterAll(() => cleanupAll());

  it('gives every figure and every verdict, and leaves nothing behind', async () => {
    const labDir = tempDir('sbench');
    const name = `s${rand(3)}`;
    const { code, out, err } = await runBench(BENCH, ['--rounds', '1', '--seconds', '1', '--sizes', '10,100', '--name', name, '--dir', labDir]);
    expect(code, err.slice(-3000)).toBe(0);

    // the rows of each table, by the first cell of its header
    const tables = new Map<string, string[][]>();
    let rows: string[][] = [];
    for (const line of out.split('\n').filter((l) => l.startsWith('| '))) {
      const c = cells(line);
      if (/^(metric|target)$/.test(c[0]!)) tables.set(`${c[0]!} ${c.slice(1).join(',')}`, (rows = []));
      else rows.push(c);
    }
    expect([...tables.keys()]).toEqual(['metric strait,kube-proxy,strait/kube-proxy', 'metric time', 'target measured,bound,verdict']);
    const [comparisons, apply, targets] = [...tables.values()] as [string[][], string[][], string[][]];
    const paths = ['same node', 'across nodes'];
    expect(comparisons.map((c) => c[0]!.replace(/ \([^()]*, (lower|higher) is better\)$/, ''))).toEqual(
      [10, 100].flatMap((n) => paths.flatMap((p) => ['request/response p50', 'request/response p99', 'new connections', 'one new connection, connect to close, p50', 'one new connection, connect to close, p99'].map((m) => `${n} Services, ${p}: ${m}`))),
    );
    for (const [metric, strait, kubeProxy, ratio] of comparisons) {
      expect(Number(strait), `${metric}: ${strait}`).toBeGreaterThan(0);
      expect(Number(kubeProxy), `${metric}: ${kubeProxy}`).toBeGreaterThan(0);
      expect(ratio, metric).toMatch(/^\d+\.\d\dx$/);
    }
    expect(apply.map((c) => c[0]!.replace(/ \(ms, lower is better\)$/, ''))).toEqual(
      [10, 100].flatMap((n) => [
        `${n} Services into strait: written -> in every node's map`,
        `${n} Services into strait: written -> every agent says synced`,
        `${n} Services into kube-proxy: iptables-restore, slowest node`,
      ]),
    );
    for (const [metric, value] of apply) expect(Number(value), `${metric}: ${value}`).toBeGreaterThan(0);
    expect(targets.length).toBe(2 * 2 * 2 + 2 * 2);
    for (const [target, measured, , verdict] of targets) {
      expect(measured, target).not.toBe('-');
      expect(['met', 'MISSED'], target).toContain(verdict);
    }

    const pids = [...err.matchAll(/pids? ([\d ]+)/g)].flatMap((m) => m[1]!.trim().split(' ').map(Number));
    expect(pids.length).toBeGreaterThanOrEqual(2 * 2 + 2 * 4 * 3);
    expect(pids.filter((pid) => aliveAsOwn(pid, labDir, /service-crr|sockperf|iperf3/))).toEqual([]);
    const netns = sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`strait-${name}`));
    expect(netns).toEqual([]);
    expect(mountsBelow(labDir)).toEqual([]);
    expect(readdirSync(labDir)).toEqual([]);
  }, 300_000);
});
