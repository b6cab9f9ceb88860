// What ADD knew about an endpoint, kept on disk beside the leases: the pod's
// Kubernetes names from CNI_ARGS, its addresses, its veth and netns, and the boot it
// was made in. The agent joins endpoints to Pod objects through it and straitctl
// shows it; DEL and GC remove it, and an ADD in a later boot reclaims it.
//
// One file per attachment: <stateDir>/endpoints/<network>/<containerId>.<ifname>.json,
// with '%' and '.' inside each part written as %25 and %2E, so `a.b`/`c` and `a`/`b.c`
// get different names (a name past 255 bytes becomes a hash of both). Names without
// either character are what they always were;
// a record under the old, ambiguous name is still read and removed (its content
// says whose it is).
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Owner } from './context.js';

export interface EndpointRecord extends Owner {
  /** absent in records written before boot stamping */
  bootId?: string;
  netns: string;
  /** the host veth's name: what a record is matched against a live link by (with the ifindex) */
  hostVeth: string;
  ifindex: number;
  addresses: string[];
  podMac: string;
  k8s: { namespace?: string; name?: string; uid?: string; infraContainerId?: string };
  createdAt: string;
}

/** One network's records (GC and straitctl doctor also look for abandoned temp files there). */
export const endpointRecordDir = (stateDir: string, network: string): string => join(stateDir, 'endpoints', network);
const dirOf = endpointRecordDir;
const escapePart = (s: string) => s.replace(/[%.]/g, (c) => (c === '%' ? '%25' : '%2E'));
const NAME_MAX = 255;

export function recordFileName(o: Owner): string {
  const name = `${escapePart(o.containerId)}.${escapePart(o.ifname)}.json`;
  if (Buffer.byteLength(name) <= NAME_MAX) return name;
  // Too long for a file name: a hash, which has one dot where escaped names have two.
  return `${createHash('sha256').update(`${o.containerId}\0${o.ifname}`).digest('hex')}.json`;
}
const legacyFileName = (o: Owner) => `${o.containerId}.${o.ifname}.json`;
const sameOwner = (a: Owner, b: Owner) => a.network === b.network && a.containerId === b.containerId && a.ifname === b.ifname;

export function writeEndpointRecord(stateDir: string, r: EndpointRecord): void {
  const dir = dirOf(stateDir, r.network);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  writeFileSync(tmp, JSON.stringify(r));
  renameSync(tmp, join(dir, recordFileName(r)));
}

export function removeEndpointRecord(stateDir: string, o: Owner): void {
  const dir = dirOf(stateDir, o.network);
  rmSync(join(dir, recordFileName(o)), { force: true });
  if (legacyFileName(o) !== recordFileName(o) && readFile(join(dir, legacyFileName(o)), o) !== null) {
    rmSync(join(dir, legacyFileName(o)), { force: true });
  }
}

/** The record of one attachment, or null when there is none (or it cannot be read). */
export function readEndpointRecord(stateDir: string, o: Owner): EndpointRecord | null {
  const dir = dirOf(stateDir, o.network);
  return readFile(join(dir, recordFileName(o)), o) ?? readFile(join(dir, legacyFileName(o)), o);
}

/** The record in `path` if it is `o`'s (an old-style name may hold another owner's). */
function readFile(path: string, o: Owner): EndpointRecord | null {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as EndpointRecord;
    return sameOwner(r, o) ? r : null;
  } catch {
    return null;
  }
}

/** Every record under the state dir, all networks; unreadable files are skipped. */
export function listEndpointRecords(stateDir: string): EndpointRecord[] {
  const root = join(stateDir, 'endpoints');
  const out: EndpointRecord[] = [];
  let networks: string[] = [];
  try {
    networks = readdirSync(root);
  } catch {
    return out;
  }
  for (const network of networks) {
    let files: string[] = [];
    try {
      files = readdirSync(join(root, network));
    } catch {
      continue;
    }
    for (const f of files) {
      if (f.startsWith('.tmp-') || !f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(root, network, f), 'utf8')) as EndpointRecord);
      } catch {
        continue;
      }
    }
  }
  return out;
}

/** A record some pod of this boot still stands behind: never one of an earlier boot. */
export const ofOtherBoot = (r: EndpointRecord, bootId: string): boolean => r.bootId !== undefined && r.bootId !== bootId;

/**
 * The records the agent may adopt after a restart: of this boot, and naming a live
 * link by both its ifindex and its name. A stale record whose ifindex a new pod's
 * veth now has would otherwise hand that pod the old pod's identity and policy.
 */
export function liveEndpointRecords(stateDir: string, links: ReadonlyMap<number, string>, bootId: string): EndpointRecord[] {
  return listEndpointRecords(stateDir).filter((r) => !ofOtherBoot(r, bootId) && links.get(r.ifindex) === r.hostVeth);
}

/** ADD in a new boot: records of earlier boots describe nothing that exists any more. */
export function reclaimOtherBootRecords(stateDir: string, bootId: string): EndpointRecord[] {
  const stale = listEndpointRecords(stateDir).filter((r) => ofOtherBoot(r, bootId));
  for (const r of stale) removeEndpointRecord(stateDir, r);
  return stale;
}

/** The id the agent knows an endpoint by (LocalEndpoint.id). */
export const endpointId = (o: Owner): string => `${o.network}/${o.containerId}/${o.ifname}`;
