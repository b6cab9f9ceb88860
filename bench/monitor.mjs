#!/usr/bin/env node
// What watching costs, and whether it loses anything (issue #14 item 5). One lab of
// two nodes (src/lab, native routing): a client pod and a server pod on node 1, a
// server pod on node 2.
//   off     flow events off in both datapaths (strait_event_config_v1 cleared), no monitor
//   events  flow events on (the agents' default): records made, read, named and kept
//           in each agent's buffer, nobody watching
//   on      flow events on, and `straitctl monitor -o json` attached to both agents
//           with no filter, its every line read by this bench: the whole stream, the
//           worst case
// Interleaved round by round in one run, same node and across nodes: iperf3 TCP
// throughput (one stream), TCP request/response latency on one connection (sockperf
// ping-pong, p50 and p99), and new connections per second (connect, request,
// response, close: where the records are made), printed as ratios on/off.
// Then the loss run: connections paced at --rate (5,000/s) for --loss-seconds,
// same node then across, each with a monitor on each node filtered to the port: every
// connection must appear as one `new` record on each node it crosses, and no record
// may be lost (the agents' counts by cause, before and after, and the monitors'
// lost notices).
// Targets (the issue's): throughput and request/response within 2 % of off with the
// monitor on; none lost at 5,000 new connections a second.
//   usage: node bench/monitor.mjs [--rounds 3] [--seconds 3] [--rate 5000]
//          [--loss-seconds 10] [--name NAME] [--dir DIR]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { buildCrr, crrClient } from './crr.mjs';
import { holdCpusAwake, labDown, median, printTable, printTargets, rand, requireRoot } from './lib.mjs';

requireRoot('bench/monitor');
const ROOT = new URL('../', import.meta.url).pathname;
const { EmulatedCluster } = await import(`${ROOT}dist/lab/cluster.js`);
const { inNetns, BIN } = await import(`${ROOT}dist/lab/run.js`);
const { requestResponse, startServers, stopServers, throughput } = await import(`${ROOT}dist/lab/bench-measure.js`);
const { agentRequest } = await import(`${ROOT}dist/agent/client.js`);
const bpf = await import(`${ROOT}dist/datapath/bpf.js`);
const { MapName, encodeEventConfig, decodeEventConfig, EVENT_MAP_KEY } = await import(`${ROOT}dist/datapath/maps/index.js`);

const { values } = parseArgs({
  options: { rounds: { type: 'string' }, seconds: { type: 'string' }, rate: { type: 'string' }, 'loss-seconds': { type: 'string' }, name: { type: 'string' }, dir: { type: 'string' } },
});
const ROUNDS = Number(values.rounds ?? 3);
const SECONDS = Number(values.seconds ?? 3);
const RATE = Number(values.rate ?? 5000);
const LOSS_SECONDS = Number(values['loss-seconds'] ?? 10);
const usage = (why) => {
  console.error(`bench/monitor: ${why}\nusage: node bench/monitor.mjs [--rounds N] [--seconds S] [--rate N] [--loss-seconds S] [--name NAME] [--dir DIR]`);
  process.exit(2);
};
for (const [flag, v] of [['--rounds', ROUNDS], ['--seconds', SECONDS], ['--rate', RATE], ['--loss-seconds', LOSS_SECONDS]])
  if (!Number.isInteger(v) || v < 1) usage(`${flag} takes a positive integer`);
const base = values.name ?? `mb${rand(2)}`;
if (!/^[a-z][a-z0-9]{0,10}$/.test(base)) usage('--name takes 1-11 lower-case letters and digits');

const CRR_PORT = 11112;
const say = (line) => console.error(line);

/** Events on or off in a node's datapath, as the agent's --flow-events would set them. */
function setEvents(node, enabled) {
  const fd = bpf.getPinned(join(node.bpfDir, MapName.eventConfig));
  if (fd === null) throw new Error(`${node.name}: no ${MapName.eventConfig} pinned: is the agent's datapath up?`);
  try {
    const cur = bpf.mapLookup(fd, EVENT_MAP_KEY);
    const was = cur === null ? { enabled: false, ratePerCpu: 0, burst: 0 } : decodeEventConfig(cur);
    bpf.mapUpdate(fd, EVENT_MAP_KEY, encodeEventConfig({ ...was, enabled }));
    return was;
  } finally {
    bpf.closeFd(fd);
  }
}

