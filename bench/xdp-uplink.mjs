#!/usr/bin/env node
// XDP on the uplink against tc alone, side by side in one run, interleaved (ABBA):
// an emulated cluster of two nodes (src/lab, IPv4, native routing), n2-a isolated
// by a NetworkPolicy that takes TCP 5201 from n1-a only. Per round and mode:
// - a flood of SYNs to n2-a port 9 (denied), sent from n1's netns out of its
//   uplink by bench/syn-flood.c (built here) for FLOOD seconds: the SYNs n2
//   dropped as DROP_POLICY_INGRESS per second, the flooder's rate, and the CPU
//   each dropped SYN cost (the flooder's CPU time, which carries the softirq work
//   done in its context, receiving veth included, plus every ksoftirqd's);
// - iperf3 n1-a -> n2-a (allowed, one stream) for IPERF seconds.
// Modes: "tc" is the agent's uplink as it is (from_uplink on tc ingress); "xdp+tc"
// adds xdp_uplink in native (driver) mode on both nodes' uplinks (veth), loaded
// here against each node's pinned maps (the loader does not load it: it lost
// here); "xdpgeneric+tc" the same in the generic (skb) hook, for
// comparison. Medians over the rounds; the order of the modes alternates.
//   usage: node bench/xdp-uplink.mjs [rounds=5] [flood seconds=3] [iperf seconds=3]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { holdCpusAwake, median, printTable, requireRoot, sh } from './lib.mjs';

requireRoot('bench/xdp-uplink');
const rounds = Number(process.argv[2] ?? 5);
const floodSeconds = Number(process.argv[3] ?? 3);
const iperfSeconds = Number(process.argv[4] ?? 3);
const { EmulatedCluster } = await import('../dist/lab/cluster.js');
const { iperf, counter } = await import('../dist/lab/checks.js');
const { ProgramName, XDP_UPLINK_PROGRAM } = await import('../dist/datapath/maps/names.js');
const bpf = await import('../dist/datapath/bpf.js');

const IPERF_PORT = 5201;
const DENIED_PORT = 9;
/** tc alone; xdp_uplink in the veth driver (native XDP) or in the generic (skb) hook, before tc. */
const MODES = ['tc', 'xdp+tc', 'xdpgeneric+tc'];
const XDP_HOOK = { 'xdp+tc': 'xdpdrv', 'xdpgeneric+tc': 'xdpgeneric' };

const tmp = mkdtempSync(join(tmpdir(), 'strait-bench-xdp-'));
const flooder = join(tmp, 'syn-flood');
sh('cc', ['-O2', '-Wall', '-Werror', '-o', flooder, fileURLToPath(new URL('./syn-flood.c', import.meta.url))]);

/** Every ksoftirqd's CPU time so far, in seconds (utime + stime of /proc/PID/stat). */
function ksoftirqdSeconds() {
  const tick = Number(sh('getconf', ['CLK_TCK']));
  let total = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('ksoftirqd/')) continue;
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / tick; // utime, stime (fields 14, 15)
    } catch {
      // a thread that is gone
    }
  }
  return total;
}

const COST_REPEAT = 20000;

/** One BPF_PROG_TEST_RUN, again when a signal (a child's exit) cut the kernel's repeat loop short. */
function testRun(fd, frame) {
  for (;;) {
    try {
      return bpf.progTestRun(fd, frame, { repeat: COST_REPEAT });
    } catch (err) {
      if (err.errnoName !== 'EINTR') throw err;
    }
  }
}

/** The per-run cost of each program on a denied SYN, by the kernel's repeat loop; each must drop it. */
function programCost(tcPin, xdpPin, dstMac, srcMac, srcIp, dstIp) {
  const bytes = (m, sep, base) => m.split(sep).map((x) => parseInt(x, base));
  const frame = new Uint8Array(14 + 20 + 20);
  frame.set(bytes(dstMac, ':', 16), 0);
  frame.set(bytes(srcMac, ':', 16), 6);
  frame.set([0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0], 12);
  frame.set(bytes(srcIp, '.', 10), 26);
  frame.set(bytes(dstIp, '.', 10), 30);
  frame.set([0x9c, 0x40, 0, DENIED_PORT, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xfa, 0xf0], 34);
  const out = {};
  for (const [name, path, dropped] of [['tc', tcPin, 2], ['xdp', xdpPin, 1]]) {
    const fd = bpf.getPinned(path);
    if (fd === null) throw new Error(`${path} is not pinned`);
    try {
      const runs = [];
      for (let i = 0; i < rounds; i++) {
        const r = testRun(fd, frame);
        if (r.retval !== dropped) throw new Error(`${name} returned ${r.retval} for a denied SYN, not ${dropped}`);
        runs.push(r.durationNs);
      }
      out[name] = median(runs);
    } finally {
      bpf.closeFd(fd);
    }
  }
  return out;
}

