// Kubernetes IPAM mode without root: an ipam object with no ranges takes the node's
// spec.podCIDRs (config parsing), the reconcile loop answers them from its current
// cluster state, the agent API serves them (GET /v1/node) to the socket link, and the
// agent's CNI service answers STATUS 50 / 7 / 0 as the Node and the config say.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startApiServer } from '../../src/agent/api.js';
import { createCniService } from '../../src/agent/cni-service.js';
import { createReconciler } from '../../src/agent/reconcile-loop.js';
import { nodePodCidrs } from '../../src/cluster/nodes.js';
import { httpAgentLink } from '../../src/cni/agent-handshake.js';
import { parseIpamConfig, usesNodeRanges } from '../../src/ipam/config.js';
import { hasCode } from '../../src/errors.js';
import { capturingLogger } from '../helpers/agent-wait.js';
import { FakeCore } from '../helpers/fake-core.js';
import { FakeMaps } from '../helpers/fake-maps.js';
import { cluster, labNode, node } from '../helpers/policy-builders.js';
import { thrown } from '../helpers/thrown.js';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'strait-kipam-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseIpamConfig without ranges (Kubernetes IPAM mode)', () => {
  it('is the mode only when neither ranges nor subnet is given', () => {
    expect(usesNodeRanges({ type: 'strait' })).toBe(true);
    expect(usesNodeRanges({ type: 'strait', ranges: [[{ subnet: '198.18.0.0/24' }]] })).toBe(false);
    expect(usesNodeRanges({ type: 'strait', subnet: '198.18.0.0/24' })).toBe(false);
  });

  it('one range set per pod CIDR, with host-local defaults: v4, and dual-stack in the Node\'s order', () => {
    const v4 = parseIpamConfig({ type: 'strait' }, { node: 'n1', podCIDRs: ['198.18.101.0/24'] });
    expect(v4.fromNode).toBe(true);
    expect(v4.sets.map((s) => s.ranges.map((r) => [r.subnet, r.start, r.end]))).toEqual([[['198.18.101.0/24', 0xc6126501n, 0xc61265fen]]]);
    const dual = parseIpamConfig({ type: 'strait' }, { node: 'n1', podCIDRs: ['198.18.101.0/24', 'fd5a:1ab:1::/64'] });
    expect(dual.sets.map((s) => [s.family, s.ranges[0]!.subnet])).toEqual([[4, '198.18.101.0/24'], [6, 'fd5a:1ab:1::/64']]);
  });

  it('a config with ranges ignores the node', () => {
    const cfg = parseIpamConfig({ type: 'strait', ranges: [[{ subnet: '198.18.7.0/24' }]] }, { node: 'n1', podCIDRs: ['198.18.101.0/24'] });
    expect(cfg.fromNode).toBe(false);
    expect(cfg.sets.map((s) => s.ranges[0]!.subnet)).toEqual(['198.18.7.0/24']);
  });

  it('without the node (DEL, CHECK, GC) no sets, and routes are checked once the CIDRs are known', () => {
    const raw = { type: 'strait', routes: [{ dst: 'fd00::/8' }] };
    expect(parseIpamConfig(raw)).toMatchObject({ sets: [], fromNode: true });
    const e = thrown(() => parseIpamConfig(raw, { node: 'n1', podCIDRs: ['198.18.101.0/24'] }));
    expect(hasCode(e, 'E_CONFIG')).toBe(true);
    expect(e.message).toBe("ipam.routes[0] fd00::/8 is IPv6, but Node n1's spec.podCIDRs (198.18.101.0/24) hold no IPv6");
  });

  it('a pod CIDR with no address to give is a config error naming the Node', () => {
    const e = thrown(() => parseIpamConfig({ type: 'strait' }, { node: 'n9', podCIDRs: ['198.18.9.0/31'] }));
    expect(hasCode(e, 'E_CONFIG')).toBe(true);
    expect(e.message).toMatch(/^Node n9's spec\.podCIDRs \(198\.18\.9\.0\/31\) cannot be allocated from: .*too small/);
  });
});

