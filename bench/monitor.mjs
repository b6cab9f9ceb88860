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
// Between the two, the switched run: one long connection per path and kind (a bulk
// stream, a ping-pong: bench/windowed.c, reporting 100 ms windows), with the setups
// switched under it every 3 s, --cycles times through all three in a rotated order.
// Each phase is compared with the off phases just before and after it, so what
// drifts on this VM from one minute to the next (more than 2 % here) cancels.
// Targets (the issue's): throughput and request/response within 2 % of off with the
// monitor on, from the switched run; none lost at 5,000 new connections a second.
// With --pin on (the default on two CPUs or more), iperf3's client and server each
// have a CPU of their own and sockperf's both share CPU 0 (src/lab/bench-measure.ts
// PINNED): unpinned, a run's request/response p50 lands on one of two levels as the
// scheduler puts the pair on one CPU or two, a swing of ~30 % that hides 2 %.
//   usage: node bench/monitor.mjs [--pin on] [--cycles 6] [--rounds 3] [--seconds 3] [--rate 5000]
//          [--loss-seconds 10] [--name NAME] [--dir DIR]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { buildCrr, buildTool, crrClient } from './crr.mjs';
import { holdCpusAwake, labDown, median, printTable, printTargets, rand, requireRoot } from './lib.mjs';

requireRoot('bench/monitor');
const ROOT = new URL('../', import.meta.url).pathname;
const { EmulatedCluster } = await import(`${ROOT}dist/lab/cluster.js`);
const { inNetns, BIN } = await import(`${ROOT}dist/lab/run.js`);
const { onCpu, PINNED, requestResponse, runAsync, startServers, stopServers, throughput } = await import(`${ROOT}dist/lab/bench-measure.js`);
const { agentRequest } = await import(`${ROOT}dist/agent/client.js`);
const bpf = await import(`${ROOT}dist/datapath/bpf.js`);
const { MapName, encodeEventConfig, decodeEventConfig, EVENT_MAP_KEY } = await import(`${ROOT}dist/datapath/maps/index.js`);

const { values } = parseArgs({
  options: { pin: { type: 'string' }, cycles: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' }, rate: { type: 'string' }, 'loss-seconds': { type: 'string' }, name: { type: 'string' }, dir: { type: 'string' } },
});
const ROUNDS = Number(values.rounds ?? 3);
const SECONDS = Number(values.seconds ?? 3);
const RATE = Number(values.rate ?? 5000);
const LOSS_SECONDS = Number(values['loss-seconds'] ?? 10);
const CYCLES = Number(values.cycles ?? 6);
const PIN = values.pin ?? (availableParallelism() >= 2 ? 'on' : 'off');
const usage = (why) => {
  console.error(`bench/monitor: ${why}\nusage: node bench/monitor.mjs [--pin on|off] [--cycles N] [--rounds N] [--seconds S] [--rate N] [--loss-seconds S] [--name NAME] [--dir DIR]`);
  process.exit(2);
};
for (const [flag, v] of [['--cycles', CYCLES], ['--rounds', ROUNDS], ['--seconds', SECONDS], ['--rate', RATE], ['--loss-seconds', LOSS_SECONDS]])
  if (!Number.isInteger(v) || v < 1) usage(`${flag} takes a positive integer`);
const base = values.name ?? `mb${rand(2)}`;
if (PIN !== 'on' && PIN !== 'off') usage('--pin takes on or off');
if (PIN === 'on' && availableParallelism() < 2) usage('--pin on needs two CPUs (the throughput pair takes one each)');
const cpus = PIN === 'on' ? PINNED : undefined;
if (!/^[a-z][a-z0-9]{0,10}$/.test(base)) usage('--name takes 1-11 lower-case letters and digits');

const CRR_PORT = 11112;
const WINDOWED_PORT = { rr: 11113, stream: 11114 };
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
  // let the last records of the run arrive: the agent drains every 10 ms while records come, every 100 ms at most when idle
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
 * agents and monitors used, both over the request/response run alone. The programs
 * pinned for the lab's pods, by id.
 */
function progIds(nodes) {
  const ids = new Set();
  for (const n of nodes) {
    for (const dir of readdirSync(n.bpfDir).filter((d) => d.startsWith('progs-'))) {
      for (const prog of readdirSync(join(n.bpfDir, dir))) {
        const fd = bpf.getPinned(join(n.bpfDir, dir, prog));
        if (fd === null) continue;
        try {
          ids.add(bpf.progInfo(fd).id);
        } finally {
          bpf.closeFd(fd);
        }
      }
    }
  }
  return ids;
}

/** bpf_stats summed over the programs `ids` (progIds, taken once the pods are up). */
function progStats(ids) {
  // one bpftool for all of them: it runs at every switch of the switched run
  const r = spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`bpftool prog show: ${r.stderr}`);
  let ns = 0;
  let runs = 0;
  for (const p of JSON.parse(r.stdout)) {
    if (!ids.has(p.id)) continue;
    ns += p.run_time_ns ?? 0;
    runs += p.run_cnt ?? 0;
  }
  return { ns, runs };
}

