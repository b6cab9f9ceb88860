// Services across nodes on the emulated cluster (src/lab, dir source), translated by
// strait alone: no kube-proxy, no iptables rule for any ClusterIP, so a ClusterIP only
// answers through from_pod's translation (docs/services.md). Services have no
// selector; their EndpointSlices are written by hand (test/helpers/service-lab.ts).
// Every backend answers with its pod's name, so each request says where it went.
import { describe, expect, it } from 'vitest';
import type { EmulatedCluster } from '../../src/lab/cluster.js';
import { LAB_NAMESPACE } from '../../src/lab/topology.js';
import { useLab } from '../helpers/lab-drill.js';
import { eventuallyAsync, ServiceClient, startBackend, who, writeService, writeSlices, type Answer, type BackendSpec, type ServiceSpec } from '../helpers/service-lab.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('Service drills across nodes (emulated cluster)');

/** Connections per check: with two backends, 2^-16 odds that a fair pick misses one. */
const N = 16;
const CLIENT = 'n1-cl';
const NP_CLIENT = 'n1-np';
const [B1, B2, B3] = ['n1-be', 'n2-be', 'n3-be'];

const v4 = (i: number): string => `198.19.0.${i}`;
const v6 = (i: number): string => `fd5a:5e::${i}`;
const svc = {
  spread: { name: 'spread', clusterIPs: [v4(1)] },
  affinity: { name: 'affinity', clusterIPs: [v4(2)], affinity: true },
  hairpin: { name: 'hairpin', clusterIPs: [v4(3), v6(3)] },
  rmtcp: { name: 'rmtcp', clusterIPs: [v4(4)] },
  rmudp: { name: 'rmudp', clusterIPs: [v4(5)] },
  notready: { name: 'notready', clusterIPs: [v4(6)] },
  terminating: { name: 'terminating', clusterIPs: [v4(12)] },
  local: { name: 'local', clusterIPs: [v4(7)], local: true },
  none: { name: 'none', clusterIPs: [v4(8), v6(8)] },
  six: { name: 'six', clusterIPs: [v6(9)] },
  dual: { name: 'dual', clusterIPs: [v4(10), v6(10)] },
  policy: { name: 'policy', clusterIPs: [v4(11)] },
} satisfies Record<string, ServiceSpec>;

/** Node i's counter `name`, and what it gained since `take()` was called. */
function gained(c: EmulatedCluster, i: number, name: string): () => bigint {
  const before = c.counters(i).get(name) ?? 0n;
  return () => (c.counters(i).get(name) ?? 0n) - before;
}

/** Opens `n` connections and asks each three times: the backend each answered with every time, or why not. */
async function sticky(cl: ServiceClient, host: string, n = N): Promise<string[]> {
  const conns = await Promise.all(Array.from({ length: n }, () => cl.open(host)));
  const out: string[] = [];
  for (const conn of conns) {
    const answers = who(await Promise.all([cl.ask(conn), cl.ask(conn), cl.ask(conn)]));
    out.push(new Set(answers).size === 1 ? answers[0]! : `mixed ${answers.join(',')}`);
    await cl.close(conn);
  }
  return out;
}

/**
 * Which of B2 and B3 answered `first`, and the other; then the Service's
 * EndpointSlices rewritten with `backends(hit, other)`, and every agent synced.
 */
function rewrite(c: EmulatedCluster, s: ServiceSpec, first: Answer, backends: (hit: string, other: string) => string[] | BackendSpec[]): { hit: string; other: string } {
  const hit = first.answer ?? `!${first.error ?? '?'}`;
  expect([B2, B3]).toContain(hit);
  const other = hit === B2 ? B3 : B2;
  writeSlices(c, s, backends(hit, other).map((b) => (typeof b === 'string' ? { pod: c.pod(b) } : b)));
  c.waitSynced();
  return { hit, other };
}

const all = (pod: string, n = N): string[] => new Array<string>(n).fill(pod);

/**
 * Until a request to the Service answers (the agent writes a Service's maps a moment
 * after it is synced), for a bounded while; a Service that never answers is left to
 * the tests to report, each with what it saw.
 */
async function answering(cl: ServiceClient, host: string): Promise<void> {
  await eventuallyAsync(async () => expect(who(await cl.once(host, 1))[0]).not.toMatch(/^!/), 20).catch(() => {});
}

