#!/usr/bin/env node
// Services: strait's translation in from_pod against kube-proxy's iptables mode, with
// 10, 1,000 and 10,000 Services (issue #13 item 7). Two labs of two nodes (src/lab,
// native routing), the same pods in each: a client on node 1 and two backends on each
// node.
//   strait      Services and EndpointSlices in the agents' manifest directory (files
//               of 1,000 Services each); no iptables rule for any ClusterIP
//   kube-proxy  strait's pod datapath with no Service object at all, and on each
//               node the filter and nat rules kube-proxy writes for the same objects
//               (src/lab/kube-proxy.ts), loaded with iptables-restore; the probed
//               Services are the last ones KUBE-SERVICES lists, the worst case of its
//               linear walk
// Each Service has two ports (11111: sockperf, 11112: bench/service-crr.c) and two
// backends; the probed ones reach the client's node's backends (same node) or node
// 2's (across nodes). Per size, interleaved round by round in one run: TCP
// request/response latency on one persistent connection (sockperf ping-pong, p50 and
// p99) and new connections per second (connect, 64-byte request, response, close),
// printed as ratios strait/kube-proxy, with the time each side took to take the
// Services in.
//   usage: node bench/service.mjs [--rounds 3] [--seconds 3] [--sizes 10,1000,10000]
//          [--setups strait,kube-proxy] [--name NAME] [--dir DIR]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildCrr, crrClient } from './crr.mjs';
import { holdCpusAwake, labDown, median, printTable, printTargets, rand, requireRoot } from './lib.mjs';

requireRoot('bench/service');
const ROOT = new URL('../', import.meta.url).pathname;
const { EmulatedCluster } = await import(`${ROOT}dist/lab/cluster.js`);
const { inNetns } = await import(`${ROOT}dist/lab/run.js`);
const { kubeProxyRules } = await import(`${ROOT}dist/lab/kube-proxy.js`);
const { requestResponse, SOCKPERF_PORT, startServers, stopServers } = await import(`${ROOT}dist/lab/bench-measure.js`);
const bpf = await import(`${ROOT}dist/datapath/bpf.js`);
const { MapName } = await import(`${ROOT}dist/datapath/maps/index.js`);

const SETUPS = ['strait', 'kube-proxy'];
const { values } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, sizes: { type: 'string' }, setups: { type: 'string' }, name: { type: 'string' }, dir: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 3);
const SECONDS = Number(values.seconds ?? 3);
const SIZES = (values.sizes ?? '10,1000,10000').split(',').map(Number);
const setups = (values.setups ?? SETUPS.join(',')).split(',');
const usage = (why) => {
  console.error(`bench/service: ${why}\nusage: node bench/service.mjs [--rounds N] [--seconds S] [--sizes N,N,...] [--setups strait,kube-proxy] [--name NAME] [--dir DIR]`);
  process.exit(2);
};
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) usage('--rounds takes a positive integer');
if (!Number.isInteger(SECONDS) || SECONDS < 1) usage('--seconds takes a positive integer');
if (SIZES.some((n) => !Number.isInteger(n) || n < 2 || n > 60_000) || SIZES.some((n, i) => i > 0 && n <= SIZES[i - 1])) usage('--sizes takes growing whole numbers 2..60000');
if (setups.length === 0 || setups.some((s) => !SETUPS.includes(s))) usage(`--setups takes some of ${SETUPS.join(',')}`);
const base = values.name ?? `sb${rand(2)}`;
if (!/^[a-z][a-z0-9]{0,10}$/.test(base)) usage('--name takes 1-11 lower-case letters and digits');

const CRR_PORT = 11112;
const PORTS = [{ name: 'rr', port: SOCKPERF_PORT, targetPort: SOCKPERF_PORT }, { name: 'crr', port: CRR_PORT, targetPort: CRR_PORT }];
const PER_FILE = 1000;
/** every node's pod CIDR (topology.ts: 198.18.(100+i).0/24): kube-proxy's --cluster-cidr */
const CLUSTER_CIDR = '198.18.96.0/19';
const NS = 'lab';
const say = (line) => console.error(line);
const now = () => process.hrtime.bigint();
const msSince = (t) => Number(now() - t) / 1e6;
const clusterIP = (i) => `198.19.${i >> 8}.${i & 255}`;

