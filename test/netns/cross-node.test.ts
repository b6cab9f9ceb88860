// Cross-node drills on the emulated cluster (src/lab, two nodes, one pod each, native
// routing): pod traffic with both nodes' forwarding off and FORWARD DROP (only the
// BPF path can carry it, and the counters say it did), masquerade to the outside
// host (and not toward another node's pod), and a kube-proxy-style Service whose
// backend is on the other node (the DNAT lives in node 1's host stack, and
// from_uplink hands the replies of that flow back to the stack to be un-NATed).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { counter, ping } from '../../src/lab/checks.js';
import { EmulatedCluster } from '../../src/lab/cluster.js';
import { inNetns, NODE, POD_TOOL } from '../../src/lab/run.js';
import { nodeAddresses, OUTSIDE } from '../../src/lab/topology.js';
import { eventually, netnsOf, PEER_SERVER, type Place, POD_SERVER, startScript, useLab } from '../helpers/lab-drill.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('cross-node drills (emulated cluster)');

const PROBER = fileURLToPath(new URL('../helpers/prober.mjs', import.meta.url));
const PEER_PORT = 9090;
const CLUSTER_IP = '10.96.0.10';
const [A, B] = ['n1-a', 'n2-a'];

/** What a TCP server at host:port answered (pod-tool probe), or null on no answer. */
function ask(c: EmulatedCluster, from: Place, host: string, port: number, ms = 3000): string | null {
  const r = c.exec(from, NODE, [POD_TOOL, 'probe', host, String(port), String(ms)], ms + 10_000);
  return r.status === 0 ? r.stdout.trim() : null;
}

/** One UDP datagram to host:port from a pod (test/helpers/prober.mjs); the answer, or null. */
function askUdp(c: EmulatedCluster, from: Place, host: string, port: number): string | null {
  const [cmd, args] = inNetns(netnsOf(c, from), NODE, [PROBER, '3000']);
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: `${JSON.stringify({ id: 1, probes: [{ host, port, proto: 'udp' }] })}\n`, timeout: 20_000 });
  const line = r.stdout.split('\n').find((l) => l.includes('"results"'));
  return line === undefined ? null : ((JSON.parse(line) as { results: (string | null)[] }).results[0] ?? null);
}

/** 0 when node 1 has strait's nftables table (nft's exit status). */
const masqueradeTable = (c: EmulatedCluster): number => c.exec({ node: 1 }, 'nft', ['list', 'table', 'inet', 'strait']).status;

/** Both nodes' counters; `moved(i, name)` is what a counter of node i gained since. */
function snapshot(c: EmulatedCluster): (i: number, name: string) => bigint {
  const before = [1, 2].map((i) => c.counters(i));
  return (i, name) => counter(c, i, name) - (before[i - 1]?.get(name) ?? 0n);
}

