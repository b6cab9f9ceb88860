// The DEL queue (docs/cni-agent.md, issue #11 item 6) with a real strait-agent and real
// pods: a DEL the shim cannot hand to the agent (killed: a stale socket; stopped: no
// socket) exits 0 at once and waits in <stateDir>/cni-del-queue; the agent runs the
// queue when it starts, before it listens, and then nothing of the pod is left. A DEL
// that can never succeed ends in failed/ without keeping the agent from starting.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentEndpoints, leftovers } from '../helpers/agent-drill.js';
import { CniAgent } from '../helpers/cni-agents.js';
import { runCni, straitConfig } from '../helpers/cni.js';
import { queuedDel } from '../helpers/shim.js';
import { bpffsDir, cleanupAll, createNetns, hostLinkExists, isRoot, rand, tempDir, warnIfNotRoot, type Netns } from '../helpers/sys.js';

warnIfNotRoot('CNI DEL queue drills');

const QUEUE = 'cni-del-queue';

/** A node's agent on fresh dirs and a network served by it. */
function node(name: string, v4: string) {
  const dirs = { stateDir: tempDir(name), bpfDir: bpffsDir(name) };
  const agent = new CniAgent(dirs).start();
  const network = `${name}-${rand(2)}`;
  const config = straitConfig({ name: network, ...dirs, v4, extra: { agentSocket: agent.socket } });
  const empty = leftovers(dirs, network);
  const queued = () => (existsSync(join(dirs.stateDir, QUEUE)) ? readdirSync(join(dirs.stateDir, QUEUE)).filter((n) => n !== 'failed') : []);
  return { dirs, agent, network, config, empty, queued, left: () => leftovers(dirs, network) };
}

interface Pod {
  ns: Netns;
  id: string;
  hostVeth: string;
}

async function addPod(n: ReturnType<typeof node>, prefix: string): Promise<Pod> {
  const ns = createNetns(prefix);
  const id = `${prefix}-${rand()}`;
  const r = await runCni({ command: 'ADD', config: n.config, containerId: id, netns: ns.path });
  expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  return { ns, id, hostVeth: (r.json as { interfaces: { name: string }[] }).interfaces[0]!.name };
}

/** A DEL with the agent down: queued, exit 0, nothing printed. */
async function delQueued(n: ReturnType<typeof node>, p: Pod): Promise<void> {
  const r = await runCni({ command: 'DEL', config: n.config, containerId: p.id, netns: p.ns.path });
  expect({ code: r.exitCode, stdout: r.stdout }, r.stderr).toEqual({ code: 0, stdout: '' });
}

describe.skipIf(!isRoot)('the DEL queue', () => {
  afterAll(() => cleanupAll());

  it.each([
    { signal: 'SIGKILL', left: 'a stale socket' },
    { signal: 'SIGTERM', left: 'no socket, still configured' },
  ] as const)('agent stopped by $signal ($left): DEL is queued, and the agent started again drains it leaving nothing', async ({ signal }) => {
    const n = node(`dq${signal.slice(3, 7).toLowerCase()}`, signal === 'SIGKILL' ? '198.18.40.0/24' : '198.18.41.0/24');
    const pod = await addPod(n, 'dq');
    expect(agentEndpoints(n.agent.socket)).toBe(1);
    await n.agent.stop(signal);
    expect(existsSync(n.agent.socket)).toBe(signal === 'SIGKILL');

    await delQueued(n, pod);
    queuedDel(n.dirs.stateDir); // exactly one file, named as the contract says
    expect(hostLinkExists(pod.hostVeth)).toBe(true); // nothing ran yet
    expect(n.left().leases).toBe(1);

    n.agent.start();
    expect(n.queued()).toEqual([]);
    expect(n.left()).toEqual(n.empty);
    expect(hostLinkExists(pod.hostVeth)).toBe(false);
    expect(pod.ns.exec('ip', ['link', 'show'])).not.toContain('eth0');
    expect(agentEndpoints(n.agent.socket)).toBe(0);
  });

  it('several queued DELs (different pods, and one pod twice) are all drained, nothing leaked', async () => {
    const n = node('dqmany', '198.18.42.0/24');
    const pods = [await addPod(n, 'dqa'), await addPod(n, 'dqb'), await addPod(n, 'dqc')];
    expect(agentEndpoints(n.agent.socket)).toBe(3);
    await n.agent.stop('SIGKILL');
    for (const p of [...pods, pods[1]!]) await delQueued(n, p);
    expect(n.queued()).toHaveLength(4);
    for (const p of pods) expect(hostLinkExists(p.hostVeth)).toBe(true);

    n.agent.start();
    expect(n.queued()).toEqual([]);
    expect(existsSync(join(n.dirs.stateDir, QUEUE, 'failed'))).toBe(false);
    expect(n.left()).toEqual(n.empty);
    for (const p of pods) expect(hostLinkExists(p.hostVeth)).toBe(false);
    expect(agentEndpoints(n.agent.socket)).toBe(0);
  });

  it('a queued DEL that can never succeed (an unknown config field: code 2) ends in failed/, and the agent starts anyway', async () => {
    const n = node('dqbad', '198.18.43.0/24');
    const pod = await addPod(n, 'dqbad');
    await n.agent.stop('SIGKILL');
    await delQueued(n, pod);
    const q = queuedDel(n.dirs.stateDir);
    const file = join(n.dirs.stateDir, QUEUE, q.name);
    const body = JSON.parse(readFileSync(file, 'utf8')) as { env: Record<string, string>; stdin: string };
    writeFileSync(file, JSON.stringify({ ...body, stdin: JSON.stringify({ ...JSON.parse(body.stdin), bridge: 'br0' }) }));

    n.agent.start(); // waits until it is synced: the bad DEL kept nothing from starting
    expect(n.queued()).toEqual([]);
    expect(readdirSync(join(n.dirs.stateDir, QUEUE, 'failed'))).toEqual([q.name]);
    expect(n.agent.log()).toMatch(/code 2: .*bridge/);
    // It did nothing: the pod is as it was, and a DEL that can work still removes it.
    expect(hostLinkExists(pod.hostVeth)).toBe(true);
    expect(agentEndpoints(n.agent.socket)).toBe(1);
    const del = await runCni({ command: 'DEL', config: n.config, containerId: pod.id, netns: pod.ns.path });
    expect(del.exitCode, del.stdout).toBe(0);
    expect(n.left()).toEqual(n.empty);
  });

  it('ADD while the agent is down is 11, names the socket and creates nothing', async () => {
    const n = node('dqadd', '198.18.44.0/24');
    await n.agent.stop('SIGTERM');
    const ns = createNetns('dqadd');
    const r = await runCni({ command: 'ADD', config: n.config, containerId: `dqadd-${rand()}`, netns: ns.path });
    expect(r.exitCode).toBe(1);
    expect(r.json, r.stdout).toMatchObject({ code: 11 });
    expect(r.json!.msg).toContain(n.agent.socket);
    expect(n.left()).toEqual(n.empty);
    expect(ns.exec('ip', ['link', 'show'])).not.toContain('eth0');
    expect(n.queued()).toEqual([]);
  });
});