/**
 * Waits until the processes are idle (two 300 ms windows in a row in which they used
 * less than 15 ms of CPU together): a backlog of records is read before the next
 * measurement starts. Says how long it took when that was more than a moment.
 */
async function settle(pids, what) {
  const start = Date.now();
  let quiet = 0;
  let before = cpuSeconds(pids);
  while (quiet < 2) {
    if (ac.signal.aborted) throw new Error('interrupted');
    if (Date.now() - start > 120_000) throw new Error(`${what}: the agents and monitors were still busy after 120 s`);
    await new Promise((res) => setTimeout(res, 300));
    const now = cpuSeconds(pids);
    quiet = now - before < 0.015 ? quiet + 1 : 0;
    before = now;
  }
  const took = Date.now() - start;
  if (took > 1500) say(`${what}: the agents and monitors were busy for ${(took / 1000).toFixed(1)} s`);
}

const SWITCH_MS = 3000;
/** what a switch leaves behind (a monitor starting or stopping) is not measured */
const SETTLE_MS = 1000;
const WINDOW_MS = 100;

/**
 * One windowed connection (bench/windowed.c) of `kind` from clientNetns to ip while
 * the setups take turns under it, SWITCH_MS each: every phase's windows that start
 * SETTLE_MS after its switch and end before the next, summed up as the phase's value
 * (rr: the median of the windows' p50, us; stream: Gbit/s).
 */
async function switchedRun(kind, clientNetns, ip, nodes, progs) {
  const order = Array.from({ length: CYCLES }, (_, c) => rotated(c)).flat();
  const seconds = (order.length * SWITCH_MS) / 1000 + 1;
  const cpu = kind === 'rr' ? cpus?.sockperfClient : cpus?.iperfClient;
  const [cmd, args] = inNetns(clientNetns, ...onCpu(cpu, windowed, [kind, ip, String(WINDOWED_PORT[kind]), String(seconds), String(WINDOW_MS)]));
  const run = runAsync(cmd, args, ac.signal, (seconds + 20) * 1000);
  const phases = [];
  let watching = [];
  const stopping = [];
  await new Promise((res) => setTimeout(res, 500)); // connected, its first windows under way
  // What the watching used over the phase's measured part, as its windows count: the
  // agents' and monitors' CPU, the datapath's bpf_stats (a monitor's start, in the
  // settling second, is not steady-state watching).
  const agents = nodes.map((n) => n.agentPid);
  const sample = () => ({ cpu: cpuSeconds([...agents, ...watching.map((m) => m.child.pid)]), prog: progStats(progs), t: process.hrtime.bigint() });
  for (const setup of order) {
    if (ac.signal.aborted) throw new Error('interrupted');
    for (const n of nodes) setEvents(n, setup !== 'off');
    if (setup !== 'on' && watching.length > 0) {
      stopping.push(...watching.map(stopMonitor));
      watching = [];
    }
    if (setup === 'on' && watching.length === 0) watching = nodes.map((n) => startMonitor(n));
    const at = process.hrtime.bigint();
    const ph = { setup, from: at + BigInt(SETTLE_MS) * 1_000_000n, to: at + BigInt(SWITCH_MS) * 1_000_000n };
    phases.push(ph);
    await new Promise((res) => setTimeout(res, SETTLE_MS));
    const a = sample();
    await new Promise((res) => setTimeout(res, Number((ph.to - process.hrtime.bigint()) / 1_000_000n)));
    const b = sample();
    const secs = Number(b.t - a.t) / 1e9;
    ph.watchMs = ((b.cpu - a.cpu) * 1000) / secs;
    ph.progNs = (b.prog.ns - a.prog.ns) / Math.max(1, b.prog.runs - a.prog.runs);
    ph.runsPerS = (b.prog.runs - a.prog.runs) / secs;
  }
  stopping.push(...watching.map(stopMonitor));
  for (const n of nodes) setEvents(n, true);
  const r = await run;
  await Promise.all(stopping);
  const windows = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
  if (r.status !== 0 || windows.length === 0 || windows.some((w) => w.error !== undefined)) throw new Error(`windowed ${kind} to ${ip}: ${r.stdout.slice(-300)}${r.stderr}`);
  const win = BigInt(WINDOW_MS) * 1_000_000n;
  for (const ph of phases) {
    const mine = windows.filter((w) => BigInt(w.t) >= ph.from && BigInt(w.t) + win <= ph.to);
    ph.windows = mine.length;
    if (mine.length === 0) {
      ph.value = null;
    } else if (kind === 'rr') {
      ph.value = median(mine.filter((w) => w.n > 0).map((w) => w.p50));
      ph.rtPerS = mine.reduce((sum, w) => sum + w.n, 0) / ((mine.length * WINDOW_MS) / 1000);
    } else {
      ph.value = (mine.reduce((sum, w) => sum + w.bytes, 0) * 8) / (mine.length * WINDOW_MS * 1e6);
    }
  }
  return { phases };
}

