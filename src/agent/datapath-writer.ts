// The agent's hands on the pinned policy maps: typed writes for each kind of plan
// operation, and a reader that rebuilds what the maps hold, so a starting agent
// adopts the datapath as it is and changes it by diff, never by flushing.
import { join } from 'node:path';
import * as bpf from '../datapath/bpf.js';
import { errnoOf, StraitError } from '../errors.js';
import { listEndpoints, writeEndpoint, type EndpointEntry } from '../datapath/endpoints.js';
import {
  decodeEndpointFlags,
  decodeEndpointKey,
  decodeEndpointValue,
  encodeEndpointFlags,
  encodeEndpointKey,
  type EndpointFlagState,
} from '../datapath/maps/endpoints.js';
import { MapName } from '../datapath/maps/names.js';
import { sumPerCpu } from '../datapath/maps/counters.js';
import { decodeEpCounterKey } from '../datapath/maps/ep-counters.js';
import { decodeCidrKey, decodeCidrValue, encodeCidrKey, encodeCidrValue } from '../datapath/maps/cidr.js';
import { decodeIpcacheValue, encodeIpcacheValue } from '../datapath/maps/ipcache.js';
import { decodeU32, encodeU32Key, encodeVni } from '../datapath/maps/vni.js';
import { decodePolicyKey, decodePolicyValue, encodePolicyKey, encodePolicyValue } from '../datapath/maps/policy.js';
import type { PolicyEntry } from '../policy/types.js';
import { hostCidr, ipFamily } from '../ipam/addr.js';
import type { ConntrackTable } from './conntrack.js';
import type { AgentMaps } from './effects.js';
import type { VniContent, VniValue } from './vni.js';

/** The endpoint-map and ipcache key of an address. */
const addressKey = (ip: string): Uint8Array => encodeEndpointKey({ family: ipFamily(ip), ip });


export interface EndpointEntryView {
  ifindex: number;
  flags: EndpointFlagState;
  identity: number;
}

export interface EndpointFlags {
  generation: 0 | 1;
  ingressIsolated: boolean;
  egressIsolated: boolean;
  identity: number;
}

/** What the maps hold now, in the compiler's terms. */
export interface MapsContent {
  ipcache: Map<string, number>;
  /** pod identity → the namespace identity its addresses carry; -1 where they disagree */
  podNamespaces: Map<number, number>;
  cidrs: Map<string, number>;
  /** by ifindex: flags of the endpoint and its entries of each generation */
  endpoints: Map<number, { flags: EndpointFlagState; identity: number; entries: [PolicyEntry[], PolicyEntry[]] }>;
}

/** A conntrack table by its fd. */
function conntrackTable(fd: number): ConntrackTable {
  return {
    dump: () => bpf.mapDump(fd),
    updateExisting(key, value) {
      try {
        bpf.mapUpdate(fd, key, value, 'exist');
        return true;
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
        return false;
      }
    },
  };
}

export class DatapathWriter implements AgentMaps {
  private readonly fds: Record<'endpoints' | 'ipcache' | 'cidr' | 'policy' | 'ct' | 'ctPending' | 'identityVni' | 'vni' | 'epCounters' | 'ruleCounters', number>;

  constructor(bpfDir: string) {
    const open = (name: string) => {
      const fd = bpf.getPinned(join(bpfDir, name));
      if (fd === null) throw new StraitError('E_BPF_MAP', `pinned map ${name} is missing in ${bpfDir}`);
      return fd;
    };
    this.fds = {
      endpoints: open(MapName.endpoints),
      ipcache: open(MapName.ipcache),
      cidr: open(MapName.cidr),
      policy: open(MapName.policy),
      ct: open(MapName.ct),
      ctPending: open(MapName.ctPending),
      identityVni: open(MapName.identityVni),
      vni: open(MapName.vni),
      epCounters: open(MapName.epCounters),
      ruleCounters: open(MapName.ruleCounters),
    };
  }