describe('the node\'s pod CIDRs in the agent', () => {
  it('from a cluster state: null before any, and when the Node is missing; [] when it has none yet', () => {
    expect(nodePodCidrs(null, 'n1')).toEqual({ node: 'n1', podCIDRs: null });
    expect(nodePodCidrs(cluster({ nodes: [labNode(2)] }), 'n1')).toEqual({ node: 'n1', podCIDRs: null });
    expect(nodePodCidrs(cluster({ nodes: [node('n1', ['198.18.0.11'])] }), 'n1')).toEqual({ node: 'n1', podCIDRs: [] });
    expect(nodePodCidrs(cluster({ nodes: [labNode(1), labNode(2)] }), 'n1')).toEqual({ node: 'n1', podCIDRs: ['198.18.101.0/24', 'fd5a:1ab:1::/64'] });
  });

  it('the reconcile loop answers from its current cluster, following every snapshot', async () => {
    const core = createReconciler({
      nodeName: 'n1',
      log: capturingLogger().log,
      maps: new FakeMaps({ policy: 64, ipcache: 64, cidr: 64 }),
      capacity: { policy: 64, ipcache: 64, cidr: 64 },
      hostAddresses: () => [],
      endpoints: [],
      revalidate: () => 0,
      explain: () => ({ verdict: 'deny', steps: [], reason: '' }),
      close: () => {},
    });
    try {
      expect(core.nodePodCidrs()).toEqual({ node: 'n1', podCIDRs: null });
      core.setCluster(cluster({ nodes: [labNode(1)] }), 1);
      expect(core.nodePodCidrs().podCIDRs).toEqual(['198.18.101.0/24', 'fd5a:1ab:1::/64']);
      // The Node re-created with another pod CIDR: the next ADD allocates from it.
      core.setCluster(cluster({ nodes: [labNode(1, { podCIDRs: ['198.18.201.0/24'] })] }), 2);
      expect(core.nodePodCidrs().podCIDRs).toEqual(['198.18.201.0/24']);
    } finally {
      await core.close();
    }
  });

  it('GET /v1/node serves them, and the socket link reads them back', async () => {
    const core = new FakeCore();
    core.nodeCidrs = { node: 'n1', podCIDRs: ['198.18.101.0/24'] };
    const socket = join(dir, 'api.sock');
    const server = await startApiServer({ socketPath: socket, core, log });
    try {
      const link = httpAgentLink(socket, 1000);
      expect(await link.nodePodCidrs()).toEqual({ node: 'n1', podCIDRs: ['198.18.101.0/24'] });
      core.nodeCidrs = { node: 'n1', podCIDRs: null };
      expect(await link.nodePodCidrs()).toEqual({ node: 'n1', podCIDRs: null });
    } finally {
      await server.close();
    }
    // No agent there: 11 (try again), naming the socket.
    const e = await httpAgentLink(socket, 1000).nodePodCidrs().then(() => new Error('answered'), (err: unknown) => err as Error);
    expect(hasCode(e, 'E_AGENT_NOT_RUNNING')).toBe(true);
    expect(e.message).toContain(socket);
  });
});

describe('STATUS of a network without ranges, served by the agent', () => {
  const stateDir = join(dir, 'state');
  const bpfDir = join(dir, 'bpf');
  const core = new FakeCore();
  const service = createCniService({ core, stateDir, bpfDir, log });
  const status = (ipam: Record<string, unknown>) =>
    service.handle({ env: { CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }, stdin: JSON.stringify({ cniVersion: '1.1.0', name: 'kipam', type: 'strait', stateDir, bpfDir, ipam }) });

  it('50 while the Node is missing or has no pod CIDR (ADD could not allocate), 0 once it has one', async () => {
    core.nodeCidrs = { node: 'n1', podCIDRs: null };
    const missing = await status({ type: 'strait' });
    expect(missing.exitCode).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ code: 50, msg: expect.stringMatching(/^ADD cannot allocate now: Node n1 is not in the cluster state of strait-agent/) as unknown });
    core.nodeCidrs = { node: 'n1', podCIDRs: [] };
    const none = JSON.parse((await status({ type: 'strait' })).stdout) as { code: number; msg: string; details: string };
    expect(none).toMatchObject({ code: 50, msg: expect.stringMatching(/Node n1 has no spec\.podCIDRs yet/) as unknown });
    expect(none.details).toMatch(/node controller/);
    core.nodeCidrs = { node: 'n1', podCIDRs: ['198.18.101.0/24'] };
    expect(await status({ type: 'strait' })).toMatchObject({ exitCode: 0, stdout: '' });
  });
});
