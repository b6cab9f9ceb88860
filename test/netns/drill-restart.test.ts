// Restart and upgrade drill (issue #12, item 7) on a two-node emulated cluster: two
// TCP streams between pods of the two nodes (one each way, IPv4 and IPv6, every byte
// hashed end to end) run through the whole drill while, on node 1 and then node 2:
//   - its agent is killed with SIGKILL: policy holds (an allowed probe still answers,
//     a denied one still does not), and the streams keep moving;
//   - a NetworkPolicy is changed while it is down (nothing changes in its datapath),
//     and the agent is started again: the new verdicts hold, by diff (the programs on
//     its veths are the same ones, the streams never broke);
//   - it is upgraded to another build of the BPF objects (STRAIT_BPF_OBJ_DIR): the
//     programs on its veths and uplink are replaced, the maps are the same maps, and
//     the verdicts and streams are untouched.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as bpf from '../../src/datapath/bpf.js';
import { MapName } from '../../src/datapath/maps/index.js';
import { probe } from '../../src/lab/checks.js';
import type { EmulatedCluster } from '../../src/lab/cluster.js';
import { NODE, processMatches } from '../../src/lab/run.js';
import { NETWORK, UPLINK } from '../../src/lab/topology.js';
import { hostVethName } from '../../src/state/host-veth.js';
import { finishStream, type Helper, startIn, startScript, STREAM, useLab } from '../helpers/lab-drill.js';
import { isRoot, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('restart and upgrade drill (emulated cluster)');

const STREAM_PORT = 7000;
const BPF_SRC = fileURLToPath(new URL('../../bpf', import.meta.url));
const KEPT_MAPS = ['endpoints', 'policy', 'ipcache', 'ct', 'links', 'remote', 'config'] as const;

/** Bytes the receiver has acknowledged on the pod's outgoing stream (the kernel's count: data that arrived). */
function acked(c: EmulatedCluster, pod: string): number {
  const out = c.exec({ pod }, 'ss', ['-tinH', 'state', 'established', 'dport', '=', `:${STREAM_PORT}`]).stdout;
  const m = /bytes_acked:(\d+)/.exec(out);
  if (m === null) throw new Error(`${pod} has no established stream to port ${STREAM_PORT}: ${out}`);
  return Number(m[1]);
}

/** Resolves once every stream has more bytes acknowledged than now: data crossed both nodes since. */
async function flowing(c: EmulatedCluster, senders: readonly string[], streams: readonly Helper[]): Promise<void> {
  for (const pod of senders) {
    const at = acked(c, pod);
    let now = at;
    for (let k = 0; k < 400 && now <= at; k++) {
      await new Promise((r) => setTimeout(r, 25));
      now = acked(c, pod);
    }
    expect(now, `the stream from ${pod} moved`).toBeGreaterThan(at);
  }
  for (const s of streams) expect(s.child.exitCode, s.out).toBeNull();
}

/** The program id tc shows on each of node k's pod veths (both directions) and its uplink's ingress. */
function programIds(c: EmulatedCluster, k: number): Record<string, string> {
  const out: Record<string, string> = {};
  const id = (dev: string, dir: 'ingress' | 'egress'): string =>
    /\bid (\d+)/.exec(c.exec({ node: k }, 'tc', ['filter', 'show', 'dev', dev, dir]).stdout)?.[1] ?? 'none';
  for (const p of c.podsOf(k)) {
    const veth = hostVethName({ network: NETWORK, containerId: p.containerId, ifname: 'eth0' });
    out[`${p.name} from_pod`] = id(veth, 'ingress');
    out[`${p.name} to_pod`] = id(veth, 'egress');
  }
  out.from_uplink = id(UPLINK, 'ingress');
  return out;
}

/** The kernel's ids of node k's pinned maps: the same ids are the same maps, state and all. */
function mapIds(c: EmulatedCluster, k: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of KEPT_MAPS) {
    const fd = bpf.getPinned(join(c.node(k).bpfDir, MapName[m]));
    if (fd === null) throw new Error(`node ${k} has no pinned ${MapName[m]}`);
    try {
      out[m] = bpf.mapInfo(fd).id;
    } finally {
      bpf.closeFd(fd);
    }
  }
  return out;
}

const builds = (c: EmulatedCluster, k: number): string[] => readdirSync(c.node(k).bpfDir).filter((e) => e.startsWith('progs-'));

/** Pod `target` admits TCP to its server only from pod `from` (lab namespace). */
const guard = (target: string, from: string): object => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: 'lab', name: `guard-${target}` },
  spec: { podSelector: { matchLabels: { pod: target } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { pod: from } } }], ports: [{ protocol: 'TCP', port: 8080 }] }] },
});

