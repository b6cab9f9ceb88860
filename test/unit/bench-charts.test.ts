// The benches' results writer (bench/results.mjs, bench/chart.mjs, driven by lib.mjs's
// printTable and printTargets): the chart is well-formed SVG naming every metric,
// figure and ratio, a missing figure does not break it, the Markdown holds the
// console's cells, and a bench that throws after a table still leaves it behind.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll, tempDir } from '../helpers/sys.js';

interface Row {
  metric: string;
  unit: string;
  better: 'lower' | 'higher';
  values: Record<string, number>;
}
interface Table {
  title: string;
  columns: string[];
  subject: string | string[];
  baselines: string[];
  rows: Row[];
}
interface ChartModule {
  chartSvg: (table: Table, meta: { bench: string; written: string }) => Promise<string>;
}
interface TableModule {
  fmt: (v: number | undefined) => string;
}

const BENCH = fileURLToPath(new URL('../../bench/', import.meta.url));
// The benches are plain .mjs; a specifier in a variable keeps tsc from looking for types.
const load = async <T,>(file: string): Promise<T> => (await import(join(BENCH, file))) as T;
const { chartSvg } = await load<ChartModule>('chart.mjs');
const { fmt } = await load<TableModule>('table.mjs');

afterAll(cleanupAll);

// As bench/service.mjs builds them (its figures from the README), with one figure missing.
const rows: Row[] = [10, 10000].flatMap((size) => [
  { metric: `${size} Services, same node: request/response p50`, unit: 'us', better: 'lower', values: { strait: size === 10 ? 18.0 : 13.6, 'kube-proxy': size === 10 ? 23.1 : 23.6 } },
  { metric: `${size} Services, across nodes: new connections`, unit: 'conn/s', better: 'higher', values: { strait: size === 10 ? 13499 : 13273, 'kube-proxy': size === 10 ? 11945 : NaN } },
]);
const table: Table = { title: 'Services: strait vs kube-proxy <= 1.0x & "quoted" <b>not a tag</b>', columns: ['strait', 'kube-proxy'], subject: 'strait', baselines: ['kube-proxy'], rows };

