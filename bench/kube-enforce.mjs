#!/usr/bin/env node
// --source kube end to end, through real agents on a three-node lab (src/lab) whose
// API server is the emulation (src/lab/kube-api) in the lab's outside netns:
//  1. API change -> enforced on every node: a NetworkPolicy denying ingress to one
//     target pod per node is created, then deleted, round after round; from the write's
//     answer to the moment real TCP probes (a connect every --interval ms from a pod on
//     the next node) flip on every node, p50/p99; beside it, in as many rounds again,
//     the agents' own word (their NetworkPolicy resourceVersion reached the write's and
//     they are synced, polled every --interval ms);
//  2. node 1's whole agent process (RSS, V8 heap after two full GCs, read through the
//     inspector: NODE_OPTIONS=--expose-gc --inspect on the node's own loopback) with
//     0, 1,000 and --pods Pods (50 namespaces, on 100 other nodes) and --policies
//     NetworkPolicies, per 1,000 pods and per 1,000 policies;
//  3. its time from start to `straitctl wait --synced` with --pods Pods, beside the
//     source alone (bench/kube-source.mjs).
// Issue #12's goals: p99 < 100 ms with 3 nodes, <= 3 KiB per pod.
//   usage: node bench/kube-enforce.mjs [--rounds 30] [--interval 5] [--pods 10000]
//          [--policies 1000] [--name NAME] [--dir DIR]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { NS, namespaceBody, podBody, podsPath, policiesPath, policyBody, seed } from './kube-objects.mjs';
import { labDown, percentile, printTable, printTargets, rand, requireRoot } from './lib.mjs';

requireRoot('bench/kube-enforce');
const ROOT = new URL('../', import.meta.url).pathname;
const { EmulatedCluster } = await import(`${ROOT}dist/lab/cluster.js`);
const { inNetns, NODE } = await import(`${ROOT}dist/lab/run.js`);
const { POD_PORT } = await import(`${ROOT}dist/lab/topology.js`);
const { stopAgent } = await import(`${ROOT}dist/lab/teardown.js`);
const { agentRequest } = await import(`${ROOT}dist/agent/client.js`);
const { apiRequest, applyObject, removeObject } = await import(`${ROOT}dist/lab/kube-api/client.js`);

/**
 * The bench's writes, straight over the emulation's unix socket (the lab's own go
 * through a process per object, too slow to seed 10,000 pods), each answered with the
 * resourceVersion it made, which a round is timed from.
 */