/** The Services of size n: fillers, then the two probed (same node, across nodes), last. */
function services(n, pods) {
  const ip = (name) => pods.get(name).ips[0];
  const out = [];
  for (let i = 1; i <= n - 2; i++) out.push({ namespace: NS, name: `svc-${i}`, clusterIP: clusterIP(i), ports: PORTS, endpoints: [ip('n2-b1'), ip('n2-b2')], nodes: ['n2', 'n2'] });
  out.push({ namespace: NS, name: 'probe-same', clusterIP: clusterIP(n - 1), ports: PORTS, endpoints: [ip('n1-b1'), ip('n1-b2')], nodes: ['n1', 'n1'] });
  out.push({ namespace: NS, name: 'probe-cross', clusterIP: clusterIP(n), ports: PORTS, endpoints: [ip('n2-b1'), ip('n2-b2')], nodes: ['n2', 'n2'] });
  return out;
}

/** A Service without selector and its EndpointSlice, as the API server holds them. */
function straitObjects(s) {
  const ports = s.ports.map((p) => ({ name: p.name, protocol: 'TCP', port: p.port, targetPort: p.targetPort }));
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { namespace: s.namespace, name: s.name }, spec: { clusterIP: s.clusterIP, clusterIPs: [s.clusterIP], ports } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { namespace: s.namespace, name: `${s.name}-v4`, labels: { 'kubernetes.io/service-name': s.name } },
      addressType: 'IPv4',
      endpoints: s.endpoints.map((ip, i) => ({ addresses: [ip], conditions: { ready: true }, nodeName: s.nodes[i] })),
      ports: s.ports.map((p) => ({ name: p.name, protocol: 'TCP', port: p.targetPort })),
    },
  ];
}

/** Entries of a node's strait_lb_services_v1 (0 while the agent has not made it). */
function straitServiceEntries(node) {
  const fd = bpf.getPinned(join(node.bpfDir, MapName.lbServices));
  if (fd === null) return 0;
  try {
    return bpf.mapKeys(fd).length;
  } finally {
    bpf.closeFd(fd);
  }
}

/**
 * Writes the Services into the manifest directory: how long until every node's map
 * holds them all (polled every 100 ms: a count walks the map), and until every agent also says it is synced
 * (`straitctl wait --synced`, a process per node, after the maps).
 */