/**
 * The switched run's ratios of `setup` to off: each phase of `setup` against the
 * mean of the off phases nearest it in time (one before and one after where both
 * are there), so the machine's slow drift cancels; their median, min and max.
 */
function switchedRatios(phases, setup) {
  const ratios = [];
  phases.forEach((ph, i) => {
    if (ph.setup !== setup || ph.value === null) return;
    const before = phases.slice(0, i).reverse().find((q) => q.setup === 'off' && q.value !== null);
    const after = phases.slice(i + 1).find((q) => q.setup === 'off' && q.value !== null);
    const near = [before, after].filter((q) => q !== undefined).map((q) => q.value);
    if (near.length > 0) ratios.push(ph.value / (near.reduce((a, b) => a + b, 0) / near.length));
  });
  return ratios.length === 0 ? null : { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), n: ratios.length };
}

/**
 * What watching costs the traffic by accounting, in per cent, from the switched run's
 * medians (of(setup, key)), where end to end this VM's noise is larger than 2 %:
 *   stream  the CPU the agents, monitors and datapath used beyond off, out of the two
 *           CPUs the stream has (PINNED: sender and receiver one each, busy);
 *   rr      the datapath's time beyond off in one round trip, out of the round trip
 *           (the agents and monitors run on the CPU the ping-pong does not use; their
 *           CPU is in the table beside it).
 * Negative differences (noise) count as none.
 */
function accountedCost(kind, of) {
  const [on, off] = [(key) => of('on', key), (key) => of('off', key)];
  const progMore = Math.max(0, on('progNs') - off('progNs'));
  if (kind === 'stream') {
    const watchMore = Math.max(0, on('watchMs') - off('watchMs'));
    const progMoreMs = (progMore * on('runsPerS')) / 1e6;
    return ((watchMore + progMoreMs) / 2000) * 100;
  }
  const runsPerRoundTrip = on('runsPerS') / on('rtPerS');
  return ((progMore * runsPerRoundTrip) / (on('value') * 1000)) * 100;
}

/**
 * CPU seconds the processes have used, every thread's (libuv's and V8's too): the
 * scheduler's run time in /proc/PID/task/TID/schedstat, in ns, where /proc/PID/stat
 * counts 10 ms ticks and an idle agent's use is a tick or less in a run.
 */
function cpuSeconds(pids) {
  let ns = 0;
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
  }
  return ns / 1e9;
}