function apiWriter(socket) {
  return {
    async apply(obj) {
      return Number((await applyObject(socket, obj)).metadata.resourceVersion);
    },
    async remove(obj) {
      const written = {};
      await removeObject(socket, obj.kind, obj.metadata.namespace ?? null, obj.metadata.name, written);
      const rv = Object.values(written)[0];
      if (rv === undefined) throw new Error(`deleting ${obj.kind} ${obj.metadata.name}: it was not there`);
      return rv;
    },
    async post(path, obj) {
      const res = await apiRequest(socket, 'POST', path, obj);
      if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.json)}`);
    },
  };
}

const { values } = parseArgs({ options: { rounds: { type: 'string' }, interval: { type: 'string' }, pods: { type: 'string' }, policies: { type: 'string' }, name: { type: 'string' }, dir: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 30);
const INTERVAL = Number(values.interval ?? 5);
const PODS = Number(values.pods ?? 10_000);
const POLICIES = Number(values.policies ?? 1_000);
for (const [flag, v] of [['--rounds', ROUNDS], ['--interval', INTERVAL], ['--pods', PODS], ['--policies', POLICIES]]) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`bench/kube-enforce: ${flag} takes a positive integer`);
    process.exit(2);
  }
}
/** a denied SYN is dropped: a connect not answered within this is a refusal */
const PROBE_TIMEOUT = 150;
const INSPECT_PORT = 9229;
const NODES = 3;
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint();
const ms = (a, b) => Number(a - b) / 1e6;
const say = (line) => console.error(line);

const DENY = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bench-deny', namespace: 'lab' }, spec: { podSelector: { matchLabels: { role: 'target' } }, policyTypes: ['Ingress'] } };

/** A flip-probe process in a pod: its current verdict and when (hrtime) the probes last changed to it. */
function startProber(pod, target, children) {
  const [cmd, args] = inNetns(pod.netns, NODE, [`${ROOT}bench/kube-enforce/flip-probe.mjs`, target.ips[0], String(POD_PORT), String(INTERVAL), String(PROBE_TIMEOUT)]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  say(`prober in ${pod.name} -> ${target.name}: pid ${child.pid}`);
  const p = { node: target.node, state: null, since: 0n };
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = JSON.parse(line);
    p.state = m.ok;
    p.since = BigInt(m.t);
  });
  return p;
}

/** Until every prober has held `ok` for longer than a probe's timeout (no answer still pending can flip it back). */
async function settled(probers, ok, deadline) {
  while (now() < deadline) {
    const t = now();
    if (probers.every((p) => p.state === ok && ms(t, p.since) > PROBE_TIMEOUT + 50)) return true;
    await pause(INTERVAL);
  }
  return false;
}

async function policyRv(socket) {
  const res = await agentRequest(socket, 'GET', '/v1/status').catch(() => null);
  if (res?.status !== 200 || !res.json.synced) return -1;
  return Number(res.json.source?.resources.find((r) => r.resource === 'networkpolicies')?.resourceVersion ?? -1);
}

/** When (hrtime) each agent first says it is synced at resourceVersion `rv` or later. */
async function statusReached(sockets, rv, deadline) {
  return Promise.all(
    sockets.map(async (s) => {
      while (now() < deadline) {
        if ((await policyRv(s)) >= rv) return now();
        await pause(INTERVAL);
      }
      throw new Error(`the agent at ${s} did not report resourceVersion ${rv}`);
    }),
  );
}

/**
 * ROUNDS rounds measured by the probes alone, then ROUNDS more by the agents' status
 * (its polling costs the agents' one thread, so it would lengthen the probes' figure).
 */
async function enforceRounds(lab, api, probers) {
  const enforced = [];
  const reported = [];
  const sockets = lab.state.nodes.map((n) => n.socket);
  if (!(await settled(probers, true, now() + 20_000_000_000n))) throw new Error('the probes did not all pass before the first policy');
  for (let r = 0; r < 2 * ROUNDS; r++) {
    const byStatus = r >= ROUNDS;
    const deny = r % 2 === 0;
    const rv = deny ? await api.apply(DENY) : await api.remove(DENY);
    const answered = now();
    const deadline = answered + 15_000_000_000n;
    const [status, ok] = await Promise.all([byStatus ? statusReached(sockets, rv, deadline) : null, settled(probers, !deny, deadline)]);
    if (!ok) throw new Error(`round ${r}: the probes did not all ${deny ? 'fail' : 'pass'}: ${JSON.stringify(probers.map((p) => p.state))}`);
    if (byStatus) reported.push(Math.max(...status.map((t) => ms(t, answered))));
    else enforced.push(Math.max(...probers.map((p) => ms(p.since, answered))));
  }
  return { enforced, reported };
}

function agentMemory(lab) {
  const n = lab.node(1);
  const [cmd, args] = inNetns(n.netns, NODE, [`${ROOT}bench/kube-enforce/agent-memory.mjs`, String(INSPECT_PORT)]);
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`reading the agent's memory: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Node 1's agent, started on the API as it is now: time to synced, then its memory; stopped again. */
async function measureAgent(lab) {
  const t0 = now();
  await lab.restartAgent(1, { env: { NODE_OPTIONS: `--expose-gc --inspect=127.0.0.1:${INSPECT_PORT}` } });
  const syncMs = ms(now(), t0);
  say(`node 1's agent (pid ${lab.node(1).agentPid}) synced in ${syncMs.toFixed(0)} ms`);
  const mem = agentMemory(lab);
  const problems = [];
  await stopAgent(lab.node(1), problems);
  if (problems.length > 0) throw new Error(problems.join('; '));
  return { syncMs, heap: mem.heapUsed, heapTotal: mem.heapTotal, rss: mem.rss };
}

async function memoryRuns(lab, api) {
  const problems = [];
  for (const n of lab.state.nodes) await stopAgent(n, problems);
  if (problems.length > 0) throw new Error(problems.join('; '));
  for (let i = 0; i < NS; i++) await api.post('/api/v1/namespaces', namespaceBody(i));
  await measureAgent(lab); // warm: the page cache of node_modules and dist
  const runs = [];
  let pods = 0;
  for (const count of [...new Set([0, Math.min(1000, PODS), PODS])]) {
    await seed(pods, count, (i) => api.post(podsPath(i), podBody(i)));
    pods = count;
    runs.push({ pods, policies: 0, ...(await measureAgent(lab)) });
  }
  await seed(0, POLICIES, (i) => api.post(policiesPath(i), policyBody(i)));
  runs.push({ pods, policies: POLICIES, ...(await measureAgent(lab)) });
  return runs;
}

/** bench/kube-source.mjs with the same counts: its initial sync figure. */
function sourceAlone() {
  const r = spawnSync(NODE, ['--expose-gc', `${ROOT}bench/kube-source.mjs`, '--pods', String(PODS), '--policies', String(POLICIES)], { encoding: 'utf8', timeout: 600_000 });
  const m = /^initial sync, \d+ pods \(.*\): (\d+) ms$/m.exec(r.stdout);
  if (r.status !== 0 || m === null) throw new Error(`bench/kube-source.mjs: ${r.stderr}${r.stdout}`);
  return Number(m[1]);
}

const children = [];
const labDir = values.dir ?? mkdtempSync(join(tmpdir(), 'strait-kube-enforce-'));
// The lab on --source kube: its API emulation in the outside netns, its agents on it,
// and every object it writes (Nodes, Pods before and after ADD) written to the API.
const lab = await EmulatedCluster.up({ nodes: NODES, podsPerNode: 0, routing: 'native', dualStack: true, source: 'kube', name: values.name ?? `ke${rand(2)}`, labDir, log: say });
let result = null;
try {
  const api = apiWriter(lab.state.api.socket);
  say(`API emulation: pid ${lab.state.api.pid}`);
  for (const n of lab.state.nodes) say(`agent of ${n.name} on --source kube: pid ${n.agentPid}`);
  for (let i = 1; i <= NODES; i++) {
    for (const role of ['target', 'client']) await lab.addPod(i, { name: `n${i}-${role[0]}`, labels: { role }, sync: false });
  }
  lab.waitSynced();
  // the client on node i+1 probes the target on node i: every node's ingress is under test
  const probers = [];
  for (let i = 1; i <= NODES; i++) probers.push(startProber(lab.pod(`n${(i % NODES) + 1}-c`), lab.pod(`n${i}-t`), children));
  const rounds = await enforceRounds(lab, api, probers);
  for (const c of children) c.kill('SIGKILL');
  const memory = await memoryRuns(lab, api);
  result = { rounds, memory };
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await labDown(lab);
}

const alone = sourceAlone();
const { enforced, reported } = result.rounds;
const base = result.memory[0];
const full = result.memory.at(-2);
const withPolicies = result.memory.at(-1);
const kib = (bytes, n) => bytes / n / 1024;
const rows = [
  { metric: `API change -> every node enforces, probe-verified, p50 (${ROUNDS} rounds)`, unit: 'ms', values: { strait: percentile(enforced, 50) }, better: 'lower' },
  { metric: 'API change -> every node enforces, probe-verified, p99', unit: 'ms', values: { strait: percentile(enforced, 99) }, better: 'lower' },
  { metric: `API change -> every agent reports it (status), p50 (${ROUNDS} more rounds)`, unit: 'ms', values: { strait: percentile(reported, 50) }, better: 'lower' },
  { metric: 'API change -> every agent reports it (status), p99', unit: 'ms', values: { strait: percentile(reported, 99) }, better: 'lower' },
  { metric: 'agent RSS, 0 pods', unit: 'MiB', values: { strait: base.rss / 2 ** 20 }, better: 'lower' },
  { metric: 'agent heap after GC, 0 pods', unit: 'MiB', values: { strait: base.heap / 2 ** 20 }, better: 'lower' },
  ...result.memory.slice(1, -1).flatMap((m) => [
    { metric: `agent heap after GC per pod, ${m.pods} pods`, unit: 'KiB', values: { strait: kib(m.heap - base.heap, m.pods) }, better: 'lower' },
    { metric: `agent RSS per pod, ${m.pods} pods`, unit: 'KiB', values: { strait: kib(m.rss - base.rss, m.pods) }, better: 'lower' },
    // what V8 keeps committed for its heap after the GCs: where RSS beyond the live heap goes
    { metric: `agent V8 heap committed per pod, ${m.pods} pods`, unit: 'KiB', values: { strait: kib(m.heapTotal - base.heapTotal, m.pods) }, better: 'lower' },
  ]),
  { metric: `agent heap after GC per policy, ${POLICIES} policies`, unit: 'KiB', values: { strait: kib(withPolicies.heap - full.heap, POLICIES) }, better: 'lower' },
  { metric: `agent RSS per policy, ${POLICIES} policies`, unit: 'KiB', values: { strait: kib(withPolicies.rss - full.rss, POLICIES) }, better: 'lower' },
  { metric: `initial sync, ${full.pods} pods: agent start -> straitctl wait --synced`, unit: 'ms', values: { strait: full.syncMs }, better: 'lower' },
  { metric: `initial sync, ${full.pods} pods: the source alone (bench/kube-source)`, unit: 'ms', values: { strait: alone }, better: 'lower' },
];
printTable(`--source kube through real agents, ${NODES} nodes (probes every ${INTERVAL} ms)`, ['strait'], 'strait', [], rows);
printTargets("issue #12's targets", [
  { target: 'API change -> enforced on every node, p99', value: percentile(enforced, 99), bound: 'max', limit: 100, unit: ' ms' },
  { target: `agent heap per pod (${full.pods} pods)`, value: kib(full.heap - base.heap, full.pods), bound: 'max', limit: 3, unit: ' KiB' },
  { target: `agent RSS per pod (${full.pods} pods)`, value: kib(full.rss - base.rss, full.pods), bound: 'max', limit: 3, unit: ' KiB' },
]);
