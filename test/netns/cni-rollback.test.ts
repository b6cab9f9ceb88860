// What a failing or repeated call must leave behind, through the real bin/strait: a
// retried ADD keeps the live pod's address, failures carry the code of what failed
// (105 netlink, 103 only for an interface, 108 a full endpoint map) and undo only
// their own steps (the agent registration included), DEL frees the address last,
// and STATUS says 50 while the agent it needs is down.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as bpf from '../../src/datapath/bpf.js';
import { listEndpoints } from '../../src/datapath/endpoints.js';
import { encodeEndpointKey, encodeEndpointValue } from '../../src/datapath/maps/endpoints.js';
import { ENDPOINTS_MAX, MapName } from '../../src/datapath/maps/names.js';
import { listEndpointRecords } from '../../src/state/endpoint-record.js';
import { runCni, straitConfig } from '../helpers/cni.js';
import { coreAgent } from '../helpers/core-agent.js';
import { FakeCore } from '../helpers/fake-core.js';
import { leaseCount } from '../helpers/leases.js';
import { bpffsDir, cleanupAll, createNetns, hostLinkExists, hostRoutes, isRoot, rand, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('CNI rollback integration tests');

const hostVethOf = (r: Record<string, unknown> | null): string => (r as { interfaces: { name: string }[] }).interfaces[0]!.name;
const podIp = (r: Record<string, unknown> | null): string => (r as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
const vethsWithAlias = (network: string, where: string[] = []): number =>
  sh('ip', [...where, '-o', 'link', 'show']).split('\n').filter((l) => l.includes(`alias strait/${network}/`)).length;

describe.skipIf(!isRoot)('rollback and error codes', () => {
  afterAll(() => cleanupAll());

  it('a repeated ADD of a complete attachment is 103 and keeps its lease; the next container gets a precise 101', async () => {
    const stateDir = tempDir('rb');
    const network = `rb-${rand(2)}`;
    const config = straitConfig({ name: network, stateDir, v4: '198.18.40.0/30' });
    const [a, b] = [createNetns('rba'), createNetns('rbb')];
    const id = `rb-a-${rand()}`;
    const first = await runCni({ command: 'ADD', config, containerId: id, netns: a.path });
    expect(first.exitCode, first.stdout).toBe(0);
    expect(podIp(first.json)).toBe('198.18.40.2');

    const retry = await runCni({ command: 'ADD', config, containerId: id, netns: a.path });
    expect(retry.json).toMatchObject({ code: 103 });
    expect(retry.json!.msg).toMatch(/eth0 already exists/);
    // The first attachment is whole: lease, veth, map entry, and it still passes CHECK.
    expect(leaseCount(stateDir, network)).toBe(1);
    expect(hostLinkExists(hostVethOf(first.json))).toBe(true);
    const check = await runCni({ command: 'CHECK', config: { ...config, prevResult: first.json }, containerId: id, netns: a.path });
    expect(check.exitCode, check.stdout).toBe(0);

    const next = await runCni({ command: 'ADD', config, containerId: `rb-b-${rand()}`, netns: b.path });
    expect(next.json).toMatchObject({ code: 101 });
    expect(next.json!.msg).toMatch(/198\.18\.40\.0\/30/);
    expect(b.exec('ip', ['link', 'show'])).not.toContain('eth0');
    await runCni({ command: 'DEL', config, containerId: id, netns: a.path });
    expect(leaseCount(stateDir, network)).toBe(0);
  });

  it('a netlink failure is 105 naming the operation, and an EEXIST of a route is not "interface exists"', async () => {
    const node = createNetns('rbnode');
    const stateDir = tempDir('rbn');
    const network = `rbn-${rand(2)}`;
    const config = straitConfig({ name: network, stateDir, bpfDir: bpffsDir('rbn'), v4: '198.18.41.0/30' });
    // The only address of the pool already has a route in the node: the host route ADD adds collides.
    node.exec('ip', ['route', 'add', '198.18.41.2/32', 'dev', 'lo']);
    const pod = createNetns('rbnpod');
    const r = await runCni({ command: 'ADD', config, containerId: `rbn-${rand()}`, netns: pod.path, inNetns: node.name });
    expect(r.json, r.stdout + r.stderr).toMatchObject({ code: 105 });
    expect(r.json!.msg).toMatch(/rtnl_route_add/);
    expect(String(r.json!.details)).toMatch(/EEXIST/);
    expect(leaseCount(stateDir, network)).toBe(0);
    expect(vethsWithAlias(network, ['-n', node.name])).toBe(0);
    expect(listEndpointRecords(stateDir)).toEqual([]);
  });

  it('an ADD whose policy never lands is 11 after agentTimeoutMs, unregisters the endpoint and leaves nothing', async () => {
    const stateDir = tempDir('rbag');
    const network = `rbag-${rand(2)}`;
    const core = new FakeCore();
    core.register = () => new Promise(() => {}); // the reconcile pass never ends
    const config = straitConfig({ name: network, stateDir, v4: '198.18.42.0/24', extra: { agentTimeoutMs: 300 } });
    const agent = await coreAgent(core, { stateDir, bpfDir: config.bpfDir as string });
    try {
      const ns = createNetns('rbag');
      const id = `rbag-${rand()}`;
      const r = await runCni({ command: 'ADD', config: { ...config, agentSocket: agent.socket }, containerId: id, netns: ns.path });
      expect(r.json).toMatchObject({ code: 11 });
      expect(r.json!.msg).toMatch(/did not make endpoint .* ready within 300 ms/);
      expect(core.registered.map((e) => e.id)).toEqual([`${network}/${id}/eth0`]);
      expect(core.removed).toEqual([`${network}/${id}/eth0`]);
      expect(leaseCount(stateDir, network)).toBe(0);
      expect(vethsWithAlias(network)).toBe(0);
      expect(listEndpointRecords(stateDir)).toEqual([]);
    } finally {
      await agent.close();
    }
  });

  it('DEL frees the address last: when the agent hears of it, the veth is gone and the lease still held', async () => {
    const stateDir = tempDir('rbdel');
    const network = `rbdel-${rand(2)}`;
    let atDelete: { leases: number; veth: boolean; routed: boolean } | null = null;
    let veth = '';
    let ip = '';
    const core = new FakeCore();
    core.removeEndpoint = () => {
      atDelete = { leases: leaseCount(stateDir, network), veth: hostLinkExists(veth), routed: hostRoutes(4).includes(`${ip} `) };
      return Promise.resolve();
    };
    const config = straitConfig({ name: network, stateDir, v4: '198.18.43.0/24' });
    const agent = await coreAgent(core, { stateDir, bpfDir: config.bpfDir as string });
    try {
      const viaAgent = { ...config, agentSocket: agent.socket };
      const ns = createNetns('rbdel');
      const id = `rbdel-${rand()}`;
      const add = await runCni({ command: 'ADD', config: viaAgent, containerId: id, netns: ns.path });
      expect(add.exitCode, add.stdout).toBe(0);
      [veth, ip] = [hostVethOf(add.json), podIp(add.json)];
      const del = await runCni({ command: 'DEL', config: viaAgent, containerId: id, netns: ns.path });
      expect(del.exitCode, del.stdout).toBe(0);
      expect(atDelete).toEqual({ leases: 1, veth: false, routed: false });
      expect(leaseCount(stateDir, network)).toBe(0);
    } finally {
      await agent.close();
    }
  });

  it('STATUS is 50 when the configured agent does not answer or its last pass failed, 0 when it is well', async () => {
    const stateDir = tempDir('rbst');
    const config = straitConfig({ name: `rbst-${rand(2)}`, stateDir, v4: '198.18.44.0/24', extra: { agentSocket: join(stateDir, 'nobody.sock') } });
    const down = await runCni({ command: 'STATUS', config });
    expect(down.exitCode).toBe(1);
    expect(down.json).toMatchObject({ code: 50 });
    expect(down.json!.msg).toMatch(/nobody\.sock/);
    const core = new FakeCore();
    const agent = await coreAgent(core, { stateDir, bpfDir: config.bpfDir as string });
    try {
      const up = await runCni({ command: 'STATUS', config: { ...config, agentSocket: agent.socket } });
      expect(up.exitCode, up.stdout).toBe(0);
      core.statusValue = { ...core.statusValue, lastError: 'writing strait_policy_v1: E2BIG' };
      const failing = await runCni({ command: 'STATUS', config: { ...config, agentSocket: agent.socket } });
      expect(failing.json).toMatchObject({ code: 50 });
      expect(String(failing.json!.details)).toMatch(/last reconcile pass failed: writing strait_policy_v1: E2BIG/);
    } finally {
      await agent.close();
    }
  });

  it('with the endpoint map full, STATUS is 50 and ADD 108, leaving no lease, veth, route or record', async () => {
    const stateDir = tempDir('rbfull');
    const bpfDir = bpffsDir('rbfull');
    const network = `rbfull-${rand(2)}`;
    const config = straitConfig({ name: network, stateDir, bpfDir, v4: '198.18.45.0/24' });
    const first = await runCni({ command: 'ADD', config, containerId: `rbfull-a-${rand()}`, netns: createNetns('rbfa').path });
    expect(first.exitCode, first.stdout).toBe(0);
    const fd = bpf.getPinned(join(bpfDir, MapName.endpoints))!;
    try {
      const value = encodeEndpointValue({ ifindex: 0x7fff0000, flags: 0, podMac: '02:00:00:00:00:01', hostMac: '02:00:00:00:00:02', identity: 0 });
      for (let i = listEndpoints(fd).length; i < ENDPOINTS_MAX; i++) {
        bpf.mapUpdate(fd, encodeEndpointKey({ family: 4, ip: `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` }), value, 'noexist');
      }
    } finally {
      bpf.closeFd(fd);
    }
    const status = await runCni({ command: 'STATUS', config });
    expect(status.json).toMatchObject({ code: 50 });
    expect(status.json!.msg).toMatch(/strait_endpoints_v1 is full/);
    const id = `rbfull-b-${rand()}`;
    const pod = createNetns('rbfb');
    const r = await runCni({ command: 'ADD', config, containerId: id, netns: pod.path });
    expect(r.json).toMatchObject({ code: 108 });
    expect(r.json!.msg).toMatch(/strait_endpoints_v1 is full/);
    expect(leaseCount(stateDir, network)).toBe(1);
    expect(vethsWithAlias(network)).toBe(1);
    expect(hostRoutes(4)).not.toContain('198.18.45.3');
    expect(listEndpointRecords(stateDir).map((x) => x.containerId)).not.toContain(id);
    expect(pod.exec('ip', ['link', 'show'])).not.toContain('eth0');
  });
});