describe.skipIf(!isRoot)('cross-node drills (native routing)', () => {
  const lab = useLab({ nodes: 2, podsPerNode: 1, routing: 'native', prefix: 'x' }, async (c) => {
    // Who the outside host and node 2's pod see as the peer of a connection.
    await startScript(c, 'outside', PEER_SERVER, [String(PEER_PORT)]);
    await startScript(c, { pod: B }, PEER_SERVER, [String(PEER_PORT)]);
  });

  it('forwarding off and FORWARD DROP on both nodes: ping and TCP across nodes, v4 and v6, through STAT_TO_NODE and STAT_FROM_NODE', () => {
    const cl = lab();
    const setForwarding = (on: boolean): void => {
      for (const i of [1, 2]) {
        for (const [cmd, args] of [
          ['sysctl', ['-qw', `net.ipv4.ip_forward=${on ? 1 : 0}`]],
          ['sysctl', ['-qw', `net.ipv6.conf.all.forwarding=${on ? 1 : 0}`]],
          ['iptables', ['-P', 'FORWARD', on ? 'ACCEPT' : 'DROP']],
          ['ip6tables', ['-P', 'FORWARD', on ? 'ACCEPT' : 'DROP']],
        ] as const) {
          const r = cl.exec({ node: i }, cmd, [...args]);
          expect(r.status, `${cmd} ${args.join(' ')} on n${i}: ${r.stderr}`).toBe(0);
        }
      }
    };
    setForwarding(false);
    try {
      for (const [src, dst, from, to] of [[A, B, 1, 2], [B, A, 2, 1]] as const) {
        for (const ip of cl.pod(dst).ips) {
          const moved = snapshot(cl);
          expect(ping(cl, { pod: src }, ip).ok, `${src} -> ${dst} ping ${ip}`).toBe(true);
          expect(ask(cl, { pod: src }, ip, 8080), `${src} -> ${dst} TCP ${ip}`).toBe(dst);
          // The echo and the connection's packets each way: out by BPF on one node, in by BPF on the other.
          expect(moved(from, 'STAT_TO_NODE'), `${ip} sent by n${from}`).toBeGreaterThanOrEqual(4n);
          expect(moved(to, 'STAT_FROM_NODE'), `${ip} received by n${to}`).toBeGreaterThanOrEqual(4n);
          expect(moved(to, 'STAT_TO_NODE'), `${ip} answered by n${to}`).toBeGreaterThanOrEqual(4n);
          expect(moved(from, 'STAT_FROM_NODE'), `${ip} answer received by n${from}`).toBeGreaterThanOrEqual(4n);
          expect(moved(from, 'STAT_FIB_FALLBACK')).toBe(0n);
        }
      }
      for (const i of [1, 2]) expect(cl.exec({ node: i }, 'sysctl', ['-n', 'net.ipv4.ip_forward']).stdout.trim()).toBe('0');
    } finally {
      setForwarding(true);
    }
  });

  it('masquerade: the outside host sees the node address (v4 and v6); another node\'s pod sees the pod\'s own', async () => {
    const cl = lab();
    // nft runs a moment after the agent is synced.
    await eventually(() => expect(masqueradeTable(cl)).toBe(0));
    const [v4, v6] = cl.pod(A).ips as [string, string];
    expect(ask(cl, { pod: A }, OUTSIDE.v4, PEER_PORT)).toBe(nodeAddresses(1).v4);
    expect(ask(cl, { pod: A }, OUTSIDE.v6, PEER_PORT)).toBe(nodeAddresses(1).v6);
    const [b4, b6] = cl.pod(B).ips as [string, string];
    expect(ask(cl, { pod: A }, b4, PEER_PORT)).toBe(v4);
    expect(ask(cl, { pod: A }, b6, PEER_PORT)).toBe(v6);
  });

  it('--masquerade false leaves no table inet strait, and the outside gets no answer back; the default brings it back', async () => {
    const cl = lab();
    const table = (): number => masqueradeTable(cl);
    await eventually(() => expect(table()).toBe(0));
    await cl.restartAgent(1, { agentArgs: ['--masquerade', 'false'] });
    try {
      await eventually(() => expect(table()).not.toBe(0));
      // Unmasqueraded, the pod's address has no route back from the outside.
      expect(ask(cl, { pod: A }, OUTSIDE.v4, PEER_PORT, 1500)).toBeNull();
    } finally {
      await cl.restartAgent(1);
    }
    await eventually(() => expect(table()).toBe(0));
    expect(ask(cl, { pod: A }, OUTSIDE.v4, PEER_PORT)).toBe(nodeAddresses(1).v4);
  });

  it('a Service DNATed by node 1\'s iptables to a pod on node 2 answers over TCP and UDP', async () => {
    const cl = lab();
    const backend = cl.pod(B).ips[0]!;
    // pod-tool already answers TCP 8080 with the pod's name; UDP 8080 gets the same from pod-server.
    await startScript(cl, { pod: B }, POD_SERVER, [B, 'udp:8080']);
    const rules = ['tcp', 'udp'].map((p) => ['PREROUTING', '-d', CLUSTER_IP, '-p', p, '--dport', '80', '-j', 'DNAT', '--to-destination', `${backend}:8080`]);
    for (const r of rules) expect(cl.exec({ node: 1 }, 'iptables', ['-t', 'nat', '-A', ...r]).status).toBe(0);
    try {
      expect(ask(cl, { pod: A }, CLUSTER_IP, 80)).toBe(B);
      expect(askUdp(cl, { pod: A }, CLUSTER_IP, 80)).toBe(B);
      // And the backend directly, past the same nodes: the Service did not break the pod path.
      expect(askUdp(cl, { pod: A }, backend, 8080)).toBe(B);
    } finally {
      for (const r of rules) cl.exec({ node: 1 }, 'iptables', ['-t', 'nat', '-D', ...r]);
    }
  });
});
