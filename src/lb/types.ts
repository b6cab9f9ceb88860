// The Service control plane's contract (docs/services.md): the entries a node wants
// in the Service maps, compiled from Services and EndpointSlices (compile.ts), what
// the maps hold (LbContent), and the maps themselves as an interface (LbMaps), so
// the differ and applier are tested on in-memory fakes and run on the pinned maps.
import type { LbBackendValue, LbServiceKey, LbServiceValue, LbSlotKey } from '../datapath/maps/lb.js';

/** One endpoint address behind one Service port, as the map will hold it. */
export interface DesiredBackend {
  /** canonical, of the entry's family */
  addr: string;
  /** the target port */
  port: number;
  /** in a slot: new connections may go to it (LB_BE_F_READY) */
  ready: boolean;
}

/** One (ClusterIP, port, protocol) of a Service. */
export interface DesiredEntry {
  key: LbServiceKey;
  /** LB_SVC_F_* */
  flags: number;
  affinityTimeoutS: number;
  /** sorted by (addr, port), no duplicates */
  backends: DesiredBackend[];
}

/** A Service with ClusterIPs: every entry it needs; written whole or not at all. */
export interface DesiredService {
  /** "namespace/name" */
  name: string;
  entries: DesiredEntry[];
}

/** Something of a Service that strait leaves to kube-proxy, and why. */
export interface LbSkipped {
  service: string;
  reason: string;
}

export interface CompiledServices {
  /** sorted by name */
  services: DesiredService[];
  skipped: LbSkipped[];
}

/** What the agent-written Service maps hold. */
export interface LbContent {
  services: { key: LbServiceKey; value: LbServiceValue }[];
  slots: { key: LbSlotKey; backendId: number }[];
  backends: { id: number; value: LbBackendValue }[];
}

/** A connection table the datapath writes (flows, rev, affinity): raw entries, to purge. */
export interface LbConnTable {
  dump(): { key: Uint8Array; value: Uint8Array }[];
  /** batched where the kernel can; keys already gone are skipped; how many were there */
  deleteMany(keys: readonly Uint8Array[]): number;
}

/** Entries the agent may write: strait_lb_services_v1, and strait_lb_backends_v1 (strait_lb_slots_v1 is as big). */
export interface LbCapacity {
  services: number;
  backends: number;
}

export interface LbMaps {
  read(): LbContent;
  /** the maps' max_entries */
  capacity(): LbCapacity;
  setService(key: LbServiceKey, value: LbServiceValue): void;
  delService(key: LbServiceKey): void;
  setSlot(key: LbSlotKey, backendId: number): void;
  delSlot(key: LbSlotKey): void;
  setBackend(id: number, value: LbBackendValue): void;
  delBackend(id: number): void;
  readonly flows: LbConnTable;
  readonly rev: LbConnTable;
  readonly affinity: LbConnTable;
  close(): void;
}

const PROTO_NAMES: Record<number, string> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** "10.96.0.10:53/UDP", "[fd00::a]:80/TCP": for logs and status. */
export const serviceKeyText = (k: LbServiceKey): string =>
  `${k.family === 6 ? `[${k.addr}]` : k.addr}:${k.port}/${PROTO_NAMES[k.protocol] ?? String(k.protocol)}`;
