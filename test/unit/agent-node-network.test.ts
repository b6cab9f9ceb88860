// The agent's node network (src/agent/node-network.ts) on an in-memory node
// (test/helpers/fake-node-network.ts): nodes joining and leaving, a restart that
// adopts what is there, stale and foreign routes, invalid Nodes, vxlan mode, a
// missing uplink and failing steps, all without root.
import { afterEach, describe, expect, it } from 'vitest';
import { adoptDatapath } from '../../src/agent/adopt.js';
import { createNodeNetwork, type NodeNetwork, type NodeNetworkOptions } from '../../src/agent/node-network.js';
import { VXLAN_DEVICE } from '../../src/cluster/nodes.js';
import { type ClusterState, IDENTITY_REMOTE_NODE, type Node } from '../../src/policy/types.js';
import { capturingLogger, until } from '../helpers/agent-wait.js';
import { FakeNode } from '../helpers/fake-node.js';
import { FakeNodeNetwork } from '../helpers/fake-node-network.js';
import { cluster, labNode } from '../helpers/policy-builders.js';

const nodes = (...n: Node[]): ClusterState => cluster({ nodes: n });

let running: NodeNetwork[] = [];
afterEach(() => {
  for (const n of running) n.close();
  running = [];
});

/** A node n1 whose eth0 holds its InternalIPs, plus a loopback. */
function fakeNode(): { fx: FakeNodeNetwork; eth0: number } {
  const fx = new FakeNodeNetwork();
  fx.addLink('lo', ['127.0.0.1', '::1'], 65536);
  const eth0 = fx.addLink('eth0', ['198.18.0.11', 'fd5a:0:0:1::11'], 1500).ifindex;
  return { fx, eth0 };
}