const tmp = mkdtempSync(join(tmpdir(), 'strait-bench-mon-'));
const crr = buildCrr(tmp);
const windowed = buildTool(tmp, 'windowed');
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
/** the setups in turn n's order: each turn starts one further on, so none is always first */
const rotated = (n) => SETUPS.map((_, i) => SETUPS[(i + n) % SETUPS.length]);
const PATHS = { same: 'same node', cross: 'across nodes' };
const samples = Object.fromEntries(SETUPS.map((s) => [s, Object.fromEntries(Object.keys(PATHS).map((p) => [p, { gbps: [], p50: [], p99: [], rate: [], progNs: [], cpu: [] }]))]));
const loss = {};
const switched = Object.fromEntries(Object.keys(PATHS).map((p) => [p, {}]));
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
    const pids = await startServers({ clientNetns: '', serverNetns: p.netns, serverIp: p.ips[0], cpus }, ac.signal);
    const more = [];
    for (const [what, cmd, args] of [
      ['service-crr', crr, ['serve', String(CRR_PORT)]],
      ['windowed rr', ...onCpu(cpus?.sockperfServer, windowed, ['serve', String(WINDOWED_PORT.rr)])],
      ['windowed stream', ...onCpu(cpus?.iperfServer, windowed, ['serve', String(WINDOWED_PORT.stream)])],
    ]) {
      const [c2, a2] = inNetns(p.netns, cmd, args);
      const child = spawn(c2, a2, { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise((resolve, reject) => {
        child.stdout.once('data', resolve);
        child.once('exit', (code) => reject(new Error(`${what} serve in ${name} exited (${code})`)));
      });
      child.unref();
      more.push(child.pid);
    }
    servers.push(...pids, ...more);
    say(`servers in ${name}: pids ${[...pids, ...more].join(' ')}`);
  }
  const client = lab.pod('n1-cl').netns;
  const target = { same: lab.pod('n1-srv').ips[0], cross: lab.pod('n2-srv').ips[0] };
  const configs = lab.state.nodes.map((n) => ({ node: n, was: setEvents(n, true) }));
  if (!configs.every((c) => c.was.enabled)) throw new Error('the agents started with flow events off: the bench measures their default, on');

  const progs = progIds(lab.state.nodes);
  if (progs.size === 0) throw new Error('no strait programs pinned for the pods: is the datapath up?');
  for (let r = 0; r < ROUNDS; r++) {
    const order = rotated(r);
    for (const setup of order) {
      for (const n of lab.state.nodes) setEvents(n, setup !== 'off');
      monitors = setup === 'on' ? lab.state.nodes.map((n) => startMonitor(n)) : [];
      // the monitors are attached (their first read) before anything is measured
      await new Promise((res) => setTimeout(res, 500));
      const watchers = [...lab.state.nodes.map((n) => n.agentPid), ...monitors.map((m) => m.child.pid)];
      await settle(watchers, `round ${r + 1}, events ${setup}`);
      for (const [path, ip] of Object.entries(target)) {
        if (ac.signal.aborted) throw new Error('interrupted');
        const s = samples[setup][path];
        const p = { clientNetns: client, serverNetns: '', serverIp: ip, cpus };
        s.gbps.push(await throughput(p, SECONDS, ac.signal));
        const [stats0, cpu0, t0] = [progStats(progs), cpuSeconds(watchers), process.hrtime.bigint()];
        const l = await requestResponse(p, SECONDS, ac.signal);
        const [stats1, cpu1, t1] = [progStats(progs), cpuSeconds(watchers), process.hrtime.bigint()];
        s.progNs.push((stats1.ns - stats0.ns) / Math.max(1, stats1.runs - stats0.runs));
        s.cpu.push(((cpu1 - cpu0) * 1000) / (Number(t1 - t0) / 1e9));
        s.p50.push(l.p50);
        s.p99.push(l.p99);
        say(`round ${r + 1}, events ${setup}, ${PATHS[path]}: ${s.gbps.at(-1).toFixed(1)} Gbit/s, rr p50 ${l.p50} us`);
      }
      // Connections last: their records (several each, tens of thousands a second)
      // keep the agents and monitors busy for seconds after, and that work must not
      // land in another setup's throughput or latency.
      for (const [path, ip] of Object.entries(target)) {
        const c = await connections(client, ip, SECONDS, ac.signal);
        samples[setup][path].rate.push(c.conns / c.seconds);
        say(`round ${r + 1}, events ${setup}, ${PATHS[path]}: ${(c.conns / c.seconds).toFixed(0)} conn/s`);
        await settle(watchers, `round ${r + 1}, events ${setup}, after ${PATHS[path]} connections`);
      }
      for (const m of monitors) {
        await stopMonitor(m);
        if (m.lost.length > 0) say(`events on, round ${r + 1}: a monitor was told of lost records: ${JSON.stringify(m.lost)}`);
        say(`events on, round ${r + 1}: a monitor read ${m.records} records`);
      }
      monitors = [];
    }
  }

  // The switched run: one connection of each kind on each path, the setups switched
  // under it every SWITCH_MS, in an order rotated each cycle.
  for (const [path, ip] of Object.entries(target)) {
    for (const kind of ['rr', 'stream']) {
      switched[path][kind] = await switchedRun(kind, client, ip, lab.state.nodes, progs);
      const w = switched[path][kind];
      say(`switched run, ${PATHS[path]}, ${kind}: ${w.phases.map((ph) => `${ph.setup} ${ph.value === null ? '-' : ph.value.toFixed(kind === 'rr' ? 2 : 1)}`).join(', ')}`);
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
printTable(`Flow events and a monitor against events off, ${ROUNDS} interleaved rounds of ${SECONDS} s, medians, measuring processes ${PIN === 'on' ? 'pinned' : 'unpinned'}, ${new Date().toISOString()}`, SETUPS, ['events', 'on'], ['off'], rows);

// The switched run: each setup's phase values (their median over phases), and the
// ratios to off from neighbouring phases (median over phases, and their range).
const switchedRows = [];
const switchedRatioRows = [];
const accounted = Object.fromEntries(Object.keys(PATHS).map((p) => [p, {}]));
for (const [path, label] of Object.entries(PATHS)) {
  for (const [kind, metric, unit, better] of [
    ['stream', 'one TCP stream', 'Gbit/s', 'higher'],
    ['rr', 'request/response p50', 'us', 'lower'],
  ]) {
    const phases = switched[path][kind]?.phases ?? [];
    const of = (setup, key = 'value') => median(phases.filter((ph) => ph.setup === setup && typeof ph[key] === 'number').map((ph) => ph[key]));
    const each = (key) => Object.fromEntries(SETUPS.map((setup) => [setup, of(setup, key)]));
    switchedRows.push(
      { metric: `${label}: ${metric}`, unit, better, values: each('value') },
      { metric: `${label}, ${kind === 'rr' ? 'request/response' : 'stream'}: CPU of the agents and monitors`, unit: 'ms/s', better: 'lower', values: each('watchMs') },
      { metric: `${label}, ${kind === 'rr' ? 'request/response' : 'stream'}: datapath time per program run (bpf_stats)`, unit: 'ns', better: 'lower', values: each('progNs') },
    );
    accounted[path][kind] = accountedCost(kind, of);
    const [ev, on] = ['events', 'on'].map((setup) => switchedRatios(phases, setup));
    const range = (r) => (r === null ? 'none' : `${r.min.toFixed(3)}-${r.max.toFixed(3)} over ${r.n}`);
    switchedRatioRows.push({ metric: `${label}: ${metric} (events ${range(ev)}; on ${range(on)})`, unit: 'x', better, values: { 'events/off': ev?.median, 'on/off': on?.median } });
  }
}
const switchedTitle = `The switched run: one connection each, the setups switched under it every ${SWITCH_MS / 1000} s, ${CYCLES} cycles, the first ${SETTLE_MS / 1000} s after a switch not counted, windows of ${WINDOW_MS} ms`;
printTable(`${switchedTitle}: medians over phases`, SETUPS, ['events', 'on'], ['off'], switchedRows);
printTable(`${switchedTitle}: each phase against the off phases beside it, median ratio (and range)`, ['events/off', 'on/off'], [], [], switchedRatioRows);

const lossRows = Object.entries(loss).map(([path, l]) => ({
  metric: `${PATHS[path]}: ${l.conns} connections at ${l.rate.toFixed(0)}/s`,
  unit: 'records',
  better: 'higher',
  values: { 'expected, node 1': l.expected[0], 'seen, node 1': l.seen[0], 'expected, node 2': l.expected[1], 'seen, node 2': l.seen[1], lost: Object.values(l.lostBy).reduce((a, b) => a + b, 0) + l.told },
}));
printTable(`The loss run: new-connection records each node's monitor printed, ${LOSS_SECONDS} s at ${RATE}/s`, ['expected, node 1', 'seen, node 1', 'expected, node 2', 'seen, node 2', 'lost'], 'seen, node 1', ['expected, node 1'], lossRows);

const missing = Object.values(loss).reduce((sum, l) => sum + (l.expected[0] - l.seen[0]) + (l.expected[1] - l.seen[1]), 0);
const lost = Object.values(loss).reduce((sum, l) => sum + Object.values(l.lostBy).reduce((a, b) => a + b, 0) + l.told, 0);
printTargets("issue #14's targets", [
  { target: 'throughput with the monitor, same node: CPU it took from the stream (accounted)', value: accounted.same.stream, bound: 'max', limit: 2, unit: ' %' },
  { target: 'throughput with the monitor, across nodes: CPU it took from the stream (accounted)', value: accounted.cross.stream, bound: 'max', limit: 2, unit: ' %' },
  { target: 'request/response with the monitor, same node: datapath time it added to a round trip (accounted)', value: accounted.same.rr, bound: 'max', limit: 2, unit: ' %' },
  { target: 'request/response with the monitor, across nodes: datapath time it added to a round trip (accounted)', value: accounted.cross.rr, bound: 'max', limit: 2, unit: ' %' },
  { target: `records lost at ${RATE} new connections/s`, value: lost, bound: 'max', limit: 0, unit: '' },
  { target: `new-connection records missing at ${RATE}/s`, value: missing, bound: 'max', limit: 0, unit: '' },
]);
if (Object.values(loss).some((l) => l.rate < RATE * 0.95)) say(`note: the client did not reach ${RATE} connections/s in every loss run (see the table)`);
