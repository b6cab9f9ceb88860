// What straitctl doctor works on, as plain data: the node's state as observed
// (observe.ts gathers it, the only module that reads the system), the problems
// scan.ts finds in it, and the repairs it proposes (fix.ts applies them). Keeping
// it plain is what lets the whole consistency logic be unit-tested without root.
import type { EndpointEntry } from '../datapath/endpoints.js';
import type { CtKey } from '../datapath/maps/ct.js';
import type { PolicyKey } from '../datapath/maps/policy.js';
import type { EndpointRecord } from '../state/endpoint-record.js';
import type { Owner } from '../cni/context.js';

export type { Owner };

export interface ObservedLease {
  network: string;
  ip: string;
  containerId: string;
  ifname: string;
}

export interface ObservedRoute {
  family: 4 | 6;
  /** bare address of a /32 or /128 route out of the link */
  ip: string;
}

/** A link in the node's namespace carrying strait's owner alias. */
export interface ObservedLink {
  ifindex: number;
  name: string;
  alias: string;
  mac: string;
  /** program ids on tc ingress (from_pod) and egress (to_pod); null when none */
  tc: { ingress: number | null; egress: number | null };
  routes: ObservedRoute[];
}

/** One pinned build of the programs (progs-<build id>/). */
export interface ObservedPrograms {
  buildId: string;
  /** program ids of from_pod and to_pod; null when that pin is missing */
  fromPod: number | null;
  toPod: number | null;
  /** every program of a build (ProgramName) whose pin is missing, from_pod and to_pod included; absent: none */
  missing?: string[];
}

export interface Observed {
  /** null: the pinned map is absent (no pod was ever added), so nothing in it to check */
  endpoints: EndpointEntry[] | null;
  policy: PolicyKey[] | null;
  ct: CtKey[] | null;
  /** keys (host veth ifindexes) of strait_links_v1, when a build pins it */
  linkMap: number[] | null;
  leases: ObservedLease[];
  records: EndpointRecord[];
  links: ObservedLink[];
  programs: ObservedPrograms[];
  /** the build id of the objects on disk; null when they cannot be read */
  currentBuild: string | null;
  /** names of entries directly in the pin dir (maps and progs-* dirs) */
  pins: string[];
  /** temp files in lease and record dirs whose writer process is gone */
  deadTempFiles: string[];
}

export type Action =
  /** only while the lease is still this owner's */
  | { op: 'release-lease'; network: string; ip: string; containerId: string; ifname: string }
  /** `from`: an orphan lease of the address, replaced under the lock */
  | { op: 'reserve-lease'; network: string; ip: string; containerId: string; ifname: string; setIndex: number; from?: { containerId: string; ifname: string } }
  | { op: 'delete-link'; name: string }
  | { op: 'remove-record'; owner: Owner }
  | { op: 'rewrite-record'; record: EndpointRecord }
  /** endpoint-map entries (and the conntrack entries of their addresses) */
  | { op: 'forget-endpoint'; family: 4 | 6; ip: string }
  | { op: 'write-endpoint'; entry: EndpointEntry }
  | { op: 'add-route'; link: string; family: 4 | 6; ip: string }
  | { op: 'delete-route'; link: string; family: 4 | 6; ip: string }
  | { op: 'attach'; ifindex: number; direction: 'ingress' | 'egress' }
  | { op: 'delete-policy'; key: PolicyKey }
  | { op: 'delete-ct'; key: CtKey }
  | { op: 'delete-link-entry'; ifindex: number }
  | { op: 'remove-pin'; name: string }
  | { op: 'remove-file'; path: string };

export interface Problem {
  /** stable name of what is wrong, e.g. 'veth-missing' (scan.ts lists them) */
  kind: string;
  /** what it is about, as plain data (owner, address, ifindex, ...) */
  object: Record<string, unknown>;
  message: string;
  /** the repair; null when doctor cannot repair it safely (message says why) */
  fix: Action[] | null;
}
