// The Kubernetes node path: containerd's CRI plugin runs strait for each pod
// sandbox, exactly as under a kubelet (docs/runtimes.md: K8S_* CNI_ARGS in random order,
// DEL on StopPodSandbox with the netns, a second DEL without netns or prevResult on
// RemovePodSandbox, loopback on lo). Our CRI client plays the kubelet. Through the
// node's strait-agent (as on a Kubernetes node), and standalone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bpffsDir, cleanupAll, hostLinkExists, tempDir } from '../helpers/sys.js';
import type { CriClient, PodSandboxConfig } from './cri-client.js';
import { startCriNode, type CriNode } from './cri-node.js';
import {
  cachedResults,
  removeCachedResults,
  cniBinDir,
  keepLogs,
  conflist,
  leftovers,
  loggedErrors,
  loggedRequests,
  NOTHING_LEFT,
  straitctlEndpoints,
  straitPlugin,
  writeConflist,
} from './cni-setup.js';
import { callsServedBy, endpointsReadyVia, startAgent, type CniMode, type E2eAgent } from './agent.js';
import { buildTestImages, IMAGE } from './image.js';
import { e2eSkipReason } from './wait.js';

const NETWORK = 'strait-e2e-cri';
const V4 = '198.18.70.0/24';
const V6 = 'fd5a:70::/64';
const ROUTE_PREFIXES = ['198.18.70.', 'fd5a:70:'];
const skip = e2eSkipReason('containerd CRI e2e tests', ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2']);

describe.skipIf(skip !== null).each<CniMode>(['agent', 'standalone'])('containerd CRI plugin drives strait (%s)', (mode) => {
  let dir = '';
  let stateDir = '';
  let bpfDir = '';
  let logFile = '';
  let node: CriNode | null = null;
  let agent: E2eAgent | null = null;
  let cri: CriClient | null = null;
  let sandboxes = new Set<string>();

  beforeAll(async () => {
    removeCachedResults(NETWORK);
    dir = tempDir('e2e-cri');
    stateDir = join(dir, 'state');
    bpfDir = bpffsDir('e2e-cri');
    logFile = join(dir, 'strait.log');
    const images = buildTestImages(join(dir, 'images'));
    const binDir = cniBinDir(join(dir, 'cni-bin'));
    const confDir = join(dir, 'cni-conf');
    if (mode === 'agent') agent = await startAgent(join(dir, 'agent'), { stateDir, bpfDir });
    const agentSocket = agent ? { agentSocket: agent.socket } : {};
    writeConflist(confDir, '10-strait.conflist', conflist(NETWORK, [straitPlugin({ stateDir, bpfDir, logFile, v4: V4, v6: V6, ...agentSocket })]));
    node = await startCriNode(dir, { cniBinDir: binDir, cniConfDir: confDir, imageArchive: images.archive });
    cri = node.cri;
    sandboxes = node.sandboxes;
  });

  afterAll(async () => {
    await node?.stop();
    await agent?.stop();
    if (agent) writeFileSync(join(dir, 'agent.log'), agent.log());
    keepLogs(`cri-${mode}`, { 'strait.log': logFile, 'containerd.log': join(dir, 'containerd', 'containerd.log'), 'agent.log': join(dir, 'agent.log') });
    removeCachedResults(NETWORK);
    cleanupAll();
  });

  const podConfig = (name: string): PodSandboxConfig => {
    const logDirectory = join(dir, 'pods', name);
    mkdirSync(logDirectory, { recursive: true });
    return { metadata: { name, uid: randomUUID(), namespace: 'e2e', attempt: 0 }, hostname: name, logDirectory, linux: {} };
  };

  /** A sandbox and one busybox container in it that serves `hello from <name>` on TCP 8080. */
  async function runPod(name: string) {
    const client = cri!;
    const config = podConfig(name);
    const id = await client.runPodSandbox(config);
    sandboxes.add(id);
    const containerId = await client.createContainer(
      id,
      {
        metadata: { name: 'box' },
        image: { image: IMAGE },
        command: ['/bin/sh', '-c', `exec nc -ll -p 8080 -e echo hello from ${name}`],
        logPath: 'box.log',
      },
      config,
    );
    await client.startContainer(containerId);
    return { id, containerId, config };
  }

  it('two pods get strait addresses the CRI reports, reach each other, and leave nothing behind', async () => {
    const client = cri!;
    const [a, b] = await Promise.all([runPod('pod-a'), runPod('pod-b')]);

    // PodSandboxStatus reports what strait assigned (v4 first, v6 as the additional IP).
    const status = await Promise.all([a, b].map((p) => client.podSandboxStatus(p.id)));
    const ips = status.map((s) => [s.network!.ip, ...s.network!.additionalIps.map((x) => x.ip)]);
    for (const [v4, v6] of ips) {
      expect(v4).toMatch(/^198\.18\.70\.\d+$/);
      expect(v6).toMatch(/^fd5a:70::/);
    }
    const endpoints = straitctlEndpoints(bpfDir, stateDir);
    for (const [i, name] of ['pod-a', 'pod-b'].entries()) {
      const mine = endpoints.filter((e) => e.pod === `e2e/${name}`);
      expect(mine.map((e) => e.ip).sort()).toEqual([...ips[i]!].sort());
      expect(mine.every((e) => e.containerId === [a, b][i]!.id && e.network === NETWORK)).toBe(true);
    }
    endpointsReadyVia(mode, agent, endpoints);

    // Traffic both ways, v4 and v6: ping, and a TCP exchange with the other pod's server.
    const exec = (p: { containerId: string }, cmd: string[]) => client.execSync(p.containerId, cmd, 10);
    const [ipA4, ipA6] = ips[0]!;
    const [ipB4, ipB6] = ips[1]!;
    for (const [from, to] of [[a, ipB4], [b, ipA4], [a, ipB6], [b, ipA6]] as const) {
      const r = await exec(from, ['ping', '-c', '1', '-W', '2', to!]);
      expect(r.exitCode, `ping ${to}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    expect((await exec(a, ['nc', '-w', '2', ipB4!, '8080'])).stdout).toBe('hello from pod-b\n');
    expect((await exec(b, ['nc', '-w', '2', ipA6!, '8080'])).stdout).toBe('hello from pod-a\n');

    const veths = endpoints.map((e) => e.hostVeth!);
    for (const p of [a, b]) {
      await client.stopPodSandbox(p.id);
      await client.removePodSandbox(p.id);
      sandboxes.delete(p.id);
    }
    expect(leftovers({ stateDir, bpfDir, network: NETWORK, routePrefixes: ROUTE_PREFIXES })).toEqual(NOTHING_LEFT);
    for (const v of veths) expect(hostLinkExists(v)).toBe(false);
    expect(cachedResults(NETWORK)).toEqual([]);

    // What containerd sent: one ADD; DEL with the netns on Stop, DEL without on Remove.
    for (const p of [a, b]) {
      const calls = loggedRequests(logFile).filter((r) => r.containerId === p.id);
      expect(calls.map((c) => c.cmd)).toEqual(['ADD', 'DEL', 'DEL']);
      const [add, del1, del2] = calls as [(typeof calls)[0], (typeof calls)[0], (typeof calls)[0]];
      expect(add.netns).toMatch(/\/netns\/cni-[0-9a-f-]+$/);
      expect(add.args).toMatchObject({
        IgnoreUnknown: '1',
        K8S_POD_NAMESPACE: 'e2e',
        K8S_POD_NAME: p.config.metadata.name,
        K8S_POD_UID: p.config.metadata.uid,
        K8S_POD_INFRA_CONTAINER_ID: p.id,
      });
      expect(del1.netns).toBe(add.netns);
      expect(del2.netns).toBeNull();
      expect(del2.prevResult).toBe(false);
    }
    callsServedBy(mode, agent, loggedRequests(logFile).filter((r) => r.containerId === a.id || r.containerId === b.id));
    if (agent) expect(agent.status().endpoints).toBe(0);
    expect(loggedErrors(logFile)).toEqual([]);
  });
});
