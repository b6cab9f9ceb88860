// What ADD knew about an endpoint, kept on disk beside the leases: the pod's
// Kubernetes names from CNI_ARGS, its addresses, its veth and netns, and the boot it
// was made in. The agent joins endpoints to Pod objects through it and straitctl
// shows it; DEL and GC remove it, and an ADD in a later boot reclaims it. State the
// plugin writes and the agent, straitctl and doctor read: so it lives here, below
// all of them, and every read goes through decodeEndpointRecord. A file that does
// not decode (torn, hand-edited, another version's) is unreadable: skipped, and
// named in the log of a caller that has one.
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
import { decodeEndpointRecord, type EndpointRecord, encodeEndpointRecord, type Owner } from './endpoint-record-codec.js';

export { decodeEndpointRecord, encodeEndpointRecord } from './endpoint-record-codec.js';

export type { EndpointRecord, Owner } from './endpoint-record-codec.js';

/** Where unreadable records are reported (a pino Logger is one). */
export interface RecordLog {
  warn(obj: { file: string; problem: string }, msg: string): void;
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
  writeFileSync(tmp, encodeEndpointRecord(r));
  renameSync(tmp, join(dir, recordFileName(r)));
}

export function removeEndpointRecord(stateDir: string, o: Owner): void {
  const dir = dirOf(stateDir, o.network);
  rmSync(join(dir, recordFileName(o)), { force: true });
  if (legacyFileName(o) !== recordFileName(o) && readFile(join(dir, legacyFileName(o)), o, undefined) !== null) {
    rmSync(join(dir, legacyFileName(o)), { force: true });
  }
}

/** The record of one attachment, or null when there is none (or it cannot be read). */
export function readEndpointRecord(stateDir: string, o: Owner, log?: RecordLog): EndpointRecord | null {
  const dir = dirOf(stateDir, o.network);
  const own = readFile(join(dir, recordFileName(o)), o, log);
  if (own !== null || legacyFileName(o) === recordFileName(o)) return own;
  return readFile(join(dir, legacyFileName(o)), o, log);
}

/** The record in `path` if it is `o`'s (an old-style name may hold another owner's). */
function readFile(path: string, o: Owner | null, log: RecordLog | undefined): EndpointRecord | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    // No file is the usual answer to "is there a record?"; anything else is worth a line.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log?.warn({ file: path, problem: String(e) }, 'endpoint record unreadable: skipped');
    return null;
  }
  const d = decodeEndpointRecord(text);
  if (!d.ok) {
    log?.warn({ file: path, problem: d.problem }, 'endpoint record unreadable: skipped');
    return null;
  }
  return o === null || sameOwner(d.record, o) ? d.record : null;
}

/** Every record under the state dir, all networks; unreadable files are skipped (and logged). */
export function listEndpointRecords(stateDir: string, log?: RecordLog): EndpointRecord[] {
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
      const r = readFile(join(root, network, f), null, log);
      if (r !== null) out.push(r);
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
export function liveEndpointRecords(stateDir: string, links: ReadonlyMap<number, string>, bootId: string, log?: RecordLog): EndpointRecord[] {
  return listEndpointRecords(stateDir, log).filter((r) => !ofOtherBoot(r, bootId) && links.get(r.ifindex) === r.hostVeth);
}

/** GC, and ADD in a new boot: records of earlier boots describe nothing that exists any more. */
export function reclaimOtherBootRecords(stateDir: string, bootId: string, log?: RecordLog): EndpointRecord[] {
  const stale = listEndpointRecords(stateDir, log).filter((r) => ofOtherBoot(r, bootId));
  for (const r of stale) removeEndpointRecord(stateDir, r);
  return stale;
}

/**
 * ADD: reclaimOtherBootRecords, once per boot. An earlier boot's records were all
 * written before this boot began, so after one scan in this boot there are none
 * left to find; the stamp spares every later ADD reading every record on the node.
 * A stamp cut short by a crash only names no boot, and the next ADD scans again.
 */
export function reclaimOtherBootRecordsOnce(stateDir: string, bootId: string, log?: RecordLog): EndpointRecord[] {
  const stamp = join(stateDir, 'records-reclaimed.boot-id');
  try {
    if (readFileSync(stamp, 'utf8') === bootId) return [];
  } catch {
    // no stamp yet: this boot has not scanned
  }
  const stale = reclaimOtherBootRecords(stateDir, bootId, log);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(stamp, bootId);
  return stale;
}

/** The id the agent knows an endpoint by (LocalEndpoint.id). */
export const endpointId = (o: Owner): string => `${o.network}/${o.containerId}/${o.ifname}`;
