// compile(), phases 1-3: who is who. Pods grouped into identities (label set and
// named ports), namespaces numbered, every pod address attributed to one identity,
// rules numbered, and which rules apply to each identity. Pure.
import { canonicalIp, withoutPrefix } from '../ipam/addr.js';
import { assignNamespaceIdentities, assignPodIdentities, podIdentityKey } from './identity.js';
import { NAMESPACE_NAME_LABEL } from './model.js';
import { matches, selectorKey } from './selectors.js';
import type {
  ClusterState,
  DesiredState,
  IdentityInfo,
  LabelSelector,
  LocalEndpoint,
  NetworkPolicy,
  Pod,
  PolicyRule,
  Protocol,
  RuleOrigin,
} from './types.js';

/** A pod identity: one label set (and named-port map) in one namespace. */
export interface Group {
  key: string;
  id: number;
  namespace: string;
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
  /** "PROTO/name" → ports; the same for every pod of the group by construction */
  namedPorts: Map<string, number[]>;
  /** the non-hostNetwork pods with this identity (none for an endpoint without a Pod object) */
  pods: Pod[];
}

export interface Local {
  ep: LocalEndpoint;
  group: Group | null;
  pod: Pod | null;
}

export interface World {
  groups: Group[];
  groupsByNs: Map<string, Group[]>;
  locals: Local[];
  labelsOfNamespace(name: string): Record<string, string>;
  /** namespace name → namespace identity, for every namespace with a pod identity */
  namespaceIds: Map<string, number>;
  identities: Map<number, IdentityInfo>;
  /** canonical pod address → the identity the ipcache gives it (local endpoints win) */
  addresses: Map<string, Group>;
}

export const namedKey = (protocol: Protocol, name: string): string => `${protocol}/${name}`;

export function portsByName(pods: readonly Pod[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const pod of pods) {
    for (const p of pod.ports) {
      if (p.name === null) continue;
      const key = namedKey(p.protocol, p.name);
      const list = out.get(key);
      if (list === undefined) out.set(key, [p.containerPort]);
      else if (!list.includes(p.containerPort)) list.push(p.containerPort);
    }
  }
  return out;
}

/** Phase 1 and 2: identities of pods and namespaces, numbered stably. */
export function buildWorld(cluster: ClusterState, endpoints: LocalEndpoint[], previous: DesiredState | null | undefined): World {
  const nsLabels = new Map<string, Record<string, string>>();
  for (const ns of cluster.namespaces) nsLabels.set(ns.name, { ...ns.labels, [NAMESPACE_NAME_LABEL]: ns.name });
  const labelsOfNamespace = (name: string): Record<string, string> => {
    let l = nsLabels.get(name);
    if (l === undefined) {
      l = { [NAMESPACE_NAME_LABEL]: name }; // no Namespace object (yet): what Kubernetes would give it
      nsLabels.set(name, l);
    }
    return l;
  };

  const byKey = new Map<string, Group>();
  const groupOf = (namespace: string, labels: Record<string, string>, namedPorts: Map<string, number[]>): Group => {
    const namespaceLabels = labelsOfNamespace(namespace);
    const key = podIdentityKey(namespace, namespaceLabels, labels, Object.fromEntries(namedPorts));
    let g = byKey.get(key);
    if (g === undefined) {
      g = { key, id: 0, namespace, namespaceLabels, labels, namedPorts, pods: [] };
      byKey.set(key, g);
    }
    return g;
  };

  const podsByName = new Map<string, Pod>();
  const groupOfPod = new Map<Pod, Group>();
  for (const pod of cluster.pods) {
    podsByName.set(`${pod.namespace}/${pod.name}`, pod);
    if (pod.hostNetwork) continue;
    const g = groupOf(pod.namespace, pod.labels, portsByName([pod]));
    g.pods.push(pod);
    groupOfPod.set(pod, g);
  }

  const locals: Local[] = [];
  for (const ep of endpoints) {
    if (ep.podNamespace === null || ep.podName === null) {
      locals.push({ ep, group: null, pod: null });
      continue;
    }
    const pod = podsByName.get(`${ep.podNamespace}/${ep.podName}`) ?? null;
    if (pod?.hostNetwork) {
      locals.push({ ep, group: null, pod });
      continue;
    }
    // No Pod object (yet): a pod without labels or ports in that namespace.
    const group = pod === null ? groupOf(ep.podNamespace, {}, new Map()) : (groupOfPod.get(pod) ?? null);
    locals.push({ ep, group, pod });
  }

  const previousPodIds = new Map<string, number>();
  for (const [id, info] of previous?.identities ?? []) {
    previousPodIds.set(podIdentityKey(info.namespace, info.namespaceLabels, info.labels, info.namedPorts), id);
  }
  const ids = assignPodIdentities(byKey.keys(), previousPodIds);
  const groups = [...byKey.values()];
  const groupsByNs = new Map<string, Group[]>();
  const identities = new Map<number, IdentityInfo>();
  for (const g of groups) {
    g.id = ids.get(g.key) ?? 0;
    const info: IdentityInfo = { namespace: g.namespace, namespaceLabels: g.namespaceLabels, labels: g.labels };
    if (g.namedPorts.size > 0) info.namedPorts = Object.fromEntries(g.namedPorts);
    identities.set(g.id, info);
    const list = groupsByNs.get(g.namespace);
    if (list === undefined) groupsByNs.set(g.namespace, [g]);
    else list.push(g);
  }
  const namespaceIds = assignNamespaceIdentities(groupsByNs.keys(), previous?.namespaceIds);

  const addresses = new Map<string, Group>();
  const owner = new Map<string, string>();
  for (const g of groups) {
    for (const pod of g.pods) {
      const name = `${pod.namespace}/${pod.name}`;
      for (const ip of pod.ips) {
        // Two live Pod objects claiming one address is stale data; pick one stably.
        const had = owner.get(ip);
        if (had !== undefined && had < name) continue;
        owner.set(ip, name);
        addresses.set(ip, g);
      }
    }
  }
  for (const l of locals) {
    if (l.group === null) continue;
    for (const text of l.ep.ips) {
      const ip = canonicalIp(withoutPrefix(text));
      if (ip !== null) addresses.set(ip, l.group);
    }
  }
  return { groups, groupsByNs, locals, labelsOfNamespace, namespaceIds, identities, addresses };
}

