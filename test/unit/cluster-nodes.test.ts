// The other nodes as an agent sees them (src/cluster/nodes.ts): which are usable,
// the problems of those that are not (each saying what to fix), and the routes,
// strait_remote_v1 entries and masquerade input of each routing mode.
import { describe, expect, it } from 'vitest';
import { nodeNetworkPlan, nodeTopology, type RoutingMode, VXLAN_DEVICE } from '../../src/cluster/nodes.js';
import type { Node } from '../../src/policy/types.js';
import { cluster, labNode } from '../helpers/policy-builders.js';

const topo = (nodes: Node[], routing: RoutingMode = 'native', self = 'n1') => nodeTopology(cluster({ nodes }), self, routing);

describe('nodeTopology', () => {
  it('every other valid node is a peer, each pod CIDR reached by the InternalIP of its family', () => {
    const t = topo([labNode(3), labNode(1), labNode(2)]);
    expect(t.problems).toEqual([]);
    expect(t.selfOk).toBe(true);
    expect(t.self?.name).toBe('n1');
    expect(t.peers.map((p) => [p.name, [...p.nexthops]])).toEqual([
      ['n2', [['198.18.102.0/24', '198.18.0.12'], ['fd5a:1ab:2::/64', 'fd5a:0:0:1::12']]],
      ['n3', [['198.18.103.0/24', '198.18.0.13'], ['fd5a:1ab:3::/64', 'fd5a:0:0:1::13']]],
    ]);
    expect(t.nodes.map((n) => [n.name, n.self, n.state, n.reason])).toEqual([
      ['n1', true, 'ok', null],
      ['n2', false, 'ok', null],
      ['n3', false, 'ok', null],
    ]);
  });

  it("this node's Node missing: a node-missing problem that says what to write; the others are still peers", () => {
    const t = topo([labNode(2)], 'native', 'n9');
    expect(t.self).toBeNull();
    expect(t.selfOk).toBe(false);
    expect(t.problems).toEqual([{ kind: 'node-missing', subject: 'node n9', message: expect.stringMatching(/^Node n9 \(this node, --node\) is missing from the source: write it with spec.podCIDRs and an InternalIP/) }]);
    expect(t.peers.map((p) => p.name)).toEqual(['n2']);
  });

  it('a Node with no InternalIP or no pod CIDRs is refused with the reason, and is no peer', () => {
    const t = topo([labNode(1), labNode(2, { internalIPs: [] }), labNode(3, { podCIDRs: [] })]);
    expect(t.peers).toEqual([]);
    expect(t.problems).toEqual([
      { kind: 'node-invalid', subject: 'node n2', message: 'Node n2 has no InternalIP in status.addresses: its pods are unreachable from this node until that is fixed' },
      { kind: 'node-invalid', subject: 'node n3', message: 'Node n3 has no spec.podCIDRs: its pods are unreachable from this node until that is fixed' },
    ]);
    expect(t.nodes.find((n) => n.name === 'n2')).toMatchObject({ state: 'refused', reason: 'has no InternalIP in status.addresses' });
  });

  it('overlapping pod CIDRs refuse both nodes, whatever order they come in, this node included', () => {
    const a = labNode(2, { podCIDRs: ['10.244.0.0/16'] });
    const b = labNode(3, { podCIDRs: ['10.244.7.0/24', 'fd5a:1ab:3::/64'] });
    for (const nodes of [[labNode(1), a, b, labNode(4)], [labNode(4), b, labNode(1), a]]) {
      const t = topo(nodes);
      expect(t.peers.map((p) => p.name)).toEqual(['n4']);
      expect(t.problems.map((p) => p.message)).toEqual([
        "Node n2 pod CIDR 10.244.0.0/16 overlaps Node n3's 10.244.7.0/24: its pods are unreachable from this node until that is fixed",
        "Node n3 pod CIDR 10.244.7.0/24 overlaps Node n2's 10.244.0.0/16: its pods are unreachable from this node until that is fixed",
      ]);
    }
    const t = topo([labNode(1), labNode(2, { podCIDRs: ['198.18.101.128/25'] })]);
    expect(t.selfOk).toBe(false);
    expect(t.peers).toEqual([]);
    expect(t.problems.map((p) => p.subject)).toEqual(['node n1', 'node n2']);
    expect(t.problems[0]!.message).toMatch(/other nodes refuse it alike/);
  });

  it('two nodes with one InternalIP are both refused', () => {
    const t = topo([labNode(1), labNode(2), labNode(3, { internalIPs: ['198.18.0.12'] })], 'vxlan');
    expect(t.peers).toEqual([]);
    expect(t.nodes.filter((n) => n.state === 'refused').map((n) => n.reason)).toEqual(['shares InternalIP 198.18.0.12 with Node n3', 'shares InternalIP 198.18.0.12 with Node n2']);
  });

  it('native mode refuses a pod CIDR with no InternalIP of its family; vxlan takes it over the IPv4 tunnel', () => {
    const v4only = labNode(2, { internalIPs: ['198.18.0.12'] });
    const native = topo([labNode(1), v4only]);
    expect(native.peers).toEqual([]);
    expect(native.problems[0]!.message).toBe(
      'Node n2 has pod CIDR fd5a:1ab:2::/64 but no IPv6 InternalIP (native routing needs one of the same family; --routing vxlan does not): its pods are unreachable from this node until that is fixed',
    );
    const vxlan = topo([labNode(1), v4only], 'vxlan');
    expect(vxlan.problems).toEqual([]);
    expect([...vxlan.peers[0]!.nexthops]).toEqual([['198.18.102.0/24', '198.18.0.12'], ['fd5a:1ab:2::/64', '198.18.0.12']]);
    // vxlan prefers IPv4 whatever the order; an IPv6-only node is reached over IPv6
    const v6first = topo([labNode(1), labNode(3, { internalIPs: ['fd5a:0:0:1::13', '198.18.0.13'] }), labNode(4, { internalIPs: ['fd5a:0:0:1::14'] })], 'vxlan');
    expect(v6first.peers.map((p) => [...new Set(p.nexthops.values())])).toEqual([['198.18.0.13'], ['fd5a:0:0:1::14']]);
  });
});

