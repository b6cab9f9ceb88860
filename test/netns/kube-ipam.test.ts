// Kubernetes IPAM mode through the real bin/strait and a real strait-agent (in a node
// namespace of its own, reading a manifest directory): a network config with no
// ranges takes this node's spec.podCIDRs from the agent's Node object, v4 and
// dual-stack; a missing Node or one without pod CIDRs is 11 naming the node, STATUS
// 50, and nothing is left; without an agent such a config is 7; a re-created Node
// with another pod CIDR leaves the old pods' leases held (and said) until their DEL;
// a config with ranges keeps its own.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEndpointRecords } from '../../src/state/endpoint-record.js';
import { CniAgent } from '../helpers/cni-agents.js';
import { runCni, STRAIT_BIN, straitConfig, type CniReply } from '../helpers/cni.js';
import { leaseCount } from '../helpers/leases.js';
import { bpffsDir, cleanupAll, createNetns, isRoot, rand, sh, tempDir, warnIfNotRoot, type Netns } from '../helpers/sys.js';

warnIfNotRoot('Kubernetes IPAM mode integration tests');

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));
const NODE_NAME = 'node-1';
const INTERNAL_IP = '198.18.0.61';

interface Added {
  ips: { address: string }[];
}
const ipsOf = (r: CniReply): string[] => (r.json as unknown as Added).ips.map((i) => i.address);