/** Which of `froms` reach pod `target`'s server, over each of its addresses (a name per address, or null). */
const verdicts = (c: EmulatedCluster, froms: readonly string[], target: string): Record<string, (string | null)[]> =>
  Object.fromEntries(froms.map((f) => [f, c.pod(target).ips.map((ip) => probe(c, { pod: f }, ip, 800))]));

describe.skipIf(!isRoot)('restart and upgrade drill', () => {
  const lab = useLab({ nodes: 2, podsPerNode: 2, routing: 'native', prefix: 'dr' });
  let newer = '';
  beforeAll(() => {
    // A newer build: the same sources with other debug info, so other bytes and another build id.
    newer = tempDir('dr-obj');
    sh('make', ['-s', '-C', BPF_SRC, `OUT=${newer}`, 'CLANG=clang -gdwarf-4']);
  }, 300_000);

  it('kill -9, restart with a policy change made while down, and upgrade, on either node: no stream breaks, policy holds throughout', async () => {
    const cl = lab();
    for (const pod of ['n1-a', 'n2-a']) await startScript(cl, { pod }, STREAM, ['serve', String(STREAM_PORT)]);
    const senders = ['n1-a', 'n2-a'];
    const streams = [
      startIn(cl, { pod: 'n1-a' }, NODE, [STREAM, 'send', cl.pod('n2-a').ips[0]!, String(STREAM_PORT)]),
      startIn(cl, { pod: 'n2-a' }, NODE, [STREAM, 'send', cl.pod('n1-a').ips[1]!, String(STREAM_PORT)]),
    ];
    for (const s of streams) await s.waitFor(/^connected$/m);
    await flowing(cl, senders, streams);

    for (const k of [1, 2]) {
      const o = 3 - k;
      const [target, first, second] = [`n${k}-b`, `n${o}-a`, `n${o}-b`];
      const file = `policy-guard-${target}.json`;
      const yes = [target, target];
      const no = [null, null];
      cl.writeManifest(file, guard(target, first));
      cl.waitSynced();
      expect(verdicts(cl, [first, second], target), 'before the kill').toEqual({ [first]: yes, [second]: no });
      const progs = programIds(cl, k);
      const maps = mapIds(cl, k);
      expect(Object.values(progs)).not.toContain('none');

      // kill -9: nothing of the agent runs, the datapath goes on as it was.
      const pid = cl.node(k).agentPid!;
      expect(processMatches(pid, cl.node(k).socket)).toBe(true);
      process.kill(pid, 'SIGKILL');
      for (let r = 0; r < 400 && processMatches(pid, cl.node(k).socket); r++) await new Promise((res) => setTimeout(res, 25));
      expect(cl.agentAlive(k), `node ${k}'s agent is gone`).toBe(false);
      await flowing(cl, senders, streams);
      expect(verdicts(cl, [first, second], target), `node ${k}'s agent down`).toEqual({ [first]: yes, [second]: no });

      // The policy changes while it is down: nobody writes node k's maps, so the old verdicts stand.
      cl.writeManifest(file, guard(target, second));
      cl.waitSynced(o);
      expect(verdicts(cl, [first, second], target), 'changed while down, not applied yet').toEqual({ [first]: yes, [second]: no });

      // Back: the change is applied by diff; the programs were not reloaded, the maps are the same.
      await cl.restartAgent(k);
      expect(verdicts(cl, [first, second], target), 'after the restart').toEqual({ [first]: no, [second]: yes });
      expect(programIds(cl, k)).toEqual(progs);
      expect(mapIds(cl, k)).toEqual(maps);
      await flowing(cl, senders, streams);

      // An upgrade to another build: every program replaced, the same maps, the same verdicts.
      const before = builds(cl, k);
      await cl.restartAgent(k, { env: { STRAIT_BPF_OBJ_DIR: newer } });
      const after = programIds(cl, k);
      expect(builds(cl, k)).toHaveLength(1);
      expect(builds(cl, k)).not.toEqual(before);
      for (const [where, id] of Object.entries(after)) {
        expect(id, where).not.toBe('none');
        expect(id, where).not.toBe(progs[where]);
      }
      expect(mapIds(cl, k)).toEqual(maps);
      expect(verdicts(cl, [first, second], target), 'after the upgrade').toEqual({ [first]: no, [second]: yes });
      await flowing(cl, senders, streams);
    }

    for (const s of streams) {
      const end = await finishStream(s);
      expect(end.error, JSON.stringify(end)).toBeUndefined();
      expect(end.ok, JSON.stringify(end)).toBe(true);
    }
  }, 600_000);
});