describe.skipIf(!isRoot)('Services across nodes (native routing)', () => {
  const clients = new Map<string, ServiceClient>();
  const client = (pod: string): ServiceClient => clients.get(pod) ?? expect.unreachable(`no client in ${pod}`);
  const lab = useLab({ nodes: 3, podsPerNode: 0, routing: 'native', prefix: 'sn' }, async (c) => {
    for (const [i, name] of [[1, CLIENT], [1, NP_CLIENT], [1, B1], [2, B2], [3, B3]] as const) await c.addPod(i, { name, sync: false });
    for (const b of [B1, B2, B3]) await startBackend(c, b);
    for (const p of [CLIENT, NP_CLIENT, B2]) clients.set(p, await ServiceClient.start(c, p));
    const be = (...names: string[]): BackendSpec[] => names.map((n) => ({ pod: c.pod(n) }));
    writeService(c, svc.spread, be(B1, B2, B3));
    writeService(c, svc.affinity, be(B1, B2, B3));
    writeService(c, svc.hairpin, be(B2));
    writeService(c, svc.rmtcp, be(B2, B3));
    writeService(c, svc.rmudp, be(B2, B3));
    writeService(c, svc.notready, be(B2, B3));
    writeService(c, svc.terminating, be(B2, B3));
    writeService(c, svc.local, be(B1, B2, B3));
    writeService(c, svc.none, []);
    writeService(c, svc.six, be(B2, B3));
    writeService(c, svc.dual, be(B2, B3));
    writeService(c, svc.policy, be(B2, B3));
    // The NP client may only reach B2's pod: through the Service too, whatever backend it is given.
    c.writeManifest(`netpol-${LAB_NAMESPACE}-np-client.json`, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { namespace: LAB_NAMESPACE, name: 'np-client' },
      spec: { podSelector: { matchLabels: { pod: NP_CLIENT } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { pod: B2 } } }] }] },
    });
    c.waitSynced();
    await answering(client(CLIENT), v4(1));
  });

  it('connections to a ClusterIP reach backends on several nodes, each sticks to its backend, and the answers come from the ClusterIP', async () => {
    const c = lab();
    const translated = gained(c, 1, 'STAT_LB_TRANSLATED');
    const got = await sticky(client(CLIENT), v4(1));
    for (const g of got) expect([B1, B2, B3]).toContain(g);
    expect(new Set(got).size, got.join(' ')).toBeGreaterThan(1);
    // strait did it (no iptables rule names the ClusterIP): every connection's packets were translated on the client's node
    expect(translated()).toBeGreaterThanOrEqual(BigInt(N * 4));
    // A connected UDP socket only takes datagrams from the address it sent to: the answer came from the ClusterIP.
    const cl = client(CLIENT);
    const sock = await cl.udp(v4(1));
    expect([B1, B2, B3]).toContain((await cl.uask(sock)).answer);
  });

  it('sessionAffinity ClientIP: every connection of one client reaches one backend', async () => {
    const got = await sticky(client(CLIENT), v4(2));
    expect([B1, B2, B3]).toContain(got[0]);
    expect(new Set(got), got.join(' ')).toEqual(new Set([got[0]]));
  });

  it('hairpin: a pod reaches itself through its own Service, TCP and UDP, v4 and v6', async () => {
    const c = lab();
    const hairpin = gained(c, 2, 'STAT_LB_HAIRPIN');
    const cl = client(B2);
    for (const ip of svc.hairpin.clusterIPs) {
      expect(who(await cl.once(ip, 1)), `TCP ${ip}`).toEqual([B2]);
      const sock = await cl.udp(ip);
      expect(who([await cl.uask(sock)]), `UDP ${ip}`).toEqual([B2]);
    }
    expect(hairpin()).toBeGreaterThan(0n);
  });

  it('a backend removed under a live TCP connection: the connection is reset, new ones reach the others only', async () => {
    const c = lab();
    const cl = client(CLIENT);
    const conn = await cl.open(v4(4));
    const { hit: gone, other: kept } = rewrite(c, svc.rmtcp, await cl.ask(conn), (_, other) => [other]);
    // Until the agent has deleted the backend the connection goes on; then its next
    // segment reaches a backend that never heard of it, which resets it (docs/services.md).
    const seen: string[] = [];
    for (let i = 0; i < 50; i++) {
      const a = await cl.ask(conn);
      seen.push(a.answer ?? `!${a.error ?? '?'}`);
      if (a.error !== undefined) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.at(-1), seen.join(' ')).toBe('!ECONNRESET');
    expect(seen.slice(0, -1).every((s) => s === gone), seen.join(' ')).toBe(true);
    expect(who(await cl.once(v4(4), N))).toEqual(all(kept));
  });

  it('a backend removed under a UDP socket: its next datagrams reach a remaining backend, none the removed one', async () => {
    const c = lab();
    const cl = client(CLIENT);
    const sock = await cl.udp(v4(5));
    const { other: kept } = rewrite(c, svc.rmudp, await cl.uask(sock), (_, other) => [other]);
    // the stale-DNS-server case: the same socket (same 5-tuple) moves to a live backend
    await eventuallyAsync(async () => expect((await cl.uask(sock)).answer).toBe(kept), 50);
    const after: string[] = [];
    for (let i = 0; i < 8; i++) after.push(...who([await cl.uask(sock)]));
    expect(after).toEqual(all(kept, 8));
  });

  // A pod failing its readiness probe (ready false, still serving), and one being deleted (terminating too).
  for (const [what, s, conditions] of [
    ['not ready', svc.notready, { ready: false }],
    ['terminating', svc.terminating, { ready: false, terminating: true }],
  ] as const) {
    it(`a backend ${what} gets no new connection, while its established one goes on`, async () => {
      const c = lab();
      const cl = client(CLIENT);
      const ip = s.clusterIPs[0]!;
      const conn = await cl.open(ip);
      const { hit: unready, other } = rewrite(c, s, await cl.ask(conn), (hit, o) => [{ pod: c.pod(o) }, { pod: c.pod(hit), ...conditions }]);
      await eventuallyAsync(async () => expect(who(await cl.once(ip, N))).toEqual(all(other)), 20);
      expect(who(await cl.once(ip, N))).toEqual(all(other));
      expect(who([await cl.ask(conn), await cl.ask(conn)])).toEqual([unready, unready]);
      await cl.close(conn);
    });
  }

  it('internalTrafficPolicy Local: only the client node\'s backend', async () => {
    expect(who(await client(CLIENT).once(v4(7), N))).toEqual(all(B1));
  });

  it('no backend: TCP is refused (RST), UDP gets ECONNREFUSED (ICMP port unreachable), v4 and v6', async () => {
    const c = lab();
    const rejected = gained(c, 1, 'STAT_LB_REJECTED');
    const cl = client(CLIENT);
    for (const ip of svc.none.clusterIPs) {
      expect(who(await cl.once(ip, 1)), `TCP ${ip}`).toEqual(['!ECONNREFUSED']);
      const sock = await cl.udp(ip);
      expect(who([await cl.uask(sock)]), `UDP ${ip}`).toEqual(['!ECONNREFUSED']);
    }
    expect(rejected()).toBeGreaterThanOrEqual(4n);
  });

  it('v6 and dual-stack Services: both families reach backends on other nodes, each connection sticky', async () => {
    const cl = client(CLIENT);
    for (const ip of [v6(9), v4(10), v6(10)]) {
      const got = await sticky(cl, ip);
      for (const g of got) expect([B2, B3], ip).toContain(g);
      expect(new Set(got).size, `${ip}: ${got.join(' ')}`).toBe(2);
    }
  });

  it('NetworkPolicy applies to the backend: an egress policy allowing only B2 lets no connection through the ClusterIP reach B3', async () => {
    const c = lab();
    const denied = gained(c, 1, 'DROP_POLICY_EGRESS');
    const got = who(await client(NP_CLIENT).once(v4(11), N));
    expect(got).not.toContain(B3);
    expect(got).toContain(B2);
    // the SYNs translated to B3 were dropped by the client's egress policy: no answer at all
    expect(got.filter((g) => g !== B2).length, got.join(' ')).toBeGreaterThan(0);
    for (const g of got.filter((x) => x !== B2)) expect(g).toBe('!TIMEOUT');
    expect(denied()).toBeGreaterThan(0n);
  });
});