describe.skipIf(!isRoot)('Kubernetes IPAM mode (no ranges: the node\'s spec.podCIDRs)', () => {
  let node: Netns;
  let agent: CniAgent;
  let dirs: { stateDir: string; bpfDir: string };
  const network = `kipam-${rand(2)}`;
  let config: Record<string, unknown>;
  let logFile: string;

  beforeAll(() => {
    node = createNetns('kipam-node');
    // The Node's InternalIP on an interface of the node, so the agent finds its uplink.
    node.exec('ip', ['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up0p']);
    node.exec('ip', ['addr', 'add', `${INTERNAL_IP}/24`, 'dev', 'up0']);
    node.exec('ip', ['link', 'set', 'up0', 'up']);
    dirs = { stateDir: tempDir('kipam'), bpfDir: bpffsDir('kipam') };
    agent = new CniAgent({ ...dirs, inNetns: node.name }).start();
    logFile = join(tempDir('kipam-log'), 'cni.log');
    config = straitConfig({ name: network, ...dirs, ipam: { type: 'strait' }, extra: { agentSocket: agent.socket, logFile, logLevel: 'info' } });
  });
  afterAll(() => cleanupAll());

  /** The Node object in the agent's source (null: none), then the agent synced on it. */
  function setNode(spec: Record<string, unknown> | null): void {
    const file = join(agent.manifests, 'node.json');
    if (spec === null) rmSync(file, { force: true });
    else writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE_NAME }, spec, status: { addresses: [{ type: 'InternalIP', address: INTERNAL_IP }] } }));
    const w = spawnSync(STRAITCTL, ['wait', '--synced', '--timeout', '20', '--socket', agent.socket], { encoding: 'utf8' });
    expect(w.status, w.stdout + w.stderr).toBe(0);
  }

  const call = (command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS', id: string, pod?: Netns, conf = config) =>
    runCni({ command, config: conf, containerId: id, netns: pod?.path ?? '', inNetns: node.name });

  /** What an ADD leaves of `net` in the node: leases, host veths, endpoint records. */
  const left = (net = network) => ({
    leases: leaseCount(dirs.stateDir, net),
    veths: sh('ip', ['-n', node.name, '-o', 'link', 'show']).split('\n').filter((l) => l.includes(`alias strait/${net}/`)).length,
    records: listEndpointRecords(dirs.stateDir).length,
  });
  const NONE = { leases: 0, veths: 0, records: 0 };

  it('no Node object yet: ADD is 11 naming the node, STATUS 50, and nothing is left', async () => {
    setNode(null);
    const pod = createNetns('kipam-p');
    const add = await call('ADD', `kipam-${rand()}`, pod);
    expect(add.json, add.stdout + add.stderr).toMatchObject({ code: 11 });
    expect(add.json!.msg).toMatch(new RegExp(`^Node ${NODE_NAME} is not in the cluster state of strait-agent .*allocates from its spec\\.podCIDRs`));
    expect(left()).toEqual(NONE);
    expect(pod.exec('ip', ['link', 'show'])).not.toContain('eth0');
    const status = await call('STATUS', '');
    expect(status.json).toMatchObject({ code: 50 });
  });

  it('a Node without spec.podCIDRs yet: ADD is 11 (the node controller has not assigned one), nothing is left', async () => {
    setNode({});
    const pod = createNetns('kipam-p');
    const add = await call('ADD', `kipam-${rand()}`, pod);
    expect(add.json, add.stdout + add.stderr).toMatchObject({ code: 11, msg: `Node ${NODE_NAME} has no spec.podCIDRs yet: network ${network} allocates from them` });
    expect(String(add.json!.details)).toMatch(/node controller/);
    expect(left()).toEqual(NONE);
    expect(pod.exec('ip', ['link', 'show'])).not.toContain('eth0');
  });

  it('a Node with an IPv4 pod CIDR: the address comes from it; DEL leaves nothing', async () => {
    setNode({ podCIDR: '198.18.62.0/24', podCIDRs: ['198.18.62.0/24'] });
    const pod = createNetns('kipam-p');
    const id = `kipam-${rand()}`;
    const add = await call('ADD', id, pod);
    expect(add.exitCode, add.stdout + add.stderr).toBe(0);
    expect(ipsOf(add)).toEqual(['198.18.62.2/32']);
    expect(pod.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain('198.18.62.2/32');
    expect((await call('STATUS', '')).exitCode).toBe(0);
    expect((await call('DEL', id, pod)).exitCode).toBe(0);
    expect(left()).toEqual(NONE);
  });

  it('a dual-stack Node: one address of each of its pod CIDRs; DEL leaves nothing', async () => {
    setNode({ podCIDR: '198.18.63.0/24', podCIDRs: ['198.18.63.0/24', 'fd5a:63::/64'] });
    const pod = createNetns('kipam-p');
    const id = `kipam-${rand()}`;
    const add = await call('ADD', id, pod);
    expect(add.exitCode, add.stdout + add.stderr).toBe(0);
    expect(ipsOf(add)).toEqual(['198.18.63.2/32', 'fd5a:63::2/128']);
    expect(pod.exec('ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain('fd5a:63::2/128');
    expect((await call('DEL', id, pod)).exitCode).toBe(0);
    expect(left()).toEqual(NONE);
  });

  it('the Node re-created with another pod CIDR: the old pod keeps its lease (said in the log) until its DEL; new pods get the new CIDR', async () => {
    setNode({ podCIDRs: ['198.18.64.0/24'] });
    const [a, b] = [createNetns('kipam-a'), createNetns('kipam-b')];
    const [idA, idB] = [`kipam-a-${rand()}`, `kipam-b-${rand()}`];
    const addA = await call('ADD', idA, a);
    expect(ipsOf(addA)).toEqual(['198.18.64.2/32']);
    setNode({ podCIDRs: ['198.18.65.0/24'] });
    const addB = await call('ADD', idB, b);
    expect(addB.exitCode, addB.stdout + addB.stderr).toBe(0);
    expect(ipsOf(addB)).toEqual(['198.18.65.2/32']);
    expect(left()).toEqual({ leases: 2, veths: 2, records: 2 });
    const warned = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('outside this node\'s current spec.podCIDRs'));
    expect(warned.length).toBeGreaterThan(0);
    expect(warned.at(-1)).toContain(`198.18.64.2 (${idA}/eth0)`);
    // The old pod is whole: its CHECK passes, and its DEL releases the old lease.
    const check = await call('CHECK', idA, a, { ...config, prevResult: addA.json });
    expect(check.exitCode, check.stdout).toBe(0);
    for (const [id, pod] of [[idA, a], [idB, b]] as const) expect((await call('DEL', id, pod)).exitCode).toBe(0);
    expect(left()).toEqual(NONE);
  });

  it('a config with ranges keeps them, whatever the Node holds', async () => {
    setNode(null);
    const own = `kipam-own-${rand(2)}`;
    const withRanges = straitConfig({ name: own, ...dirs, v4: '198.18.66.0/24', extra: { agentSocket: agent.socket } });
    const pod = createNetns('kipam-p');
    const id = `kipam-${rand()}`;
    const add = await call('ADD', id, pod, withRanges);
    expect(add.exitCode, add.stdout + add.stderr).toBe(0);
    expect(ipsOf(add)).toEqual(['198.18.66.2/32']);
    expect((await call('DEL', id, pod, withRanges)).exitCode).toBe(0);
    expect(left(own)).toEqual(NONE);
  });

  it('without an agent, a config without ranges is 7 saying ranges are needed, and nothing is left', async () => {
    const stateDir = tempDir('kipam-alone');
    const alone = `kipam-alone-${rand(2)}`;
    const standalone = straitConfig({ name: alone, stateDir, ipam: { type: 'strait' } });
    const pod = createNetns('kipam-p');
    // bin named: standalone in the agent-mode project too (runCni adds no agent then).
    const add = await runCni({ command: 'ADD', config: standalone, containerId: `kipam-${rand()}`, netns: pod.path, bin: STRAIT_BIN });
    expect(add.json, add.stdout + add.stderr).toMatchObject({ code: 7 });
    expect(add.json!.msg).toBe(`network ${alone}: ipam has no ranges, and without a strait-agent there is no Node whose spec.podCIDRs could stand in`);
    expect(String(add.json!.details)).toMatch(/set ipam\.ranges/);
    expect(leaseCount(stateDir, alone)).toBe(0);
    expect(listEndpointRecords(stateDir)).toEqual([]);
    expect(sh('ip', ['-o', 'link', 'show'])).not.toContain(`alias strait/${alone}/`);
    expect(pod.exec('ip', ['link', 'show'])).not.toContain('eth0');
  });
});
