#!/usr/bin/env node
// Pods across nodes: node -> node over the underlay (the limit), pod -> pod across
// nodes with strait native routing, with strait VXLAN, and with the reference bridge +
// host-local plugins and static host routes, interleaved round by round in one run;
// ratios to node -> node beside issue #10's targets. The same as `straitctl lab
// bench` (src/lab/bench.ts, built into dist/ by scripts/build.sh).
//   usage: node bench/cluster.mjs [--rounds N] [--seconds S] [--name NAME] [--dir DIR]
import { parseArgs } from 'node:util';
import { requireRoot } from './lib.mjs';

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
process.exitCode = await clusterBench(opts);
