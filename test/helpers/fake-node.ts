// A node in memory for the agent's core (src/agent/effects.ts AgentEffects): pinned
// maps that outlive the agent (FakeMaps), links, the node's addresses and the
// endpoint records the CNI plugin left. A pod added here is what an ADD leaves
// behind: its veth, its record and its endpoint-map entries (not READY).
import type { AgentEffects } from '../../src/agent/effects.js';
import type { EndpointRecord } from '../../src/state/endpoint-record.js';
import type { Capacity } from '../../src/policy/capacity.js';
import type { Pod } from '../../src/policy/types.js';
import { FakeMaps } from './fake-maps.js';
import { FakeNodeNetwork } from './fake-node-network.js';
import { FakeLbMaps } from './fake-lb-maps.js';

export class FakeNode implements AgentEffects {
  readonly maps: FakeMaps;
  /** links, routes, tunnel and maps toward other nodes */
  readonly net = new FakeNodeNetwork();
  /** the Service maps; they outlive an agent as pinned maps do */
  readonly lb = new FakeLbMaps();
  readonly links = new Map<number, string>([[1, 'lo']]);
  readonly records: EndpointRecord[] = [];
  addresses = ['192.168.1.10'];

  constructor(capacity: Capacity) {
    this.maps = new FakeMaps(capacity);
  }

  addPod(ifindex: number, p: Pod): void {
    const hostVeth = `strait${ifindex}`;
    this.links.set(ifindex, hostVeth);
    this.maps.addEndpoint(ifindex, p.ips);
    this.records.push({
      network: 'strait',
      containerId: `c${ifindex}`,
      ifname: 'eth0',
      netns: `/run/netns/pod${ifindex}`,
      hostVeth,
      ifindex,
      addresses: p.ips,
      podMac: '0a:58:00:00:00:01',
      k8s: { namespace: p.namespace, name: p.name },
      createdAt: '2026-01-01T00:00:00.000Z',
    });
  }

  openMaps(): FakeMaps {
    return this.maps;
  }
  listLinks(): Map<number, string> {
    return new Map(this.links);
  }
  hostAddresses(): string[] {
    return [...this.addresses];
  }
  nodeNetwork(): FakeNodeNetwork {
    return this.net;
  }
  serviceMaps(): FakeLbMaps {
    return this.lb;
  }
  endpointRecords(links: ReadonlyMap<number, string>): EndpointRecord[] {
    return this.records.filter((r) => links.get(r.ifindex) === r.hostVeth);
  }
}
