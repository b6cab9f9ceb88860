#!/usr/bin/env node
// NetworkPolicy at scale, side by side in one run:
//  1. throughput and request/response latency between two pods while 0, 100, 1,000
//     and 10,000 rules select the server, for strait and for an iptables baseline
//     holding the same rules in kube-router's style (a chain per pod, a chain and an
//     ipset per policy), interleaved;
//  2. the time from writing a NetworkPolicy file to its enforcement in the datapath,
//     with 100 pods on the node;
//  3. compile time for 1,000 pods x 1,000 policies.
//   usage: node bench/policy-scale.mjs [rounds=2] [seconds=2]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { holdCpusAwake, median, percentile, printTable, rand, requireRoot, sh } from './lib.mjs';

requireRoot('bench/policy-scale');
const releaseCpus = holdCpusAwake();
const rounds = Number(process.argv[2] ?? 2);
const seconds = Number(process.argv[3] ?? 2);
const LEVELS = [0, 100, 1000, 10000];
const BIN = (n) => fileURLToPath(new URL(`../bin/${n}`, import.meta.url));
const tag = rand();
const tmp = mkdtempSync(join(tmpdir(), 'strait-bench-pol-'));
const children = [];
const namespaces = [];
const iptChains = new Set();
const ipsets = new Set();

const node = {
  stateDir: join(tmp, 'state'),
  bpfDir: join(tmp, 'bpf'),
  manifests: join(tmp, 'manifests'),
  socket: join(tmp, 'agent.sock'),
};
sh('mkdir', ['-p', node.manifests]);

const netns = (name) => {
  const full = `stp-${name}-${tag}`;
  sh('ip', ['netns', 'add', full]);
  sh('ip', ['-n', full, 'link', 'set', 'lo', 'up']);
  namespaces.push(full);
  return { name: full, path: `/run/netns/${full}` };
};
const inNs = (ns, cmd, args) => sh('ip', ['netns', 'exec', ns.name, cmd, ...args]);
const list = (items) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const write = (file, text) => {
  writeFileSync(join(node.manifests, `.${file}.tmp`), text);
  renameSync(join(node.manifests, `.${file}.tmp`), join(node.manifests, file));
};
const waitSynced = () => sh(BIN('straitctl'), ['wait', '--synced', '--timeout', '120', '--socket', node.socket]);

const straitConf = {
  cniVersion: '1.0.0', name: `pol-${tag}`, type: 'strait', stateDir: node.stateDir, bpfDir: node.bpfDir, agentSocket: node.socket,
  ipam: { type: 'strait', ranges: [[{ subnet: '198.18.80.0/24' }]] },
};
// The iptables baseline is another emulated node: its own state and pin dir, no agent,
// BPF taken off its veths afterwards, so its pods route through the kernel and iptables.
const iptConf = {
  cniVersion: '1.0.0', name: `ipt-${tag}`, type: 'strait', stateDir: join(tmp, 'ipt-state'), bpfDir: join(tmp, 'ipt-bpf'),
  ipam: { type: 'strait', ranges: [[{ subnet: '198.18.81.0/24' }]] },
};

async function addPod(conf, name, k8sName) {
  const ns = netns(name);
  const env = { containerId: `${name}-${tag}`, netns: ns.path };
  const r = await cniCallArgs(conf, env, k8sName);
  const res = JSON.parse(r.out);
  return { ns, ip: res.ips[0].address.split('/')[0], veth: res.interfaces[0].name };
}