export interface NumberedRules {
  rules: Map<number, RuleOrigin>;
  ids: Map<NetworkPolicy, { ingress: number[]; egress: number[] }>;
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
export const policyName = (p: NetworkPolicy): string => `${p.namespace}/${p.name}`;

/** Rule ids: stable small integers, by "namespace/name", from 1 (0 = no rule). */
export function numberRules(policies: readonly NetworkPolicy[]): NumberedRules {
  const rules = new Map<number, RuleOrigin>();
  const ids = new Map<NetworkPolicy, { ingress: number[]; egress: number[] }>();
  let next = 1;
  for (const p of [...policies].sort((a, b) => byText(policyName(a), policyName(b)))) {
    const own = { ingress: [] as number[], egress: [] as number[] };
    for (const direction of ['ingress', 'egress'] as const) {
      p[direction].forEach((_, index) => {
        const ruleId = next++;
        own[direction].push(ruleId);
        rules.set(ruleId, { ruleId, policy: policyName(p), direction, index });
      });
    }
    ids.set(p, own);
  }
  return { rules, ids };
}

export interface AppliedRule {
  ruleId: number;
  egress: boolean;
  rule: PolicyRule;
  namespace: string;
}

export interface Selection {
  ingressIsolated: boolean;
  egressIsolated: boolean;
  applied: AppliedRule[];
}

/** Phase 3: selectors evaluated once per (distinct selector, identity); which rules apply to an identity. */
export class Selector {
  private readonly groupMatch = new Map<string, Map<Group, boolean>>();
  private readonly nsMatch = new Map<string, string[]>();
  private readonly podGroups = new Map<string, Group[]>();
  private readonly selections = new Map<Group, Selection>();
  private readonly policiesByNs = new Map<string, NetworkPolicy[]>();

  constructor(
    private readonly world: World,
    policies: readonly NetworkPolicy[],
    private readonly numbered: NumberedRules,
  ) {
    for (const p of policies) {
      const list = this.policiesByNs.get(p.namespace);
      if (list === undefined) this.policiesByNs.set(p.namespace, [p]);
      else list.push(p);
    }
  }

  selects(sel: LabelSelector, g: Group): boolean {
    const key = selectorKey(sel);
    let memo = this.groupMatch.get(key);
    if (memo === undefined) this.groupMatch.set(key, (memo = new Map<Group, boolean>()));
    let hit = memo.get(g);
    if (hit === undefined) memo.set(g, (hit = matches(sel, g.labels)));
    return hit;
  }

  /** Namespaces with pods whose labels match. */
  namespacesMatching(sel: LabelSelector): string[] {
    const key = selectorKey(sel);
    let hit = this.nsMatch.get(key);
    if (hit === undefined) {
      hit = [...this.world.groupsByNs.keys()].filter((ns) => matches(sel, this.world.labelsOfNamespace(ns)));
      this.nsMatch.set(key, hit);
    }
    return hit;
  }

  /** The identities of namespace `ns` a pod selector picks (null: all of them). */
  groupsSelected(sel: LabelSelector | null, ns: string): Group[] {
    const key = `${sel === null ? '*' : selectorKey(sel)}\n${ns}`;
    let hit = this.podGroups.get(key);
    if (hit === undefined) {
      const all = this.world.groupsByNs.get(ns) ?? [];
      hit = sel === null ? all : all.filter((g) => this.selects(sel, g));
      this.podGroups.set(key, hit);
    }
    return hit;
  }

  selection(g: Group): Selection {
    let s = this.selections.get(g);
    if (s !== undefined) return s;
    s = { ingressIsolated: false, egressIsolated: false, applied: [] };
    for (const p of this.policiesByNs.get(g.namespace) ?? []) {
      if (!this.selects(p.podSelector, g)) continue;
      const own = this.numbered.ids.get(p);
      for (const type of p.policyTypes) {
        const egress = type === 'Egress';
        if (egress) s.egressIsolated = true;
        else s.ingressIsolated = true;
        const list = egress ? p.egress : p.ingress;
        const idsOf = egress ? own?.egress : own?.ingress;
        list.forEach((rule, i) => {
          s.applied.push({ ruleId: idsOf?.[i] ?? 0, egress, rule, namespace: p.namespace });
        });
      }
    }
    this.selections.set(g, s);
    return s;
  }
}
