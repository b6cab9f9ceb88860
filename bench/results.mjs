// Every table a bench prints (lib.mjs printTable, printTargets) is recorded here and,
// when the process exits, written to bench/results/<bench>/ (BENCH_RESULTS_DIR
// instead, if set): results.json (the raw rows), <bench>.md (the same tables in
// Markdown) and a bar chart a table (<bench>.svg, or <bench>-N.svg for several),
// which bench/render-results.mjs draws from results.json in a child process: an 'exit'
// listener can only do synchronous work, and it is the one hook that also runs when a
// bench ends early, by process.exit or an uncaught error, after some tables.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableCells, targetCells } from './table.mjs';

const RENDER = fileURLToPath(new URL('./render-results.mjs', import.meta.url));
const recorded = [];

/** The bench's name: its script's file name without the extension. */
export const benchName = (script = process.argv[1] ?? 'bench') => basename(script, extname(script));

export const resultsDir = (bench) => process.env.BENCH_RESULTS_DIR || fileURLToPath(new URL(`./results/${bench}/`, import.meta.url));

/** Keeps a copy of one printed table ({ kind: 'table' | 'targets', title, ... }) for the exit. */
export function record(entry) {
  if (recorded.length === 0) process.on('exit', writeOnExit);
  recorded.push(structuredClone(entry));
}

function writeOnExit(code) {
  const bench = benchName();
  const dir = resultsDir(bench);
  try {
    const file = writeResults(dir, { bench, written: new Date().toISOString(), exitCode: code, tables: recorded });
    const r = spawnSync(process.execPath, [RENDER, file, '--charts'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 120_000 });
    if (r.status !== 0) throw new Error(`bench/render-results.mjs ${file}: ${r.error?.message ?? `exit ${r.status ?? r.signal}`}`);
    console.log(`\nresults (Markdown, charts, JSON): ${dir}`);
  } catch (err) {
    console.error(`bench results not (all) written: ${err.message}`);
    // A bench whose promised output is missing has failed; a failed one stays failed.
    if (!code) process.exitCode = 1;
  }
}

/** Writes results.json and <bench>.md into dir; returns the JSON file's path. */
export function writeResults(dir, results) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'results.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(dir, `${results.bench}.md`), markdown(results));
  return file;
}

/** The chart file of each table (kind 'table') in results, in order: [entry, file name]. */
export function chartFiles(results, name = results.bench) {
  const tables = results.tables.filter((t) => t.kind === 'table');
  return tables.map((t, i) => [t, tables.length === 1 ? `${name}.svg` : `${name}-${i + 1}.svg`]);
}

/** The tables as the console shows them, in Markdown, each chart beside its table. */
export function markdown(results, name = results.bench) {
  const charts = new Map(chartFiles(results, name));
  const ended = results.exitCode ? `; it exited with status ${results.exitCode}, after these tables` : '';
  const out = [`# bench/${results.bench}.mjs`, '', `Written ${results.written}${ended}.`];
  for (const t of results.tables) {
    const { head, body } = t.kind === 'table' ? tableCells(t.columns, t.subject, t.baselines, t.rows) : targetCells(t.targets);
    out.push('', `## ${cell(t.title)}`, '');
    if (charts.has(t)) out.push(`![${cell(t.title)}](${charts.get(t)})`, '');
    out.push(row(head), `|${head.map(() => '---').join('|')}|`, ...body.map(row));
  }
  return `${out.join('\n')}\n`;
}

const cell = (s) => String(s).replace(/[\\|[\]]/g, '\\$&');
const row = (cells) => `| ${cells.map(cell).join(' | ')} |`;
