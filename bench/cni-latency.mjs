#!/usr/bin/env node
// CNI ADD/DEL latency, the rate of parallel ADDs and a burst of pods: strait through
// the node's strait-agent (bin/strait forwarding to it), strait standalone (a Node.js
// plugin per call) and the reference bridge + host-local plugins from Debian's
// containernetworking-plugins, interleaved in one run so that drift on a shared
// machine hits all alike. Through the agent, the shim reports (STRAIT_SHIM_TRACE=1)
// how long the agent itself worked and how long it took from its start to the whole
// answer; the difference is the shim's own round trip (the process's start and exit,
// which every exec'd plugin pays, are shown apart). Issue #11's targets are printed below, met or MISSED.
//   usage: node bench/cni-latency.mjs [reps=30] [--parallel 32] [--burst 100] [--rounds 3]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cniCall, median, percentile, printTable, printTargets, rand, requireRoot, sh } from './lib.mjs';

requireRoot('bench/cni-latency');
const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { parallel: { type: 'string', default: '32' }, burst: { type: 'string', default: '100' }, rounds: { type: 'string', default: '3' } },
});
const count = (v, what) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench/cni-latency: ${what} takes a whole number >= 1, not ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};
const reps = count(positionals[0] ?? '30', 'reps');
const parallel = count(flags.parallel, '--parallel');
const burst = count(flags.burst, '--burst');
const rounds = count(flags.rounds, '--rounds');

const BIN = (n) => fileURLToPath(new URL(`../bin/${n}`, import.meta.url));
const tag = rand();
const tmp = mkdtempSync(join(tmpdir(), 'strait-bench-'));
const bridgeName = `stbr${tag}`;
const AGENT = 'strait agent';
const STANDALONE = 'strait standalone';
const BRIDGE = 'bridge';
const agentDirs = { stateDir: join(tmp, 'agent-state'), bpfDir: join(tmp, 'agent-bpf'), socket: join(tmp, 'agent.sock') };

const straitConfig = (name, subnet, dirs, extra = {}) => ({
  cniVersion: '1.0.0', name, type: 'strait', stateDir: dirs.stateDir, bpfDir: dirs.bpfDir, ...extra,
  ipam: { type: 'strait', ranges: [[{ subnet }]] },
});
const plugins = {
  [AGENT]: {
    bin: BIN('strait'),
    config: straitConfig(`bench-a-${tag}`, '198.18.192.0/22', agentDirs, { agentSocket: agentDirs.socket }),
    env: { STRAIT_SHIM_TRACE: '1' },
  },
  [STANDALONE]: {
    bin: BIN('strait'),
    config: straitConfig(`bench-s-${tag}`, '198.18.200.0/22', { stateDir: join(tmp, 'sa-state'), bpfDir: join(tmp, 'sa-bpf') }),
    env: {},
  },
  [BRIDGE]: {
    bin: '/usr/lib/cni/bridge',
    config: {
      cniVersion: '1.0.0', name: `benchbr-${tag}`, type: 'bridge', bridge: bridgeName, isGateway: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: '198.18.196.0/22' }]], dataDir: join(tmp, 'host-local') },
    },
    env: {},
  },
};
const names = Object.keys(plugins);
const namespaces = new Set();
let agent = null;

function newNetns() {
  const name = `stb-${tag}-${rand(3)}`;
  sh('ip', ['netns', 'add', name]);
  namespaces.add(name);
  return { name, path: `/run/netns/${name}` };
}
function dropNetns(ns) {
  sh('ip', ['netns', 'del', ns.name], { allowFail: true });
  namespaces.delete(ns.name);
}