/** The agent's lost counts by cause since it started (GET /v1/flows). */
async function lostOf(node) {
  const r = await agentRequest(node.socket, 'GET', '/v1/flows?last=1');
  if (r.status !== 200) throw new Error(`${node.name}: GET /v1/flows answered ${r.status}: ${JSON.stringify(r.json)}`);
  return r.json.lost;
}

/**
 * `straitctl monitor -o json` against a node's agent; counts the records it prints
 * and those `match` accepts, and collects its lost notices (stderr).
 */
function startMonitor(node, args = [], match = () => false) {
  const child = spawn(BIN('straitctl'), ['monitor', '-o', 'json', '--socket', node.socket, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const m = { child, records: 0, matched: 0, lost: [], errors: '', bad: 0 };
  createInterface({ input: child.stdout }).on('line', (line) => {
    m.records++;
    try {
      if (match(JSON.parse(line))) m.matched++;
    } catch {
      m.bad++;
    }
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    try {
      const j = JSON.parse(line);
      if (j.lost) m.lost.push(j.lost);
      else m.errors += `${line}\n`;
    } catch {
      m.errors += `${line}\n`;
    }
  });
  m.exited = new Promise((resolve) => child.once('exit', resolve));
  return m;
}

async function stopMonitor(m) {
  // let the last records of the run arrive: the agent drains every 10 ms
  await new Promise((r) => setTimeout(r, 300));
  if (m.child.exitCode === null) m.child.kill('SIGINT');
  const code = await m.exited;
  if (code !== 0) throw new Error(`straitctl monitor exited ${code}: ${m.errors}`);
  if (m.bad > 0) throw new Error(`straitctl monitor printed ${m.bad} lines that are not JSON`);
  return m;
}

const connections = (clientNetns, host, seconds, signal, rate) => crrClient(crr, clientNetns, host, CRR_PORT, seconds, signal, rate);

/*
 * Where request/response could pay for monitoring, measured directly, since its
 * latency is too noisy here to resolve 2 %: the datapath's own time per program run
 * (the kernel's bpf_stats over every strait program of both nodes) and the CPU the
 * agents and monitors used, both over the request/response run alone.
 */
function progStats(nodes) {
  let ns = 0;
  let runs = 0;
  for (const n of nodes) {
    for (const dir of readdirSync(n.bpfDir).filter((d) => d.startsWith('progs-'))) {
      for (const prog of readdirSync(join(n.bpfDir, dir))) {
        const r = spawnSync('bpftool', ['-j', 'prog', 'show', 'pinned', join(n.bpfDir, dir, prog)], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`bpftool prog show pinned ${prog}: ${r.stderr}`);
        const j = JSON.parse(r.stdout);
        ns += j.run_time_ns ?? 0;
        runs += j.run_cnt ?? 0;
      }
    }
  }
  return { ns, runs };
}

/** CPU seconds (user + system) the processes have used. */
function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  }
  return ticks / 100; // USER_HZ
}

const tmp = mkdtempSync(join(tmpdir(), 'strait-bench-mon-'));
const crr = buildCrr(tmp);
const labDir = values.dir ?? join(tmp, 'labs');
mkdirSync(labDir, { recursive: true });
const ac = new AbortController();
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(s, (sig) => {
    say(`\n${sig}: stopping; removing everything the bench built`);
    ac.abort();
  });
