// Hostile pods against port policy with fragments and IPv6 extension headers
// (issue #8, drill "hostile pods", L4 share): real namespaces, bin/strait and a real
// strait-agent (test/helpers/cluster.ts), dual stack. Real fragments come from the
// kernel (a UDP datagram and a ping larger than the MTU); crafted ones from
// test/helpers/frame-sender.py, an AF_PACKET sender in the pod. Each hostile attempt
// is shown dropped (the target's stack never answers) and counted under its reason;
// each allowed one is shown answered. Last, a connection a policy change cut stays
// cut although policy allows its reverse direction (the agent revokes, not deletes).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Cluster, type ClusterPod } from '../helpers/cluster.js';
import {
  ETH_P_IP,
  ETH_P_IPV6,
  ethFrame,
  IPPROTO_TCP,
  ipv4,
  ipv6,
  ipv6Ext,
  ipv6Frag,
  NEXTHDR_DEST,
  NEXTHDR_FRAGMENT,
  NEXTHDR_HOP,
  tcp,
  TCP_SYN,
  withL4Checksum,
} from '../helpers/pktgen.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/netns/hostile-l4.test.ts (namespaces, veths, bpffs, a strait-agent)');

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));
const SENDER = fileURLToPath(new URL('../helpers/frame-sender.py', import.meta.url));

const list = (items: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const pods = list(
  ['v', 'a', 'e'].map((name) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'h', name, labels: { app: name } }, spec: { containers: [{ name: 'c' }] } })),
);
const peer = (app: string) => [{ podSelector: { matchLabels: { app } } }];
const policies = list([
  {
    // V is isolated and lets A reach TCP/80 and UDP/5353 only.
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: 'h', name: 'v-in' },
    spec: { podSelector: { matchLabels: { app: 'v' } }, ingress: [{ from: peer('a'), ports: [{ port: 80 }, { port: 5353, protocol: 'UDP' }] }] },
  },
  {
    // E may send only UDP/5353 to A.
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: 'h', name: 'e-out' },
    spec: { podSelector: { matchLabels: { app: 'e' } }, policyTypes: ['Egress'], egress: [{ to: peer('a'), ports: [{ port: 5353, protocol: 'UDP' }] }] },
  },
]);

type Family = 4 | 6;
const addr = (p: ClusterPod, family: Family): string => {
  const ip = family === 4 ? p.ip : p.ip6;
  if (ip === undefined) throw new Error(`${p.name} has no IPv${family} address`);
  return ip;
};

