// Puts an endpoint on the eBPF fast path: the pinned programs on both directions of
// its host veth, then its addresses into the endpoint map and the veth into the link
// map. Programs go first, so the pod's packets are dropped (not in the map: not its
// address; no link entry: nothing in or out) until its entries exist.
import * as bpf from '../datapath/bpf.js';
import {
  deleteEndpoint,
  deleteLink,
  listEndpoints,
  listLinks,
  writeEndpoint,
  writeLink,
  type EndpointEntry,
} from '../datapath/endpoints.js';
import { openDatapath, openPinnedMap, type Datapath } from '../datapath/loader.js';
import { decodeCtKey } from '../datapath/maps/ct.js';
import { CT_TABLES } from '../datapath/maps/names.js';
import { EP_F_READY } from '../datapath/maps/endpoints.js';
import type { Rollback } from '../util/rollback.js';
import type { NetConf } from './config.js';
import type { Wired, PodAddress } from './wiring.js';

export function withDatapath<T>(conf: NetConf, fn: (dp: Datapath) => T): T {
  const dp = openDatapath({ bpfDir: conf.paths.bpfDir, stateDir: conf.paths.stateDir });
  try {
    return fn(dp);
  } finally {
    dp.close();
  }
}

/**
 * `ready`: without an agent no policy applies and the entries are ready at once; with
 * one, they wait for the agent to write the policy and set READY (fail closed).
 */
export function attachEndpoint(
  dp: Datapath,
  wired: Wired,
  addresses: readonly PodAddress[],
  rollback: Rollback,
  opts: { ready: boolean },
): void {
  const ifindex = wired.host.ifindex;
  bpf.tcAttach(ifindex, 'ingress', dp.programs.fromPod, { replace: true });
  bpf.tcAttach(ifindex, 'egress', dp.programs.toPod, { replace: true });
  for (const a of addresses) {
    writeEndpoint(dp.maps.endpoints, {
      family: a.family,
      ip: a.ip,
      ifindex,
      flags: opts.ready ? EP_F_READY : 0,
      podMac: wired.pod.mac,
      hostMac: wired.host.mac,
      identity: 0,
    });
    rollback.add(`endpoint map entry ${a.ip}`, () => deleteEndpoint(dp.maps.endpoints, a.family, a.ip));
  }
  // Last: to_pod lets nothing in before this, and link traffic finds the entries through it.
  const first = addresses[0];
  if (first !== undefined) {
    writeLink(dp.maps.links, { ifindex, family: first.family, ip: first.ip });
    rollback.add(`link map entry ${wired.host.name}`, () => deleteLink(dp.maps.links, ifindex));
  }
}

/**
 * DEL and GC: removes the endpoint-map entries that match, the link entries that name
 * them, and every conntrack entry of their addresses (answered or pending) — an
 * address handed to a new pod must not inherit its predecessor's connections (they
 * would pass as established, past its policy). Nothing pinned yet means nothing to
 * remove.
 */
export function forgetEndpoints(bpfDir: string, pred: (e: EndpointEntry) => boolean): { entries: number; connections: number } {
  const endpoints = openPinnedMap(bpfDir, 'endpoints');
  if (endpoints === null) return { entries: 0, connections: 0 };
  // address → the veth it was on
  const gone = new Map<string, number>();
  try {
    for (const e of listEndpoints(endpoints)) {
      if (pred(e) && deleteEndpoint(endpoints, e.family, e.ip)) gone.set(e.ip, e.ifindex);
    }
  } finally {
    bpf.closeFd(endpoints);
  }
  if (gone.size > 0) forgetLinks(bpfDir, gone);
  let connections = 0;
  for (const table of gone.size > 0 ? CT_TABLES : []) {
    const ct = openPinnedMap(bpfDir, table);
    if (ct === null) continue;
    try {
      for (const { key } of bpf.mapDump(ct)) {
        const k = decodeCtKey(key);
        if ((gone.has(k.saddr) || gone.has(k.daddr)) && bpf.mapDelete(ct, key)) connections++;
      }
    } finally {
      bpf.closeFd(ct);
    }
  }
  return { entries: gone.size, connections };
}

/** The host veths strait_links_v1 has entries for (none before anything is pinned). */
export function linkEntryIfindexes(bpfDir: string): number[] {
  const links = openPinnedMap(bpfDir, 'links');
  if (links === null) return [];
  try {
    return listLinks(links).map((l) => l.ifindex);
  } finally {
    bpf.closeFd(links);
  }
}

/** DEL and GC: the link entries of host veths about to be deleted, or gone. */
export function forgetLinkEntries(bpfDir: string, ifindexes: readonly number[]): void {
  if (ifindexes.length === 0) return;
  const links = openPinnedMap(bpfDir, 'links');
  if (links === null) return;
  try {
    for (const ifindex of ifindexes) deleteLink(links, ifindex);
  } finally {
    bpf.closeFd(links);
  }
}

/**
 * The entries naming an address forgetEndpoints removed from that same veth: matched
 * by address and ifindex together, since an ifindex alone may be a new veth's by now.
 */
function forgetLinks(bpfDir: string, gone: ReadonlyMap<string, number>): void {
  const links = openPinnedMap(bpfDir, 'links');
  if (links === null) return;
  try {
    for (const l of listLinks(links)) if (gone.get(l.ip) === l.ifindex) deleteLink(links, l.ifindex);
  } finally {
    bpf.closeFd(links);
  }
}