const releaseCpus = holdCpusAwake();
const statsWere = spawnSync('sysctl', ['-n', 'kernel.bpf_stats_enabled'], { encoding: 'utf8' }).stdout.trim();
if (spawnSync('sysctl', ['-qw', 'kernel.bpf_stats_enabled=1']).status !== 0) throw new Error('cannot enable kernel.bpf_stats_enabled');
const SETUPS = ['off', 'events', 'on'];
const PATHS = { same: 'same node', cross: 'across nodes' };
const samples = Object.fromEntries(SETUPS.map((s) => [s, Object.fromEntries(Object.keys(PATHS).map((p) => [p, { gbps: [], p50: [], p99: [], rate: [], progNs: [], cpu: [] }]))]));
const loss = {};
const servers = [];
let monitors = [];
let lab = null;
try {
  lab = await EmulatedCluster.up({ nodes: 2, podsPerNode: 0, routing: 'native', dualStack: false, name: base, labDir, log: say });
  for (const n of lab.state.nodes) say(`agent of ${n.name}: pid ${n.agentPid}`);
  for (const [i, name] of [[1, 'n1-cl'], [1, 'n1-srv'], [2, 'n2-srv']]) await lab.addPod(i, { name, sync: false });
  lab.waitSynced();
  const [cmd, args] = inNetns(lab.pod('n1-cl').netns, 'sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1']);
  if (spawnSync(cmd, args).status !== 0) throw new Error('cannot set net.ipv4.tcp_tw_reuse in the client pod');
  for (const name of ['n1-srv', 'n2-srv']) {
    const p = lab.pod(name);
    const pids = await startServers({ clientNetns: '', serverNetns: p.netns, serverIp: p.ips[0] }, ac.signal);
    const [c2, a2] = inNetns(p.netns, crr, ['serve', String(CRR_PORT)]);
    const child = spawn(c2, a2, { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((resolve, reject) => {
      child.stdout.once('data', resolve);
      child.once('exit', (code) => reject(new Error(`service-crr serve in ${name} exited (${code})`)));
    });
    child.unref();
    servers.push(...pids, child.pid);
    say(`servers in ${name}: pids ${[...pids, child.pid].join(' ')}`);
  }
  const client = lab.pod('n1-cl').netns;
  const target = { same: lab.pod('n1-srv').ips[0], cross: lab.pod('n2-srv').ips[0] };
  const configs = lab.state.nodes.map((n) => ({ node: n, was: setEvents(n, true) }));
  if (!configs.every((c) => c.was.enabled)) throw new Error('the agents started with flow events off: the bench measures their default, on');

  for (let r = 0; r < ROUNDS; r++) {
    const order = SETUPS.map((_, i) => SETUPS[(i + r) % SETUPS.length]);
    for (const setup of order) {
      for (const n of lab.state.nodes) setEvents(n, setup !== 'off');
      monitors = setup === 'on' ? lab.state.nodes.map((n) => startMonitor(n)) : [];
      // the monitors are attached (their first read) before anything is measured
      await new Promise((res) => setTimeout(res, 500));
      for (const [path, ip] of Object.entries(target)) {
        if (ac.signal.aborted) throw new Error('interrupted');
        const s = samples[setup][path];
        const p = { clientNetns: client, serverNetns: '', serverIp: ip };
        s.gbps.push(await throughput(p, SECONDS, ac.signal));
        const watchers = [...lab.state.nodes.map((n) => n.agentPid), ...monitors.map((m) => m.child.pid)];
        const [stats0, cpu0, t0] = [progStats(lab.state.nodes), cpuSeconds(watchers), process.hrtime.bigint()];
        const l = await requestResponse(p, SECONDS, ac.signal);
        const [stats1, cpu1, t1] = [progStats(lab.state.nodes), cpuSeconds(watchers), process.hrtime.bigint()];
        s.progNs.push((stats1.ns - stats0.ns) / Math.max(1, stats1.runs - stats0.runs));
        s.cpu.push(((cpu1 - cpu0) * 1000) / (Number(t1 - t0) / 1e9));
        s.p50.push(l.p50);
        s.p99.push(l.p99);
        const c = await connections(client, ip, SECONDS, ac.signal);
        s.rate.push(c.conns / c.seconds);
        say(`round ${r + 1}, events ${setup}, ${PATHS[path]}: ${s.gbps.at(-1).toFixed(1)} Gbit/s, rr p50 ${l.p50} us, ${(c.conns / c.seconds).toFixed(0)} conn/s`);
      }
      for (const m of monitors) {
        await stopMonitor(m);
        if (m.lost.length > 0) say(`events on, round ${r + 1}: a monitor was told of lost records: ${JSON.stringify(m.lost)}`);
        say(`events on, round ${r + 1}: a monitor read ${m.records} records`);
      }
      monitors = [];
    }
  }

  // The loss run: every connection is a `new` record on the client's node, and across
  // nodes on the server's too.
  for (const n of lab.state.nodes) setEvents(n, true);
  for (const [path, ip] of Object.entries(target)) {
    const before = await Promise.all(lab.state.nodes.map(lostOf));
    const isNew = (rec) => rec.event === 'new' && rec.dst.ip === ip && rec.dst.port === CRR_PORT;
    monitors = lab.state.nodes.map((n) => startMonitor(n, ['--port', String(CRR_PORT)], isNew));
    await new Promise((res) => setTimeout(res, 500));
    const c = await connections(client, ip, LOSS_SECONDS, ac.signal, RATE);
    for (const m of monitors) await stopMonitor(m);
    const after = await Promise.all(lab.state.nodes.map(lostOf));
    const lostBy = {};
    for (const [i, a] of after.entries()) for (const [cause, n] of Object.entries(a)) lostBy[cause] = (lostBy[cause] ?? 0) + n - (before[i][cause] ?? 0);
    const told = monitors.flatMap((m) => m.lost).reduce((sum, l) => sum + l.count, 0);
    const expected = path === 'same' ? [c.conns, 0] : [c.conns, c.conns];
    loss[path] = { conns: c.conns, rate: c.conns / c.seconds, seen: monitors.map((m) => m.matched), records: monitors.map((m) => m.records), expected, lostBy, told };
    say(`loss run, ${PATHS[path]}: ${JSON.stringify(loss[path])}`);
    monitors = [];
  }
} finally {
  for (const m of monitors) if (m.child.exitCode === null) m.child.kill('SIGKILL');
  stopServers(servers);
  if (lab !== null) await labDown(lab);
  rmSync(tmp, { recursive: true, force: true });
  releaseCpus();
  spawnSync('sysctl', ['-qw', `kernel.bpf_stats_enabled=${statsWere || '0'}`]);
}

const rows = [];
for (const [path, label] of Object.entries(PATHS)) {
  const row = (metric, unit, better, key, pick = median) => ({ metric: `${label}: ${metric}`, unit, better, values: Object.fromEntries(SETUPS.map((s) => [s, pick(samples[s][path][key])])) });
  rows.push(
    row('throughput, one TCP stream', 'Gbit/s', 'higher', 'gbps'),
    row('request/response p50', 'us', 'lower', 'p50'),
    // On this machine a round's p50 lands at one of two levels (about 13 or 17.5 us)
    // in every setup alike; the best round compares the levels' lower one.
    row('request/response p50, best round', 'us', 'lower', 'p50', (v) => Math.min(...v)),
    row('request/response p99', 'us', 'lower', 'p99'),
    row('request/response: datapath time per program run (bpf_stats)', 'ns', 'lower', 'progNs'),
    row('request/response: CPU of the agents and monitors', 'ms/s', 'lower', 'cpu'),
    row('new connections', 'conn/s', 'higher', 'rate'),
  );
}
printTable(`Flow events and a monitor against events off, ${ROUNDS} interleaved rounds of ${SECONDS} s, medians, ${new Date().toISOString()}`, SETUPS, ['events', 'on'], ['off'], rows);

const lossRows = Object.entries(loss).map(([path, l]) => ({
  metric: `${PATHS[path]}: ${l.conns} connections at ${l.rate.toFixed(0)}/s`,
  unit: 'records',
  better: 'higher',
  values: { 'expected, node 1': l.expected[0], 'seen, node 1': l.seen[0], 'expected, node 2': l.expected[1], 'seen, node 2': l.seen[1], lost: Object.values(l.lostBy).reduce((a, b) => a + b, 0) + l.told },
}));
printTable(`The loss run: new-connection records each node's monitor printed, ${LOSS_SECONDS} s at ${RATE}/s`, ['expected, node 1', 'seen, node 1', 'expected, node 2', 'seen, node 2', 'lost'], 'seen, node 1', ['expected, node 1'], lossRows);

const ratio = (path, key) => median(samples.on[path][key]) / median(samples.off[path][key]);
const missing = Object.values(loss).reduce((sum, l) => sum + (l.expected[0] - l.seen[0]) + (l.expected[1] - l.seen[1]), 0);
const lost = Object.values(loss).reduce((sum, l) => sum + Object.values(l.lostBy).reduce((a, b) => a + b, 0) + l.told, 0);
printTargets("issue #14's targets", [
  { target: 'throughput with the monitor, same node (on/off)', value: ratio('same', 'gbps'), bound: 'min', limit: 0.98, unit: 'x' },
  { target: 'throughput with the monitor, across nodes (on/off)', value: ratio('cross', 'gbps'), bound: 'min', limit: 0.98, unit: 'x' },
  { target: 'request/response p50 with the monitor, same node (on/off)', value: ratio('same', 'p50'), bound: 'max', limit: 1.02, unit: 'x' },
  { target: 'request/response p50 with the monitor, across nodes (on/off)', value: ratio('cross', 'p50'), bound: 'max', limit: 1.02, unit: 'x' },
  { target: `records lost at ${RATE} new connections/s`, value: lost, bound: 'max', limit: 0, unit: '' },
  { target: `new-connection records missing at ${RATE}/s`, value: missing, bound: 'max', limit: 0, unit: '' },
]);
if (Object.values(loss).some((l) => l.rate < RATE * 0.95)) say(`note: the client did not reach ${RATE} connections/s in every loss run (see the table)`);