async function straitApply(lab, list) {
  const t0 = now();
  for (let f = 0; f * PER_FILE < list.length; f++) {
    const items = list.slice(f * PER_FILE, (f + 1) * PER_FILE).flatMap(straitObjects);
    lab.writeManifest(`bench-services-${String(f).padStart(3, '0')}.json`, { apiVersion: 'v1', kind: 'List', items });
  }
  const want = list.length * PORTS.length;
  const deadline = now() + 300_000_000_000n;
  while (lab.state.nodes.some((n) => straitServiceEntries(n) < want)) {
    if (now() > deadline) throw new Error(`strait_lb_services_v1 holds ${lab.state.nodes.map(straitServiceEntries).join(' and ')} entries, not ${want}, five minutes after the Services were written`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const maps = msSince(t0);
  lab.waitSynced();
  return { maps, synced: msSince(t0) };
}

/** kube-proxy's rules on every node of the lab (the whole nat and filter tables, as its full sync does); ms per node. */
function kubeProxyApply(lab, list) {
  const objects = list.flatMap(straitObjects);
  const rules = kubeProxyRules(objects.filter((o) => o.kind === 'Service'), objects.filter((o) => o.kind === 'EndpointSlice'), { v4: CLUSTER_CIDR });
  const text = rules.filter + rules.v4;
  const took = [];
  for (const n of lab.state.nodes) {
    const t0 = now();
    const [cmd, args] = inNetns(n.netns, 'iptables-restore', ['-w']);
    const r = spawnSync(cmd, args, { input: text, encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`iptables-restore on ${n.name}: ${r.stderr}`);
    took.push(msSince(t0));
  }
  return { restore: Math.max(...took) };
}

/**
 * That kube-proxy's probed rules did the work: on node 1 (the client's), the
 * KUBE-SERVICES rule of each probed ClusterIP and port counted packets.
 */
function kubeProxyCounted(lab, ips) {
  const [cmd, args] = inNetns(lab.node(1).netns, 'iptables-save', ['-c', '-t', 'nat']);
  const saved = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 }).stdout;
  for (const ip of ips) {
    for (const p of PORTS) {
      const rule = saved.split('\n').find((l) => l.includes(`-A KUBE-SERVICES -d ${ip}/32 `) && l.includes(`--dport ${p.port} `));
      const packets = Number(/^\[(\d+):/.exec(rule ?? '')?.[1] ?? 0);
      if (packets === 0) throw new Error(`kube-proxy's rule for ${ip}:${p.port} counted no packet: the probes did not go through it`);
    }
  }
}

/** new connections per second through host:port, and the seconds run */
async function connectionRate(clientNetns, host, signal) {
  const j = await crrClient(crr, clientNetns, host, CRR_PORT, SECONDS, signal);
  return { rate: j.conns / j.seconds, p50: j.p50, p99: j.p99, max: j.max, slow: j.slow };
}

const tmp = mkdtempSync(join(tmpdir(), 'strait-bench-svc-'));
const crr = buildCrr(tmp);
const labDir = values.dir ?? join(tmp, 'labs');
mkdirSync(labDir, { recursive: true });
const ac = new AbortController();
const onSignal = (sig) => {
  say(`\n${sig}: stopping; removing everything the bench built`);
  ac.abort();
};
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, onSignal);
const releaseCpus = holdCpusAwake();
const labs = {};
const servers = [];
const applied = {};
const samples = {};
try {
  for (const setup of setups) {
    const lab = await EmulatedCluster.up({ nodes: 2, podsPerNode: 0, routing: 'native', dualStack: false, name: `${base}${setup[0]}`, labDir, log: say });
    labs[setup] = lab;
    for (const n of lab.state.nodes) say(`${setup}: agent of ${n.name}: pid ${n.agentPid}`);
    for (const [i, name] of [[1, 'n1-cl'], [1, 'n1-b1'], [1, 'n1-b2'], [2, 'n2-b1'], [2, 'n2-b2']]) await lab.addPod(i, { name, sync: false });
    lab.waitSynced();
    // bench/service-crr.c closes from the client: its TIME_WAIT ports come back a second later
    const [cmd, args] = inNetns(lab.pod('n1-cl').netns, 'sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1']);
    if (spawnSync(cmd, args).status !== 0) throw new Error('cannot set net.ipv4.tcp_tw_reuse in the client pod');
    for (const p of lab.state.pods.filter((x) => x.name.includes('-b'))) {
      const pids = await startServers({ clientNetns: '', serverNetns: p.netns, serverIp: p.ips[0] }, ac.signal);
      const [cmd, args] = inNetns(p.netns, crr, ['serve', String(CRR_PORT)]);
      const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise((resolve, reject) => {
        child.stdout.once('data', resolve);
        child.once('exit', (code) => reject(new Error(`service-crr serve in ${p.name} exited (${code})`)));
      });
      child.unref();
      servers.push(...pids, child.pid);
      say(`${setup}: servers in ${p.name}: pids ${[...pids, child.pid].join(' ')}`);
    }
  }
  for (const size of SIZES) {
    // the same ClusterIPs in both labs; the backends' addresses are each lab's own
    const listOf = (setup) => services(size, new Map(labs[setup].state.pods.map((p) => [p.name, p])));
    const probes = { same: clusterIP(size - 1), cross: clusterIP(size) };
    applied[size] = {};
    samples[size] = {};
    for (const setup of setups) {
      const list = listOf(setup);
      applied[size][setup] = setup === 'strait' ? await straitApply(labs[setup], list) : kubeProxyApply(labs[setup], list);
      say(`${size} Services into ${setup}: ${JSON.stringify(applied[size][setup])}`);
      samples[size][setup] = Object.fromEntries(Object.keys(probes).map((p) => [p, { p50: [], p99: [], rate: [], cp50: [], cp99: [] }]));
    }
    for (let r = 0; r < ROUNDS; r++) {
      const order = setups.map((_, i) => setups[(i + r) % setups.length]);
      for (const setup of order) {
        const client = labs[setup].pod('n1-cl').netns;
        for (const [path, ip] of Object.entries(probes)) {
          if (ac.signal.aborted) throw new Error('interrupted');
          const s = samples[size][setup][path];
          const l = await requestResponse({ clientNetns: client, serverNetns: '', serverIp: ip }, SECONDS, ac.signal);
          s.p50.push(l.p50);
          s.p99.push(l.p99);
          const c = await connectionRate(client, ip, ac.signal);
          say(`${size} Services, ${setup}, ${path}: ${c.rate.toFixed(0)} conn/s, p50 ${c.p50} us, p99 ${c.p99} us, max ${c.max} us, ${c.slow} over 200 ms`);
          s.rate.push(c.rate);
          s.cp50.push(c.p50);
          s.cp99.push(c.p99);
        }
      }
    }
    if (setups.includes('kube-proxy')) kubeProxyCounted(labs['kube-proxy'], Object.values(probes));
  }
} finally {
  stopServers(servers);
  for (const lab of Object.values(labs)) await labDown(lab);
  rmSync(tmp, { recursive: true, force: true });
  releaseCpus();
}