describe('nodeNetworkPlan', () => {
  const nodes = [labNode(1), labNode(2), labNode(3, { podCIDRs: [] }), labNode(4)];

  it('native: a route via the InternalIP out of the uplink and a remote entry per pod CIDR of every peer', () => {
    const p = nodeNetworkPlan(topo(nodes), 'eth0');
    expect(p.routes).toEqual([
      { dst: '198.18.102.0/24', gateway: '198.18.0.12', dev: 'eth0' },
      { dst: 'fd5a:1ab:2::/64', gateway: 'fd5a:0:0:1::12', dev: 'eth0' },
      { dst: '198.18.104.0/24', gateway: '198.18.0.14', dev: 'eth0' },
      { dst: 'fd5a:1ab:4::/64', gateway: 'fd5a:0:0:1::14', dev: 'eth0' },
    ]);
    expect([...p.remote]).toEqual([
      ['198.18.102.0/24', '198.18.0.12'],
      ['fd5a:1ab:2::/64', 'fd5a:0:0:1::12'],
      ['198.18.104.0/24', '198.18.0.14'],
      ['fd5a:1ab:4::/64', 'fd5a:0:0:1::14'],
    ]);
    expect(p.masquerade).toEqual({
      podCIDRs: ['198.18.101.0/24', 'fd5a:1ab:1::/64'],
      clusterCIDRs: ['198.18.101.0/24', '198.18.102.0/24', '198.18.104.0/24', 'fd5a:1ab:1::/64', 'fd5a:1ab:2::/64', 'fd5a:1ab:4::/64'],
    });
  });

  it('vxlan: device routes without a gateway; remote entries name the tunnel far end', () => {
    const p = nodeNetworkPlan(topo(nodes, 'vxlan'), 'eth0');
    expect(p.routes.map((r) => `${r.dst} ${r.gateway} ${r.dev}`)).toEqual([
      `198.18.102.0/24 null ${VXLAN_DEVICE}`,
      `fd5a:1ab:2::/64 null ${VXLAN_DEVICE}`,
      `198.18.104.0/24 null ${VXLAN_DEVICE}`,
      `fd5a:1ab:4::/64 null ${VXLAN_DEVICE}`,
    ]);
    expect([...p.remote.values()]).toEqual(['198.18.0.12', '198.18.0.12', '198.18.0.14', '198.18.0.14']);
  });

  it('this node refused or missing: nothing of its own to masquerade', () => {
    expect(nodeNetworkPlan(topo([labNode(2)], 'native', 'n1'), 'eth0').masquerade.podCIDRs).toEqual([]);
    expect(nodeNetworkPlan(topo([labNode(1, { internalIPs: [] }), labNode(2)]), 'eth0').masquerade.podCIDRs).toEqual([]);
  });
});
