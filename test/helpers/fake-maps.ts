// The agent's policy maps in memory (src/agent/apply.ts PolicyMaps), keyed as the
// kernel keys them, with max_entries of its own and writes that can be made to fail:
// for reconciler tests without root. A write past max_entries throws as the kernel
// refuses it (E2BIG).
import type { EndpointFlags, MapsContent } from '../../src/agent/datapath-writer.js';
import type { PolicyMaps } from '../../src/agent/apply.js';
import type { EndpointEntry } from '../../src/datapath/endpoints.js';
import { decodeEndpointFlags, encodeEndpointFlags } from '../../src/datapath/maps/endpoints.js';
import { ipFamily } from '../../src/ipam/addr.js';
import { entryKey } from '../../src/policy/diff.js';
import type { PolicyEntry } from '../../src/policy/types.js';
import type { Capacity } from '../../src/policy/capacity.js';

export type FakeWrite =
  | { map: 'ipcache' | 'cidr'; key: string }
  | { map: 'policy'; ifindex: number; generation: 0 | 1; entry: PolicyEntry }
  | { map: 'endpoints'; ifindex: number };

export class FakeMaps implements PolicyMaps {
  readonly ipcache = new Map<string, { identity: number; namespace: number }>();
  readonly cidr = new Map<string, number>();
  /** `${ifindex}/${generation}/${entryKey}` → entry */
  readonly policy = new Map<string, PolicyEntry & { ifindex: number; generation: 0 | 1 }>();
  readonly endpoints = new Map<number, EndpointEntry[]>();
  /** a write this returns true for throws */
  failWhen: ((w: FakeWrite) => boolean) | null = null;

  constructor(readonly capacity: Capacity) {}

  /** What the CNI plugin's ADD writes: an entry per address, not READY. */
  addEndpoint(ifindex: number, ips: string[]): void {
    this.endpoints.set(ifindex, ips.map((ip) => ({ family: ipFamily(ip), ip, ifindex, flags: 0, podMac: '0a:58:00:00:00:01', hostMac: 'ee:00:00:00:00:01', identity: 0 })));
  }

  /** The live entries of an endpoint (by its flags' generation), or null if it is not READY. */
  live(ifindex: number): PolicyEntry[] | null {
    const e = this.endpoints.get(ifindex)?.[0];
    if (e === undefined) return null;
    const { ready, generation: gen } = decodeEndpointFlags(e.flags);
    if (!ready) return null;
    return [...this.policy.values()].filter((p) => p.ifindex === ifindex && p.generation === gen).map(({ ifindex: _i, generation: _g, ...rest }) => rest);
  }

  flagsOf(ifindex: number): number | null {
    return this.endpoints.get(ifindex)?.[0]?.flags ?? null;
  }

  private check(w: FakeWrite): void {
    if (this.failWhen?.(w)) throw new Error(`injected failure writing ${w.map}`);
  }

  private put<K, V>(m: Map<K, V>, key: K, value: V, max: number, name: string): void {
    if (!m.has(key) && m.size >= max) throw new Error(`E2BIG: ${name} holds ${m.size} of ${max} entries`);
    m.set(key, value);
  }

  setIpcache(ip: string, identity: number, namespace: number): void {
    this.check({ map: 'ipcache', key: ip });
    this.put(this.ipcache, ip, { identity, namespace }, this.capacity.ipcache, 'ipcache');
  }
  delIpcache(ip: string): void {
    this.ipcache.delete(ip);
  }
  setCidr(cidr: string, identity: number): void {
    this.check({ map: 'cidr', key: cidr });
    this.put(this.cidr, cidr, identity, this.capacity.cidr, 'cidr');
  }
  delCidr(cidr: string): void {
    this.cidr.delete(cidr);
  }
  setPolicy(ifindex: number, generation: 0 | 1, e: PolicyEntry): void {
    this.check({ map: 'policy', ifindex, generation, entry: e });
    this.put(this.policy, `${ifindex}/${generation}/${entryKey(e)}`, { ...e, ifindex, generation }, this.capacity.policy, 'policy');
  }
  delPolicy(ifindex: number, generation: 0 | 1, e: PolicyEntry): void {
    this.policy.delete(`${ifindex}/${generation}/${entryKey(e)}`);
  }
  endpointsByIfindex(): Map<number, EndpointEntry[]> {
    return new Map([...this.endpoints].map(([k, v]) => [k, v.map((e) => ({ ...e }))]));
  }
  setEndpointFlags(entries: readonly EndpointEntry[], f: EndpointFlags): void {
    const ifindex = entries[0]?.ifindex;
    if (ifindex === undefined) return;
    this.check({ map: 'endpoints', ifindex });
    const have = this.endpoints.get(ifindex);
    if (have === undefined) return; // a concurrent DEL: stays removed
    this.endpoints.set(ifindex, have.map((e) => ({ ...e, flags: encodeEndpointFlags({ ready: true, ...f }), identity: f.identity })));
  }
  read(): MapsContent {
    const podNamespaces = new Map<number, number>();
    for (const v of this.ipcache.values()) podNamespaces.set(v.identity, v.namespace);
    const endpoints: MapsContent['endpoints'] = new Map();
    for (const [ifindex, list] of this.endpoints) endpoints.set(ifindex, { flags: decodeEndpointFlags(list[0]!.flags), identity: list[0]!.identity, entries: [[], []] });
    for (const p of this.policy.values()) {
      const { ifindex, generation, ...entry } = p;
      endpoints.get(ifindex)?.entries[generation].push(entry);
    }
    return {
      ipcache: new Map([...this.ipcache].map(([ip, v]) => [ip, v.identity])),
      podNamespaces,
      cidrs: new Map(this.cidr),
      endpoints,
    };
  }
}