/** Throws unless `xml` is one well-formed element (tags nest, attributes quoted, entities known). */
function checkWellFormed(xml: string): void {
  const stack: string[] = [];
  let roots = 0;
  const text = (t: string, at: number): void => {
    if (t.includes('<') || t.includes('>')) throw new Error(`raw < or > in text at ${at}`);
    const bad = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(t);
    if (bad) throw new Error(`bare & at ${at + bad.index}`);
  };
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<!--[\s\S]*?-->|<\?xml[^?]*\?>/y;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const end = lt < 0 ? xml.length : lt;
    if (stack.length === 0 && xml.slice(i, end).trim() !== '') throw new Error(`text outside the root at ${i}`);
    text(xml.slice(i, end), i);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    if (!m) throw new Error(`malformed markup at ${lt}: ${xml.slice(lt, lt + 60)}`);
    i = tag.lastIndex;
    const [, close, name, attrs, selfClose] = m;
    if (name === undefined) continue; // comment or prolog
    for (const a of (attrs ?? '').matchAll(/=\s*(?:"([^"]*)"|'([^']*)')/g)) text(a[1] ?? a[2] ?? '', lt);
    const keys = [...(attrs ?? '').matchAll(/([\w:.-]+)\s*=/g)].map((a) => a[1]);
    if (new Set(keys).size !== keys.length) throw new Error(`repeated attribute in <${name}>`);
    if (close) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes nothing open at ${lt}`);
    } else {
      if (stack.length === 0) roots++;
      if (!selfClose) stack.push(name);
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('> <')}>`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
}

/** What a reader sees: every text node, entities decoded, joined by spaces. */
const visibleText = (svg: string): string =>
  [...svg.matchAll(/>([^<]+)</g)]
    .map((m) => m[1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;|&apos;/g, "'").replace(/&amp;/g, '&'))
    .join(' ')
    .replace(/\s+/g, ' ');

describe('the bar chart of a table', () => {
  it('the well-formedness check refuses what is broken', () => {
    expect(() => checkWellFormed('<svg><g></svg>')).toThrow(/closes nothing/);
    expect(() => checkWellFormed('<svg><text>a < b</text></svg>')).toThrow(/malformed|raw/);
    expect(() => checkWellFormed('<svg><text>a & b</text></svg>')).toThrow(/bare &/);
    expect(() => checkWellFormed('<svg a="1" a="2"/>')).toThrow(/repeated/);
    expect(() => checkWellFormed('<svg/><svg/>')).toThrow(/2 root/);
    expect(() => checkWellFormed('<svg x="1"><g/><text>&lt;= &amp;</text></svg>')).not.toThrow();
  });

  it('is well-formed SVG with every metric, figure with its unit and ratio, the title and the time', async () => {
    const svg = await chartSvg(table, { bench: 'service', written: '2026-12-01T00:00:00.000Z' });
    expect(svg.startsWith('<svg')).toBe(true);
    checkWellFormed(svg);
    const seen = visibleText(svg);
    expect(seen).toContain(table.title);
    expect(seen).toContain('bench/service.mjs, written 2026-12-01T00:00:00.000Z');
    for (const r of rows) {
      expect(seen).toContain(r.metric);
      expect(seen).toContain(`${r.unit}, ${r.better} is better`);
      for (const v of Object.values(r.values)) if (!Number.isNaN(v)) expect(seen).toContain(`${fmt(v)} ${r.unit}`);
    }
    for (const ratio of ['0.78x', '1.13x', '0.58x']) expect(seen).toContain(`strait/kube-proxy: ${ratio}`);
  });

  it('draws a missing figure as "-", with no ratio, and no NaN anywhere', async () => {
    const svg = await chartSvg(table, { bench: 'service', written: 'now' });
    const seen = visibleText(svg);
    expect(seen).toContain('strait/kube-proxy: -');
    expect(seen).toMatch(/ - /);
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  });

  it('gives each metric its own panel and scale (the rows have different units)', async () => {
    const svg = await chartSvg(table, { bench: 'service', written: 'now' });
    // a y axis a panel, each to its own scale: the tick labels of each panel's axis
    const axes = [...svg.matchAll(/role-axis-label"[^>]*>((?:<text[^>]*>[^<]*<\/text>)*)<\/g>/g)].map((m) => [...m[1]!.matchAll(/>([^<]*)</g)].map((t) => t[1]));
    expect(axes).toHaveLength(rows.length);
    // microseconds (up to ~24) in the latency panels, thousands in the rate panels
    expect(axes.map((ticks) => ticks.some((t) => t === '20'))).toEqual([true, false, true, false]);
    expect(axes.map((ticks) => ticks.some((t) => t === '10,000'))).toEqual([false, true, false, true]);
    // within README width
    expect(Number(/^<svg[^>]* width="(\d+)"/.exec(svg)![1])).toBeLessThanOrEqual(820);
  });
});

const LIB = join(BENCH, 'lib.mjs');
/** Runs a tiny bench (ESM source) that imports lib.mjs, its results going to a temp folder. */
function runScript(source: string, results = 'results'): { code: number | null; out: string; err: string; dir: string } {
  const where = tempDir('bench-charts');
  const script = join(where, 'tiny.mjs');
  writeFileSync(script, `import { printTable, printTargets } from ${JSON.stringify(LIB)};\n${source}`);
  const dir = join(where, results);
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', env: { ...process.env, BENCH_RESULTS_DIR: dir } });
  return { code: r.status, out: r.stdout, err: r.stderr, dir };
}

const cellsOf = (text: string): string[][] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('| '))
    .map((l) => l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim().replace(/\\([\\|[\]])/g, '$1')));

const TABLE_CALL = `printTable(${JSON.stringify(table.title)}, ${JSON.stringify(table.columns)}, 'strait', ['kube-proxy'], ${JSON.stringify(rows).replace(/null/g, 'NaN')});`;

describe('the results a bench leaves', () => {
  it('has the console tables in Markdown, a chart a table and the raw rows', () => {
    const targets = `printTargets('targets | <= & "x"', [{ target: 'p50 <= & "b"', value: 0.78, bound: 'max', limit: 1, unit: 'x' }, { target: 'none', value: NaN, bound: 'min', limit: 0.9, unit: 'x' }]);`;
    const r = runScript(`${TABLE_CALL}\n${targets}\nprintTable('second', ['time'], 'time', [], [{ metric: 'apply', unit: 'ms', better: 'lower', values: { time: 1234.5 } }]);`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(r.dir).sort()).toEqual(['results.json', 'tiny-1.svg', 'tiny-2.svg', 'tiny.md']);
    const md = readFileSync(join(r.dir, 'tiny.md'), 'utf8');
    expect(cellsOf(md)).toEqual(cellsOf(r.out));
    expect(cellsOf(md).flat()).toEqual(expect.arrayContaining(['18.0', '23.1', '0.78x', '-', '1235', '0.78x', 'met', 'p50 <= & "b"']));
    expect(md).toContain('## targets \\| <= & "x"');
    expect(md).toContain('![second](tiny-2.svg)');
    const json = JSON.parse(readFileSync(join(r.dir, 'results.json'), 'utf8')) as { bench: string; exitCode: number; tables: { kind: string; rows?: Row[] }[] };
    expect(json.bench).toBe('tiny');
    expect(json.exitCode).toBe(0);
    expect(json.tables.map((t) => t.kind)).toEqual(['table', 'targets', 'table']);
    expect(json.tables[0]!.rows![0]!.values).toEqual({ strait: 18, 'kube-proxy': 23.1 });
    for (const f of ['tiny-1.svg', 'tiny-2.svg']) checkWellFormed(readFileSync(join(r.dir, f), 'utf8'));
  });

  it('a bench that throws after one table still writes it, and still fails', () => {
    const r = runScript(`${TABLE_CALL}\nthrow new Error('the lab broke');`);
    expect(r.code).toBe(1);
    expect(r.err).toContain('the lab broke');
    const md = readFileSync(join(r.dir, 'tiny.md'), 'utf8');
    expect(md).toContain('exited with status 1, after these tables');
    expect(cellsOf(md)).toEqual(cellsOf(r.out));
    checkWellFormed(readFileSync(join(r.dir, 'tiny.svg'), 'utf8'));
  });

  it('keeps the exit status a bench set, and writes nothing when it printed no table', () => {
    const failed = runScript(`${TABLE_CALL}\nprocess.exitCode = 3;`);
    expect(failed.code).toBe(3);
    expect(existsSync(join(failed.dir, 'tiny.svg'))).toBe(true);
    const usage = runScript(`console.error('usage: ...'); process.exit(2);`);
    expect(usage.code).toBe(2);
    expect(existsSync(usage.dir)).toBe(false);
  });

  it('a bench whose results cannot be written fails, saying so', () => {
    // the folder would be inside a file: mkdir fails
    const r = runScript(TABLE_CALL, 'tiny.mjs/results');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bench results not \(all\) written: .*ENOTDIR/);
  });

  it('bench/render-results.mjs draws them again from results.json', () => {
    const r = runScript(TABLE_CALL);
    const again = join(r.dir, 'again');
    const re = spawnSync(process.execPath, [join(BENCH, 'render-results.mjs'), join(r.dir, 'results.json'), '--out', again], { encoding: 'utf8' });
    expect(re.stderr).toBe('');
    expect(re.status).toBe(0);
    expect(readFileSync(join(again, 'tiny.md'), 'utf8')).toBe(readFileSync(join(r.dir, 'tiny.md'), 'utf8'));
    expect(readFileSync(join(again, 'tiny.svg'), 'utf8')).toBe(readFileSync(join(r.dir, 'tiny.svg'), 'utf8'));
    const named = spawnSync(process.execPath, [join(BENCH, 'render-results.mjs'), join(r.dir, 'results.json'), '--out', again, '--name', 'other', '--charts'], { encoding: 'utf8' });
    expect(named.status).toBe(0);
    expect(readdirSync(again).sort()).toEqual(['other.svg', 'tiny.md', 'tiny.svg']);
    const bad = spawnSync(process.execPath, [join(BENCH, 'render-results.mjs'), join(r.dir, 'results.json'), '--name', '../x'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--name takes');
  });
});
