// bench/monitor.mjs end to end with one short round, one cycle of the switched run and
// a short loss run: every cell of its tables holds a figure (timings are never
// judged), each switched phase has its windows' figure, the loss run saw every
// connection as a new record on each node it crossed with none lost (that is not a
// timing: at 1,000 a second nothing may be missing), and everything it started or
// made (the lab's namespaces and bpffs mounts, its files, the agents, the servers,
// the monitors) is gone once it exits.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { mountsBelow } from '../../src/lab/run.js';
import { aliveAsOwn, cells, runBench } from '../helpers/bench-run.js';
import { cleanupAll, isRoot, rand, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('monitor bench');

const BENCH = fileURLToPath(new URL('../../bench/monitor.mjs', import.meta.url));
describe.skipIf(!isRoot)('monitor bench', () => {
  afterAll(() => cleanupAll());

  it('gives every figure, loses no record at 1,000 connections a second, and leaves nothing behind', async () => {
    const labDir = tempDir('mbench');
    const name = `m${rand(3)}`;
    const { code, out, err } = await runBench(BENCH, ['--rounds', '1', '--seconds', '1', '--cycles', '1', '--rate', '1000', '--loss-seconds', '2', '--name', name, '--dir', labDir]);
    expect(code, err.slice(-3000)).toBe(0);

    const tables: string[][][] = [];
    for (const line of out.split('\n').filter((l) => l.startsWith('| '))) {
      const c = cells(line);
      if (/^(metric|target)$/.test(c[0]!)) tables.push([]);
      else if (!/^-+$/.test(c[0]!)) tables.at(-1)!.push(c);
    }
    expect(tables).toHaveLength(5);
    const [comparisons, switched, switchedRatios, loss, targets] = tables as [string[][], string[][], string[][], string[][], string[][]];
    expect(comparisons).toHaveLength(2 * 7);
    for (const [metric, off, events, on] of comparisons) {
      for (const v of [off, events, on]) {
        // the watchers' CPU over one short request/response run may round to nothing
        if (metric!.includes('CPU of the agents')) expect(Number(v), `${metric}: ${v}`).toBeGreaterThanOrEqual(0);
        else expect(Number(v), `${metric}: ${v}`).toBeGreaterThan(0);
      }
    }
    // the switched run: a stream and a ping-pong on each path, each with what the
    // watching used beside it, a figure for every setup
    expect(switched.map((r) => r[0])).toEqual(
      ['same node', 'across nodes'].flatMap((path) => [
        `${path}: one TCP stream (Gbit/s, higher is better)`,
        `${path}, stream: CPU of the agents and monitors (ms/s, lower is better)`,
        `${path}, stream: datapath time per program run (bpf_stats) (ns, lower is better)`,
        `${path}: request/response p50 (us, lower is better)`,
        `${path}, request/response: CPU of the agents and monitors (ms/s, lower is better)`,
        `${path}, request/response: datapath time per program run (bpf_stats) (ns, lower is better)`,
      ]),
    );
    for (const [metric, off, events, on] of switched) {
      for (const v of [off, events, on]) {
        if (metric!.includes('CPU of the agents')) expect(Number(v), `${metric}: ${v}`).toBeGreaterThanOrEqual(0);
        else expect(Number(v), `${metric}: ${v}`).toBeGreaterThan(0);
      }
    }
    // one cycle: each of events and on has an off phase beside it
    expect(switchedRatios).toHaveLength(4);
    for (const [metric, events, on] of switchedRatios) {
      expect(metric).toMatch(/events [\d.]+-[\d.]+ over 1; on [\d.]+-[\d.]+ over 1/);
      for (const v of [events, on]) expect(Number(v), `${metric}: ${v}`).toBeGreaterThan(0);
    }
    // same node: node 1 sees each connection, node 2 none; across: both see each
    expect(loss).toHaveLength(2);
    for (const [metric, expected1, seen1, expected2, seen2, lost] of loss) {
      expect(Number(expected1), metric).toBeGreaterThan(0);
      expect(seen1, metric).toBe(expected1);
      expect(seen2, metric).toBe(expected2);
      expect(Number(lost), metric).toBe(0);
    }
    expect(Number(loss[1]![3])).toBe(Number(loss[1]![1]));
    expect(targets.map((t) => t[0]).slice(-2)).toEqual(['records lost at 1000 new connections/s', 'new-connection records missing at 1000/s']);
    for (const [target, measured, , verdict] of targets) {
      expect(measured, target).not.toBe('-');
      expect(['met', 'MISSED'], target).toContain(verdict);
    }
    for (const t of targets.slice(-2)) expect(t[3], t[0]).toBe('met');

    const pids = [...err.matchAll(/pids? ([\d ]+)/g)].flatMap((m) => m[1]!.trim().split(' ').map(Number));
    expect(pids.length).toBeGreaterThanOrEqual(2 + 2 * 3);
    expect(pids.filter((pid) => aliveAsOwn(pid, labDir, /service-crr|windowed|sockperf|iperf3|straitctl/))).toEqual([]);
    const netns = sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`strait-${name}`));
    expect(netns).toEqual([]);
    expect(mountsBelow(labDir)).toEqual([]);
    expect(readdirSync(labDir)).toEqual([]);
  }, 300_000);
});