/** The node's agent on the bench's own state dir, bpffs and socket; resolves once synced. */
async function startAgent() {
  const manifests = join(tmp, 'manifests');
  mkdirSync(manifests);
  const logFile = join(tmp, 'agent.log');
  const out = openSync(logFile, 'a');
  const child = spawn(BIN('strait-agent'), [
    '--node', 'bench', '--source', `dir:${manifests}`, '--state-dir', agentDirs.stateDir, '--bpf-dir', agentDirs.bpfDir,
    '--socket', agentDirs.socket, '--masquerade', 'false',
  ], { stdio: ['ignore', out, out] });
  const exited = new Promise((r) => child.once('exit', r));
  const a = { child, exited, logFile };
  const wait = spawnSync(BIN('straitctl'), ['wait', '--synced', '--timeout', '20', '--socket', agentDirs.socket], { encoding: 'utf8' });
  if (wait.status !== 0) {
    await stopAgent(a);
    throw new Error(`strait-agent did not sync: ${wait.stderr}\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
  }
  return a;
}
async function stopAgent(a) {
  if (a === null || a.child.exitCode !== null || a.child.signalCode !== null) return;
  a.child.kill('SIGTERM');
  const timer = setTimeout(() => a.child.kill('SIGKILL'), 10_000);
  await a.exited;
  clearTimeout(timer);
}

// `strait: agent <socket> answered in <us> us (agent work <us> us)`
const TRACE = /answered in (\d+) us \(agent work (\d+) us\)/;
const add = Object.fromEntries(names.map((n) => [n, []]));
const del = Object.fromEntries(names.map((n) => [n, []]));
const parallelRate = Object.fromEntries(names.map((n) => [n, []]));
const parallelDelRate = Object.fromEntries(names.map((n) => [n, []]));
const burstSecs = Object.fromEntries(names.map((n) => [n, []]));
/** the shim's own part, ms: its process's wall time, and its time to the whole answer, each minus the agent's work */
const shim = { wall: [], inside: [], agentWork: [] };
const startup = [];
/** ms of `strait VERSION`, which the shim answers alone: what starting and ending its process costs */
const shimAlone = [];

async function call(n, command, pod, { traced = false } = {}) {
  const { bin, config, env } = plugins[n];
  const r = await cniCall(bin, command, config, { containerId: pod.containerId, netns: pod.ns.path, env });
  if (traced && n === AGENT) {
    const m = TRACE.exec(r.err);
    if (m === null) throw new Error(`${command} through the agent: no shim trace on stderr: ${r.err}`);
    const [answered, work] = [Number(m[1]) / 1000, Number(m[2]) / 1000];
    shim.wall.push(r.ms - work);
    shim.inside.push(answered - work);
    shim.agentWork.push(work);
  }
  return r.ms;
}
const order = (i) => names.map((_, k) => names[(i + k) % names.length]); // each setup in each position alike

/** `size` pods ADDed at once, then DELed at once: seconds until the last ADD returned, and the DELs' rate */
async function wave(n, size, label) {
  const pods = Array.from({ length: size }, (_, k) => ({ ns: newNetns(), containerId: `${label}-${n.replace(' ', '')}-${k}-${tag}` }));
  try {
    const t0 = process.hrtime.bigint();
    await Promise.all(pods.map((p) => call(n, 'ADD', p)));
    const addSecs = Number(process.hrtime.bigint() - t0) / 1e9;
    const t1 = process.hrtime.bigint();
    await Promise.all(pods.map((p) => call(n, 'DEL', p)));
    return { addSecs, delRate: size / (Number(process.hrtime.bigint() - t1) / 1e9) };
  } finally {
    pods.forEach((p) => dropNetns(p.ns));
  }
}

try {
  agent = await startAgent();
  // One untimed ADD and DEL each: the first call of a setup loads its objects and code.
  for (const n of names) {
    const pod = { ns: newNetns(), containerId: `benchw-${n.replace(' ', '')}-${tag}` };
    await call(n, 'ADD', pod);
    await call(n, 'DEL', pod);
    dropNetns(pod.ns);
  }
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    sh(process.execPath, ['-e', '0']);
    startup.push(Number(process.hrtime.bigint() - t0) / 1e6);
    shimAlone.push((await cniCall(BIN('strait'), 'VERSION', {}, { containerId: '', netns: '' })).ms);
    for (const n of order(i)) {
      const pod = { ns: newNetns(), containerId: `bench-${n.replace(' ', '')}-${i}-${tag}` };
      add[n].push(await call(n, 'ADD', pod, { traced: true }));
      del[n].push(await call(n, 'DEL', pod, { traced: true }));
      dropNetns(pod.ns);
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (const n of order(round)) {
      const w = await wave(n, parallel, `benchp${round}`);
      parallelRate[n].push(parallel / w.addSecs);
      parallelDelRate[n].push(w.delRate);
    }
    for (const n of order(round)) burstSecs[n].push((await wave(n, burst, `benchb${round}`)).addSecs);
  }
  const row = (metric, unit, better, f) => ({ metric, unit, better, values: Object.fromEntries(names.map((n) => [n, f(n)])) });
  printTable(
    `CNI latency, ${reps} interleaved repetitions, ${rounds} rounds of ${parallel} parallel and of ${burst} at once, ${new Date().toISOString()} (node startup alone: p50 ${median(startup).toFixed(1)} ms)`,
    names,
    [AGENT, STANDALONE],
    [BRIDGE],
    [
      row('ADD p50', 'ms', 'lower', (n) => median(add[n])),
      row('ADD p99', 'ms', 'lower', (n) => percentile(add[n], 99)),
      row('DEL p50', 'ms', 'lower', (n) => median(del[n])),
      row('DEL p99', 'ms', 'lower', (n) => percentile(del[n], 99)),
      row(`${parallel} parallel ADDs`, 'ADD/s', 'higher', (n) => median(parallelRate[n])),
      row(`${parallel} parallel DELs`, 'DEL/s', 'higher', (n) => median(parallelDelRate[n])),
      row(`burst of ${burst}: all ready`, 's', 'lower', (n) => median(burstSecs[n])),
      row(`burst of ${burst}: rate`, 'pods/s', 'higher', (n) => burst / median(burstSecs[n])),
    ],
  );
  console.log(
    `\nshim round trip through the agent (${shim.wall.length} ADDs and DELs): process wall time minus agent work p50 ${median(shim.wall).toFixed(2)} ms, p99 ${percentile(shim.wall, 99).toFixed(2)} ms;` +
      ` start to whole answer minus agent work p50 ${median(shim.inside).toFixed(2)} ms, p99 ${percentile(shim.inside, 99).toFixed(2)} ms; agent work p50 ${median(shim.agentWork).toFixed(2)} ms;` +
      ` the shim's process alone (VERSION, no agent) p50 ${median(shimAlone).toFixed(2)} ms`,
  );
  const ratio = (f, n) => f(n) / f(BRIDGE);
  printTargets('issue #11 targets (strait through the agent)', [
    { target: 'ADD p50 / bridge', value: ratio((n) => median(add[n]), AGENT), bound: 'max', limit: 0.5, unit: 'x' },
    { target: 'DEL p50 / bridge', value: ratio((n) => median(del[n]), AGENT), bound: 'max', limit: 0.5, unit: 'x' },
    { target: `${parallel} parallel ADDs rate / bridge`, value: ratio((n) => median(parallelRate[n]), AGENT), bound: 'min', limit: 2, unit: 'x' },
    // The binary's own overhead: from its start to the agent's whole answer, less the
    // agent's work. Starting a process at all (VERSION alone above) is paid by every
    // plugin a runtime execs, bridge too, and is in every ADD and DEL figure.
    { target: 'shim round trip p50 (start to answer, less agent work)', value: median(shim.inside), bound: 'max', limit: 2, unit: ' ms' },
  ]);
} finally {
  await stopAgent(agent);
  for (const name of namespaces) sh('ip', ['netns', 'del', name], { allowFail: true });
  sh('ip', ['link', 'del', bridgeName], { allowFail: true });
  for (const d of [agentDirs.bpfDir, join(tmp, 'sa-bpf')]) sh('umount', ['-l', d], { allowFail: true });
  rmSync(tmp, { recursive: true, force: true });
}
