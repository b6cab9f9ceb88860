// Pod-to-pod traffic takes the eBPF fast path: it flows with forwarding off and an
// iptables FORWARD DROP policy on the host (so it cannot be the kernel routing it),
// the redirect counter grows, a pod sending with another pod's address or MAC is
// dropped and counted, and DEL leaves no map entry behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import * as bpf from '../../src/datapath/bpf.js';
import { decodeCtKey } from '../../src/datapath/maps/ct.js';
import { MapName } from '../../src/datapath/maps/names.js';
import { runCni, straitConfig } from '../helpers/cni.js';
import { bpffsDir, cleanupAll, createNetns, isRoot, rand, sh, tempDir, warnIfNotRoot, type Netns } from '../helpers/sys.js';

warnIfNotRoot('fast path integration tests');

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));

interface Pod {
  ns: Netns;
  id: string;
  v4: string;
  v6: string;
  hostVeth: string;
  hostMac: string;
  mac: string;
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the shape of straitctl's JSON
function ctl<T>(bpfDir: string, stateDir: string, ...args: string[]): T {
  const r = spawnSync(STRAITCTL, [...args, '--bpf-dir', bpfDir, '--state-dir', stateDir, '-o', 'json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`straitctl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Counter { name: string; packets: string }
const counter = (rows: Counter[], name: string) => BigInt(rows.find((r) => r.name === name)?.packets ?? '0');

describe.skipIf(!isRoot)('eBPF fast path', () => {
  const stateDir = isRoot ? tempDir('fp') : '';
  const bpfDir = isRoot ? bpffsDir('fp') : '';
  const network = `fp-${rand(2)}`;
  const config = straitConfig({ name: network, stateDir, bpfDir, v4: '198.18.50.0/24', v6: 'fd5a:50::/64' });
  const pods: Pod[] = [];
  const saved = { v4: '', v6: '', policy: '' };

  beforeAll(async () => {
    for (const n of ['a', 'b', 'c']) {
      const ns = createNetns(`fp${n}`);
      const id = `fp-${n}-${rand()}`;
      const r = await runCni({ command: 'ADD', config, containerId: id, netns: ns.path, args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=fp;K8S_POD_NAME=pod-${n}` });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const res = r.json as { ips: { address: string }[]; interfaces: { name: string; mac: string }[] };
      pods.push({
        ns,
        id,
        v4: res.ips[0]!.address.split('/')[0]!,
        v6: res.ips[1]!.address.split('/')[0]!,
        hostVeth: res.interfaces[0]!.name,
        hostMac: res.interfaces[0]!.mac,
        mac: res.interfaces[1]!.mac,
      });
    }
    // Take the kernel's own forwarding away: only the BPF redirect can carry pod traffic.
    saved.v4 = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    saved.v6 = readFileSync('/proc/sys/net/ipv6/conf/all/forwarding', 'utf8').trim();
    saved.policy = /Chain FORWARD \(policy (\w+)/.exec(sh('iptables', ['-L', 'FORWARD', '-n']))?.[1] ?? 'ACCEPT';
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '0');
    writeFileSync('/proc/sys/net/ipv6/conf/all/forwarding', '0');
    sh('iptables', ['-P', 'FORWARD', 'DROP']);
    sh('ip6tables', ['-P', 'FORWARD', 'DROP'], { allowFail: true });
  });

  afterAll(() => {
    if (saved.v4 !== '') writeFileSync('/proc/sys/net/ipv4/ip_forward', saved.v4);
    if (saved.v6 !== '') writeFileSync('/proc/sys/net/ipv6/conf/all/forwarding', saved.v6);
    if (saved.policy !== '') {
      sh('iptables', ['-P', 'FORWARD', saved.policy], { allowFail: true });
      sh('ip6tables', ['-P', 'FORWARD', saved.policy], { allowFail: true });
    }
    cleanupAll();
  });

  it('attaches the programs to both directions of every host veth and lists the endpoints', () => {
    for (const p of pods) {
      expect(sh('tc', ['filter', 'show', 'dev', p.hostVeth, 'ingress'])).toMatch(/bpf .*from_pod.*direct-action/);
      expect(sh('tc', ['filter', 'show', 'dev', p.hostVeth, 'egress'])).toMatch(/bpf .*to_pod.*direct-action/);
    }
    const eps = ctl<{ ip: string; pod: string | null; ready: boolean; hostVeth: string }[]>(bpfDir, stateDir, 'endpoints');
    for (const p of pods) {
      for (const ip of [p.v4, p.v6]) {
        const e = eps.find((x) => x.ip === ip);
        expect(e, ip).toBeDefined();
        expect(e!.ready).toBe(true);
        expect(e!.hostVeth).toBe(p.hostVeth);
        expect(e!.pod).toMatch(/^fp\/pod-[abc]$/);
      }
    }
  });

  it('carries pod-to-pod traffic with forwarding off and iptables FORWARD DROP, counted as redirects', () => {
    const [a, b, c] = pods as [Pod, Pod, Pod];
    const before = counter(ctl<Counter[]>(bpfDir, stateDir, 'drops'), 'STAT_REDIRECT_PEER');
    for (const [src, dst] of [[a, b], [b, c], [c, a]] as const) {
      src.ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', dst.v4]);
      src.ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', dst.v6]);
    }
    // A TCP stream too, both directions of it through the redirect.
    const srv = spawnSync('sh', ['-c', `ip netns exec ${b.ns.name} iperf3 -s -1 -D -B ${b.v4} && sleep 0.3 && ip netns exec ${a.ns.name} iperf3 -t 1 -c ${b.v4} -J`], { encoding: 'utf8' });
    expect(srv.status, srv.stderr).toBe(0);
    expect((JSON.parse(srv.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes).toBeGreaterThan(1_000_000);
    const after = counter(ctl<Counter[]>(bpfDir, stateDir, 'drops'), 'STAT_REDIRECT_PEER');
    // 36 echo packets at least, plus the TCP stream.
    expect(after - before).toBeGreaterThan(1000n);
  });

  it('drops and counts a pod that sends with another pod\'s address, and with another MAC', () => {
    const [a, b, c] = pods as [Pod, Pod, Pod];
    const drops = () => ctl<Counter[]>(bpfDir, stateDir, 'drops');
    const before = drops();
    a.ns.exec('ip', ['addr', 'add', `${b.v4}/32`, 'dev', 'eth0']);
    try {
      const r = spawnSync('ip', ['netns', 'exec', a.ns.name, 'ping', '-c', '2', '-i', '0.2', '-W', '1', '-I', b.v4, c.v4]);
      expect(r.status).not.toBe(0);
    } finally {
      a.ns.exec('ip', ['addr', 'del', `${b.v4}/32`, 'dev', 'eth0']);
    }
    const mid = drops();
    expect(counter(mid, 'DROP_SPOOF_IP') - counter(before, 'DROP_SPOOF_IP')).toBeGreaterThanOrEqual(2n);

    // A MAC change flushes the pod's neighbour table, permanent entries included:
    // put the gateway back each time so the packets really leave with the new MAC.
    const gatewayBack = () =>
      a.ns.exec('ip', ['neigh', 'replace', '169.254.1.1', 'lladdr', a.hostMac, 'dev', 'eth0', 'nud', 'permanent']);
    a.ns.exec('ip', ['link', 'set', 'eth0', 'address', '02:00:00:5a:5a:5a']);
    gatewayBack();
    try {
      const r = spawnSync('ip', ['netns', 'exec', a.ns.name, 'ping', '-c', '2', '-i', '0.2', '-W', '1', c.v4]);
      expect(r.status).not.toBe(0);
    } finally {
      a.ns.exec('ip', ['link', 'set', 'eth0', 'address', a.mac]);
      gatewayBack();
    }
    expect(counter(drops(), 'DROP_SPOOF_MAC') - counter(mid, 'DROP_SPOOF_MAC')).toBeGreaterThanOrEqual(2n);
    // And the honest pod still gets through afterwards.
    a.ns.exec('ping', ['-c', '1', '-W', '2', c.v4]);
  });

  /** Tuples in both conntrack tables (answered and pending). */
  const ctTuples = () =>
    [MapName.ct, MapName.ctPending].flatMap((name) => {
      const fd = bpf.getPinned(join(bpfDir, name));
      if (fd === null) throw new Error(`no conntrack map ${name} pinned`);
      try {
        return bpf.mapDump(fd).map((e) => decodeCtKey(e.key));
      } finally {
        bpf.closeFd(fd);
      }
    });

  it('CHECK verifies the programs and map entries; DEL removes the entries and their connections', async () => {
    const before = ctTuples();
    expect(before.some((t) => pods.some((p) => t.saddr === p.v4 || t.daddr === p.v4))).toBe(true);
    const c = pods[2]!;
    const add = { ips: [{ address: `${c.v4}/32`, interface: 1 }, { address: `${c.v6}/128`, interface: 1 }], interfaces: [{ name: c.hostVeth }, { name: 'eth0', mac: c.mac, sandbox: c.ns.path }] };
    const check = () => runCni({ command: 'CHECK', config: { ...config, prevResult: { cniVersion: '1.1.0', ...add } }, containerId: c.id, netns: c.ns.path });
    expect((await check()).exitCode).toBe(0);
    sh('tc', ['filter', 'del', 'dev', c.hostVeth, 'ingress']);
    const r = await check();
    expect(r.exitCode).toBe(1);
    expect(r.json!.msg).toMatch(/no BPF program on tc ingress/);

    for (const p of pods) {
      const del = await runCni({ command: 'DEL', config, containerId: p.id, netns: p.ns.path });
      expect(del.exitCode, del.stdout).toBe(0);
    }
    const eps = ctl<{ ip: string }[]>(bpfDir, stateDir, 'endpoints');
    for (const p of pods) {
      expect(eps.map((e) => e.ip)).not.toContain(p.v4);
      expect(eps.map((e) => e.ip)).not.toContain(p.v6);
    }
    // Their connections went too: an address handed to a new pod starts clean.
    const gone = new Set(pods.flatMap((p) => [p.v4, p.v6]));
    expect(ctTuples().filter((t) => gone.has(t.saddr) || gone.has(t.daddr))).toEqual([]);
  });
});
