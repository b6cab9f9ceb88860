// The cluster bench's flags and its table (no root): medians over the rounds, ratios
// to node -> node, issue #10's targets beside the ratios they bound (met or MISSED),
// and a setup that could not be measured shown as FAILED with its reason, never as
// a number or a ratio.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { median, renderReport, verdicts, type SetupResult } from '../../src/lab/bench-report.js';
import { benchOptions } from '../../src/lab/bench.js';
import { parseIperf, parseSockperf } from '../../src/lab/bench-measure.js';

const result = (id: string, throughput: number[], p50: number[], p99: number[], failure: string | null = null): SetupResult => ({
  id,
  label: `${id} path`,
  samples: { throughput, p50, p99 },
  failure,
});

const cells = (line: string): string[] => line.split('|').slice(1, -1).map((c) => c.trim());

describe('cluster bench flags', () => {
  it('defaults to 3 rounds of 3 s and a random lab name that leaves room for the suffixes', () => {
    const o = benchOptions({});
    expect(o).toMatchObject({ rounds: 3, seconds: 3, labDir: '/run/strait/lab' });
    expect(o.name).toMatch(/^b[0-9a-f]{6}$/);
    expect(benchOptions({ rounds: '5', seconds: '1', name: 'x', dir: '/tmp/l' })).toEqual({ rounds: 5, seconds: 1, name: 'x', labDir: '/tmp/l' });
  });

  it('refuses what it cannot run with a usage error naming the flag', () => {
    expect(() => benchOptions({ rounds: 'three' })).toThrow(UsageError);
    expect(() => benchOptions({ rounds: '0' })).toThrow(/--rounds/);
    expect(() => benchOptions({ seconds: '1.5' })).toThrow(/--seconds/);
    expect(() => benchOptions({ name: 'abcdefghijkl' })).toThrow(/at most 11/);
    expect(() => benchOptions({ name: 'Bad-Name' })).toThrow(UsageError);
  });

  // the compiled bin/straitctl (dist/): usage errors come before the root check
  it('straitctl lab bench takes them, and the other lab commands refuse them', () => {
    const straitctl = (args: string[]) => spawnSync(fileURLToPath(new URL('../../bin/straitctl', import.meta.url)), args, { encoding: 'utf8' });
    const bad = straitctl(['lab', 'bench', '--rounds', '0']);
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringContaining('--rounds takes a whole number 1..100, not "0"')]);
    expect(bad.stderr).toContain('lab bench [--rounds N] [--seconds S]');
    const misplaced = straitctl(['lab', 'up', '--seconds', '2']);
    expect([misplaced.status, misplaced.stderr]).toEqual([2, expect.stringContaining('--rounds and --seconds are flags of lab bench')]);
  });
});

describe('cluster bench table', () => {
  const node = result('node', [10, 9, 11], [20, 22, 21], [40, 50, 45]);
  const native = result('native', [10.5, 10.2, 9.9], [22, 23, 24], [50, 60, 55]);
  const vxlan = result('vxlan', [8, 9, 8.5], [30, 31, 32], [70, 80, 75]);
  const bridge = result('bridge', [6, 6, 6], [30, 30, 30], [60, 60, 60]);

  it('takes the median of the rounds', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(median([])).toBeNaN();
  });

  it('judges each target on the ratio of medians to node -> node', () => {
    const v = verdicts([node, native, vxlan, bridge], 'node');
    expect(v.map((t) => [t.setup, t.metric, t.value?.toFixed(3), t.met])).toEqual([
      ['native', 'throughput', (10.2 / 10).toFixed(3), true],
      ['native', 'p50', (23 / 21).toFixed(3), true],
      ['vxlan', 'throughput', (8.5 / 10).toFixed(3), false],
    ]);
  });

  it('prints figures, ratios and the targets beside them', () => {
    const lines = renderReport('title', [node, native, vxlan, bridge], 'node');
    expect(lines[0]).toBe('title');
    expect(cells(lines[2]!)).toEqual(['metric', 'node path', 'native path', 'vxlan path', 'bridge path', 'native / node', 'vxlan / node', 'bridge / node']);
    const tput = cells(lines.find((l) => l.includes('throughput'))!);
    expect(tput.slice(1)).toEqual(['10.0', '10.2', '8.50', '6.00', '1.02x (target >= 1.00x: met)', '0.85x (target >= 0.92x: MISSED)', '0.60x']);
    const p50 = cells(lines.find((l) => l.includes('p50'))!);
    expect(p50.slice(5)).toEqual(['1.10x (target <= 1.10x: met)', '1.48x', '1.43x']);
    expect(lines.some((l) => l.includes('FAILED'))).toBe(false);
  });

  it('shows a failed setup as FAILED with its reason and no ratio, its target unjudged', () => {
    const failed = result('native', [], [], [], 'n2-a does not answer ping');
    const lines = renderReport('t', [node, failed, vxlan, bridge], 'node');
    const tput = cells(lines.find((l) => l.includes('throughput'))!);
    expect(tput[2]).toBe('FAILED');
    expect(tput[5]).toBe('- (target >= 1.00x)');
    expect(lines.at(-1)).toBe('native path: FAILED: n2-a does not answer ping');
    expect(verdicts([node, failed], 'node')[0]).toMatchObject({ value: null, met: null });
  });

  it('has no ratios at all when the limit itself failed', () => {
    const lines = renderReport('t', [result('node', [], [], [], 'no reference cluster'), native], 'node');
    expect(cells(lines.find((l) => l.includes('throughput'))!).slice(1)).toEqual(['FAILED', '10.2', '- (target >= 1.00x)']);
  });
});

describe('cluster bench measurements', () => {
  it('reads iperf3 JSON, and its error even when iperf3 exits 0', () => {
    expect(parseIperf({ status: 0, stdout: JSON.stringify({ end: { sum_received: { bits_per_second: 9.5e9 } } }), stderr: '' })).toBe(9.5);
    expect(() => parseIperf({ status: 0, stdout: JSON.stringify({ error: 'unable to connect to server' }), stderr: '' })).toThrow(/unable to connect/);
    expect(() => parseIperf({ status: 1, stdout: 'garbage', stderr: '' })).toThrow(/iperf3: garbage/);
  });

  it("reads sockperf's full round-trip percentiles, and fails without them", () => {
    const out = 'sockperf: ---> percentile 99.000 =   45.120\nsockperf: ---> percentile 50.000 =   21.503\n';
    expect(parseSockperf({ status: 0, stdout: out, stderr: '' })).toEqual({ p50: 21.503, p99: 45.12 });
    expect(() => parseSockperf({ status: 0, stdout: 'sockperf: no percentiles', stderr: '' })).toThrow(/sockperf/);
    expect(() => parseSockperf({ status: 255, stdout: out, stderr: 'connect failed' })).toThrow(/connect failed/);
  });
});
