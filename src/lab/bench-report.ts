// The cluster bench's table: per setup the median over the rounds of each metric,
// its ratio to node → node (the limit), and issue #10's targets beside the ratios
// they apply to. A setup that could not be measured shows FAILED and why, never a
// number. Pure: the bench hands it the samples.

export type Metric = 'throughput' | 'p50' | 'p99';

export interface SetupResult {
  id: string;
  label: string;
  samples: Record<Metric, number[]>;
  /** why this setup has no figures (it could not be built, reached or measured), or null */
  failure: string | null;
}

export interface Target {
  setup: string;
  metric: Metric;
  /** 'min': the ratio must be at least `ratio` (throughput); 'max': at most (latency) */
  bound: 'min' | 'max';
  ratio: number;
}

/** Issue #10: native throughput ≥ 1.0 × node → node, native RR p50 ≤ 1.1 ×, VXLAN throughput ≥ 0.92 ×. */
export const TARGETS: readonly Target[] = [
  { setup: 'native', metric: 'throughput', bound: 'min', ratio: 1.0 },
  { setup: 'native', metric: 'p50', bound: 'max', ratio: 1.1 },
  { setup: 'vxlan', metric: 'throughput', bound: 'min', ratio: 0.92 },
];

const METRICS: readonly { metric: Metric; text: string }[] = [
  { metric: 'throughput', text: 'TCP throughput, 1 stream (Gbit/s, higher is better)' },
  { metric: 'p50', text: 'TCP request/response p50 (us, lower is better)' },
  { metric: 'p99', text: 'TCP request/response p99 (us, lower is better)' },
];

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.ceil(s.length / 2) - 1] ?? NaN;
}

export interface TargetVerdict extends Target {
  /** null when either side has no figure */
  value: number | null;
  met: boolean | null;
}

export function verdicts(setups: readonly SetupResult[], baseline: string, targets: readonly Target[] = TARGETS): TargetVerdict[] {
  return targets.map((t) => {
    const value = ratio(setups, t.setup, baseline, t.metric);
    return { ...t, value, met: value === null ? null : t.bound === 'min' ? value >= t.ratio : value <= t.ratio };
  });
}

function figure(setups: readonly SetupResult[], id: string, metric: Metric): number | null {
  const s = setups.find((x) => x.id === id);
  if (s?.failure !== null) return null;
  const m = median(s.samples[metric]);
  return Number.isFinite(m) ? m : null;
}

function ratio(setups: readonly SetupResult[], id: string, baseline: string, metric: Metric): number | null {
  const [a, b] = [figure(setups, id, metric), figure(setups, baseline, metric)];
  return a === null || b === null || b === 0 ? null : a / b;
}

const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function ratioCell(setups: readonly SetupResult[], id: string, baseline: string, metric: Metric): string {
  const r = ratio(setups, id, baseline, metric);
  const target = verdicts(setups, baseline).find((t) => t.setup === id && t.metric === metric);
  const text = r === null ? '-' : `${r.toFixed(2)}x`;
  if (target === undefined) return text;
  const want = `target ${target.bound === 'min' ? '>=' : '<='} ${target.ratio.toFixed(2)}x`;
  return `${text} (${want}${target.met === null ? '' : target.met ? ': met' : ': MISSED'})`;
}

/** The table and, below it, each failed setup's reason: the lines to print. */
export function renderReport(title: string, setups: readonly SetupResult[], baseline: string): string[] {
  const base = setups.find((s) => s.id === baseline);
  const others = setups.filter((s) => s.id !== baseline);
  const head = ['metric', ...setups.map((s) => s.label), ...others.map((s) => `${s.id} / ${base?.id ?? baseline}`)];
  const body = METRICS.map(({ metric, text }) => [
    text,
    ...setups.map((s) => {
      const f = figure(setups, s.id, metric);
      return s.failure !== null ? 'FAILED' : f === null ? '-' : fmt(f);
    }),
    ...others.map((s) => ratioCell(setups, s.id, baseline, metric)),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    title,
    '',
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
    ...setups.filter((s) => s.failure !== null).map((s) => `${s.label}: FAILED: ${s.failure ?? ''}`),
  ];
}
