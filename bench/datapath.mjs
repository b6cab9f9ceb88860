#!/usr/bin/env node
// Pod-to-pod throughput and latency, side by side in one run with interleaved
// repetitions: a bare veth pair between two namespaces (the physical limit here),
// the reference bridge + host-local plugins, strait with its BPF programs detached
// (kernel routing), and strait. Plus the per-packet cost of from_pod measured by
// BPF_PROG_TEST_RUN on the real pinned program and endpoint map.
//   usage: node bench/datapath.mjs [rounds=3] [seconds=3]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cniCall, holdCpusAwake, median, printTable, rand, requireRoot, sh } from './lib.mjs';

requireRoot('bench/datapath');
const releaseCpus = holdCpusAwake();
const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 3);
const STRAIT = fileURLToPath(new URL('../bin/strait', import.meta.url));
const tag = rand();
const tmp = mkdtempSync(join(tmpdir(), 'strait-bench-dp-'));
const bpfDir = join(tmp, 'bpf');
const namespaces = [];
const children = [];
const bridgeName = `stbr${tag}`;

const netns = (name) => {
  const full = `stb-${name}-${tag}`;
  sh('ip', ['netns', 'add', full]);
  sh('ip', ['-n', full, 'link', 'set', 'lo', 'up']);
  namespaces.push(full);
  return { name: full, path: `/run/netns/${full}` };
};
const inNs = (ns, cmd, args) => sh('ip', ['netns', 'exec', ns.name, cmd, ...args]);
const ipOf = (result) => JSON.parse(result.out).ips[0].address.split('/')[0];

async function bareVeth() {
  const [a, b] = [netns('veth-a'), netns('veth-b')];
  sh('ip', ['link', 'add', 'eth0', 'netns', a.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b.name]);
  inNs(a, 'ip', ['addr', 'add', '198.18.60.1/24', 'dev', 'eth0']);
  inNs(b, 'ip', ['addr', 'add', '198.18.60.2/24', 'dev', 'eth0']);
  inNs(a, 'ip', ['link', 'set', 'eth0', 'up']);
  inNs(b, 'ip', ['link', 'set', 'eth0', 'up']);
  return { client: a, server: b, ip: '198.18.60.2' };
}

async function viaPlugin(label, bin, config) {
  const [a, b] = [netns(`${label}-a`), netns(`${label}-b`)];
  const ra = await cniCall(bin, 'ADD', config, { containerId: `${label}-a-${tag}`, netns: a.path });
  const rb = await cniCall(bin, 'ADD', config, { containerId: `${label}-b-${tag}`, netns: b.path });
  return { client: a, server: b, ip: ipOf(rb), clientIp: ipOf(ra), results: [JSON.parse(ra.out), JSON.parse(rb.out)] };
}

function startServers(s) {
  for (const [cmd, args] of [
    ['iperf3', ['-s', '-B', s.ip]],
    ['sockperf', ['sr', '--tcp', '-i', s.ip, '-p', '11111']],
  ]) {
    const child = spawn('ip', ['netns', 'exec', s.server.name, cmd, ...args], { stdio: 'ignore' });
    children.push(child);
  }
}

function iperf(s) {
  const out = inNs(s.client, 'iperf3', ['-c', s.ip, '-t', String(seconds), '-J']);
  return JSON.parse(out).end.sum_received.bits_per_second / 1e9;
}

function pingPong(s) {
  const out = inNs(s.client, 'sockperf', ['pp', '--tcp', '-i', s.ip, '-p', '11111', '-t', String(seconds), '--full-rtt']);
  const pct = (p) => Number(new RegExp(`percentile ${p}\\.000 =\\s+([\\d.]+)`).exec(out)?.[1]);
  return { p50: pct(50), p99: pct(99) };
}

