// bench/cni-latency.mjs in small (2 repetitions, a few pods at once): it measures all
// three setups (strait through its agent, standalone, bridge + host-local), prints a
// figure in every cell and each of issue #11's targets with a verdict, and leaves no
// namespace, mount, temp dir or agent behind. No figure is asserted: only that it ran.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sh } from '../helpers/sys.js';
import { missingCommands } from './wait.js';

const BENCH = fileURLToPath(new URL('../../bench/cni-latency.mjs', import.meta.url));
const cells = (line: string): string[] => line.split('|').slice(1, -1).map((c) => c.trim());
const rowsAfter = (lines: string[], head: string): string[][] => {
  const at = lines.findIndex((l) => l.startsWith(`| ${head}`));
  expect(at, `a table headed "${head}"`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (let i = at + 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(cells(lines[i]!));
  return rows;
};

/** What the bench could leave: namespaces, mounts, temp dirs, agents (by their socket in its temp dir). */
function traces(): string[] {
  const netns = sh('ip', ['netns', 'list']).split('\n').filter((l) => l.startsWith('stb-'));
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes('/strait-bench-'));
  const dirs = readdirSync(tmpdir()).filter((d) => d.startsWith('strait-bench-'));
  const agents = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('/strait-bench-');
    } catch {
      return false;
    }
  });
  return [...netns.map((n) => `netns ${n}`), ...mounts.map((m) => `mount ${m}`), ...dirs.map((d) => `dir ${d}`), ...agents.map((p) => `pid ${p}`)];
}

const runnable = process.getuid?.() === 0 && missingCommands(['ip']).length === 0;

describe.skipIf(!runnable)('bench/cni-latency', () => {
  it('measures strait through the agent, standalone and bridge, judges each target, and removes everything', () => {
    const before = traces();
    const r = spawnSync(process.execPath, [BENCH, '2', '--parallel', '3', '--burst', '5', '--rounds', '1'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');

    const table = rowsAfter(lines, 'metric');
    expect(cells(lines.find((l) => l.startsWith('| metric'))!)).toEqual([
      'metric', 'strait agent', 'strait standalone', 'bridge', 'strait agent/bridge', 'strait standalone/bridge',
    ]);
    expect(table.map((row) => row[0]!.replace(/ \(.*/, ''))).toEqual([
      'ADD p50', 'ADD p99', 'DEL p50', 'DEL p99', '3 parallel ADDs', '3 parallel DELs', 'burst of 5: all ready', 'burst of 5: rate',
    ]);
    for (const row of table) {
      for (const c of row.slice(1, 4)) expect(Number(c), row.join(' | ')).toBeGreaterThan(0);
      for (const c of row.slice(4)) expect(c).toMatch(/^\d+\.\d\dx$/);
    }

    expect(r.stdout).toMatch(/shim round trip through the agent \(4 ADDs and DELs\): process wall time minus agent work p50 \d+\.\d\d ms/);
    const targets = rowsAfter(lines, 'target');
    expect(targets.map((t) => t[0])).toEqual(['ADD p50 / bridge', 'DEL p50 / bridge', '3 parallel ADDs rate / bridge', 'shim round trip p50 (start to answer, less agent work)']);
    for (const t of targets) expect(t[3]).toMatch(/^(met|MISSED)$/);

    expect(traces()).toEqual(before);
  }, 150_000);
});