describe.skipIf(!isRoot)('hostile pods: fragments and extension headers against port policy', () => {
  const c = isRoot ? new Cluster('198.18.93.0/24', { subnet6: 'fd5a:93::/64' }) : (null as unknown as Cluster);
  let v: ClusterPod, a: ClusterPod, e: ClusterPod;

  beforeAll(async () => {
    c.write('namespaces.yaml', list([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'h', labels: { ns: 'h' } } }]));
    c.write('pods.yaml', pods);
    await c.startAgent();
    v = await c.addPod({ namespace: 'h', name: 'v', labels: {} }, ['tcp:80', 'tcp:81', 'udp:5353', 'udp:5354']);
    a = await c.addPod({ namespace: 'h', name: 'a', labels: {} }, ['tcp:80', 'udp:5353']);
    e = await c.addPod({ namespace: 'h', name: 'e', labels: {} }, ['tcp:80', 'udp:5353']);
    c.write('policy.yaml', policies);
    await c.waitSynced();
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
    cleanupAll();
  });

  /** Every counter of the datapath by C name (drops and verdicts). */
  const counters = (): Map<string, bigint> => {
    const r = spawnSync(STRAITCTL, ['drops', '--bpf-dir', c.bpfDir, '--state-dir', c.stateDir, '-o', 'json'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`straitctl drops: ${r.stderr}`);
    return new Map((JSON.parse(r.stdout) as { name: string; packets: string }[]).map((x) => [x.name, BigInt(x.packets)]));
  };
  /** Runs fn and returns how many packets it added to each counter that moved. */
  const moved = async (fn: () => unknown): Promise<Record<string, number>> => {
    const before = counters();
    await fn();
    const out: Record<string, number> = {};
    for (const [name, n] of counters()) if (n !== (before.get(name) ?? 0n)) out[name] = Number(n - (before.get(name) ?? 0n));
    return out;
  };

  /** A UDP datagram of `size` bytes from `from` (the kernel fragments it); the answer, or null. */
  const bigUdp = (from: ClusterPod, to: ClusterPod, family: Family, port: number, size = 3000): string | null => {
    const script = [
      'import socket, sys',
      `s = socket.socket(socket.AF_INET${family === 6 ? '6' : ''}, socket.SOCK_DGRAM)`,
      's.settimeout(0.8)',
      `s.sendto(b"x" * ${size}, ("${addr(to, family)}", ${port}))`,
      'try:\n    print(s.recvfrom(200)[0].decode())\nexcept socket.timeout:\n    print("")',
    ].join('\n');
    const out = from.netns.exec('python3', ['-c', script]).trim();
    return out === '' ? null : out;
  };

  /** Crafted frames from `from` (its own MAC and address); how many TCP answers came back to `sport`. */
  const craft = (from: ClusterPod, family: Family, l3: Uint8Array[], answerFrom: ClusterPod, sport: number): number => {
    const frames = l3.map((p) => Buffer.from(ethFrame({ src: from.mac, dst: from.gatewayMac }, family === 4 ? ETH_P_IP : ETH_P_IPV6, p)).toString('hex'));
    const req = { iface: 'eth0', frames, answer: { src: addr(answerFrom, family), dport: sport }, listen_ms: 600 };
    const r = spawnSync('ip', ['netns', 'exec', from.netns.name, 'python3', SENDER], { input: JSON.stringify(req), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`frame-sender: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { answers: number }).answers;
  };
  /** A SYN from `from` to `to`:dport with a valid checksum, IPv6, behind `wrap` (extension headers). */
  const syn6 = (from: ClusterPod, to: ClusterPod, sport: number, dport: number, first: number, wrap: (seg: Uint8Array) => Uint8Array): Uint8Array =>
    ipv6({ src: addr(from, 6), dst: addr(to, 6), next: first }, wrap(withL4Checksum(tcp(sport, dport, TCP_SYN), IPPROTO_TCP, addr(from, 6), addr(to, 6))));

  describe.each([4, 6] as const)('IPv%i, real fragments from the kernel', (family) => {
    it('fragmented UDP to an allowed port arrives whole and is answered; to a denied port every fragment is dropped', async () => {
      expect(bigUdp(a, v, family, 5353)).toBe('h/v');
      let answer: string | null = 'unset';
      const m = await moved(() => (answer = bigUdp(a, v, family, 5354)));
      expect(answer).toBeNull();
      // The first fragment by policy, the others because their first did not pass.
      expect(m.DROP_POLICY_INGRESS).toBe(1);
      expect(m.DROP_FRAG_NO_FIRST).toBeGreaterThanOrEqual(1);
    });

    it('a ping larger than the MTU, to and from an isolated pod: every fragment of the reply passes', async () => {
      const m = await moved(() => v.netns.exec('ping', [`-${family}`, '-c', '1', '-W', '2', '-s', '3000', addr(a, family)]));
      expect(m.DROP_FRAG_NO_FIRST ?? 0).toBe(0);
      expect(m.DROP_POLICY_INGRESS ?? 0).toBe(0);
    });
  });

  it("IPv4: a later fragment with no first (a port-0 probe) is dropped as DROP_FRAG_NO_FIRST", async () => {
    const seg = withL4Checksum(tcp(41000, 81, TCP_SYN), IPPROTO_TCP, a.ip, v.ip);
    const later = ipv4({ src: a.ip, dst: v.ip, proto: IPPROTO_TCP, id: 4242, fragOffset: 8 }, seg);
    let answers = -1;
    const m = await moved(() => (answers = craft(a, 4, [later], v, 41000)));
    expect(answers).toBe(0);
    expect(m.DROP_FRAG_NO_FIRST).toBe(1);
  });

  describe('IPv6, crafted', () => {
    it("the issue's reproduction: after V sent A a fragmented packet, an atomic-fragment SYN from A reaches only V's allowed port", async () => {
      v.netns.exec('ping', ['-6', '-c', '1', '-W', '2', '-s', '3000', addr(a, 6)]);
      const atomic = (seg: Uint8Array) => ipv6Frag(IPPROTO_TCP, { id: 0x5150 }, seg);
      let answers = -1;
      let m = await moved(() => (answers = craft(a, 6, [syn6(a, v, 42000, 81, NEXTHDR_FRAGMENT, atomic)], v, 42000)));
      expect(answers).toBe(0);
      expect(m.DROP_POLICY_INGRESS).toBe(1);
      m = await moved(() => (answers = craft(a, 6, [syn6(a, v, 42001, 80, NEXTHDR_FRAGMENT, atomic)], v, 42001)));
      expect(answers).toBeGreaterThanOrEqual(1); // V's SYN-ACK
      expect(m.STAT_POLICY_ALLOWED).toBeGreaterThanOrEqual(1);
    });

    it('extension headers in front of a SYN: judged by the TCP port behind them; too many is DROP_IPV6_EXT', async () => {
      const chain = (seg: Uint8Array) => ipv6Ext(NEXTHDR_HOP, NEXTHDR_DEST, ipv6Ext(NEXTHDR_DEST, IPPROTO_TCP, seg));
      let answers = -1;
      let m = await moved(() => (answers = craft(a, 6, [syn6(a, v, 43000, 81, NEXTHDR_HOP, chain)], v, 43000)));
      expect(answers).toBe(0);
      expect(m.DROP_POLICY_INGRESS).toBe(1);
      m = await moved(() => (answers = craft(a, 6, [syn6(a, v, 43001, 80, NEXTHDR_HOP, chain)], v, 43001)));
      expect(answers).toBeGreaterThanOrEqual(1);
      expect(m.STAT_POLICY_ALLOWED).toBeGreaterThanOrEqual(1);

      const seven = (seg: Uint8Array) => {
        let rest = ipv6Ext(NEXTHDR_DEST, IPPROTO_TCP, seg);
        for (let i = 0; i < 6; i++) rest = ipv6Ext(NEXTHDR_DEST, NEXTHDR_DEST, rest);
        return rest;
      };
      m = await moved(() => (answers = craft(a, 6, [syn6(a, v, 43002, 80, NEXTHDR_DEST, seven)], v, 43002)));
      expect(answers).toBe(0);
      expect(m.DROP_IPV6_EXT).toBe(1);
    });

    it('a fragment from outside does not let an egress-isolated pod send anything behind a fragment header', async () => {
      // A sends E a datagram the kernel fragments; E's ingress is open, so it arrives.
      expect(bigUdp(a, e, 6, 5353)).toBe('h/e');
      const atomic = (seg: Uint8Array) => ipv6Frag(IPPROTO_TCP, { id: 0x7007 }, seg);
      let answers = -1;
      const m = await moved(() => (answers = craft(e, 6, [syn6(e, a, 44000, 80, NEXTHDR_FRAGMENT, atomic)], a, 44000)));
      expect(answers).toBe(0);
      expect(m.DROP_POLICY_EGRESS).toBe(1);
      // What E may send, it still can, fragmented too.
      expect(bigUdp(e, a, 6, 5353)).toBe('h/a');
    });
  });

  it('a connection a policy change cut stays cut (DROP_CT_REVOKED, not recreated as a reply) and resumes when allowed again', async () => {
    // V isolated, A allowed to every port of V: one long TCP connection A -> V:9000.
    const widen = (ports: boolean) =>
      list([
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { namespace: 'h', name: 'v-in' },
          spec: { podSelector: { matchLabels: { app: 'v' } }, ingress: [{ from: peer('a'), ...(ports ? { ports: [{ port: 80 }] } : {}) }] },
        },
      ]);
    c.write('policy.yaml', widen(false));
    await c.waitSynced();
    const echo = spawn('ip', ['netns', 'exec', v.netns.name, process.execPath, '-e',
      "require('net').createServer(s => s.on('data', d => s.write(d))).listen(9000, () => console.log('up'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => echo.stdout.once('data', r));
    const talker = spawn('ip', ['netns', 'exec', a.netns.name, process.execPath, '-e',
      `const s = require('net').connect(9000, '${v.ip}', () => setInterval(() => s.write('x'), 50)); s.on('data', () => console.log(Date.now())); s.on('error', () => {});`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const echoes: number[] = [];
    talker.stdout.setEncoding('utf8').on('data', (d: string) => echoes.push(...d.trim().split('\n').map(Number)));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      await sleep(500);
      expect(echoes.length).toBeGreaterThan(3);
      // Narrowed to port 80: cut. V could open V:9000 -> A (A is not isolated), so
      // without the mark A's next packets would come back as that reply.
      const m = await moved(async () => {
        c.write('policy.yaml', widen(true));
        await c.waitSynced();
        const cutAt = Date.now();
        await sleep(800);
        expect(echoes.filter((t) => t > cutAt + 100)).toEqual([]);
      });
      expect(m.DROP_CT_REVOKED).toBeGreaterThanOrEqual(1);
      expect(m.STAT_CT_RECREATED ?? 0).toBe(0);
      // Allowed again: the agent lifts the mark and the same connection carries on.
      c.write('policy.yaml', widen(false));
      await c.waitSynced();
      // TCP's retransmission backoff decides when: wait for it (bounded).
      const back = Date.now();
      for (let i = 0; i < 100 && !echoes.some((t) => t > back); i++) await sleep(100);
      expect(echoes.filter((t) => t > back).length).toBeGreaterThan(0);
    } finally {
      talker.kill('SIGKILL');
      echo.kill('SIGKILL');
      c.write('policy.yaml', policies);
      await c.waitSynced();
    }
  });
});
