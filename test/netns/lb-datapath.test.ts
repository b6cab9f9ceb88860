// Services translated by strait's own datapath (lb.h), with real packets: three
// pods wired by the real CNI plugin on one node, Service entries written straight
// into the pinned maps with the lb codecs (no agent), and real TCP and UDP sockets
// in the pods (node's net and dgram, through `ip netns exec`) to the ClusterIP, v4
// and v6. No iptables rule exists for the ClusterIP: only the BPF translation can
// answer, and the receiving kernels check every checksum it rewrote. Both ends say
// whom they saw (test/helpers/pod-server.mjs --peer, test/helpers/ask-once.mjs).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as bpf from '../../src/datapath/bpf.js';
import { LB_HAIRPIN_IPV4, LB_HAIRPIN_IPV6, LB_PROTOCOLS, type MapNameValue } from '../../src/datapath/maps/index.js';
import { runCni, straitConfig } from '../helpers/cni.js';
import { LB_MAPS, writeService } from '../helpers/lb-maps.js';
import { ETH_P_IP, ETH_P_IPV6, ethFrame, IPPROTO_TCP, ipv4, ipv6, tcp, TCP_SYN, withL4Checksum } from '../helpers/pktgen.js';
import { bpffsDir, cleanupAll, createNetns, isRoot, rand, tempDir, warnIfNotRoot, type Netns } from '../helpers/sys.js';

warnIfNotRoot('Services in the BPF datapath (real packets through the ClusterIP)');

const POD_SERVER = fileURLToPath(new URL('../helpers/pod-server.mjs', import.meta.url));
const ASK_ONCE = fileURLToPath(new URL('../helpers/ask-once.mjs', import.meta.url));
const SENDER = fileURLToPath(new URL('../helpers/frame-sender.py', import.meta.url));
const VIP = { 4: '198.18.58.10', 6: 'fd5a:58::10' } as const;
const HAIRPIN = { 4: LB_HAIRPIN_IPV4, 6: LB_HAIRPIN_IPV6 } as const;

interface TestPod {
  name: string;
  ns: Netns;
  addr: Record<4 | 6, string>;
  podMac: string;
  hostMac: string;
}

interface CniResult {
  ips: { address: string }[];
  interfaces: { name: string; mac: string; sandbox?: string }[];
}

interface Answer {
  reply?: string;
  from?: string;
  error?: string;
}