function agent(fx: FakeNodeNetwork, more: Partial<NodeNetworkOptions> = {}) {
  const { log, lines } = capturingLogger();
  const net = createNodeNetwork({ nodeName: 'n1', routing: 'native', uplink: null, vxlanPort: 8472, masquerade: true, log, retryMs: 5, ...more }, fx);
  running.push(net);
  /** a snapshot, and the pass it starts */
  const update = async (s: ClusterState): Promise<void> => {
    net.update(s);
    await tick();
  };
  return { net, lines, update };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
async function eventually(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !ok(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(ok()).toBe(true);
}

const routesOf = (fx: FakeNodeNetwork): string[] => fx.routes.map((r) => `${r.dst} via ${r.gateway ?? '-'} dev ${r.dev} proto ${r.protocol}`).sort();
const n2Routes = ['198.18.102.0/24 via 198.18.0.12 dev eth0 proto 200', 'fd5a:1ab:2::/64 via fd5a:0:0:1::12 dev eth0 proto 200'];
const n3Routes = ['198.18.103.0/24 via 198.18.0.13 dev eth0 proto 200', 'fd5a:1ab:3::/64 via fd5a:0:0:1::13 dev eth0 proto 200'];

describe('node network: native routing', () => {
  it('a node joining adds its routes and remote entries; leaving removes them, entry before route', async () => {
    const { fx, eth0 } = fakeNode();
    const { net, update } = agent(fx);
    await update(nodes(labNode(1), labNode(2)));
    expect(routesOf(fx)).toEqual(n2Routes);
    expect([...fx.remote]).toEqual([['198.18.102.0/24', '198.18.0.12'], ['fd5a:1ab:2::/64', 'fd5a:0:0:1::12']]);
    expect(fx.config).toEqual({ routing: 'native', uplinkIfindex: eth0, tunnelIfindex: 0 });
    expect(fx.attached).toEqual([eth0]);
    expect(fx.masquerade).toEqual({ podCIDRs: ['198.18.101.0/24', 'fd5a:1ab:1::/64'], clusterCIDRs: ['198.18.101.0/24', '198.18.102.0/24', 'fd5a:1ab:1::/64', 'fd5a:1ab:2::/64'] });
    expect(net.status()).toEqual({ problems: [], nodes: [expect.objectContaining({ name: 'n1', state: 'ok', self: true }), expect.objectContaining({ name: 'n2', state: 'ok' })], settled: true });

    fx.changes = [];
    await update(nodes(labNode(1), labNode(2), labNode(3)));
    expect(routesOf(fx)).toEqual([...n2Routes, ...n3Routes].sort());
    // each route before its entry; nothing of n2's is touched
    expect(fx.changes).toEqual([
      'route add 198.18.103.0/24 via 198.18.0.13 dev eth0',
      'route add fd5a:1ab:3::/64 via fd5a:0:0:1::13 dev eth0',
      'remote set 198.18.103.0/24 198.18.0.13',
      'remote set fd5a:1ab:3::/64 fd5a:0:0:1::13',
      'masquerade 198.18.101.0/24,fd5a:1ab:1::/64',
    ]);

    fx.changes = [];
    await update(nodes(labNode(1), labNode(3)));
    expect(routesOf(fx)).toEqual(n3Routes);
    expect([...fx.remote.keys()]).toEqual(['198.18.103.0/24', 'fd5a:1ab:3::/64']);
    expect(fx.changes.slice(0, 4)).toEqual([
      'remote del 198.18.102.0/24',
      'remote del fd5a:1ab:2::/64',
      'route del 198.18.102.0/24 via 198.18.0.12 dev eth0',
      'route del fd5a:1ab:2::/64 via fd5a:0:0:1::12 dev eth0',
    ]);
    expect(fx.attached).toEqual([eth0]); // attached once
  });

  it('is settled once the snapshot is reconciled and nft has answered, not while a failed step waits for its retry', async () => {
    const { fx } = fakeNode();
    let release!: () => void;
    const nftAnswers = new Promise<void>((r) => (release = r));
    const write = fx.applyMasquerade.bind(fx);
    // The real effect settles when nft answers: the loop must wait for that promise.
    const deferred = (m: Parameters<typeof write>[0]): Promise<void> => {
      write(m);
      return nftAnswers;
    };
    Object.assign(fx, { applyMasquerade: deferred });
    const { net } = agent(fx, { retryMs: 60_000 });
    net.update(nodes(labNode(1), labNode(2)));
    expect(net.status().settled).toBe(false); // the pass has not run yet
    await tick();
    expect(fx.routes).not.toEqual([]);
    expect(net.status().settled).toBe(false); // nft has not answered
    release();
    await eventually(() => net.status().settled);
    fx.failWhen = (effect) => effect === 'addRoute';
    net.update(nodes(labNode(1), labNode(2), labNode(3)));
    await tick();
    expect(net.status().problems.map((p) => p.kind)).toContain('node-network-failed');
    expect(net.status().settled).toBe(false);
  });

  it('from_uplink detached by someone else is attached again by the next pass', async () => {
    const { fx, eth0 } = fakeNode();
    const { update } = agent(fx);
    await update(nodes(labNode(1), labNode(2)));
    expect(fx.attached).toEqual([eth0]);
    fx.detachUplink();
    await update(nodes(labNode(1), labNode(2)));
    expect(fx.uplinkProgramOn).toBe(eth0);
    expect(fx.attached).toEqual([eth0, eth0]);
  });

  it('a restart with everything in place changes nothing', async () => {
    const { fx } = fakeNode();
    const state = nodes(labNode(1), labNode(2), labNode(3));
    const first = agent(fx);
    await first.update(state);
    first.net.close();
    fx.changes = [];
    const second = agent(fx);
    await second.update(state);
    await second.update(state);
    expect(fx.changes).toEqual([]);
    expect(second.net.status().problems).toEqual([]);
  });

  it("stale strait routes and entries go, a wrong one is replaced, other protocols' routes stay", async () => {
    const { fx } = fakeNode();
    fx.routes = [
      { dst: '10.99.0.0/24', gateway: '198.18.0.99', dev: 'eth0', protocol: 200 }, // a node long gone
      { dst: '198.18.102.0/24', gateway: '198.18.0.99', dev: 'eth0', protocol: 200 }, // n2 moved
      { dst: '10.98.0.0/24', gateway: '198.18.0.1', dev: 'eth0', protocol: 4 }, // the admin's (static)
      { dst: '198.18.0.0/24', gateway: null, dev: 'eth0', protocol: 2 }, // the kernel's
    ];
    fx.remote.set('10.99.0.0/24', '198.18.0.99');
    fx.remote.set('198.18.102.0/24', '198.18.0.99');
    const { update } = agent(fx);
    await update(nodes(labNode(1), labNode(2)));
    expect(routesOf(fx)).toEqual([
      '10.98.0.0/24 via 198.18.0.1 dev eth0 proto 4',
      '198.18.0.0/24 via - dev eth0 proto 2',
      ...n2Routes,
    ]);
    expect([...fx.remote].sort()).toEqual([['198.18.102.0/24', '198.18.0.12'], ['fd5a:1ab:2::/64', 'fd5a:0:0:1::12']]);
  });

  it('a foreign route to a pod CIDR is left alone: reported, and that CIDR gets no entry', async () => {
    const { fx } = fakeNode();
    fx.routes = [{ dst: '198.18.102.0/24', gateway: '198.18.0.1', dev: 'eth0', protocol: 4 }];
    const { net, update } = agent(fx);
    await update(nodes(labNode(1), labNode(2)));
    expect(routesOf(fx)).toEqual(['198.18.102.0/24 via 198.18.0.1 dev eth0 proto 4', 'fd5a:1ab:2::/64 via fd5a:0:0:1::12 dev eth0 proto 200']);
    expect([...fx.remote.keys()]).toEqual(['fd5a:1ab:2::/64']);
    expect(net.status().problems).toEqual([
      { kind: 'node-network-failed', subject: 'adding route 198.18.102.0/24 via 198.18.0.12 dev eth0', message: expect.stringMatching(/EEXIST.*; retrying$/) },
    ]);
  });

  it('invalid Nodes give problems and nothing else, logged once however many snapshots come', async () => {
    const { fx } = fakeNode();
    const { net, lines, update } = agent(fx);
    const state = nodes(labNode(1), labNode(2, { internalIPs: [] }), labNode(3, { podCIDRs: ['198.18.101.0/25'] }));
    for (let i = 0; i < 3; i++) await update(state);
    // n3 overlaps this node: both refused; n2 has no address
    expect(fx.routes).toEqual([]);
    expect(fx.remote.size).toBe(0);
    expect(fx.masquerade).toEqual({ podCIDRs: [], clusterCIDRs: ['198.18.101.0/24', '198.18.101.0/25', '198.18.102.0/24', 'fd5a:1ab:1::/64', 'fd5a:1ab:2::/64'] });
    const s = net.status();
    expect(s.problems.map((p) => `${p.kind} ${p.subject}`)).toEqual(['node-invalid node n1', 'node-invalid node n2', 'node-invalid node n3']);
    expect(s.nodes.map((n) => n.state)).toEqual(['refused', 'refused', 'refused']);
    const errors = lines.filter((l) => l.level === 50);
    expect(errors.map((l) => l.subject)).toEqual(['node n1', 'node n2', 'node n3']);
    // fixed: one line saying so, and n2 is routed
    await update(nodes(labNode(1), labNode(2)));
    expect(routesOf(fx)).toEqual(n2Routes);
    expect(lines.filter((l) => l.level === 30 && l.msg.startsWith('resolved: Node n2'))).toHaveLength(1);
    expect(net.status().problems).toEqual([]);
  });

  it("this node's Node missing: node-missing, and with no address to find the uplink by, nothing changes", async () => {
    const { fx } = fakeNode();
    fx.routes = [{ dst: '198.18.102.0/24', gateway: '198.18.0.12', dev: 'eth0', protocol: 200 }];
    const { net, update } = agent(fx);
    await update(nodes(labNode(2)));
    expect(net.status().problems.map((p) => p.kind)).toEqual(['node-missing', 'uplink-missing']);
    expect(fx.changes).toEqual([]);
    expect(fx.routes).toHaveLength(1);
    // with --uplink the other nodes are still reached; this node's pods masquerade nothing
    const { fx: fx2 } = fakeNode();
    const withUplink = agent(fx2, { uplink: 'eth0' });
    await withUplink.update(nodes(labNode(2)));
    expect(routesOf(fx2)).toEqual(n2Routes);
    expect(fx2.masquerade?.podCIDRs).toEqual([]);
    expect(withUplink.net.status().problems.map((p) => p.kind)).toEqual(['node-missing']);
  });

  it('--uplink naming no interface: uplink-missing, nothing changes, and it is retried until it appears', async () => {
    const { fx } = fakeNode();
    const { net, update } = agent(fx, { uplink: 'ens5' });
    await update(nodes(labNode(1), labNode(2)));
    expect(net.status().problems).toEqual([{ kind: 'uplink-missing', subject: 'ens5', message: expect.stringMatching(/^--uplink ens5: no such interface/) }]);
    expect(fx.changes).toEqual([]);
    const ens5 = fx.addLink('ens5', []).ifindex;
    await eventually(() => net.status().problems.length === 0);
    expect(fx.config?.uplinkIfindex).toBe(ens5);
    expect(fx.routes.every((r) => r.dev === 'ens5')).toBe(true);
  });

  it('a failing step is reported and retried while the rest lands; never thrown', async () => {
    const { fx } = fakeNode();
    let failing = true;
    fx.failWhen = (effect, arg) => failing && ((effect === 'addRoute' && arg === '198.18.103.0/24') || effect === 'applyMasquerade');
    const { net, lines, update } = agent(fx);
    await update(nodes(labNode(1), labNode(2), labNode(3)));
    expect(routesOf(fx)).toEqual([...n2Routes, n3Routes[1]].sort());
    expect(fx.remote.has('198.18.103.0/24')).toBe(false); // no entry toward a CIDR whose route is missing
    expect(net.status().problems.map((p) => p.subject)).toEqual(['adding route 198.18.103.0/24 via 198.18.0.13 dev eth0', 'applying the masquerade table']);
    failing = false;
    await eventually(() => net.status().problems.length === 0);
    expect(routesOf(fx)).toEqual([...n2Routes, ...n3Routes].sort());
    expect(fx.remote.get('198.18.103.0/24')).toBe('198.18.0.13');
    expect(fx.masquerade).not.toBeUndefined();
    expect(lines.filter((l) => l.level === 50)).toHaveLength(2);

    fx.failWhen = (effect) => effect === 'listRoutes' || effect === 'findUplink';
    await update(nodes(labNode(1)));
    expect(net.status().problems.map((p) => p.kind)).toEqual(['node-network-failed']);
  });

  it('--masquerade false removes the table', async () => {
    const { fx } = fakeNode();
    const { update } = agent(fx, { masquerade: false });
    await update(nodes(labNode(1), labNode(2)));
    expect(fx.masquerade).toBeNull();
  });

  it('a cluster without any Node is one node on its own: no problem, nothing touched', async () => {
    const { fx } = fakeNode();
    fx.routes = [{ dst: '198.18.102.0/24', gateway: '198.18.0.12', dev: 'eth0', protocol: 200 }];
    const { net, update } = agent(fx);
    await update(nodes());
    expect(fx.routes).toHaveLength(1);
    expect(fx.attached).toEqual([]);
    expect(fx.masquerade).toBeUndefined();
    expect(net.status()).toEqual({ problems: [], nodes: [], settled: true });
  });

  it('nothing happens before the first snapshot', async () => {
    const { fx } = fakeNode();
    fx.routes = [{ dst: '198.18.102.0/24', gateway: '198.18.0.12', dev: 'eth0', protocol: 200 }];
    const { net } = agent(fx);
    await tick();
    expect(fx.routes).toHaveLength(1);
    expect(fx.attached).toEqual([]);
    expect(net.status()).toEqual({ problems: [], nodes: [], settled: true });
  });
});

describe('node network: vxlan', () => {
  it('plans device routes and remote entries toward the tunnel far end; the device has the uplink MTU − 50', async () => {
    const { fx, eth0 } = fakeNode();
    const { update } = agent(fx, { routing: 'vxlan', vxlanPort: 4789 });
    await update(nodes(labNode(1), labNode(2, { internalIPs: ['198.18.0.12'] })));
    expect(fx.tunnel).toMatchObject({ name: VXLAN_DEVICE, port: 4789, mtu: 1450 });
    expect(routesOf(fx)).toEqual([`198.18.102.0/24 via - dev ${VXLAN_DEVICE} proto 200`, `fd5a:1ab:2::/64 via - dev ${VXLAN_DEVICE} proto 200`]);
    expect([...fx.remote.values()]).toEqual(['198.18.0.12', '198.18.0.12']);
    expect(fx.config).toEqual({ routing: 'vxlan', uplinkIfindex: eth0, tunnelIfindex: fx.tunnel!.ifindex });
  });

  it('a restart in native mode replaces the device routes, points the config at the uplink, then removes the device', async () => {
    const { fx, eth0 } = fakeNode();
    const state = nodes(labNode(1), labNode(2));
    const first = agent(fx, { routing: 'vxlan' });
    await first.update(state);
    first.net.close();
    fx.changes = [];
    await agent(fx).update(state);
    expect(routesOf(fx)).toEqual(n2Routes);
    expect(fx.tunnel).toBeNull();
    expect(fx.config).toEqual({ routing: 'native', uplinkIfindex: eth0, tunnelIfindex: 0 });
    expect(fx.changes.slice(-2)).toEqual([`config native uplink ${eth0} tunnel 0`, 'tunnel removed']);
  });

  it('a tunnel that cannot be made leaves routes and entries alone', async () => {
    const { fx } = fakeNode();
    fx.failWhen = (effect) => effect === 'ensureTunnel';
    const { net, update } = agent(fx, { routing: 'vxlan' });
    await update(nodes(labNode(1), labNode(2)));
    expect(fx.changes).toEqual([]);
    expect(net.status().problems).toEqual([{ kind: 'node-network-failed', subject: `creating ${VXLAN_DEVICE}`, message: expect.stringMatching(/injected failure/) }]);
  });
});

describe('node network in the agent core', () => {
  it('every snapshot reaches it; its problems and nodes are in the status', async () => {
    const n = new FakeNode({ policy: 1 << 19, ipcache: 1 << 18, cidr: 1 << 16 });
    n.net.addLink('eth0', ['198.18.0.11', 'fd5a:0:0:1::11']);
    const { log } = capturingLogger();
    const core = adoptDatapath({ nodeName: 'n1', log, limit: n.maps.capacity, retryMs: 5, network: { routing: 'native', uplink: null, vxlanPort: 8472, masquerade: true } }, n);
    try {
      core.setCluster(nodes(labNode(1), labNode(2), labNode(3, { internalIPs: [] })), 1);
      const s = await until(core, (x) => x.synced && x.nodes.length === 3);
      expect(routesOf(n.net)).toEqual(n2Routes);
      expect(s.problems.map((p) => `${p.kind} ${p.subject}`)).toEqual(['node-invalid node n3']);
      expect(s.nodes.map((x) => `${x.name} ${x.state}`)).toEqual(['n1 ok', 'n2 ok', 'n3 refused']);
      // n2's address is a remote node in the ipcache, n3's (none) is not
      expect(n.maps.ipcache.get('198.18.0.12')?.identity).toBe(IDENTITY_REMOTE_NODE);
      core.setCluster(nodes(labNode(1)), 2);
      await until(core, (x) => x.synced && x.appliedGeneration === 2 && x.nodes.length === 1);
      await eventually(() => n.net.routes.length === 0);
      expect(n.maps.ipcache.has('198.18.0.12')).toBe(false);
    } finally {
      await core.close();
    }
  });

  it('without node networking the core leaves the node network alone', async () => {
    const n = new FakeNode({ policy: 1 << 19, ipcache: 1 << 18, cidr: 1 << 16 });
    n.net.addLink('eth0', ['198.18.0.11']);
    const core = adoptDatapath({ nodeName: 'n1', log: capturingLogger().log, limit: n.maps.capacity, retryMs: 5 }, n);
    try {
      core.setCluster(nodes(labNode(1), labNode(2)), 1);
      const s = await until(core, (x) => x.synced);
      expect(s.nodes).toEqual([]);
      expect(n.net.changes).toEqual([]);
    } finally {
      await core.close();
    }
  });
});
