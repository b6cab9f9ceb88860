// What ADD knew about an endpoint, kept on disk beside the leases: the pod's
// Kubernetes names from CNI_ARGS, its addresses, its veth and netns. The agent joins
// endpoints to Pod objects through it and straitctl shows it; DEL and GC remove it.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Owner } from './context.js';

export interface EndpointRecord extends Owner {
  netns: string;
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
const fileOf = (o: Owner) => `${o.containerId}.${o.ifname}.json`;

export function writeEndpointRecord(stateDir: string, r: EndpointRecord): void {
  const dir = dirOf(stateDir, r.network);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.tmp-${process.pid}-${fileOf(r)}`);
  writeFileSync(tmp, JSON.stringify(r));
  renameSync(tmp, join(dir, fileOf(r)));
}

export function removeEndpointRecord(stateDir: string, o: Owner): void {
  rmSync(join(dirOf(stateDir, o.network), fileOf(o)), { force: true });
}

/** The record of one attachment, or null when there is none (or it cannot be read). */
export function readEndpointRecord(stateDir: string, o: Owner): EndpointRecord | null {
  try {
    return JSON.parse(readFileSync(join(dirOf(stateDir, o.network), fileOf(o)), 'utf8')) as EndpointRecord;
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

/** The id the agent knows an endpoint by (LocalEndpoint.id). */
export const endpointId = (o: Owner): string => `${o.network}/${o.containerId}/${o.ifname}`;
