#!/usr/bin/env node
// Pods across nodes: node -> node over the underlay (the limit), pod -> pod across
// nodes with strait native routing, with strait VXLAN, and with the reference bridge +
// host-local plugins and static host routes, interleaved round by round in one run;
// ratios to node -> node beside issue #10's targets. The same as `straitctl lab
// bench` (src/lab/bench.ts, built into dist/ by scripts/build.sh).
//   usage: node bench/cluster.mjs [--rounds N] [--seconds S] [--name NAME] [--dir DIR]
import { parseArgs } from 'node:util';
import { median, requireRoot } from './lib.mjs';
import { record } from './results.mjs';

requireRoot('bench/cluster');
const { BENCH_FLAGS, benchOptions, clusterBench } = await import('../dist/lab/bench.js');
let opts;
try {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, name: { type: 'string' }, dir: { type: 'string' } } });
  opts = benchOptions(values);
} catch (e) {
  console.error(`bench/cluster: ${e.message}\nusage: node bench/cluster.mjs ${BENCH_FLAGS}`);
  process.exit(2);
}
// The table clusterBench prints, also into bench/results/cluster/ (Markdown, chart, JSON).
const METRICS = [
  ['throughput', 'TCP throughput, 1 stream', 'Gbit/s', 'higher'],
  ['p50', 'TCP request/response p50', 'us', 'lower'],
  ['p99', 'TCP request/response p99', 'us', 'lower'],
];
const toResults = (title, setups) => {
  const ok = setups.filter((s) => s.failure === null);
  const base = setups.find((s) => s.id === 'node');
  const rows = METRICS.map(([key, metric, unit, better]) => ({ metric, unit, better, values: Object.fromEntries(ok.map((s) => [s.label, median(s.samples[key])])) }));
  const others = ok.filter((s) => s !== base).map((s) => s.label);
  record({ kind: 'table', title, columns: setups.map((s) => s.label), subject: others, baselines: base === undefined ? [] : [base.label], rows });
};
process.exitCode = await clusterBench(opts, toResults);