  /** both conntrack tables: answered and pending connections */
  get conntrack(): readonly ConntrackTable[] {
    return [conntrackTable(this.fds.ct), conntrackTable(this.fds.ctPending)];
  }

  close(): void {
    for (const fd of Object.values(this.fds)) bpf.closeFd(fd);
  }

  setIpcache(ip: string, identity: number, namespace: number): void {
    bpf.mapUpdate(this.fds.ipcache, addressKey(ip), encodeIpcacheValue({ identity, namespace }));
  }

  delIpcache(ip: string): void {
    bpf.mapDelete(this.fds.ipcache, addressKey(ip));
  }

  setCidr(cidr: string, identity: number): void {
    bpf.mapUpdate(this.fds.cidr, encodeCidrKey(cidr), encodeCidrValue({ identity }));
  }

  delCidr(cidr: string): void {
    bpf.mapDelete(this.fds.cidr, encodeCidrKey(cidr));
  }

  setPolicy(ifindex: number, generation: 0 | 1, e: PolicyEntry): void {
    bpf.mapUpdate(this.fds.policy, encodePolicyKey({ ifindex, gen: generation, ...e }), encodePolicyValue({ ruleId: e.ruleId }));
  }

  delPolicy(ifindex: number, generation: 0 | 1, e: PolicyEntry): void {
    bpf.mapDelete(this.fds.policy, encodePolicyKey({ ifindex, gen: generation, ...e }));
  }

  // The VXLAN hint maps (vni.ts): pod identity → VNI, VNI → pod and namespace identity.

  readVni(): VniContent {
    const byIdentity = new Map<number, number>();
    for (const { key, value } of bpf.mapDump(this.fds.identityVni)) byIdentity.set(decodeU32(key, 'identity'), decodeU32(value, 'vni'));
    const byVni = new Map<number, VniValue>();
    for (const { key, value } of bpf.mapDump(this.fds.vni)) byVni.set(decodeU32(key, 'vni'), decodeIpcacheValue(value));
    return { byIdentity, byVni };
  }

  setIdentityVni(identity: number, vni: number): void {
    bpf.mapUpdate(this.fds.identityVni, encodeU32Key(identity, 'identity'), encodeVni(vni));
  }

  delIdentityVni(identity: number): void {
    bpf.mapDelete(this.fds.identityVni, encodeU32Key(identity, 'identity'));
  }

  setVni(vni: number, v: VniValue): void {
    bpf.mapUpdate(this.fds.vni, encodeVni(vni), encodeIpcacheValue(v));
  }

  delVni(vni: number): void {
    bpf.mapDelete(this.fds.vni, encodeVni(vni));
  }

  /** The endpoint-map entries of each veth (one per pod address); read once per plan. */
  endpointsByIfindex(): Map<number, EndpointEntry[]> {
    const out = new Map<number, EndpointEntry[]>();
    for (const e of listEndpoints(this.fds.endpoints)) out.set(e.ifindex, [...(out.get(e.ifindex) ?? []), e]);
    return out;
  }

  /**
   * Rewrites a veth's endpoint-map entries with new flags: generation, isolation,
   * identity, and READY — the agent has written its policy. Each entry is one atomic
   * map update, and only updates: an entry a concurrent DEL removed stays removed.
   */
  setEndpointFlags(entries: readonly EndpointEntry[], f: EndpointFlags): void {
    for (const e of entries) {
      const flags = encodeEndpointFlags({ ready: true, ...f });
      writeEndpoint(this.fds.endpoints, { ...e, flags, identity: f.identity }, { onlyIfPresent: true });
    }
  }

