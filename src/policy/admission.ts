// Which policies the datapath takes when not all of them fit. The maps have fixed
// sizes (max_entries is compiled in); a plan that overflows one fails half-way.
// So every plan is checked against the capacity first (capacity.ts), and when the
// desired state does not fit:
//  - a policy is refused whole, never in part: it still isolates the pods it selects
//    in its directions (fail closed), and none of its allow entries are written;
//  - the order is deterministic: policies the last applied state took (same name,
//    same spec) are kept, newcomers are taken one by one in "namespace/name" order
//    while they fit, the rest refused. Only if the kept ones alone no longer fit
//    (pods grew into them) are they admitted the same way, in name order.
//  - the ipcache is not a matter of policies: when the cluster has more pod
//    addresses than it holds, local endpoints' addresses go first, then other
//    nodes' addresses (tunnels and the uplink tell nodes from pods by them), then
//    those already written, then the rest in address order; an address left out has no
//    pod identity, so selectors never allow it (fail closed) and ipBlocks still do.
// Pure: the same inputs give the same admission.
import { type Capacity, type MapKind, type MapUsage, overflow, planUsage } from './capacity.js';
import { compile, type CompileOptions } from './compile.js';
import { policyName } from './compile-world.js';
import { diff, type Plan } from './diff.js';
import { type ClusterState, type DesiredState, IDENTITY_REMOTE_NODE, type LocalEndpoint, type NetworkPolicy } from './types.js';

export interface Refusal {
  /** "namespace/name" */
  policy: string;
  /** the map it did not fit in */
  map: MapKind;
  reason: string;
}

export interface AdmissionInput {
  cluster: ClusterState;
  endpoints: LocalEndpoint[];
  options: CompileOptions;
  /** what the maps hold now */
  current: DesiredState | null;
  /** "namespace/name" → fingerprint of each policy the last applied state took */
  accepted: ReadonlyMap<string, string>;
  capacity: Capacity;
}

export interface Admission {
  desired: DesiredState;
  plan: Plan;
  usage: MapUsage;
  refused: Refusal[];
  /** the policies this admission takes, for the next one's `accepted` */
  accepted: Map<string, string>;
  /** pod addresses left out of the ipcache for want of room, sorted */
  ipcacheDropped: string[];
}

export const policyFingerprint = (p: NetworkPolicy): string => JSON.stringify(p);

const MAP_NAME: Record<MapKind, string> = { policy: 'strait_policy_v1', ipcache: 'strait_ipcache_v1', cidr: 'strait_cidr_v1' };

interface Attempt {
  desired: DesiredState;
  plan: Plan;
  usage: MapUsage;
  dropped: string[];
  over: MapKind | null;
}

export function admit(input: AdmissionInput): Admission {
  const { cluster, capacity } = input;
  const byName = [...cluster.policies].sort((a, b) => (policyName(a) < policyName(b) ? -1 : policyName(a) > policyName(b) ? 1 : 0));
  const locals = new Set(input.endpoints.flatMap((e) => e.ips));

  // The same set of policies compiles to the same state: compile each set once
  // (the greedy's last candidate often makes the set that was tried first).
  const tried = new Map<string, Attempt>();
  const attempt = (take: ReadonlySet<NetworkPolicy>): Attempt => {
    const key = byName.filter((p) => take.has(p)).map(policyName).join('\n');
    let hit = tried.get(key);
    if (hit === undefined) tried.set(key, (hit = compileSet(take)));
    return hit;
  };
  const compileSet = (take: ReadonlySet<NetworkPolicy>): Attempt => {
    const policies = cluster.policies.map((p) => (take.has(p) ? p : withoutRules(p)));
    const compiled = compile({ ...cluster, policies }, input.endpoints, input.options);
    const { desired, dropped } = fitIpcache(compiled, input.current, capacity.ipcache, locals);
    const plan = diff(input.current, desired);
    const usage = planUsage(input.current, plan);
    return { desired, plan, usage, dropped, over: overflow(usage, capacity) };
  };
  const result = (a: Attempt, take: ReadonlySet<NetworkPolicy>, refused: Refusal[]): Admission => ({
    desired: a.desired,
    plan: a.plan,
    usage: a.usage,
    refused,
    accepted: new Map([...take].map((p) => [policyName(p), policyFingerprint(p)])),
    ipcacheDropped: a.dropped,
  });

  const all = new Set(byName);
  const first = attempt(all);
  if (first.over === null) return result(first, all, []);

  const kept = byName.filter((p) => input.accepted.get(policyName(p)) === policyFingerprint(p));
  const newcomers = byName.filter((p) => !kept.includes(p));
  let take = new Set(kept);
  let best = attempt(take);
  let candidates = newcomers;
  if (best.over !== null) {
    take = new Set();
    best = attempt(take);
    candidates = [...kept, ...newcomers];
  }
  const refused: Refusal[] = [];
  for (const p of candidates) {
    const next = new Set([...take, p]);
    const a = attempt(next);
    if (a.over === null) {
      take = next;
      best = a;
      continue;
    }
    const u = a.usage[a.over];
    refused.push({
      policy: policyName(p),
      map: a.over,
      reason: `does not fit: ${MAP_NAME[a.over]} would hold ${u.peak} entries while the change is written, ${capacity[a.over]} at most`,
    });
  }
  return result(best, take, refused);
}

/** The policy as the datapath takes a refused one: it still isolates, and allows nothing. */
const withoutRules = (p: NetworkPolicy): NetworkPolicy => ({ ...p, ingress: [], egress: [] });

function fitIpcache(
  desired: DesiredState,
  current: DesiredState | null,
  capacity: number,
  locals: ReadonlySet<string>,
): { desired: DesiredState; dropped: string[] } {
  const have = current?.ipcache ?? new Map<string, number>();
  const fresh = [...desired.ipcache.keys()].filter((ip) => !have.has(ip));
  const room = capacity - have.size;
  if (fresh.length <= room) return { desired, dropped: [] };
  const order = (ip: string): number => (locals.has(ip) ? 0 : desired.ipcache.get(ip) === IDENTITY_REMOTE_NODE ? 1 : 2);
  fresh.sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
  const dropped = fresh.slice(Math.max(0, room)).sort();
  const ipcache = new Map(desired.ipcache);
  for (const ip of dropped) ipcache.delete(ip);
  return { desired: { ...desired, ipcache }, dropped };
}
