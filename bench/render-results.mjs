#!/usr/bin/env node
// Draws a bench's results again from its results.json (bench/results/<bench>/, see
// results.mjs): <bench>.md and a chart a table, into the same folder or --out DIR,
// named NAME.md, NAME.svg with --name. Benches run it at exit with --charts (they have
// written the Markdown themselves). docs/img/bench-services.svg is drawn by
//   node bench/render-results.mjs docs/img/bench-services.json --name bench-services --charts
//   usage: node bench/render-results.mjs RESULTS.json [--out DIR] [--name NAME] [--charts]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { chartSvg } from './chart.mjs';
import { chartFiles, markdown } from './results.mjs';

let args;
try {
  args = parseArgs({ allowPositionals: true, options: { out: { type: 'string' }, name: { type: 'string' }, charts: { type: 'boolean' } } });
  if (args.positionals.length !== 1) throw new Error('takes one results.json');
  if (args.values.name !== undefined && !/^[\w.-]+$/.test(args.values.name)) throw new Error("--name takes letters, digits, '.', '-' and '_'");
} catch (err) {
  console.error(`bench/render-results: ${err.message}\nusage: node bench/render-results.mjs RESULTS.json [--out DIR] [--name NAME] [--charts]`);
  process.exit(2);
}
const file = args.positionals[0];
const results = JSON.parse(readFileSync(file, 'utf8'));
const out = args.values.out ?? dirname(file);
const name = args.values.name ?? results.bench;
mkdirSync(out, { recursive: true });
if (!args.values.charts) writeFileSync(join(out, `${name}.md`), markdown(results, name));
for (const [table, svg] of chartFiles(results, name)) writeFileSync(join(out, svg), await chartSvg(table, results));
