// Nodes and agents coming and going on the emulated cluster (native routing): an
// agent restart on one node while TCP streams run to and from its pod (no byte lost,
// no reset, strait's routes and strait_remote_v1 entries never flapped, watched from
// outside the agent the whole time), and a node that joins, leaves, comes back and
// turns invalid: the other nodes' routes and entries follow its Node object, and so
// does whether its pods can be reached.
import { describe, expect, it } from 'vitest';
import { ping, probe } from '../../src/lab/checks.js';
import { EmulatedCluster } from '../../src/lab/cluster.js';
import { nodeFile, nodeObject } from '../../src/lab/manifests.js';
import { BIN, NODE, run } from '../../src/lab/run.js';
import { nodeAddresses, podCidrs } from '../../src/lab/topology.js';
import { IDENTITY_REMOTE_NODE } from '../../src/policy/types.js';
import { eventually, finishStream, type Helper, ipcacheIdentities, remoteEntries, remoteStates, startIn, startScript, straitRoutes, STREAM, useLab, watchRemote } from '../helpers/lab-drill.js';
import { isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('cross-node drills: nodes and agents (emulated cluster)');

const STREAM_PORT = 7000;

/** Bytes the stream has written so far (it answers "mark N" on request). */
async function mark(s: Helper): Promise<number> {
  const seen = s.out.match(/^mark \d+$/gm)?.length ?? 0;
  s.send('mark');
  for (;;) {
    const marks = s.out.match(/^mark (\d+)$/gm) ?? [];
    if (marks.length > seen) return Number(/\d+/.exec(marks[marks.length - 1]!)![0]);
    if (s.child.exitCode !== null) throw new Error(`the stream ended: ${s.out}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What strait routes and strait_remote_v1 entries of node `self` say about node `peer`. */
function towards(c: EmulatedCluster, self: number, peer: number): { routes: string[]; remote: string[] } {
  const cidrs = podCidrs(peer, true);
  const mine = (l: string): boolean => l.startsWith(`${cidrs.v4} `) || l.startsWith(`${cidrs.v6} `);
  return { routes: straitRoutes(c, self).filter(mine), remote: remoteEntries(c, self).filter(mine) };
}

const escape = (s: string): string => s.replace(/[.]/g, '\\.');
/** Both families, v4 first (the sorted order of "198.18…" and "fd5a:…"). */
const expected = (peer: number): { routes: string[]; remote: string[] } => {
  const [cidrs, addr] = [podCidrs(peer, true), nodeAddresses(peer)];
  const route = (cidr: string, via: string): string => expect.stringMatching(new RegExp(`^${escape(cidr)} via ${escape(via)} dev eth0( |$)`)) as string;
  return {
    routes: [route(cidrs.v4, addr.v4), route(cidrs.v6!, addr.v6)],
    remote: [`${cidrs.v4} -> ${addr.v4}`, `${cidrs.v6} -> ${addr.v6}`],
  };
};
const none = { routes: [], remote: [] };

/** True when `from` gets an answer from pod `to` over every one of its addresses (ping and TCP). */
function reaches(c: EmulatedCluster, from: string, to: string): boolean {
  return c.pod(to).ips.every((ip) => ping(c, { pod: from }, ip).ok && probe(c, { pod: from }, ip, 1500) === to);
}
/** True when no address of pod `to` answers `from` at all. */
function unreachable(c: EmulatedCluster, from: string, to: string): boolean {
  return c.pod(to).ips.every((ip) => c.exec({ pod: from }, 'ping', ['-c', '1', '-W', '1', ip]).status !== 0 && probe(c, { pod: from }, ip, 800) === null);
}

describe.skipIf(!isRoot)('cross-node drills: nodes and agents', () => {
  const lab = useLab({ nodes: 2, podsPerNode: 1, routing: 'native', prefix: 'y' });

  it('an agent restart on node 1 while streams run from and to its pod: every byte arrives, no reset, no route or entry flapped', async () => {
    const cl = lab();
    for (const pod of ['n1-a', 'n2-a']) await startScript(cl, { pod }, STREAM, ['serve', String(STREAM_PORT)]);
    // One stream from the restarted node's pod (IPv4), one to it (IPv6).
    const out = startIn(cl, { pod: 'n1-a' }, NODE, [STREAM, 'send', cl.pod('n2-a').ips[0]!, String(STREAM_PORT)]);
    const into = startIn(cl, { pod: 'n2-a' }, NODE, [STREAM, 'send', cl.pod('n1-a').ips[1]!, String(STREAM_PORT)]);
    for (const s of [out, into]) await s.waitFor(/^connected$/m);
    const before = [1, 2].map((i) => ({ routes: straitRoutes(cl, i), remote: remoteEntries(cl, i) }));
    expect(before[0]!.routes).toHaveLength(2);
    expect(before[0]!.remote).toHaveLength(2);
    // Every route change in either node and every state of node 1's remote map, from now until after the restart.
    const monitors = [1, 2].map((i) => startIn(cl, { node: i }, 'ip', ['monitor', 'route']));
    const watch = await watchRemote(cl, 1);

    const oldPid = cl.node(1).agentPid;
    await cl.restartAgent(1);
    expect(cl.node(1).agentPid).not.toBe(oldPid);
    // Bytes written after the new agent is synced, so the streams carried data across the whole restart.
    for (const s of [out, into]) {
      const at = await mark(s);
      let now = at;
      for (let k = 0; k < 500 && now <= at; k++) {
        await new Promise((r) => setTimeout(r, 20));
        now = await mark(s);
      }
      expect(now).toBeGreaterThan(at);
    }
    const after = [1, 2].map((i) => ({ routes: straitRoutes(cl, i), remote: remoteEntries(cl, i) }));

    for (const s of [out, into]) {
      const end = await finishStream(s);
      expect(end.error, JSON.stringify(end)).toBeUndefined();
      expect(end.ok, JSON.stringify(end)).toBe(true);
      expect(end.sent).toBeGreaterThan(0);
    }
    expect(after).toEqual(before);
    for (const m of monitors) expect(m.out.split('\n').filter((l) => l.includes('proto 200'))).toEqual([]);
    expect(remoteStates(watch)).toEqual([before[0]!.remote]);
  });

  it('a node joins, leaves, comes back and turns invalid: routes, entries and reachability follow its Node object', async () => {
    const cl = lab();
    cl.addNode();
    await cl.addPod(3);
    const others = [1, 2];
    for (const i of others) await eventually(() => expect(towards(cl, i, 3)).toEqual(expected(3)));
    // Eventually too: once in CI, on a loaded machine, the first ping after the route
    // appeared went unanswered (it passed on every quiet rerun).
    for (const from of ['n1-a', 'n2-a']) await eventually(() => expect(reaches(cl, from, 'n3-a'), `${from} -> n3-a`).toBe(true), 10);
    // The ipcache follows too: node 3's addresses as another node, its pod by its labels.
    const n3 = Object.values(nodeAddresses(3));
    for (const i of others) {
      expect(ipcacheIdentities(cl, i, n3)).toEqual([IDENTITY_REMOTE_NODE, IDENTITY_REMOTE_NODE]);
      for (const id of ipcacheIdentities(cl, i, cl.pod('n3-a').ips)) expect(id).toBeGreaterThanOrEqual(256);
    }

    cl.removeManifest(nodeFile(3));
    for (const i of others) await eventually(() => expect(towards(cl, i, 3)).toEqual(none));
    for (const i of others) await eventually(() => expect(ipcacheIdentities(cl, i, n3)).toEqual([0, 0]));
    // The others still reach each other; node 3's pod is reachable from none of them.
    expect(towards(cl, 1, 2)).toEqual(expected(2));
    for (const from of ['n1-a', 'n2-a']) expect(unreachable(cl, from, 'n3-a'), `${from} -> n3-a`).toBe(true);

    cl.writeManifest(nodeFile(3), nodeObject(3, true));
    for (const i of others) await eventually(() => expect(towards(cl, i, 3)).toEqual(expected(3)));
    // Node 3's own agent lost its Node too: the answers need its routes back.
    for (const i of others) await eventually(() => expect(towards(cl, 3, i)).toEqual(expected(i)));
    // Eventually too: once in CI, on a loaded machine, the first ping after the route
    // appeared went unanswered (it passed on every quiet rerun).
    for (const from of ['n1-a', 'n2-a']) await eventually(() => expect(reaches(cl, from, 'n3-a'), `${from} -> n3-a`).toBe(true), 10);

    // Invalid: no pod CIDR at all. Reported by the other nodes' agents, and nothing routed to it.
    const valid = nodeObject(3, true) as { spec: object };
    cl.writeManifest(nodeFile(3), { ...valid, spec: {} });
    for (const i of others) await eventually(() => expect(towards(cl, i, 3)).toEqual(none));
    const status = run(BIN('straitctl'), ['status', '--socket', cl.node(1).socket]);
    expect(status.status, status.stdout + status.stderr).toBe(1);
    expect(status.stdout).toMatch(/^n3 .*refused/m);
    expect(unreachable(cl, 'n1-a', 'n3-a')).toBe(true);

    // Valid again, then gone for good with its netns and agent.
    cl.writeManifest(nodeFile(3), nodeObject(3, true));
    await eventually(() => expect(towards(cl, 1, 3)).toEqual(expected(3)));
    expect(run(BIN('straitctl'), ['status', '--socket', cl.node(1).socket]).status).toBe(0);
    await cl.removeNode(3);
    for (const i of others) await eventually(() => expect(towards(cl, i, 3)).toEqual(none));
    expect(reaches(cl, 'n1-a', 'n2-a')).toBe(true);
  });
});
