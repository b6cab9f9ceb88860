// Churn drill: thousands of ADD/DEL calls of the real bin/strait on a node, a few at
// a time, with kill -9 at random moments of ADD and DEL. A killed ADD is followed by
// its DEL, as runtimes do; a killed DEL is retried a while later, while other pods
// come and go (so a half-deleted pod's address can already be someone else's).
// Afterwards every leftover is DELed — then doctor may find nothing DEL should have
// removed — and GC runs; then nothing may be left: straitctl doctor is clean, and
// independently no lease, temp file, record, veth, route or map entry.
//
// STRAIT_CHURN_CALLS (default 2000) and STRAIT_CHURN_SEED reproduce a run; the seed is
// printed with every failure. The seed fixes every choice (which call is killed, how
// far into it); the moment a kill lands still depends on the machine's speed.
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as bpf from '../../src/datapath/bpf.js';
import { MapName } from '../../src/datapath/maps/names.js';
import { leaseCount } from '../helpers/leases.js';
import { Node } from '../helpers/node.js';
import { cleanupAll, createNetns, deleteNetns, isRoot, rand, warnIfNotRoot, type Netns } from '../helpers/sys.js';

warnIfNotRoot('churn drill');

const CALLS = Number(process.env.STRAIT_CHURN_CALLS ?? 2000);
const SEED = Number(process.env.STRAIT_CHURN_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PARALLEL = 4;
const KILL_SHARE = 0.3;

/** mulberry32: small, seedable, good enough to pick moments. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Pod {
  id: string;
  ns: Netns;
}

interface Step {
  n: number;
  cmd: 'ADD' | 'DEL' | 'GC';
  id: string;
  killAfterMs: number | null;
  /** null: killed before it exited */
  exitCode: number | null;
  ms: number;
  out: string;
}

describe.skipIf(!isRoot)('churn drill', () => {
  afterAll(() => cleanupAll());

  it(`${CALLS} ADD/DEL calls with kill -9 at random moments leave nothing behind (seed ${SEED})`, { timeout: 900_000 }, async () => {
    const node = new Node('ch', { v4: '198.18.64.0/20', v6: 'fd5a:64::/64' });
    const config = node.config();
    const random = prng(SEED);
    const steps: Step[] = [];
    const typical = { ADD: 150, DEL: 100 };
    const pendingDel: Pod[] = [];
    let calls = 0;
    let seq = 0;
    const context = () => `seed ${SEED} (STRAIT_CHURN_SEED=${SEED} to repeat); last steps:\n${steps.slice(-12).map((s) => JSON.stringify(s)).join('\n')}`;

    /** One call, killed `killAfterMs` into it when given; returns whether it ran to the end. */
    const call = async (cmd: 'ADD' | 'DEL', pod: Pod, kill: boolean): Promise<boolean> => {
      calls++;
      const killAfterMs = kill ? Math.round(random() * typical[cmd] * 1.2) : null;
      const started = Date.now();
      const child = node.spawnCni({ command: cmd, config, containerId: pod.id, netns: pod.ns.path });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
      let timer: NodeJS.Timeout | undefined;
      if (killAfterMs !== null) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      const exitCode = await exited;
      clearTimeout(timer);
      const ms = Date.now() - started;
      steps.push({ n: steps.length, cmd, id: pod.id, killAfterMs, exitCode, ms, out: out.slice(0, 300) });
      if (exitCode === null) return false;
      // A call that ran to the end (killed or not) must have succeeded.
      expect(exitCode, `${cmd} ${pod.id} failed: ${out}\n${context()}`).toBe(0);
      if (killAfterMs === null) typical[cmd] = Math.round(typical[cmd] * 0.9 + ms * 0.1);
      return true;
    };

    const del = async (pod: Pod): Promise<void> => {
      if (await call('DEL', pod, random() < KILL_SHARE)) deleteNetns(pod.ns);
      else pendingDel.push(pod);
    };

    const worker = async (): Promise<void> => {
      while (calls < CALLS) {
        // Now and then a runtime retries a DEL that was killed earlier.
        if (pendingDel.length > 0 && random() < 0.5) {
          const [pod] = pendingDel.splice(Math.floor(random() * pendingDel.length), 1);
          await del(pod!);
          continue;
        }
        const pod = { id: `ch-${seq++}-${rand(3)}`, ns: createNetns('ch') };
        await call('ADD', pod, random() < KILL_SHARE);
        await del(pod);
      }
    };

    await Promise.all(Array.from({ length: PARALLEL }, worker));

    // The end of the drill: the runtime DELs what it still knows, then GCs everything.
    while (pendingDel.length > 0) {
      const pod = pendingDel.pop()!;
      expect(await call('DEL', pod, false), context()).toBe(true);
      deleteNetns(pod.ns);
    }
    // Every container has had a DEL that ran to the end: DEL alone must have cleaned up
    // (GC, which not every runtime calls, would hide its leaks). Only the temp files of
    // writes a kill cut short are GC's to sweep.
    const afterDel = node.doctor();
    const leaks = afterDel.problems.filter((p) => p.kind !== 'tmp-orphan');
    expect(leaks, `left after every container's DEL: ${JSON.stringify(leaks, null, 1)}\n${context()}`).toEqual([]);
    const gc = await node.cni({ command: 'GC', config: { ...config, 'cni.dev/valid-attachments': [] } });
    expect(gc.exitCode, `GC: ${gc.stdout} ${gc.stderr}\n${context()}`).toBe(0);

    const killed = steps.filter((s) => s.exitCode === null);
    console.log(
      `churn: ${steps.length} calls, ${killed.filter((s) => s.cmd === 'ADD').length} ADDs and ${killed.filter((s) => s.cmd === 'DEL').length} DELs killed, ` +
        `typical ADD ${typical.ADD} ms, DEL ${typical.DEL} ms, ${afterDel.problems.length} temp files left for GC, seed ${SEED}`,
    );
    expect(killed.length).toBeGreaterThan(0);

    const report = node.doctor();
    expect(report.problems, `doctor after the drill: ${report.raw}\n${context()}`).toEqual([]);
    expect(report.exitCode).toBe(0);
    // And without trusting doctor: nothing of strait's is left on the node.
    expect(leaseCount(node.stateDir, node.network)).toBe(0);
    expect(readdirSync(join(node.stateDir, 'endpoints', node.network))).toEqual([]);
    // not even a temp file of a write a kill cut short
    const leaseDir = readdirSync(join(node.stateDir, 'ipam', node.network));
    expect(leaseDir.filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip.'))).toEqual([]);
    expect(node.ip(['-o', 'link', 'show'])).not.toMatch(/alias strait\//);
    expect(node.ip(['-4', 'route', 'show']) + node.ip(['-6', 'route', 'show'])).not.toMatch(/198\.18\.6|fd5a:64/);
    const fd = bpf.getPinned(join(node.bpfDir, MapName.endpoints));
    expect(fd, 'the drill never pinned the maps').not.toBeNull();
    try {
      expect(bpf.mapDump(fd!)).toEqual([]);
    } finally {
      bpf.closeFd(fd!);
    }
  });
});
