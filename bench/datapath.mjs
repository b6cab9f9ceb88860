#!/usr/bin/env node
// Pod-to-pod throughput and latency, side by side in one run with interleaved
// repetitions: a bare veth pair between two namespaces (the physical limit here),
// the reference bridge + host-local plugins, strait with its BPF programs detached
// (kernel routing), and strait. Plus the per-packet cost of from_pod measured by
// BPF_PROG_TEST_RUN on the real pinned program and endpoint map, for established,
// new-connection and dropped packets, with flow events off and on (the agent's
// switch, strait_event_config_v1, written here; on: no rate limit, so every record
// is written, and the ring drained between runs as the agent would).
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

/**
 * ns per packet of from_pod on an established pod-to-pod IPv4 TCP connection, via
 * BPF_PROG_TEST_RUN. Each connection is opened first (SYN, then the answer that
 * moves it from the pending conntrack table to the established one), as a real
 * flow would be: a lone ACK is a mid-stream packet conntrack never saw.
 */
async function programCost(s) {
  const bpf = await import('../dist/datapath/bpf.js');
  const maps = await import('../dist/datapath/maps/index.js');
  const [src, dst] = s.results;
  const progs = sh('ls', [bpfDir]).split('\n').find((x) => x.startsWith('progs-'));
  const prog = (name) => bpf.getPinned(join(bpfDir, progs, name));
  const fromPod = prog('from_pod');
  const toPod = prog('to_pod');
  const eventConfig = bpf.getPinned(join(bpfDir, maps.MapName.eventConfig));
  const ringFd = bpf.getPinned(join(bpfDir, maps.MapName.events));
  const ring = bpf.openRingReader(ringFd, maps.FLOW_EVENT_SIZE);
  bpf.closeFd(ringFd);
  const setEvents = (enabled) =>
    bpf.mapUpdate(eventConfig, maps.EVENT_MAP_KEY, maps.encodeEventConfig({ enabled, ratePerCpu: 0, burst: 0 }));
  const drain = () => {
    while (ring.consume().bytes.length > 0);
  };
  const ifindexOf = (r) => Number(sh('cat', [`/sys/class/net/${r.interfaces[0].name}/ifindex`]).trim());
  const mac = (m) => m.split(':').map((h) => parseInt(h, 16));
  const ip = (a) => a.split('/')[0].split('.').map(Number);
  const SYN = 0x02, ACK = 0x10;
  const tcpFrame = (dstMac, srcMac, srcIp, dstIp, sport, dport, flags) => {
    const frame = new Uint8Array(14 + 20 + 20 + 64);
    frame.set(mac(dstMac), 0);
    frame.set(mac(srcMac), 6);
    frame.set([0x08, 0x00], 12);
    frame.set([0x45, 0, 0, 20 + 20 + 64, 0, 0, 0x40, 0, 64, 6, 0, 0], 14);
    frame.set(srcIp, 26);
    frame.set(dstIp, 30);
    frame.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff], 34);
    return frame;
  };
  const run = (fd, r, data, repeat, want) => {
    let out;
    // A long repeat loop stops at a pending signal (a child exiting; on a busy machine
    // often several in a row): run it again.
    for (let tries = 0; out === undefined; tries++) {
      try {
        out = bpf.progTestRun(fd, data, { repeat, ctx: bpf.skbContext({ ifindex: ifindexOf(r) }) });
      } catch (err) {
        if ((err.errnoName ?? err.code) !== 'EINTR' || tries >= 50) throw err;
      }
    }
    if (out.retval !== want) throw new Error(`program returned ${out.retval}, expected ${want}`);
    return out.durationNs;
  };
  const [srcHost, srcPod, dstHost, dstPod] = [src.interfaces[0].mac, src.interfaces[1].mac, dst.interfaces[0].mac, dst.interfaces[1].mac];
  const [a, b, outside, spoofed] = [ip(src.ips[0].address), ip(dst.ips[0].address), [192, 0, 2, 1], [192, 0, 2, 99]];
  let nextPort = 20000;
  const measure = (events) => {
    setEvents(events);
    drain();
    // To a local pod: open a connection both ways through the redirect, then time its
    // packets one run at a time (a repeated run would reuse the frame the redirect
    // rewrote, a spoofed source by then) and take the median.
    const local = nextPort++;
    run(fromPod, src, tcpFrame(srcHost, srcPod, a, b, local, 80, SYN), 1, 7);
    run(fromPod, dst, tcpFrame(dstHost, dstPod, b, a, 80, local, SYN | ACK), 1, 7);
    const established = tcpFrame(srcHost, srcPod, a, b, local, 80, ACK);
    const single = [];
    for (let i = 0; i < 3000; i++) single.push(run(fromPod, src, established, 1, 7));
    // To the host stack: open a connection to an address of no local pod, answered
    // through to_pod; the stack path leaves the frame alone, so the kernel's repeat
    // loop times it.
    const stack = nextPort++;
    run(fromPod, src, tcpFrame(srcHost, srcPod, a, outside, stack, 80, SYN), 1, 0);
    run(toPod, src, tcpFrame(srcPod, srcHost, outside, a, 80, stack, SYN | ACK), 1, 0);
    const toStack = tcpFrame(srcHost, srcPod, a, outside, stack, 80, ACK);
    const repeated = [];
    for (let i = 0; i < 20; i++) repeated.push(run(fromPod, src, toStack, 20000, 0));
    // The same path one run at a time: what a single run costs beyond the program
    // (the timer, the context set-up), to read the redirect figure against.
    const singleToStack = [];
    for (let i = 0; i < 3000; i++) singleToStack.push(run(fromPod, src, toStack, 1, 0));
    // New connections to the stack, one run each (a repeated SYN would be a known
    // one from its second run on): read against singleToStack.
    const opening = [];
    for (let i = 0; i < 3000; i++) {
      opening.push(run(fromPod, src, tcpFrame(srcHost, srcPod, a, outside, nextPort++, 80, SYN), 1, 0));
      if (i % 1000 === 999) drain();
    }
    // Dropped (a spoofed source: DROP_SPOOF_IP), repeated: 20000 records a run fit the ring.
    const dropFrame = tcpFrame(srcHost, srcPod, spoofed, b, 40000, 80, SYN);
    const dropped = [];
    for (let i = 0; i < 20; i++) {
      dropped.push(run(fromPod, src, dropFrame, 20000, 2));
      drain();
    }
    return { redirect: median(single), toStack: median(repeated), toStackSingle: median(singleToStack), newConn: median(opening), drop: median(dropped) };
  };
  try {
    // Interleaved, off first: each figure is the median over both passes of its mode.
    const passes = [measure(false), measure(true), measure(false), measure(true)];
    const both = (on, k) => median([passes[on ? 1 : 0][k], passes[on ? 3 : 2][k]]);
    const pick = (on) => Object.fromEntries(['redirect', 'toStack', 'toStackSingle', 'newConn', 'drop'].map((k) => [k, both(on, k)]));
    return { off: pick(false), on: pick(true) };
  } finally {
    setEvents(false);
    ring.close();
    bpf.closeFd(eventConfig);
    bpf.closeFd(fromPod);
    bpf.closeFd(toPod);
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
  const costRow = (metric, k) => ({ metric, unit: 'ns', better: 'lower', values: { 'events off': cost.off[k], 'events on': cost.on[k] } });
  printTable(
    'from_pod per-packet cost, BPF_PROG_TEST_RUN, IPv4 TCP, medians; flow events off and on (no rate limit, every record written)',
    ['events off', 'events on'],
    'events on',
    ['events off'],
    [
      costRow('established, to the host stack (repeat 20000, median of 20)', 'toStack'),
      costRow('established, to a local pod (one run at a time: timer and set-up included)', 'redirect'),
      costRow('established, to the host stack, one run at a time', 'toStackSingle'),
      costRow('new connection (SYN) to the host stack, one run at a time', 'newConn'),
      costRow('dropped, spoofed source (repeat 20000, median of 20)', 'drop'),
    ],
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
