#!/usr/bin/env node
// Draws a bench's results again from its results.json (bench/results/<bench>/, see
// results.mjs): <bench>.md and a chart a table, into the same folder or --out DIR.
// Benches run it at exit with --charts (they have written the Markdown themselves).
//   usage: node bench/render-results.mjs RESULTS.json [--out DIR] [--charts]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { chartSvg } from './chart.mjs';
import { chartFiles, markdown } from './results.mjs';

let args;
try {
  args = parseArgs({ allowPositionals: true, options: { out: { type: 'string' }, charts: { type: 'boolean' } } });
  if (args.positionals.length !== 1) throw new Error('takes one results.json');
} catch (err) {
  console.error(`bench/render-results: ${err.message}\nusage: node bench/render-results.mjs RESULTS.json [--out DIR] [--charts]`);
  process.exit(2);
}
const file = args.positionals[0];
const results = JSON.parse(readFileSync(file, 'utf8'));
const out = args.values.out ?? dirname(file);
mkdirSync(out, { recursive: true });
if (!args.values.charts) writeFileSync(join(out, `${results.bench}.md`), markdown(results));
for (const [table, name] of chartFiles(results)) writeFileSync(join(out, name), await chartSvg(table, results));