  read(): MapsContent {
    const ipcache = new Map<string, number>();
    const podNamespaces = new Map<number, number>();
    for (const { key, value } of bpf.mapDump(this.fds.ipcache)) {
      const v = decodeIpcacheValue(value);
      ipcache.set(decodeEndpointKey(key).ip, v.identity);
      const had = podNamespaces.get(v.identity);
      podNamespaces.set(v.identity, had === undefined || had === v.namespace ? v.namespace : -1);
    }
    const cidrs = new Map<string, number>();
    for (const { key, value } of bpf.mapDump(this.fds.cidr)) {
      cidrs.set(decodeCidrKey(key), decodeCidrValue(value).identity);
    }
    const endpoints: MapsContent['endpoints'] = new Map();
    for (const e of listEndpoints(this.fds.endpoints)) {
      endpoints.set(e.ifindex, { flags: decodeEndpointFlags(e.flags), identity: e.identity, entries: [[], []] });
    }
    for (const { key, value } of bpf.mapDump(this.fds.policy)) {
      const k = decodePolicyKey(key);
      const ep = endpoints.get(k.ifindex);
      if (ep === undefined) continue; // an endpoint that is gone: left for GC below
      ep.entries[k.gen].push({
        identity: k.identity,
        egress: k.egress,
        protocol: k.protocol,
        port: k.port,
        portPrefixLen: k.portPrefixLen,
        ruleId: decodePolicyValue(value).ruleId,
      });
    }
    return { ipcache, podNamespaces, cidrs, endpoints };
  }

  // Lookups as the datapath makes them (for explain): LPM tries answer a full-length
  // key with their longest matching prefix.

  endpointOf(ip: string): EndpointEntryView | null {
    const buf = bpf.mapLookup(this.fds.endpoints, addressKey(ip));
    if (buf === null) return null;
    const v = decodeEndpointValue(buf);
    return { ifindex: v.ifindex, flags: decodeEndpointFlags(v.flags), identity: v.identity };
  }

  /** The pod and namespace identity of an address (0 and 0 for no pod). */
  podIdentityOf(ip: string): { identity: number; namespace: number } {
    const buf = bpf.mapLookup(this.fds.ipcache, addressKey(ip));
    return buf === null ? { identity: 0, namespace: 0 } : decodeIpcacheValue(buf);
  }

  cidrIdentityOf(ip: string): number | null {
    const buf = bpf.mapLookup(this.fds.cidr, encodeCidrKey(hostCidr(ip)));
    return buf === null ? null : decodeCidrValue(buf).identity;
  }

  /** The rule that allows it, or null. */
  policyLookup(ifindex: number, generation: 0 | 1, identity: number, egress: boolean, protocol: number, port: number): number | null {
    const key = encodePolicyKey({ ifindex, gen: generation, identity, egress, protocol, port, portPrefixLen: 16 });
    const buf = bpf.mapLookup(this.fds.policy, key);
    return buf === null ? null : decodePolicyValue(buf).ruleId;
  }

  ruleConnections(): Map<number, bigint> {
    const ncpus = bpf.numPossibleCpus();
    const out = new Map<number, bigint>();
    for (const { key, value } of bpf.mapDump(this.fds.ruleCounters)) out.set(decodeU32(key, 'rule counter key'), sumPerCpu(value, ncpus).packets);
    return out;
  }

  deleteRuleCounters(ids: readonly number[]): void {
    if (ids.length > 0) bpf.mapDeleteMany(this.fds.ruleCounters, ids.map((id) => encodeU32Key(id, 'rule id')));
  }

  deleteEndpointCounters(gone: (ifindex: number) => boolean): number {
    const keys = bpf.mapKeys(this.fds.epCounters).filter((k) => gone(decodeEpCounterKey(k).ifindex));
    return keys.length === 0 ? 0 : bpf.mapDeleteMany(this.fds.epCounters, keys);
  }

  /** Policy entries of endpoints that no longer exist (their veth is gone). */
  deleteOrphanPolicy(liveIfindexes: ReadonlySet<number>): number {
    let n = 0;
    for (const { key } of bpf.mapDump(this.fds.policy)) {
      if (!liveIfindexes.has(decodePolicyKey(key).ifindex) && bpf.mapDelete(this.fds.policy, key)) n++;
    }
    return n;
  }
}
