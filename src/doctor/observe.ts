// The one place straitctl doctor reads the node: lease directories and endpoint
// records under the state dir, strait's host veths (by owner alias) with their tc
// programs and host routes, and the pinned maps and program pins. A change to where
// strait keeps something is an edit here; scan.ts only sees the plain result.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as bpf from '../datapath/bpf.js';
import { listEndpoints } from '../datapath/endpoints.js';
import { buildIdOf, defaultObjectDir } from '../datapath/loader.js';
import { decodeCtKey, type CtKey } from '../datapath/maps/ct.js';
import { decodeLinkKey } from '../datapath/maps/links.js';
import { CT_TABLES, MapName, ProgramName } from '../datapath/maps/names.js';
import { decodePolicyKey, type PolicyKey } from '../datapath/maps/policy.js';
import type { Netlink } from '../datapath/netlink.js';
import { endpointRecordDir, listEndpointRecords } from '../state/endpoint-record.js';
import { ipamDataDir } from '../cni/ipam-driver.js';
import { parseOwnerAlias } from '../state/host-veth.js';
import { bitsOf } from '../ipam/addr.js';
import { DiskStore } from '../ipam/disk-store.js';
import { deadTempFiles } from '../util/temp-files.js';
import type { Observed, ObservedLease, ObservedLink, ObservedPrograms, ObservedRoute } from './types.js';

export interface ObserveOptions {
  stateDir: string;
  bpfDir: string;
  /** the node's namespace, where the host veths are */
  host: Netlink;
}

export function observe(opts: ObserveOptions): Observed {
  const pins = listDir(opts.bpfDir);
  return {
    endpoints: withPinned(opts.bpfDir, MapName.endpoints, listEndpoints),
    policy: withPinned(opts.bpfDir, MapName.policy, (fd) => decodeAll(bpf.mapKeys(fd), decodePolicyKey)),
    // Answered and pending connections alike: an orphan in either outlives its pod.
    ct: CT_TABLES.reduce<CtKey[] | null>((all, table) => {
      const keys = withPinned(opts.bpfDir, MapName[table], (fd) => decodeAll(bpf.mapKeys(fd), decodeCtKey));
      return keys === null ? all : [...(all ?? []), ...keys];
    }, null),
    linkMap: withPinned(opts.bpfDir, MapName.links, (fd) => bpf.mapKeys(fd).map(decodeLinkKey)),
    leases: observeLeases(opts.stateDir),
    records: listEndpointRecords(opts.stateDir),
    links: observeLinks(opts.host),
    programs: pins.filter((p) => p.startsWith('progs-')).map((p) => observePrograms(opts.bpfDir, p)),
    currentBuild: currentBuild(),
    pins,
    deadTempFiles: [
      ...listDir(join(opts.stateDir, 'ipam')).map((network) => ipamDataDir(opts.stateDir, network)),
      ...listDir(join(opts.stateDir, 'endpoints')).map((network) => endpointRecordDir(opts.stateDir, network)),
    ].flatMap(deadTempFiles),
  };
}

function observeLeases(stateDir: string): ObservedLease[] {
  return listDir(join(stateDir, 'ipam')).flatMap((network) =>
    // Reading needs no lock: every lease file appears and goes whole (disk-store.ts).
    new DiskStore(ipamDataDir(stateDir, network), { lock: () => {}, unlock: () => {} })
      .list()
      .map((l) => ({ network, ip: l.ip, containerId: l.containerId, ifname: l.ifname })),
  );
}

function observeLinks(host: Netlink): ObservedLink[] {
  const out: ObservedLink[] = [];
  for (const l of host.listLinks()) {
    if (l.alias === null || parseOwnerAlias(l.alias) === null) continue;
    const routes: ObservedRoute[] = ([4, 6] as const).flatMap((family) =>
      host
        .listRoutes(family, l.name)
        .filter((r) => r.dst !== null && r.prefixLen === bitsOf(family) && r.table === 254)
        .map((r) => ({ family, ip: r.dst! })),
    );
    out.push({
      ifindex: l.ifindex,
      name: l.name,
      alias: l.alias,
      mac: l.mac,
      tc: { ingress: bpf.tcQuery(l.ifindex, 'ingress')?.progId ?? null, egress: bpf.tcQuery(l.ifindex, 'egress')?.progId ?? null },
      routes,
    });
  }
  return out;
}

function observePrograms(bpfDir: string, dir: string): ObservedPrograms {
  const idOf = (prog: string): number | null => {
    const fd = bpf.getPinned(join(bpfDir, dir, prog));
    if (fd === null) return null;
    try {
      return bpf.progInfo(fd).id;
    } finally {
      bpf.closeFd(fd);
    }
  };
  const missing = Object.values(ProgramName).filter((prog) => idOf(prog) === null);
  return { buildId: dir.slice('progs-'.length), fromPod: idOf(ProgramName.fromPod), toPod: idOf(ProgramName.toPod), missing };
}

function currentBuild(): string | null {
  try {
    return buildIdOf(defaultObjectDir());
  } catch {
    return null;
  }
}

function withPinned<T>(bpfDir: string, name: string, fn: (fd: number) => T): T | null {
  const fd = bpf.getPinned(join(bpfDir, name));
  if (fd === null) return null;
  try {
    return fn(fd);
  } finally {
    bpf.closeFd(fd);
  }
}

/** Keys this build cannot decode (another layout) are left out rather than guessed at. */
function decodeAll<T extends CtKey | PolicyKey>(keys: Uint8Array[], decode: (k: Uint8Array) => T): T[] {
  const out: T[] = [];
  for (const k of keys) {
    try {
      out.push(decode(k));
    } catch {
      continue;
    }
  }
  return out;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
