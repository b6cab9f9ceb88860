// bench/kube-enforce.mjs end to end with few rounds and small counts: every cell of
// its table holds a figure, every target a verdict, and everything it started or made
// (the lab's namespaces and bpffs mounts, its files, the agents, the API emulation,
// the pods' servers and probers) is gone once it exits.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { mountsBelow } from '../../src/lab/run.js';
import { aliveAsOwn, cells, runBench } from '../helpers/bench-run.js';
import { cleanupAll, isRoot, rand, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('kube enforcement bench');

const BENCH = fileURLToPath(new URL('../../bench/kube-enforce.mjs', import.meta.url));
describe.skipIf(!isRoot)('kube enforcement bench', () => {
  afterAll(() => cleanupAll());

  it('gives every figure and every verdict, and leaves nothing behind', async () => {
    const labDir = tempDir('kbench');
    const name = `k${rand(3)}`;
    const { code, out, err } = await runBench(BENCH, ['--rounds', '4', '--pods', '200', '--policies', '20', '--name', name, '--dir', labDir]);
    expect(code, err.slice(-3000)).toBe(0);

    const lines = out.split('\n').filter((l) => l.startsWith('| '));
    const figures = lines.filter((l) => !/^\| (metric|target) /.test(l)).map(cells);
    const metrics = figures.filter((c) => c.length === 2);
    const targets = figures.filter((c) => c.length === 4);
    const names = metrics.map((c) => c[0]!.replace(/ \([^()]*, lower is better\)$/, '').replace(/ \(\d+ (more )?rounds\)$/, '').replace(/\d+/g, 'N'));
    expect(names).toEqual([
      'API change -> every node enforces, probe-verified, pN',
      'API change -> every node enforces, probe-verified, pN',
      'API change -> every agent reports it (status), pN',
      'API change -> every agent reports it (status), pN',
      'agent RSS, N pods',
      'agent heap after GC, N pods',
      'agent heap after GC per pod, N pods',
      'agent RSS per pod, N pods',
      'agent VN heap committed per pod, N pods',
      'agent heap after GC per policy, N policies',
      'agent RSS per policy, N policies',
      'initial sync, N pods: agent start -> straitctl wait --synced',
      'initial sync, N pods: the source alone (bench/kube-source)',
    ]);
    for (const [metric, value] of metrics) expect(Number.isFinite(Number(value)), `${metric}: ${value}`).toBe(true);
    expect(targets.map((c) => c[0])).toEqual(['API change -> enforced on every node, p99', 'agent heap per pod (200 pods)', 'agent RSS per pod (200 pods)']);
    for (const [target, measured, , verdict] of targets) {
      expect(measured, target).not.toBe('-');
      expect(['met', 'MISSED'], target).toContain(verdict);
    }
    // probe-verified: the probes flipped on every node in every round, so no round's figure is negative
    expect(Number(metrics[0]![1])).toBeGreaterThan(0);

    const pids = [...err.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThanOrEqual(3 + 1 + 3 + 3 + 4);
    expect(pids.filter((pid) => aliveAsOwn(pid, labDir, /flip-probe|agent-memory|kube-api\/main/))).toEqual([]);
    const netns = sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`strait-${name}`));
    expect(netns).toEqual([]);
    expect(mountsBelow(labDir)).toEqual([]);
    expect(readdirSync(labDir)).toEqual([]);
  }, 600_000);
});
