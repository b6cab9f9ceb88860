#!/usr/bin/env node
// Per-packet cost of from_uplink (tc ingress of the node's uplink) by
// BPF_PROG_TEST_RUN, on the compiled object in a private bpffs: a packet that is
// not for a pod (the node's own traffic: one endpoint lookup, then the stack) and
// one of an established connection redirected into a local pod. Like the from_pod
// figure of bench/datapath.mjs: the kernel's repeat loop, median of several runs.
//   usage: node bench/uplink.mjs [runs=20] [repeat=20000]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { holdCpusAwake, median, rand, requireRoot, sh } from './lib.mjs';

requireRoot('bench/uplink');
const runs = Number(process.argv[2] ?? 20);
const repeat = Number(process.argv[3] ?? 20000);
const bpf = await import('../dist/datapath/bpf.js');
const maps = await import('../dist/datapath/maps/index.js');
const OBJ = fileURLToPath(new URL('../build/bpf/', import.meta.url));

const releaseCpus = holdCpusAwake();
const pinRoot = mkdtempSync(join(tmpdir(), 'strait-bench-uplink-'));
const veth = `stbu${rand(3)}`;
const objects = [];
sh('mount', ['-t', 'bpf', 'bpf', pinRoot]);
try {
  sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
  const ifindex = Number(readFileSync(`/sys/class/net/${veth}/ifindex`, 'utf8').trim());
  for (const name of ['from_uplink', 'from_pod']) objects.push(bpf.loadObject(join(OBJ, `${name}.bpf.o`), { pinRoot }));
  const [uplink, fromPodObj] = objects;
  const fromUplink = uplink.programs.from_uplink;
  const fromPod = fromPodObj.programs.from_pod;
  const pod = { ip: '10.244.2.11', mac: '0a:58:0a:f4:02:0b', host: 'ee:00:00:00:02:0b' };
  bpf.mapUpdate(
    uplink.maps[maps.MapName.endpoints],
    maps.encodeEndpointKey({ family: 4, ip: pod.ip }),
    maps.encodeEndpointValue({ ifindex, flags: maps.EP_F_READY, podMac: pod.mac, hostMac: pod.host, identity: 1000 }),
  );
  const mac = (m) => m.split(':').map((h) => parseInt(h, 16));
  const ip4 = (a) => a.split('.').map(Number);
  const SYN = 0x02, ACK = 0x10;
  const tcpFrame = (dstMac, srcMac, srcIp, dstIp, sport, dport, flags, ttl = 64) => {
    const frame = new Uint8Array(14 + 20 + 20 + 64);
    frame.set(mac(dstMac), 0);
    frame.set(mac(srcMac), 6);
    frame.set([0x08, 0x00], 12);
    frame.set([0x45, 0, 0, 20 + 20 + 64, 0, 0, 0x40, 0, ttl, 6, 0, 0], 14);
    frame.set(ip4(srcIp), 26);
    frame.set(ip4(dstIp), 30);
    frame.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff], 34);
    return frame;
  };
  const run = (fd, on, data, n, want) => {
    const out = bpf.progTestRun(fd, data, { repeat: n, ctx: bpf.skbContext({ ifindex: on }) });
    if (out.retval !== want) throw new Error(`program returned ${out.retval}, expected ${want}`);
    return out.durationNs;
  };
  const [nodeMac, peerMac, remote, nodeIp] = ['02:00:5e:00:00:01', '02:00:5e:00:00:02', '10.244.9.9', '192.168.50.1'];

  // Not for a pod: the node's own traffic, left alone after one endpoint lookup.
  const toNode = tcpFrame(nodeMac, peerMac, remote, nodeIp, 40000, 22, ACK);
  const notForPod = [];
  for (let i = 0; i < runs; i++) notForPod.push(run(fromUplink, ifindex, toNode, repeat, 0));

  // Redirected: a connection the pod answered (its entry promoted to strait_ct_v1),
  // then its packets in the opening direction. The redirect spends a hop of TTL on
  // the frame the next repetition reuses, so repetitions stay under 255.
  run(fromUplink, ifindex, tcpFrame(nodeMac, peerMac, remote, pod.ip, 40001, 80, SYN), 1, 7);
  run(fromPod, ifindex, tcpFrame(pod.host, pod.mac, pod.ip, remote, 80, 40001, SYN | ACK), 1, 0);
  const established = tcpFrame(nodeMac, peerMac, remote, pod.ip, 40001, 80, ACK, 255);
  const redirected = [];
  for (let i = 0; i < runs * 20; i++) redirected.push(run(fromUplink, ifindex, established, 250, 7));

  console.log(
    `from_uplink per-packet cost (BPF_PROG_TEST_RUN, IPv4 TCP): ${median(notForPod).toFixed(0)} ns not for a pod ` +
      `(repeat ${repeat}, median of ${runs}); ${median(redirected).toFixed(0)} ns redirected into a pod on an established ` +
      `connection (repeat 250, median of ${runs * 20})`,
  );
} finally {
  for (const o of objects) o.close();
  sh('ip', ['link', 'del', veth], { allowFail: true });
  sh('umount', [pinRoot], { allowFail: true });
  rmSync(pinRoot, { recursive: true, force: true });
  releaseCpus();
}