function cniCallArgs(conf, env, k8sName) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN('strait'), [], {
      env: { PATH: process.env.PATH, CNI_COMMAND: 'ADD', CNI_CONTAINERID: env.containerId, CNI_NETNS: env.netns, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${k8sName}` },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve({ out }) : reject(new Error(`ADD ${k8sName}: ${out}`))));
    child.stdin.end(JSON.stringify(conf));
  });
}

function serve(pod) {
  for (const [cmd, args] of [['iperf3', ['-s', '-B', pod.ip]], ['sockperf', ['sr', '--tcp', '-i', pod.ip, '-p', '11111']]]) {
    children.push(spawn('ip', ['netns', 'exec', pod.ns.name, cmd, ...args], { stdio: 'ignore' }));
  }
}

const iperf = (c, s) => JSON.parse(inNs(c.ns, 'iperf3', ['-c', s.ip, '-t', String(seconds), '-J'])).end.sum_received.bits_per_second / 1e9;
function pingPong(c, s) {
  const out = inNs(c.ns, 'sockperf', ['pp', '--tcp', '-i', s.ip, '-p', '11111', '-t', String(seconds), '--full-rtt']);
  return Number(/percentile 50\.000 =\s+([\d.]+)/.exec(out)?.[1]);
}

/** N rules selecting the server: each its own policy admitting one /32 on the iperf3 port. */
const ruleAddr = (i) => `198.19.${Math.floor(i / 250)}.${(i % 250) + 1}`;
function straitPolicies(n) {
  const items = [
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'bench', name: 'client' },
      spec: { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }] } },
  ];
  for (let i = 0; i < n; i++) {
    items.push({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'bench', name: `r${i}` },
      spec: { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from: [{ ipBlock: { cidr: `${ruleAddr(i)}/32` } }], ports: [{ port: 5201 }] }] } });
  }
  return list(items);
}

/** The same rules as kube-router would write them. */
function iptablesRules(n, server, client) {
  const sets = [`create sb-${tag}-client hash:ip -exist`, `flush sb-${tag}-client`, `add sb-${tag}-client ${client.ip}`];
  ipsets.add(`sb-${tag}-client`);
  const pod = `SB${tag}-POD`;
  const lines = ['*filter', `:${pod} - [0:0]`];
  iptChains.add(pod);
  for (let i = 0; i < n; i++) {
    const chain = `SB${tag}-NP${i}`;
    const set = `sb-${tag}-np${i}`;
    sets.push(`create ${set} hash:ip -exist`, `flush ${set}`, `add ${set} ${ruleAddr(i)}`);
    ipsets.add(set);
    lines.push(`:${chain} - [0:0]`);
    iptChains.add(chain);
  }
  lines.push(`-A ${pod} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  for (let i = 0; i < n; i++) lines.push(`-A ${pod} -j SB${tag}-NP${i}`);
  lines.push(`-A ${pod} -m set --match-set sb-${tag}-client src -j ACCEPT`, `-A ${pod} -j DROP`);
  for (let i = 0; i < n; i++) lines.push(`-A SB${tag}-NP${i} -p tcp --dport 5201 -m set --match-set sb-${tag}-np${i} src -j ACCEPT`);
  lines.push('COMMIT', '');
  spawnSyncOk('ipset', ['restore'], sets.join('\n') + '\n');
  spawnSyncOk('iptables-restore', ['--noflush'], lines.join('\n'));
  if (spawnSync('iptables', ['-C', 'FORWARD', '-d', server.ip, '-j', pod]).status !== 0) {
    sh('iptables', ['-I', 'FORWARD', '-d', server.ip, '-j', pod]);
  }
}

function spawnSyncOk(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

function iptablesCleanup() {
  const pod = `SB${tag}-POD`;
  spawnSync('iptables', ['-D', 'FORWARD', '-d', iptServerIp, '-j', pod]);
  const lines = ['*filter', ...[...iptChains].map((c) => `-F ${c}`), ...[...iptChains].map((c) => `-X ${c}`), 'COMMIT', ''];
  spawnSync('iptables-restore', ['--noflush'], { input: lines.join('\n') });
  spawnSync('ipset', ['restore'], { input: [...ipsets].map((s) => `destroy ${s}`).join('\n') + '\n' });
}

let iptServerIp = '';
let agent = null;
try {
  // ---- the strait node: agent, server and client
  write('namespaces.json', list([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } }]));
  const podObj = (name, app) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'bench', name, labels: { app } }, spec: { containers: [{ name: 'c' }] } });
  write('pods.json', list([podObj('server', 'server'), podObj('client', 'client'), ...Array.from({ length: 100 }, (_, k) => podObj(`filler-${k}`, `filler-${k}`))]));
  agent = spawn(BIN('strait-agent'), ['--node', 'bench-node', '--source', `dir:${node.manifests}`, '--state-dir', node.stateDir, '--bpf-dir', node.bpfDir, '--socket', node.socket, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(agent);
  const reconcileMs = [];
  let agentErr = '';
  for (const stream of [agent.stdout, agent.stderr]) {
    stream.setEncoding('utf8').on('data', (d) => {
      for (const line of d.split('\n')) {
        if (line.includes('"datapath updated"')) reconcileMs.push(JSON.parse(line).ms);
        else if (line.includes('"level":5') || line.includes('"level":6')) agentErr += line + '\n';
      }
    });
  }
  agent.on('exit', (code) => code !== 0 && code !== null && console.error(`strait-agent exited ${code}: ${agentErr}`));
  await new Promise((r) => setTimeout(r, 500));
  waitSynced();
  const server = await addPod(straitConf, 's-srv', 'server');
  const client = await addPod(straitConf, 's-cli', 'client');
  serve(server);

  // ---- the iptables node
  const iserver = await addPod(iptConf, 'i-srv', 'server');
  const iclient = await addPod(iptConf, 'i-cli', 'client');
  iptServerIp = iserver.ip;
  for (const p of [iserver, iclient]) sh('tc', ['qdisc', 'del', 'dev', p.veth, 'clsact']);
  sh('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  serve(iserver);
  await new Promise((r) => setTimeout(r, 500));

  const parts = (process.env.STRAIT_BENCH_PARTS ?? 'scale,latency,compile').split(',');
  const results = {};
  const syncMs = {};
  for (const n of parts.includes('scale') ? LEVELS : []) {
    let t0 = performance.now();
    write('policies.json', straitPolicies(n));
    waitSynced();
    syncMs[n] = performance.now() - t0;
    iptablesRules(n, iserver, iclient);
    const r = { strait: { tput: [], p50: [] }, iptables: { tput: [], p50: [] } };
    for (let k = 0; k < rounds; k++) {
      for (const which of k % 2 ? ['iptables', 'strait'] : ['strait', 'iptables']) {
        const [c, s] = which === 'strait' ? [client, server] : [iclient, iserver];
        r[which].tput.push(iperf(c, s));
        r[which].p50.push(pingPong(c, s));
      }
    }
    results[n] = r;
  }
  const base = results[0];
  const rows = [];
  if (parts.includes('scale')) {
  for (const n of LEVELS) {
    const r = results[n];
    rows.push({ metric: `${n} rules: throughput`, unit: 'Gbit/s', better: 'higher', values: { strait: median(r.strait.tput), iptables: median(r.iptables.tput), 'strait@0': median(base.strait.tput) } });
    rows.push({ metric: `${n} rules: TCP RR p50`, unit: 'us', better: 'lower', values: { strait: median(r.strait.p50), iptables: median(r.iptables.p50), 'strait@0': median(base.strait.p50) } });
  }
  printTable(`Policy scale: rules selecting the server pod, ${rounds} interleaved rounds of ${seconds} s, medians, ${new Date().toISOString()}`, ['strait', 'iptables', 'strait@0'], 'strait', ['iptables', 'strait@0'], rows);
  console.log(`\nstrait: write of the policy file to synced datapath: ${LEVELS.map((n) => `${n} rules ${syncMs[n].toFixed(0)} ms`).join(', ')}`);
  }

  // ---- enforcement latency with 100 pods on the node
  write('policies.json', straitPolicies(0));
  waitSynced();
  const fillers = [];
  for (let k = 0; k < 100; k += 10) {
    fillers.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => addPod(straitConf, `f${k + j}`, `filler-${k + j}`)))));
  }
  const bpf = await import('../dist/datapath/bpf.js');
  const { encodeEndpointKey, decodeEndpointValue } = await import('../dist/datapath/maps/endpoints.js');
  const epMap = bpf.getPinned(join(node.bpfDir, 'strait_endpoints_v1'));
  const isolated = (ip) => (decodeEndpointValue(bpf.mapLookup(epMap, encodeEndpointKey({ family: 4, ip }))).flags & 2) !== 0;
  const latencies = [];
  reconcileMs.length = 0;
  for (let i = 0; i < 40; i++) {
    const k = i % 100;
    const want = i % 2 === 0;
    const t0 = performance.now();
    write('toggle.json', list(want ? [{ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'bench', name: 'toggle' }, spec: { podSelector: { matchLabels: { app: `filler-${Math.floor(i / 2)}` } }, policyTypes: ['Ingress'] } }] : []));
    const target = fillers[Math.floor(i / 2)].ip;
    while (isolated(target) !== want) {
      if (performance.now() - t0 > 10_000) throw new Error(`policy change ${i} not enforced within 10 s`);
      await new Promise((r) => setImmediate(r));
    }
    latencies.push(performance.now() - t0);
    void k;
  }
  bpf.closeFd(epMap);
  console.log(`\nNetworkPolicy file written -> enforced in the datapath, 100 pods on the node, 40 changes: p50 ${median(latencies).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms (of which the agent's compile+diff+write: p50 ${median(reconcileMs).toFixed(0)} ms)`);

  // ---- compile time
  const { compile } = await import('../dist/policy/compile.js');
  const cluster = {
    namespaces: Array.from({ length: 10 }, (_, i) => ({ name: `ns${i}`, labels: { 'kubernetes.io/metadata.name': `ns${i}`, team: `t${i % 3}` } })),
    pods: Array.from({ length: 1000 }, (_, i) => ({ namespace: `ns${i % 10}`, name: `p${i}`, labels: { app: `a${i % 50}`, tier: `t${i % 4}` }, ips: [`198.18.${200 + Math.floor(i / 250)}.${i % 250}`], nodeName: i < 100 ? 'n1' : 'n2', hostNetwork: false, ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] })),
    policies: Array.from({ length: 1000 }, (_, i) => ({ namespace: `ns${i % 10}`, name: `np${i}`, podSelector: { matchLabels: { app: `a${i % 50}` }, matchExpressions: [] }, policyTypes: ['Ingress', 'Egress'],
      ingress: [{ peers: [{ podSelector: { matchLabels: { app: `a${(i + 1) % 50}` }, matchExpressions: [] }, namespaceSelector: { matchLabels: { team: `t${i % 3}` }, matchExpressions: [] }, ipBlock: null }], ports: [{ protocol: 'TCP', port: 'http', endPort: null }] }],
      egress: [{ peers: [{ podSelector: null, namespaceSelector: null, ipBlock: { cidr: `198.19.${i % 200}.0/24`, except: [] } }], ports: [{ protocol: 'TCP', port: 443, endPort: null }] }] })),
    nodes: [],
  };
  const eps = cluster.pods.slice(0, 100).map((p, i) => ({ id: `n/c${i}/eth0`, ifindex: 1000 + i, ips: p.ips, podNamespace: p.namespace, podName: p.name }));
  const times = [];
  let entries = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const d = compile(cluster, eps, { nodeName: 'n1', hostAddresses: [] });
    times.push(performance.now() - t0);
    entries = [...d.endpoints.values()].reduce((s, e) => s + e.entries.length, 0);
  }
  console.log(`\ncompile, 1,000 pods x 1,000 policies (100 local endpoints, ${entries} entries): median ${median(times).toFixed(0)} ms of 3`);
} finally {
  releaseCpus();
  for (const c of children) if (c.exitCode === null) c.kill();
  if (iptServerIp !== '') iptablesCleanup();
  for (const n of namespaces) sh('ip', ['netns', 'del', n], { allowFail: true });
  for (const d of [node.bpfDir, join(tmp, 'ipt-bpf')]) sh('umount', ['-l', d], { allowFail: true });
  rmSync(tmp, { recursive: true, force: true });
}
