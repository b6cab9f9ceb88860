// The agent path killed at any point (issue #11, item 5): bin/strait forwarding an ADD
// to a real strait-agent that is SIGKILLed at spread moments of it, or sent SIGTERM
// while it runs. The shim must answer at once (11, or the ADD's own result), never
// hang; and once the agent is back, a DEL through it leaves no lease, veth, record,
// endpoint or link map entry, and the agent counts no endpoint.
import { afterAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentEndpoints, leftovers, settle } from '../helpers/agent-drill.js';
import { CniAgent } from '../helpers/cni-agents.js';
import { runCni, spawnCni, straitConfig } from '../helpers/cni.js';
import { queuedDel } from '../helpers/shim.js';
import { bpffsDir, cleanupAll, createNetns, isRoot, rand, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('CNI agent-path kill tests');

/** A node's agent on fresh dirs, a network served by it, and what the dirs hold before any pod. */
function served(name: string, v4: string, v6: string) {
  const dirs = { stateDir: tempDir(name), bpfDir: bpffsDir(name) };
  const agent = new CniAgent(dirs).start();
  const network = `${name}-${rand(2)}`;
  const config = straitConfig({ name: network, ...dirs, v4, v6, extra: { agentSocket: agent.socket } });
  const empty = leftovers(dirs, network);
  return { dirs, agent, network, config, empty, left: () => leftovers(dirs, network) };
}

const errCode = (stdout: string): unknown => (JSON.parse(stdout) as { code?: unknown }).code;

describe.skipIf(!isRoot)('the agent path, killed', () => {
  afterAll(() => cleanupAll());

  it('an agent SIGKILLed during an ADD: the shim answers 11 at once, and a DEL through the restarted agent leaves nothing', async () => {
    const s = served('akill', '198.18.26.0/24', 'fd5a:26::/64');
    const ns = createNetns('akill');
    let killedMidway = 0;
    // An ADD through the agent takes some 15 ms: most kills land inside it, a few after.
    for (const delayMs of [0, 2, 4, 6, 8, 10, 12, 14, 17, 20, 30, 60, 150]) {
      const id = `akill-${delayMs}-${rand()}`;
      const child = spawnCni({ command: 'ADD', config: s.config, containerId: id, netns: ns.path });
      const end = settle(child);
      await sleep(delayMs);
      await s.agent.stop('SIGKILL');
      const r = await end;
      if (r === 'hung') throw new Error(`ADD ${id}: the shim still waited 30 s after its agent was killed`);
      // Answered before the kill (0), or cut off by it: then 11, never another error.
      if (r.code !== 0) {
        expect(r.code, r.stdout).toBe(1);
        expect(errCode(r.stdout), r.stdout).toBe(11);
        killedMidway++;
      }
      s.agent.start();
      const del = await runCni({ command: 'DEL', config: s.config, containerId: id, netns: ns.path });
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
      expect(s.left(), `after the DEL of ${id}`).toEqual(s.empty);
      expect(ns.exec('ip', ['link', 'show'])).not.toContain('eth0');
      expect(agentEndpoints(s.agent.socket)).toBe(0);
    }
    expect(killedMidway).toBeGreaterThan(0);
  });

  it('an agent sent SIGTERM with an ADD in flight: that ADD ends (0 or 11), then ADD is 11 and DEL queued until it is back', async () => {
    const s = served('aterm', '198.18.27.0/24', 'fd5a:27::/64');
    let inFlight = 0;
    for (const delayMs of [0, 10, 40, 100]) {
      const ns = createNetns('aterm');
      const id = `aterm-${delayMs}-${rand()}`;
      const child = spawnCni({ command: 'ADD', config: s.config, containerId: id, netns: ns.path });
      const end = settle(child);
      await sleep(delayMs);
      if (child.exitCode === null) inFlight++;
      const stopped = s.agent.stop('SIGTERM');
      const r = await end;
      if (r === 'hung') throw new Error(`ADD ${id}: the shim still waited 30 s after its agent was told to stop`);
      if (r.code !== 0) expect(errCode(r.stdout), r.stdout).toBe(11);
      await stopped;

      // The agent is gone, still configured: a new ADD is 11 and makes nothing.
      const before = s.left();
      const other = createNetns('aterm2');
      const add = await runCni({ command: 'ADD', config: s.config, containerId: `aterm-new-${rand()}`, netns: other.path });
      expect(add.exitCode).toBe(1);
      expect(add.json, add.stdout).toMatchObject({ code: 11 });
      expect(add.json!.msg).toContain(s.agent.socket);
      expect(s.left()).toEqual(before);
      expect(other.exec('ip', ['link', 'show'])).not.toContain('eth0');
      // and the DEL of the first one waits in the queue, exit 0 with no output.
      const del = await runCni({ command: 'DEL', config: s.config, containerId: id, netns: ns.path });
      expect({ code: del.exitCode, stdout: del.stdout }).toEqual({ code: 0, stdout: '' });
      queuedDel(s.dirs.stateDir);

      s.agent.start(); // drains the queue before it listens
      expect(s.left(), `after the queued DEL of ${id}`).toEqual(s.empty);
      expect(ns.exec('ip', ['link', 'show'])).not.toContain('eth0');
      expect(agentEndpoints(s.agent.socket)).toBe(0);
    }
    expect(inFlight).toBeGreaterThan(0);
  });
});