/** ns per packet of from_pod on a pod-to-pod IPv4 TCP packet, via BPF_PROG_TEST_RUN. */
async function programCost(s) {
  const bpf = await import('../dist/datapath/bpf.js');
  const [src, dst] = s.results;
  const progs = sh('ls', [bpfDir]).split('\n').find((x) => x.startsWith('progs-'));
  const fd = bpf.getPinned(join(bpfDir, progs, 'from_pod'));
  const ifindex = Number(sh('cat', [`/sys/class/net/${src.interfaces[0].name}/ifindex`]).trim());
  const mac = (m) => m.split(':').map((h) => parseInt(h, 16));
  const ip = (a) => a.split('/')[0].split('.').map(Number);
  const frame = new Uint8Array(14 + 20 + 20 + 64);
  frame.set(mac(src.interfaces[0].mac), 0); // to the gateway (host veth)
  frame.set(mac(src.interfaces[1].mac), 6); // from the pod
  frame.set([0x08, 0x00], 12);
  frame.set([0x45, 0, 0, 20 + 20 + 64, 0, 0, 0x40, 0, 64, 6, 0, 0], 14);
  frame.set(ip(src.ips[0].address), 26);
  frame.set(ip(dst.ips[0].address), 30);
  frame.set([0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff], 34);
  const ctx = bpf.skbContext({ ifindex });
  const run = (data, repeat) => bpf.progTestRun(fd, data, { repeat, ctx });
  try {
    // The redirect path rewrites the frame's MACs, and a repeated test run reuses the
    // rewritten frame (which would then be a spoofed source): time it one run at a
    // time and take the median. The host-stack path leaves the frame alone, so it is
    // timed with the kernel's own repeat loop.
    const single = [];
    for (let i = 0; i < 3000; i++) {
      const r = run(frame, 1);
      if (r.retval !== 7) throw new Error(`from_pod returned ${r.retval}, expected TC_ACT_REDIRECT (7)`);
      single.push(r.durationNs);
    }
    const toStack = frame.slice();
    toStack.set([192, 0, 2, 1], 30); // a destination that is no local endpoint
    const repeated = [];
    for (let i = 0; i < 5; i++) {
      const r = run(toStack, 200000);
      if (r.retval !== 0) throw new Error(`from_pod returned ${r.retval} for a non-local destination, expected TC_ACT_OK (0)`);
      repeated.push(r.durationNs);
    }
    return { redirect: median(single), toStack: median(repeated) };
  } finally {
    bpf.closeFd(fd);
  }
}

try {
  const straitConf = {
    cniVersion: '1.0.0', name: `benchdp-${tag}`, type: 'strait', stateDir: join(tmp, 'state'), bpfDir,
    ipam: { type: 'strait', ranges: [[{ subnet: '198.18.62.0/24' }]] },
  };
  const setups = {
    veth: await bareVeth(),
    bridge: await viaPlugin('br', '/usr/lib/cni/bridge', {
      cniVersion: '1.0.0', name: `benchbr-${tag}`, type: 'bridge', bridge: bridgeName, isGateway: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: '198.18.61.0/24' }]], dataDir: join(tmp, 'hl') },
    }),
    'strait-kernel': await viaPlugin('sk', STRAIT, straitConf),
    strait: await viaPlugin('sb', STRAIT, straitConf),
  };
  // Kernel routing for the comparison: take the programs off that pair's veths.
  for (const r of setups['strait-kernel'].results) {
    sh('tc', ['qdisc', 'del', 'dev', r.interfaces[0].name, 'clsact']);
  }
  writeForwarding();
  for (const s of Object.values(setups)) startServers(s);
  await new Promise((r) => setTimeout(r, 500));

  const names = Object.keys(setups);
  const tput = Object.fromEntries(names.map((n) => [n, []]));
  const p50 = Object.fromEntries(names.map((n) => [n, []]));
  const p99 = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const n of order) {
      tput[n].push(iperf(setups[n]));
      const l = pingPong(setups[n]);
      p50[n].push(l.p50);
      p99[n].push(l.p99);
    }
  }
  const cost = await programCost(setups.strait);
  const row = (metric, unit, better, f) => ({ metric, unit, better, values: Object.fromEntries(names.map((n) => [n, f(n)])) });
  printTable(
    `Pod-to-pod datapath, ${rounds} interleaved rounds of ${seconds} s, medians, ${new Date().toISOString()}`,
    names,
    'strait',
    ['veth', 'bridge', 'strait-kernel'],
    [
      row('TCP throughput, 1 stream', 'Gbit/s', 'higher', (n) => median(tput[n])),
      row('TCP request/response p50', 'us', 'lower', (n) => median(p50[n])),
      row('TCP request/response p99', 'us', 'lower', (n) => median(p99[n])),
    ],
  );
  console.log(
    `\nfrom_pod per-packet cost (BPF_PROG_TEST_RUN, IPv4 TCP): ${cost.redirect.toFixed(0)} ns to a local pod (redirect; ` +
      `median of single runs, timer included), ${cost.toStack.toFixed(0)} ns to the host stack (repeat 200000)`,
  );
} finally {
  releaseCpus();
  for (const c of children) c.kill();
  for (const n of namespaces) sh('ip', ['netns', 'del', n], { allowFail: true });
  sh('ip', ['link', 'del', bridgeName], { allowFail: true });
  sh('umount', ['-l', bpfDir], { allowFail: true });
  rmSync(tmp, { recursive: true, force: true });
}

function writeForwarding() {
  sh('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
}