const releaseCpus = holdCpusAwake();
const OBJECT = fileURLToPath(new URL(`../build/bpf/${XDP_UPLINK_PROGRAM}.bpf.o`, import.meta.url));
const loaded = []; // [object, pin path]
let c = null;
try {
  c = await EmulatedCluster.up({ nodes: 2, podsPerNode: 1, routing: 'native', dualStack: false, name: `xdpb${process.pid % 10000}` });
  const [n1a, n2a] = [c.podsOf(1)[0], c.podsOf(2)[0]];
  c.writeManifest('policy-n2-a.json', {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: 'lab', name: 'n2-a-iperf-from-n1-a' },
    spec: { podSelector: { matchLabels: { pod: n2a.name } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: n1a.name } } }], ports: [{ protocol: 'TCP', port: IPERF_PORT }] }] },
  });
  c.waitSynced();
  const ns = (i) => c.node(i).netns;
  const mac = (i) => sh('ip', ['netns', 'exec', ns(i), 'cat', '/sys/class/net/eth0/address']).trim();
  const pin = (i, prog) => {
    const dir = readdirSync(c.node(i).bpfDir).find((e) => e.startsWith('progs-'));
    if (dir === undefined) throw new Error(`node ${i} has no pinned programs`);
    return join(c.node(i).bpfDir, dir, prog);
  };
  // xdp_uplink on each node's maps (reused by name, as the loader does), pinned for `ip link`.
  const xdpPins = [1, 2].map((i) => {
    const obj = bpf.loadObject(OBJECT, { pinRoot: c.node(i).bpfDir });
    const path = join(c.node(i).bpfDir, `bench-${XDP_UPLINK_PROGRAM}`);
    loaded.push([obj, path]);
    bpf.pinFd(obj.programs[XDP_UPLINK_PROGRAM], path);
    return path;
  });
  const xdpPin = (i) => xdpPins[i - 1];
  const link = (i, ...args) => sh('ip', ['-n', ns(i), ...args]);
  const setMode = (mode) => {
    for (const i of [1, 2]) {
      for (const hook of Object.values(XDP_HOOK)) link(i, 'link', 'set', 'dev', 'eth0', hook, 'off');
      if (mode !== 'tc') link(i, 'link', 'set', 'dev', 'eth0', XDP_HOOK[mode], 'pinned', xdpPin(i));
    }
    const shown = link(2, 'link', 'show', 'dev', 'eth0');
    const hook = / mtu \d+ (xdp\w*) /.exec(shown)?.[1] ?? 'none';
    if (hook !== ({ tc: 'none', 'xdp+tc': 'xdp', 'xdpgeneric+tc': 'xdpgeneric' })[mode]) throw new Error(`n2's uplink is not in mode ${mode}:\n${shown}`);
  };

  const flood = () => {
    const before = { dropped: counter(c, 2, 'DROP_POLICY_INGRESS'), soft: ksoftirqdSeconds() };
    const r = spawnSync('ip', ['netns', 'exec', ns(1), flooder, 'eth0', mac(1), mac(2), n1a.ips[0], n2a.ips[0], String(DENIED_PORT), String(floodSeconds)], {
      encoding: 'utf8',
      timeout: (floodSeconds + 30) * 1000,
    });
    if (r.status !== 0) throw new Error(`syn-flood failed (${r.status ?? r.signal}): ${r.stderr}`);
    const out = JSON.parse(r.stdout);
    const dropped = Number(counter(c, 2, 'DROP_POLICY_INGRESS') - before.dropped);
    const cpu = out.cpuSeconds + (ksoftirqdSeconds() - before.soft);
    return { droppedPps: dropped / out.seconds, sentPps: out.sent / out.seconds, nsPerDrop: (cpu * 1e9) / dropped, share: dropped / out.sent };
  };

  const samples = Object.fromEntries(MODES.map((m) => [m, { droppedPps: [], sentPps: [], nsPerDrop: [], share: [], gbps: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
      setMode(mode);
      const f = flood();
      for (const k of ['droppedPps', 'sentPps', 'nsPerDrop', 'share']) samples[mode][k].push(f[k]);
      samples[mode].gbps.push((await iperf(c, { pod: n1a.name }, { pod: n2a.name }, n2a.ips[0], iperfSeconds)) / 1e9);
      console.log(`round ${round + 1} ${mode.padEnd(6)}: dropped ${(f.droppedPps / 1e3).toFixed(0)} kpps of ${(f.sentPps / 1e3).toFixed(0)} kpps sent, ${f.nsPerDrop.toFixed(0)} ns CPU/drop; iperf3 ${samples[mode].gbps.at(-1).toFixed(2)} Gbit/s`);
    }
  }
  setMode('tc');
  const cost = programCost(pin(2, ProgramName.fromUplink), xdpPin(2), mac(2), mac(1), n1a.ips[0], n2a.ips[0]);
  const value = (k, scale = 1) => Object.fromEntries(MODES.map((m) => [m, median(samples[m][k]) * scale]));
  printTable(
    `xdp_uplink vs tc from_uplink alone (IPv4, veth uplinks, native XDP; median of ${rounds} interleaved rounds, flood ${floodSeconds} s, iperf3 ${iperfSeconds} s)`,
    MODES,
    'xdp+tc',
    ['tc'],
    [
      { metric: 'denied SYNs dropped on n2', unit: 'kpps', better: 'higher', values: value('droppedPps', 1e-3) },
      { metric: 'flooder send rate', unit: 'kpps', better: 'higher', values: value('sentPps', 1e-3) },
      { metric: 'CPU per dropped SYN', unit: 'ns', better: 'lower', values: value('nsPerDrop') },
      { metric: 'share of sent SYNs counted as dropped', unit: '%', better: 'higher', values: value('share', 100) },
      { metric: 'iperf3 n1-a -> n2-a (allowed)', unit: 'Gbit/s', better: 'higher', values: value('gbps') },
    ],
  );
  console.log(
    `\nthe programs alone on one denied SYN (BPF_PROG_TEST_RUN on n2's pinned programs and maps, repeat ${COST_REPEAT}, ` +
      `median of ${rounds}): from_uplink ${cost.tc.toFixed(0)} ns, xdp_uplink ${cost.xdp.toFixed(0)} ns`,
  );
} finally {
  for (const [obj, path] of loaded) {
    rmSync(path, { force: true });
    obj.close();
  }
  if (c !== null) for (const p of await c.down()) console.error(`cleanup: ${p}`);
  rmSync(tmp, { recursive: true, force: true });
  releaseCpus();
}
