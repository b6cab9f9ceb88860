#!/usr/bin/env node
// --source kube at scale, against the API emulation run as its own process on
// loopback (so its memory is not counted): the time from start() to the first
// delivered state with N pods, and what the source keeps per 1,000 pods and per 1,000
// NetworkPolicies (heap after a full GC, minus the same source over an empty cluster).
// Issue #12's goals: <= 3 KiB per pod (Cilium reports +10.5 KiB).
//   usage: node --expose-gc bench/kube-source.mjs [--pods N] [--policies N] [--page N]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { NS, namespaceBody, podBody, podsPath, policiesPath, policyBody, seed } from './kube-objects.mjs';

const { values } = parseArgs({ options: { pods: { type: 'string' }, policies: { type: 'string' }, page: { type: 'string' } } });
const PODS = Number(values.pods ?? 10_000);
const POLICIES = Number(values.policies ?? 1_000);
const PAGE = Number(values.page ?? 500);
if (typeof global.gc !== 'function') {
  console.error('bench/kube-source: run with node --expose-gc');
  process.exit(2);
}
const { KubeSource, loadKubeConfig } = await import('../dist/agent/sources/kube.js');

const dir = mkdtempSync(join(tmpdir(), 'strait-kube-bench-'));
const kubeconfig = join(dir, 'kubeconfig');
const emu = spawn(process.execPath, [new URL('../dist/lab/kube-api/main.js', import.meta.url).pathname, '--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  let out = '';
  emu.stdout.on('data', (d) => {
    out += d;
    const m = /^(http:\/\/\S+)$/m.exec(out);
    if (m) resolve(m[1]);
  });
  emu.once('exit', (code) => reject(new Error(`the emulation exited (${code})`)));
});

async function post(path, body) {
  const r = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${await r.text()}`);
}
const log = pino({ level: 'silent' });
const kc = loadKubeConfig(kubeconfig);
let held = null;
async function measure() {
  const src = new KubeSource(kc, log, (state) => (held = state), { pageSize: PAGE });
  const t0 = process.hrtime.bigint();
  await src.start();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  global.gc();
  global.gc();
  const heap = process.memoryUsage().heapUsed;
  // the state stays held until here, as the agent's core holds it
  const seen = { pods: held.pods.length, policies: held.policies.length };
  src.close();
  held = null;
  global.gc();
  return { ms, heap, seen };
}

try {
  for (let i = 0; i < NS; i++) await post('/api/v1/namespaces', namespaceBody(i));
  await measure(); // warm up: modules, client-node, JIT
  const empty = await measure();
  await seed(0, PODS, (i) => post(podsPath(i), podBody(i)));
  const pods = await measure();
  await seed(0, POLICIES, (i) => post(policiesPath(i), policyBody(i)));
  const both = await measure();
  if (pods.seen.pods !== PODS || both.seen.policies !== POLICIES) throw new Error(`the source delivered ${JSON.stringify(both.seen)}`);
  const kib = (bytes, n) => ((bytes / n) * 1000) / 1024;
  console.log(`initial sync, ${PODS} pods (${NS} namespaces, pages of ${PAGE}): ${pods.ms.toFixed(0)} ms`);
  console.log(`initial sync, ${PODS} pods + ${POLICIES} policies: ${both.ms.toFixed(0)} ms`);
  console.log(`memory per 1,000 pods: ${kib(pods.heap - empty.heap, PODS).toFixed(0)} KiB (${((pods.heap - empty.heap) / PODS / 1024).toFixed(2)} KiB per pod; goal <= 3)`);
  console.log(`memory per 1,000 NetworkPolicies: ${kib(both.heap - pods.heap, POLICIES).toFixed(0)} KiB`);
} finally {
  emu.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
