// A bench table as an SVG bar chart, drawn by Vega-Lite: one panel per metric (the
// rows have different units, so each gets its own scale), laid out in a grid about
// 800 px wide; in each, a bar per setup (column) labelled with its figure and unit,
// and under the metric's name which way is better and the subject/baseline ratios.
// Vega renders headless here (renderer 'none', no canvas).
import { parse, textMetrics, View } from 'vega';
import { compile } from 'vega-lite';
import { fmt, ratio, ratioPairs } from './table.mjs';

const WIDTH = 800;
/** what one panel takes beside its plot: the y axis and the gap to the next */
const PANEL_EXTRA = 60;

// Without a canvas Vega guesses a text's width as 0.8 em a character, wider than any
// sans-serif, and lays the grid out far wider than it draws; 0.6 em is DejaVu Sans's
// and a little over Helvetica's average (the hook Vega leaves for this; vl-convert sets it too).
textMetrics.width = (item, text) => 0.6 * (item.fontSize ?? 11) * String(text ?? '').trim().length;

/** table: { title, columns, subject, baselines, rows } as printTable takes them. */
export function chartSpec(table, { bench, written }) {
  const pairs = ratioPairs(table.subject, table.baselines);
  const width = Math.max(200, 62 * table.columns.length);
  const perRow = Math.max(1, Math.min(table.rows.length, Math.floor(WIDTH / (width + PANEL_EXTRA))));
  const panels = [];
  const seen = new Map();
  const values = table.rows.flatMap((r) => {
    let panel = [...wrap(r.metric, Math.floor(width / 6.6)), `${r.unit}, ${r.better ?? '?'} is better`, ...pairs.map(([s, b]) => `${s}/${b}: ${ratio(r, s, b)}`)].join('\n');
    // the panel's label is its key: a metric printed twice still gets two panels
    const n = (seen.get(panel) ?? 0) + 1;
    seen.set(panel, n);
    if (n > 1) panel += ` (${n})`;
    panels.push(panel);
    return table.columns.map((setup) => {
      const v = r.values[setup];
      const ok = typeof v === 'number' && Number.isFinite(v);
      return { panel, setup, value: ok ? v : null, label: ok ? `${fmt(v)} ${r.unit}` : '-' };
    });
  });
  const x = { field: 'setup', type: 'nominal', sort: table.columns, axis: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: wrap(table.title, 100), subtitle: `bench/${bench}.mjs, written ${written}`, anchor: 'start' },
    data: { values },
    columns: perRow,
    facet: { field: 'panel', type: 'nominal', sort: panels, header: { title: null, labelExpr: "split(datum.value, '\\n')", labelFontSize: 11, labelAlign: 'left', labelAnchor: 'start' } },
    spec: {
      width,
      height: 110,
      transform: [{ calculate: 'isValid(datum.value) ? datum.value : 0', as: 'y' }],
      layer: [
        { mark: 'bar', encoding: { x, y: { field: 'value', type: 'quantitative', axis: { title: null, tickCount: 4 } }, color: { field: 'setup', type: 'nominal', sort: table.columns, legend: { orient: 'top', title: null } } } },
        { mark: { type: 'text', baseline: 'bottom', dy: -3, fontSize: 10 }, encoding: { x, y: { field: 'y', type: 'quantitative' }, text: { field: 'label' } } },
        // room above the tallest bar for its label
        { transform: [{ calculate: 'datum.y * 1.2', as: 'top' }], mark: { type: 'point', opacity: 0 }, encoding: { x, y: { field: 'top', type: 'quantitative' } } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
    config: { aria: false, background: 'white', view: { stroke: '#ddd' } },
  };
}

export async function chartSvg(table, meta) {
  const view = new View(parse(compile(chartSpec(table, meta)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Greedy word wrap at `max` characters (a longer word keeps its own line). */
function wrap(text, max) {
  const lines = [];
  for (const word of String(text).split(/\s+/)) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + 1 + word.length <= max) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines;
}
