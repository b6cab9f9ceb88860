#!/usr/bin/env node
// CNI ADD/DEL latency and the rate of 32 parallel ADDs: strait against the reference
// bridge + host-local plugins from Debian's containernetworking-plugins, interleaved
// in one run so that drift on a shared machine hits both alike.
//   usage: node bench/cni-latency.mjs [reps=30]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cniCall, median, percentile, printTable, rand, requireRoot, sh } from './lib.mjs';

requireRoot('bench/cni-latency');
const reps = Number(process.argv[2] ?? 30);
const STRAIT = fileURLToPath(new URL('../bin/strait', import.meta.url));
const tag = rand();
const tmp = mkdtempSync(join(tmpdir(), 'strait-bench-'));
const bridgeName = `stbr${tag}`;

const plugins = {
  strait: {
    bin: STRAIT,
    config: {
      cniVersion: '1.0.0', name: `bench-${tag}`, type: 'strait', stateDir: join(tmp, 'strait'), bpfDir: join(tmp, 'bpf'),
      ipam: { type: 'strait', ranges: [[{ subnet: '198.18.192.0/22' }]] },
    },
  },
  bridge: {
    bin: '/usr/lib/cni/bridge',
    config: {
      cniVersion: '1.0.0', name: `benchbr-${tag}`, type: 'bridge', bridge: bridgeName, isGateway: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: '198.18.196.0/22' }]], dataDir: join(tmp, 'host-local') },
    },
  },
};
const names = Object.keys(plugins);
const namespaces = new Set();

function newNetns() {
  const name = `stb-${tag}-${rand(2)}`;
  sh('ip', ['netns', 'add', name]);
  namespaces.add(name);
  return { name, path: `/run/netns/${name}` };
}
function dropNetns(ns) {
  sh('ip', ['netns', 'del', ns.name], { allowFail: true });
  namespaces.delete(ns.name);
}

const add = Object.fromEntries(names.map((n) => [n, []]));
const del = Object.fromEntries(names.map((n) => [n, []]));
const parallelRate = Object.fromEntries(names.map((n) => [n, []]));
const startup = [];

try {
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    sh(process.execPath, ['-e', '0']);
    startup.push(Number(process.hrtime.bigint() - t0) / 1e6);
    for (const n of i % 2 ? [...names].reverse() : names) {
      const { bin, config } = plugins[n];
      const ns = newNetns();
      const opts = { containerId: `bench-${n}-${i}-${tag}`, netns: ns.path };
      add[n].push((await cniCall(bin, 'ADD', config, opts)).ms);
      del[n].push((await cniCall(bin, 'DEL', config, opts)).ms);
      dropNetns(ns);
    }
  }
  for (let round = 0; round < 3; round++) {
    for (const n of round % 2 ? [...names].reverse() : names) {
      const { bin, config } = plugins[n];
      const pods = Array.from({ length: 32 }, (_, k) => ({ ns: newNetns(), containerId: `benchp-${n}-${round}-${k}-${tag}` }));
      const t0 = process.hrtime.bigint();
      await Promise.all(pods.map((p) => cniCall(bin, 'ADD', config, { containerId: p.containerId, netns: p.ns.path })));
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      parallelRate[n].push(32 / secs);
      await Promise.all(pods.map((p) => cniCall(bin, 'DEL', config, { containerId: p.containerId, netns: p.ns.path })));
      pods.forEach((p) => dropNetns(p.ns));
    }
  }
  const row = (metric, unit, better, f) => ({ metric, unit, better, values: Object.fromEntries(names.map((n) => [n, f(n)])) });
  printTable(
    `CNI latency, ${reps} interleaved repetitions, ${new Date().toISOString()} (node startup alone: p50 ${median(startup).toFixed(1)} ms)`,
    names,
    'strait',
    ['bridge'],
    [
      row('ADD p50', 'ms', 'lower', (n) => median(add[n])),
      row('ADD p99', 'ms', 'lower', (n) => percentile(add[n], 99)),
      row('DEL p50', 'ms', 'lower', (n) => median(del[n])),
      row('DEL p99', 'ms', 'lower', (n) => percentile(del[n], 99)),
      row('32 parallel ADDs', 'ADD/s', 'higher', (n) => median(parallelRate[n])),
    ],
  );
} finally {
  for (const name of namespaces) sh('ip', ['netns', 'del', name], { allowFail: true });
  sh('ip', ['link', 'del', bridgeName], { allowFail: true });
  sh('umount', ['-l', join(tmp, 'bpf')], { allowFail: true });
  rmSync(tmp, { recursive: true, force: true });
}
