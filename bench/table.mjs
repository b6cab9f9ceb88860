// The cells of the benches' two kinds of table, apart from how they are shown: the
// console (lib.mjs), Markdown (results.mjs) and the charts (chart.mjs) all read these,
// so a figure reads the same in each.

/** A figure as every table shows it: 3 significant-ish digits, '-' for none. */
export const fmt = (v) => (typeof v !== 'number' || Number.isNaN(v) ? '-' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** Every (subject, baseline) pair a ratio column is printed for. */
export const ratioPairs = (subject, baselines) => [subject].flat().flatMap((s) => baselines.map((b) => [s, b]));

/** subject/baseline of one row, as "0.78x", or '-' when either figure is missing or 0. */
export const ratio = (row, s, b) => (row.values[b] && row.values[s] ? `${(row.values[s] / row.values[b]).toFixed(2)}x` : '-');

/** rows: [{ metric, unit, values: {name: number}, better: 'lower'|'higher' }] */
export function tableCells(columns, subject, baselines, rows) {
  const pairs = ratioPairs(subject, baselines);
  const head = ['metric', ...columns, ...pairs.map(([s, b]) => `${s}/${b}`)];
  const body = rows.map((r) => [`${r.metric} (${r.unit}, ${r.better} is better)`, ...columns.map((c) => fmt(r.values[c])), ...pairs.map(([s, b]) => ratio(r, s, b))]);
  return { head, body };
}

/** targets: [{ target, value, bound: 'max'|'min', limit, unit }] */
export function targetCells(targets) {
  const body = targets.map((t) => {
    const ok = Number.isFinite(t.value) ? (t.bound === 'max' ? t.value <= t.limit : t.value >= t.limit) : null;
    return [t.target, Number.isFinite(t.value) ? `${fmt(t.value)}${t.unit}` : '-', `${t.bound === 'max' ? '<=' : '>='} ${t.limit}${t.unit}`, ok === null ? '-' : ok ? 'met' : 'MISSED'];
  });
  return { head: ['target', 'measured', 'bound', 'verdict'], body };
}