const PATHS = { same: 'same node', cross: 'across nodes' };
const rows = [];
for (const size of SIZES) {
  for (const [path, label] of Object.entries(PATHS)) {
    const row = (metric, unit, better, key) => ({ metric: `${size} Services, ${label}: ${metric}`, unit, better, values: Object.fromEntries(setups.map((s) => [s, median(samples[size][s][path][key])])) });
    rows.push(
      row('request/response p50', 'us', 'lower', 'p50'),
      row('request/response p99', 'us', 'lower', 'p99'),
      row('new connections', 'conn/s', 'higher', 'rate'),
      row('one new connection, connect to close, p50', 'us', 'lower', 'cp50'),
      row('one new connection, connect to close, p99', 'us', 'lower', 'cp99'),
    );
  }
}
const baselines = setups.includes('kube-proxy') && setups.includes('strait') ? ['kube-proxy'] : [];
printTable(`Services: strait vs kube-proxy (iptables), ${ROUNDS} interleaved rounds of ${SECONDS} s, medians, ${new Date().toISOString()}`, setups, setups[0], baselines, rows);
const applyRows = SIZES.flatMap((size) => [
  ...(setups.includes('strait')
    ? [
        { metric: `${size} Services into strait: written -> in every node's map`, unit: 'ms', better: 'lower', values: { time: applied[size].strait.maps } },
        { metric: `${size} Services into strait: written -> every agent says synced`, unit: 'ms', better: 'lower', values: { time: applied[size].strait.synced } },
      ]
    : []),
  ...(setups.includes('kube-proxy') ? [{ metric: `${size} Services into kube-proxy: iptables-restore, slowest node`, unit: 'ms', better: 'lower', values: { time: applied[size]['kube-proxy'].restore } }] : []),
]);
printTable('Taking the Services in (the strait figures are the whole set written at once: growing from the size before, files of 1,000)', ['time'], 'time', [], applyRows);
if (baselines.length > 0) {
  const [small, large] = [SIZES[0], SIZES.at(-1)];
  const med = (size, setup, path, key) => median(samples[size][setup][path][key]);
  printTargets("issue #13's targets", [
    ...SIZES.flatMap((size) =>
      Object.keys(PATHS).flatMap((path) => [
        { target: `${size} Services, ${PATHS[path]}: request/response p50, strait/kube-proxy`, value: med(size, 'strait', path, 'p50') / med(size, 'kube-proxy', path, 'p50'), bound: 'max', limit: 1, unit: 'x' },
        { target: `${size} Services, ${PATHS[path]}: connection time, strait/kube-proxy (kube-proxy's rate / strait's)`, value: med(size, 'kube-proxy', path, 'rate') / med(size, 'strait', path, 'rate'), bound: 'max', limit: 1, unit: 'x' },
      ]),
    ),
    ...Object.keys(PATHS).flatMap((path) => [
      { target: `strait flat, ${PATHS[path]}: connection rate at ${large} / at ${small} Services`, value: med(large, 'strait', path, 'rate') / med(small, 'strait', path, 'rate'), bound: 'min', limit: 0.9, unit: 'x' },
      { target: `strait flat, ${PATHS[path]}: request/response p50 at ${large} / at ${small} Services`, value: med(large, 'strait', path, 'p50') / med(small, 'strait', path, 'p50'), bound: 'max', limit: 1.1, unit: 'x' },
    ]),
  ]);
}