describe.skipIf(!isRoot)('Services translated by the datapath (real packets, one node)', () => {
  const bpfDir = isRoot ? bpffsDir('lbdp') : '';
  const config = isRoot ? straitConfig({ name: `lbdp-${rand(2)}`, stateDir: tempDir('lbdp'), bpfDir, v4: '198.18.57.0/24', v6: 'fd5a:57::/64' }) : {};
  const pods: Record<string, TestPod> = {};
  const servers: ChildProcess[] = [];
  const fds = new Map<MapNameValue, number>();
  const fd = (m: MapNameValue): number => {
    let v = fds.get(m);
    if (v === undefined) {
      const got = bpf.getPinned(join(bpfDir, m));
      if (got === null) throw new Error(`${m} is not pinned in ${bpfDir}`);
      fds.set(m, (v = got));
    }
    return v;
  };
  const pod = (name: string): TestPod => {
    const p = pods[name];
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  };

  beforeAll(async () => {
    for (const name of ['a', 'b', 'c']) {
      const ns = createNetns(`lb${name}`);
      const r = await runCni({ command: 'ADD', config, containerId: `lbdp-${name}-${rand()}`, netns: ns.path });
      expect(r.exitCode, r.stdout).toBe(0);
      const res = r.json as unknown as CniResult;
      const ip = (f: 4 | 6): string => {
        const found = res.ips.map((x) => x.address.split('/')[0] ?? '').find((x) => x.includes(':') === (f === 6));
        if (found === undefined) throw new Error(`pod ${name} has no IPv${f} address`);
        return found;
      };
      const host = res.interfaces.find((i) => i.sandbox === undefined);
      const inPod = res.interfaces.find((i) => i.sandbox !== undefined);
      if (!host || !inPod) throw new Error('CNI result without both interfaces');
      pods[name] = { name, ns, addr: { 4: ip(4), 6: ip(6) }, podMac: inPod.mac, hostMac: host.mac };
      const server = spawn('ip', ['netns', 'exec', ns.name, process.execPath, POD_SERVER, '--peer', name, 'tcp:8080', 'udp:5353'], { stdio: ['ignore', 'pipe', 'inherit'] });
      servers.push(server);
      await new Promise((r) => server.stdout?.once('data', r));
    }
  }, 60_000);

  afterAll(() => {
    for (const s of servers) s.kill();
    for (const v of fds.values()) bpf.closeFd(v);
    cleanupAll();
  });

  beforeEach(() => {
    for (const m of LB_MAPS) for (const key of bpf.mapKeys(fd(m))) bpf.mapDelete(fd(m), key);
  });

  /** One request from `from` to host:port and the answer it got, with the answer's source. */
  const ask = (from: TestPod, proto: 'tcp' | 'udp', host: string, port: number): Answer => {
    const r = spawnSync('ip', ['netns', 'exec', from.ns.name, process.execPath, ASK_ONCE, proto, host, String(port)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ask-once: ${r.stderr}`);
    return JSON.parse(r.stdout) as Answer;
  };

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const vip = VIP[family];
    /** TCP vip:80 -> :8080 and UDP vip:53 -> :5353 on these backends (ids from base). */
    const services = (backends: TestPod[], base: number): void => {
      for (const [proto, port, target] of [
        [LB_PROTOCOLS.TCP, 80, 8080],
        [LB_PROTOCOLS.UDP, 53, 5353],
      ] as const) {
        writeService(fd, {
          family,
          vip,
          port,
          protocol: proto,
          serviceId: base + proto,
          backends: backends.map((p, i) => ({ id: (base + proto) * 10 + i + 1, addr: p.addr[family], port: target })),
        });
      }
    };

    it('TCP and UDP to the ClusterIP reach the backend, which sees the client, and are answered from the ClusterIP', () => {
      const [a, b] = [pod('a'), pod('b')];
      services([b], family * 100);
      expect(ask(a, 'tcp', vip, 80)).toEqual({ reply: `b ${a.addr[family]}`, from: vip });
      expect(ask(a, 'udp', vip, 53)).toEqual({ reply: `b ${a.addr[family]}`, from: vip });
    });

    it('two backends both get connections', () => {
      const [a, b, c] = [pod('a'), pod('b'), pod('c')];
      services([b, c], family * 100);
      const seen = new Set<string>();
      for (let i = 0; i < 16; i++) {
        const got = ask(a, 'tcp', vip, 80);
        expect(got.from).toBe(vip);
        seen.add(got.reply?.split(' ')[0] ?? '');
      }
      expect(seen).toEqual(new Set(['b', 'c']));
    });

    it('hairpin: a pod its own backend reaches itself from the hairpin address, answered from the ClusterIP', () => {
      const a = pod('a');
      services([a], family * 100);
      expect(ask(a, 'tcp', vip, 80)).toEqual({ reply: `a ${HAIRPIN[family]}`, from: vip });
      expect(ask(a, 'udp', vip, 53)).toEqual({ reply: `a ${HAIRPIN[family]}`, from: vip });
    });

    it("a backend's port unreachable reaches the client's connected UDP socket as ECONNREFUSED: the quote names the ClusterIP again", () => {
      const [a, b] = [pod('a'), pod('b')];
      // Nothing listens on the target port 5399 in b.
      writeService(fd, { family, vip, port: 54, protocol: LB_PROTOCOLS.UDP, serviceId: family * 100 + 50, backends: [{ id: family * 1000 + 501, addr: b.addr[family], port: 5399 }] });
      const script = [
        'import socket',
        `s = socket.socket(socket.AF_INET${family === 6 ? '6' : ''}, socket.SOCK_DGRAM)`,
        `s.connect(("${vip}", 54))`,
        's.settimeout(2)',
        's.send(b"x")',
        'try:\n    s.recv(100)\n    print("answer")\nexcept ConnectionRefusedError:\n    print("refused")\nexcept socket.timeout:\n    print("timeout")',
      ].join('\n');
      expect(a.ns.exec('python3', ['-c', script]).trim()).toBe('refused');
    });

    it("a SYN with a full software checksum (no offload) passes the backend kernel's check and is answered from the ClusterIP; a broken one is not", () => {
      const [a, b] = [pod('a'), pod('b')];
      services([b], family * 100);
      const syn = (sport: number, corrupt: boolean): string => {
        const seg = withL4Checksum(tcp(sport, 80, TCP_SYN), IPPROTO_TCP, a.addr[family], vip);
        if (corrupt) seg[17] = (seg[17] ?? 0) ^ 0xff;
        const l3 = family === 4 ? ipv4({ src: a.addr[4], dst: vip, proto: IPPROTO_TCP }, seg) : ipv6({ src: a.addr[6], dst: vip, next: IPPROTO_TCP }, seg);
        return Buffer.from(ethFrame({ src: a.podMac, dst: a.hostMac }, family === 4 ? ETH_P_IP : ETH_P_IPV6, l3)).toString('hex');
      };
      const answers = (sport: number, corrupt: boolean): number => {
        const req = { iface: 'eth0', frames: [syn(sport, corrupt)], answer: { src: vip, dport: sport }, listen_ms: 600 };
        const r = spawnSync('ip', ['netns', 'exec', a.ns.name, 'python3', SENDER], { input: JSON.stringify(req), encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`frame-sender: ${r.stderr}`);
        return (JSON.parse(r.stdout) as { answers: number }).answers;
      };
      expect(answers(45000 + family, false)).toBeGreaterThanOrEqual(1);
      expect(answers(46000 + family, true)).toBe(0);
    });
  });
});
