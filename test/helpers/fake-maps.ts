// The agent's pinned maps in memory (src/agent/effects.ts AgentMaps), keyed as the
// kernel keys them, with max_entries of its own and writes that can be made to fail:
// for agent tests without root. A write past max_entries throws as the kernel
// refuses it (E2BIG). Lookups answer as the LPM tries do (longest match), and the
// two conntrack tables hold raw entries as maps.h lays them out.
import type { EndpointFlags, MapsContent } from '../../src/agent/datapath-writer.js';
import type { AgentMaps } from '../../src/agent/effects.js';
import type { VniContent, VniValue } from '../../src/agent/vni.js';
import type { EndpointEntry } from '../../src/datapath/endpoints.js';
import { decodeEndpointFlags, encodeEndpointFlags, type EndpointFlagState } from '../../src/datapath/maps/endpoints.js';
import { ipFamily, networkOf, parseCidr, parseIp } from '../../src/ipam/addr.js';
import { entryKey } from '../../src/policy/diff.js';
import type { PolicyEntry } from '../../src/policy/types.js';
import type { Capacity } from '../../src/policy/capacity.js';

export type FakeWrite =
  | { map: 'ipcache' | 'cidr'; key: string }
  | { map: 'policy'; ifindex: number; generation: 0 | 1; entry: PolicyEntry }
  | { map: 'endpoints'; ifindex: number }
  | { map: 'vni'; key: string };

/** A conntrack table: raw key → raw value, as the kernel's hash map holds them. */
export class FakeConntrack {
  readonly entries = new Map<string, { key: Uint8Array; value: Uint8Array }>();
  put(key: Uint8Array, value: Uint8Array): void {
    this.entries.set(Buffer.from(key).toString('hex'), { key: Uint8Array.from(key), value: Uint8Array.from(value) });
  }
  get(key: Uint8Array): Uint8Array | null {
    return this.entries.get(Buffer.from(key).toString('hex'))?.value ?? null;
  }
  dump(): { key: Uint8Array; value: Uint8Array }[] {
    return [...this.entries.values()].map((e) => ({ key: Uint8Array.from(e.key), value: Uint8Array.from(e.value) }));
  }
  updateExisting(key: Uint8Array, value: Uint8Array): boolean {
    if (this.get(key) === null) return false;
    this.put(key, value);
    return true;
  }
}

export class FakeMaps implements AgentMaps {
  readonly ipcache = new Map<string, { identity: number; namespace: number }>();
  readonly cidr = new Map<string, number>();
  /** `${ifindex}/${generation}/${entryKey}` → entry */
  readonly policy = new Map<string, PolicyEntry & { ifindex: number; generation: 0 | 1 }>();
  readonly endpoints = new Map<number, EndpointEntry[]>();
  readonly conntrack = [new FakeConntrack(), new FakeConntrack()] as const;
  /** the VXLAN hint maps: pod identity → VNI, VNI → pod and namespace identity */
  readonly vni: VniContent = { byIdentity: new Map(), byVni: new Map() };
  /** a write this returns true for throws */
  failWhen: ((w: FakeWrite) => boolean) | null = null;
  /** every change made (sets, deletions, flag rewrites) */
  changes = 0;
  /**
   * A kill: once this many more changes have landed, every further write throws, as
   * writes from a dead agent never arrive. null: no kill.
   */
  killAfter: number | null = null;

  /** strait_rule_counters_v1 as the datapath would leave it: rule id → connections */
  readonly ruleCounters = new Map<number, bigint>();
  /** strait_ep_counters_v1: the ifindex of each entry (the rest of the key does not matter here) */
  readonly epCounters: number[] = [];

  constructor(readonly capacity: Capacity) {}

  ruleConnections(): Map<number, bigint> {
    return new Map(this.ruleCounters);
  }

  deleteRuleCounters(ids: readonly number[]): void {
    for (const id of ids) this.ruleCounters.delete(id);
  }

  deleteEndpointCounters(gone: (ifindex: number) => boolean): number {
    const before = this.epCounters.length;
    const kept = this.epCounters.filter((i) => !gone(i));
    this.epCounters.splice(0, before, ...kept);
    return before - kept.length;
  }

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

  /** Before a change: throws as a dead agent's or a failing write would. */
  private check(w: FakeWrite | null): void {
    if (this.killAfter === 0) throw new Error('killed: the agent is gone');
    if (w !== null && this.failWhen?.(w)) throw new Error(`injected failure writing ${w.map}`);
  }

  /** After a change that landed. */
  private landed(): void {
    this.changes++;
    if (this.killAfter !== null) this.killAfter--;
  }