describe.skipIf(!isRoot)('Services across nodes (VXLAN)', () => {
  let cl: ServiceClient | undefined;
  const spread = { name: 'spread', clusterIPs: [v4(1), v6(1)] } satisfies ServiceSpec;
  const lab = useLab({ nodes: 2, podsPerNode: 0, routing: 'vxlan', prefix: 'sv' }, async (c) => {
    for (const [i, name] of [[1, CLIENT], [1, B1], [2, B2]] as const) await c.addPod(i, { name, sync: false });
    for (const b of [B1, B2]) await startBackend(c, b);
    cl = await ServiceClient.start(c, CLIENT);
    writeService(c, spread, [{ pod: c.pod(B1) }, { pod: c.pod(B2) }]);
    c.waitSynced();
    await answering(cl, v4(1));
  });

  it('connections to the ClusterIP reach the backend through the tunnel and the local one, TCP and UDP, v4 and v6', async () => {
    const c = lab();
    const tunnel = gained(c, 1, 'STAT_TUNNEL_TX');
    for (const ip of spread.clusterIPs) {
      const got = await sticky(cl!, ip);
      expect(new Set(got), `${ip}: ${got.join(' ')}`).toEqual(new Set([B1, B2]));
      const udp = new Set<string>();
      for (let i = 0; i < N; i++) {
        const sock = await cl!.udp(ip);
        udp.add(who([await cl!.uask(sock)])[0]!);
        await cl!.close(sock);
      }
      expect(udp, ip).toEqual(new Set([B1, B2]));
    }
    expect(tunnel()).toBeGreaterThan(0n);
  });
});