  private put<K, V>(m: Map<K, V>, key: K, value: V, max: number, name: string): void {
    if (!m.has(key) && m.size >= max) throw new Error(`E2BIG: ${name} holds ${m.size} of ${max} entries`);
    m.set(key, value);
    this.landed();
  }

  private del<K>(m: Map<K, unknown>, key: K): void {
    this.check(null);
    if (m.delete(key)) this.landed();
  }

  setIpcache(ip: string, identity: number, namespace: number): void {
    this.check({ map: 'ipcache', key: ip });
    this.put(this.ipcache, ip, { identity, namespace }, this.capacity.ipcache, 'ipcache');
  }
  delIpcache(ip: string): void {
    this.del(this.ipcache, ip);
  }
  setCidr(cidr: string, identity: number): void {
    this.check({ map: 'cidr', key: cidr });
    this.put(this.cidr, cidr, identity, this.capacity.cidr, 'cidr');
  }
  delCidr(cidr: string): void {
    this.del(this.cidr, cidr);
  }
  readVni(): VniContent {
    return { byIdentity: new Map(this.vni.byIdentity), byVni: new Map(this.vni.byVni) };
  }
  setIdentityVni(identity: number, vni: number): void {
    this.check({ map: 'vni', key: `identity ${identity}` });
    this.put(this.vni.byIdentity, identity, vni, Infinity, 'vni');
  }
  delIdentityVni(identity: number): void {
    this.del(this.vni.byIdentity, identity);
  }
  setVni(vni: number, v: VniValue): void {
    this.check({ map: 'vni', key: `vni ${vni}` });
    this.put(this.vni.byVni, vni, { ...v }, Infinity, 'vni');
  }
  delVni(vni: number): void {
    this.del(this.vni.byVni, vni);
  }
  setPolicy(ifindex: number, generation: 0 | 1, e: PolicyEntry): void {
    this.check({ map: 'policy', ifindex, generation, entry: e });
    this.put(this.policy, `${ifindex}/${generation}/${entryKey(e)}`, { ...e, ifindex, generation }, this.capacity.policy, 'policy');
  }
  delPolicy(ifindex: number, generation: 0 | 1, e: PolicyEntry): void {
    this.del(this.policy, `${ifindex}/${generation}/${entryKey(e)}`);
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
    this.landed();
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

  close(): void {
    // nothing to release: the maps live in this object
  }

  deleteOrphanPolicy(liveIfindexes: ReadonlySet<number>): number {
    let n = 0;
    for (const [k, p] of this.policy) {
      if (liveIfindexes.has(p.ifindex)) continue;
      this.del(this.policy, k);
      n++;
    }
    return n;
  }

  endpointOf(ip: string): { ifindex: number; flags: EndpointFlagState; identity: number } | null {
    for (const list of this.endpoints.values()) {
      const e = list.find((x) => x.ip === ip);
      if (e !== undefined) return { ifindex: e.ifindex, flags: decodeEndpointFlags(e.flags), identity: e.identity };
    }
    return null;
  }

  podIdentityOf(ip: string): { identity: number; namespace: number } {
    return this.ipcache.get(ip) ?? { identity: 0, namespace: 0 };
  }

  cidrIdentityOf(ip: string): number | null {
    const addr = parseIp(ip);
    let best: { len: number; identity: number } | null = null;
    for (const [text, identity] of this.cidr) {
      const c = parseCidr(text);
      if (addr === null || c?.family !== addr.family || (best !== null && best.len >= c.prefixLen)) continue;
      if (networkOf(c.family, addr.value, c.prefixLen) === networkOf(c.family, c.value, c.prefixLen)) best = { len: c.prefixLen, identity };
    }
    return best?.identity ?? null;
  }

  policyLookup(ifindex: number, generation: 0 | 1, identity: number, egress: boolean, protocol: number, port: number): number | null {
    // Longest prefix: a port beats a port range, a range every port, that any protocol.
    const len = (e: PolicyEntry): number => (e.protocol === 0 ? 0 : 1 + e.portPrefixLen);
    let best: PolicyEntry | null = null;
    for (const e of this.policy.values()) {
      if (e.ifindex !== ifindex || e.generation !== generation || e.identity !== identity || e.egress !== egress) continue;
      const shift = 16 - e.portPrefixLen;
      const matches = e.protocol === 0 || (e.protocol === protocol && port >> shift === e.port >> shift);
      if (matches && (best === null || len(e) > len(best))) best = e;
    }
    return best?.ruleId ?? null;
  }
}
