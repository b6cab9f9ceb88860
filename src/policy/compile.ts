// NetworkPolicy → the datapath's desired state. Pure and deterministic: the same
// cluster, endpoints and options give the same DesiredState, numbers included.
//
// Work is per identity, not per pod: pods are grouped by label set first, every
// selector is evaluated once per (distinct selector, identity) and every rule's
// peers once, so 1,000 pods × 1,000 policies costs a fraction of a second.
//
// Choices worth knowing (the report and explain.ts say the same):
//  - hostNetwork pods are neither selected nor peers by identity: their address is
//    their node's, which ipBlocks (and HOST, for this node) cover.
//  - A named port in an egress rule resolves on each peer pod and becomes an entry
//    per peer identity, the union over the pods with that identity. With an ipBlock
//    peer it matches nothing (an address has no port names). With `to` absent it
//    matches every pod that has the name, never non-pod destinations.
//  - 0.0.0.0/0 and ::/0 are WORLD, except a /0 an ipBlock names, which gets a CIDR
//    identity of its own: otherwise `ipBlock 0.0.0.0/0` would also admit IPv6.
//  - Only ipBlocks of rules that apply to a local endpoint go into `cidrs`; the
//    prefixes this node's addresses form (HOST) are never policy entries, since the
//    datapath always allows the host.
import { canonicalIp, type Family, formatCidr, lastOf, networkOf, parseCidr, withoutPrefix } from '../ipam/addr.js';
import { assignCidrIdentities, assignPodIdentities, isCidrIdentity, podIdentityKey } from './identity.js';
import { NAMESPACE_NAME_LABEL } from './model.js';
import { portRangePrefixes } from './ports.js';
import { matches, selectorKey } from './selectors.js';
import {
  type ClusterState,
  type DesiredState,
  type EndpointPolicy,
  IDENTITY_ANY,
  IDENTITY_HOST,
  IDENTITY_WORLD,
  type IdentityInfo,
  type IpBlock,
  IPPROTO,
  type LabelSelector,
  type LocalEndpoint,
  type NetworkPolicy,
  type Pod,
  type PolicyEntry,
  type PolicyPeer,
  type PolicyPort,
  type PolicyRule,
  type Protocol,
  type RuleOrigin,
} from './types.js';

export interface CompileOptions {
  nodeName: string;
  /** this node's addresses; the Node object named nodeName adds its own */
  hostAddresses: string[];
  /**
   * The state compiled (and applied) last time. Its identities keep their numbers,
   * and numbers it used are not handed to newcomers in this round, so a plan never
   * gives one label set's pods another's allow entries. Absent after a restart.
   */
  previous?: DesiredState | null;
}

/** A pod identity: one label set in one namespace. */
interface Group {
  key: string;
  id: number;
  namespace: string;
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
  /** the non-hostNetwork pods with this label set (none for an endpoint without a Pod object) */
  pods: Pod[];
  /** "PROTO/name" → port numbers, over `pods`; built on first use */
  named: Map<string, number[]> | null;
}

interface Prefix {
  text: string;
  family: Family;
  first: bigint;
  last: bigint;
  len: number;
  id: number;
}

/** What a rule's peers resolve to. */
interface PeerSet {
  any: boolean;
  groups: Group[];
  cidrIds: number[];
}

interface AppliedRule {
  ruleId: number;
  egress: boolean;
  rule: PolicyRule;
  namespace: string;
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const namedKey = (protocol: Protocol, name: string): string => `${protocol}/${name}`;

// Entries are deduplicated by a numeric key: identity (25 bits) · egress · protocol
// (4 values) · port · prefix length fits in 49 bits, exact in a double.
const PROTO_CODE: Record<number, number> = { 0: 0, 6: 1, 17: 2, 132: 3 };
const entryNumber = (identity: number, egress: boolean, protocol: number, port: number, len: number): number =>
  (((identity * 2 + (egress ? 1 : 0)) * 4 + (PROTO_CODE[protocol] ?? 0)) * 65536 + port) * 32 + len;

/** One (protocol, port prefix) an entry allows; protocol 0 = everything. */
interface PortMatch {
  protocol: number;
  port: number;
  len: number;
}
const ANY_TRAFFIC: PortMatch[] = [{ protocol: 0, port: 0, len: 0 }];

function numericMatches(p: PolicyPort): PortMatch[] {
  const protocol = IPPROTO[p.protocol];
  if (p.port === null) return [{ protocol, port: 0, len: 0 }];
  if (typeof p.port === 'string') return [];
  return portRangePrefixes(p.port, p.endPort ?? p.port).map((x) => ({ protocol, port: x.port, len: x.prefixLen }));
}

function parsePrefix(text: string, id: number): Prefix | null {
  const c = parseCidr(text);
  if (c === null) return null;
  const first = networkOf(c.family, c.value, c.prefixLen);
  return { text, family: c.family, first, last: lastOf(c.family, c.value, c.prefixLen), len: c.prefixLen, id };
}

/** Model output is canonical already; objects built by hand may not be. */
function canonicalCidr(text: string): string | null {
  const c = parseCidr(text);
  return c === null ? null : formatCidr(c.family, networkOf(c.family, c.value, c.prefixLen), c.prefixLen);
}

const inside = (p: Prefix, outer: Prefix): boolean =>
  p.family === outer.family && p.len >= outer.len && p.first >= outer.first && p.last <= outer.last;

export function compile(cluster: ClusterState, endpoints: LocalEndpoint[], opts: CompileOptions): DesiredState {
  // --- namespaces and identities ---
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

  const groups = new Map<string, Group>();
  const groupOf = (namespace: string, labels: Record<string, string>): Group => {
    const namespaceLabels = labelsOfNamespace(namespace);
    const key = podIdentityKey(namespace, namespaceLabels, labels);
    let g = groups.get(key);
    if (g === undefined) {
      g = { key, id: 0, namespace, namespaceLabels, labels, pods: [], named: null };
      groups.set(key, g);
    }
    return g;
  };

  const podsByName = new Map<string, Pod>();
  const groupOfPod = new Map<Pod, Group>();
  for (const pod of cluster.pods) {
    podsByName.set(`${pod.namespace}/${pod.name}`, pod);
    if (pod.hostNetwork) continue;
    const g = groupOf(pod.namespace, pod.labels);
    g.pods.push(pod);
    groupOfPod.set(pod, g);
  }

  interface Local {
    ep: LocalEndpoint;
    group: Group | null;
    pod: Pod | null;
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
    // No Pod object (yet): a pod without labels in that namespace.
    const group = pod === null ? groupOf(ep.podNamespace, {}) : (groupOfPod.get(pod) ?? null);
    locals.push({ ep, group, pod });
  }

  const previousPodIds = new Map<string, number>();
  for (const [id, info] of opts.previous?.identities ?? []) {
    previousPodIds.set(podIdentityKey(info.namespace, info.namespaceLabels, info.labels), id);
  }
  const ids = assignPodIdentities(groups.keys(), previousPodIds);
  const groupsByNs = new Map<string, Group[]>();
  const identities = new Map<number, IdentityInfo>();
  for (const g of groups.values()) {
    g.id = ids.get(g.key) ?? 0;
    identities.set(g.id, { namespace: g.namespace, namespaceLabels: g.namespaceLabels, labels: g.labels });
    const list = groupsByNs.get(g.namespace);
    if (list === undefined) groupsByNs.set(g.namespace, [g]);
    else list.push(g);
  }

  // --- selectors, evaluated once per distinct selector and identity ---
  const groupMatch = new Map<string, Map<Group, boolean>>();
  const selects = (sel: LabelSelector, g: Group): boolean => {
    const key = selectorKey(sel);
    let memo = groupMatch.get(key);
    if (memo === undefined) groupMatch.set(key, (memo = new Map()));
    let hit = memo.get(g);
    if (hit === undefined) memo.set(g, (hit = matches(sel, g.labels)));
    return hit;
  };
  const nsMatch = new Map<string, string[]>();
  const namespacesMatching = (sel: LabelSelector): string[] => {
    const key = selectorKey(sel);
    let hit = nsMatch.get(key);
    if (hit === undefined) {
      hit = [...groupsByNs.keys()].filter((ns) => matches(sel, labelsOfNamespace(ns)));
      nsMatch.set(key, hit);
    }
    return hit;
  };

  // --- rule ids: stable small integers, by "namespace/name", from 1 (0 = no rule) ---
  const rules = new Map<number, RuleOrigin>();
  const ruleIds = new Map<NetworkPolicy, { ingress: number[]; egress: number[] }>();
  const policyName = (p: NetworkPolicy): string => `${p.namespace}/${p.name}`;
  let nextRule = 1;
  for (const p of [...cluster.policies].sort((a, b) => byText(policyName(a), policyName(b)))) {
    const own = { ingress: [] as number[], egress: [] as number[] };
    for (const direction of ['ingress', 'egress'] as const) {
      p[direction].forEach((_, index) => {
        const ruleId = nextRule++;
        own[direction].push(ruleId);
        rules.set(ruleId, { ruleId, policy: policyName(p), direction, index });
      });
    }
    ruleIds.set(p, own);
  }
  const policiesByNs = new Map<string, NetworkPolicy[]>();
  for (const p of cluster.policies) {
    const list = policiesByNs.get(p.namespace);
    if (list === undefined) policiesByNs.set(p.namespace, [p]);
    else list.push(p);
  }

  // --- which rules apply to each local endpoint ---
  interface Selection {
    ingressIsolated: boolean;
    egressIsolated: boolean;
    applied: AppliedRule[];
  }
  const selectionOf = new Map<Group, Selection>();
  const selection = (g: Group): Selection => {
    let s = selectionOf.get(g);
    if (s !== undefined) return s;
    s = { ingressIsolated: false, egressIsolated: false, applied: [] };
    for (const p of policiesByNs.get(g.namespace) ?? []) {
      if (!selects(p.podSelector, g)) continue;
      const own = ruleIds.get(p);
      for (const type of p.policyTypes) {
        const egress = type === 'Egress';
        if (egress) s.egressIsolated = true;
        else s.ingressIsolated = true;
        const list = egress ? p.egress : p.ingress;
        const idsOf = egress ? own?.egress : own?.ingress;
        list.forEach((rule, i) => {
          s?.applied.push({ ruleId: idsOf?.[i] ?? 0, egress, rule, namespace: p.namespace });
        });
      }
    }
    selectionOf.set(g, s);
    return s;
  };

  // --- CIDR prefixes: ipBlocks of applied rules, the two /0s, this node ---
  const hostAddrs = new Set<string>();
  const node = cluster.nodes.find((n) => n.name === opts.nodeName);
  for (const text of [...opts.hostAddresses, ...(node?.addresses ?? [])]) {
    const ip = canonicalIp(withoutPrefix(text));
    if (ip !== null) hostAddrs.add(`${ip}/${ip.includes(':') ? 128 : 32}`);
  }
  const blockPrefixes = new Set<string>();
  for (const l of locals) {
    if (l.group === null) continue;
    for (const a of selection(l.group).applied) {
      for (const peer of a.rule.peers ?? []) {
        if (peer.ipBlock === null) continue;
        for (const text of [peer.ipBlock.cidr, ...peer.ipBlock.except]) {
          const c = canonicalCidr(text);
          if (c !== null) blockPrefixes.add(c);
        }
      }
    }
  }
  const previousCidrIds = new Map<string, number>();
  for (const [text, id] of opts.previous?.cidrs ?? []) if (isCidrIdentity(id)) previousCidrIds.set(text, id);
  const cidrIds = assignCidrIdentities(
    [...blockPrefixes].filter((t) => !hostAddrs.has(t)),
    previousCidrIds,
  );
  const cidrs = new Map<string, number>();
  cidrs.set('0.0.0.0/0', IDENTITY_WORLD);
  cidrs.set('::/0', IDENTITY_WORLD);
  for (const [text, id] of cidrIds) cidrs.set(text, id);
  for (const text of hostAddrs) cidrs.set(text, IDENTITY_HOST);

  // Every prefix, sorted so the ones inside a block are one contiguous run.
  const prefixes: Prefix[] = [];
  for (const [text, id] of cidrs) {
    const p = parsePrefix(text, id);
    if (p !== null) prefixes.push(p);
  }
  prefixes.sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : a.len - b.len));
  const blockMemo = new Map<string, number[]>();
  const cidrIdsIn = (block: IpBlock): number[] => {
    const memoKey = `${block.cidr} ${block.except.join(' ')}`;
    let hit = blockMemo.get(memoKey);
    if (hit !== undefined) return hit;
    hit = [];
    const outer = parsePrefix(block.cidr, 0);
    const excepts = block.except.map((e) => parsePrefix(e, 0)).filter((e): e is Prefix => e !== null);
    if (outer !== null) {
      // First prefix of the family whose start is >= outer.first.
      let lo = 0;
      let hi = prefixes.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const m = prefixes[mid] as Prefix;
        if (m.family < outer.family || (m.family === outer.family && m.first < outer.first)) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < prefixes.length; i++) {
        const p = prefixes[i] as Prefix;
        if (p.family !== outer.family || p.first > outer.last) break;
        if (!inside(p, outer) || p.id === IDENTITY_HOST) continue;
        if (excepts.some((e) => inside(p, e))) continue;
        hit.push(p.id);
      }
    }
    blockMemo.set(memoKey, hit);
    return hit;
  };

  // --- peers ---
  const podGroupsMemo = new Map<string, Group[]>();
  const groupsSelected = (sel: LabelSelector | null, ns: string): Group[] => {
    const key = `${sel === null ? '*' : selectorKey(sel)}\n${ns}`;
    let hit = podGroupsMemo.get(key);
    if (hit === undefined) {
      const all = groupsByNs.get(ns) ?? [];
      hit = sel === null ? all : all.filter((g) => selects(sel, g));
      podGroupsMemo.set(key, hit);
    }
    return hit;
  };
  const peerMemo = new Map<string, PeerSet>();
  const peersOf = (rule: PolicyRule, namespace: string): PeerSet => {
    if (rule.peers === null) return { any: true, groups: [], cidrIds: [] };
    const memoKey = JSON.stringify([namespace, rule.peers.map(peerKey)]);
    let hit = peerMemo.get(memoKey);
    if (hit !== undefined) return hit;
    const gs = new Set<Group>();
    const cs = new Set<number>();
    for (const peer of rule.peers) {
      if (peer.ipBlock !== null) {
        for (const id of cidrIdsIn(peer.ipBlock)) cs.add(id);
      } else if (peer.namespaceSelector !== null) {
        for (const ns of namespacesMatching(peer.namespaceSelector)) {
          for (const g of groupsSelected(peer.podSelector, ns)) gs.add(g);
        }
      } else if (peer.podSelector !== null) {
        for (const g of groupsSelected(peer.podSelector, namespace)) gs.add(g);
      }
    }
    hit = { any: false, groups: [...gs], cidrIds: [...cs] };
    peerMemo.set(memoKey, hit);
    return hit;
  };

  // --- named ports ---
  const namedPortsOf = (g: Group): Map<string, number[]> => {
    if (g.named === null) g.named = portsByName(g.pods);
    return g.named;
  };
  const allGroups = [...groups.values()];

  // --- entries ---
  // Rules whose entries do not depend on the endpoint (all but ingress named ports)
  // are expanded once and reused by every endpoint they apply to.
  const staticMemo = new Map<number, number[]>();
  const entriesOfRule = (a: AppliedRule, ownPorts: Map<string, number[]>, out: Map<number, PolicyEntry>): void => {
    const add = (identity: number, m: PortMatch): void => {
      const n = entryNumber(identity, a.egress, m.protocol, m.port, m.len);
      const have = out.get(n);
      if (have === undefined || have.ruleId > a.ruleId) {
        out.set(n, { identity, egress: a.egress, protocol: m.protocol, port: m.port, portPrefixLen: m.len, ruleId: a.ruleId });
      }
    };
    const peers = peersOf(a.rule, a.namespace);
    const targets = peers.any ? [IDENTITY_ANY] : [...peers.groups.map((g) => g.id), ...peers.cidrIds];
    let fixed = staticMemo.get(a.ruleId);
    if (fixed === undefined) {
      fixed = [];
      const portMatches = a.rule.ports.length === 0 ? ANY_TRAFFIC : a.rule.ports.flatMap(numericMatches);
      for (const t of targets) for (const m of portMatches) fixed.push(t, m.protocol, m.port, m.len);
      if (a.egress) {
        // Named ports on the peers: the union over each identity's pods.
        for (const p of a.rule.ports) {
          if (typeof p.port !== 'string') continue;
          const key = namedKey(p.protocol, p.port);
          const protocol = IPPROTO[p.protocol];
          for (const g of peers.any ? allGroups : peers.groups) {
            for (const port of namedPortsOf(g).get(key) ?? []) fixed.push(g.id, protocol, port, 16);
          }
        }
      }
      staticMemo.set(a.ruleId, fixed);
    }
    for (let i = 0; i < fixed.length; i += 4) {
      add(fixed[i] as number, { protocol: fixed[i + 1] as number, port: fixed[i + 2] as number, len: fixed[i + 3] as number });
    }
    if (!a.egress) {
      // Named ports on the endpoint's own pod.
      for (const p of a.rule.ports) {
        if (typeof p.port !== 'string') continue;
        const protocol = IPPROTO[p.protocol];
        for (const port of ownPorts.get(namedKey(p.protocol, p.port)) ?? []) {
          for (const t of targets) add(t, { protocol, port, len: 16 });
        }
      }
    }
  };

  const endpointsOut = new Map<number, EndpointPolicy>();
  for (const l of locals) {
    if (endpointsOut.has(l.ep.ifindex)) continue; // one slot per veth; the first wins
    if (l.group === null) {
      endpointsOut.set(l.ep.ifindex, {
        ifindex: l.ep.ifindex,
        identity: IDENTITY_WORLD,
        ingressIsolated: false,
        egressIsolated: false,
        entries: [],
      });
      continue;
    }
    const s = selection(l.group);
    const out = new Map<number, PolicyEntry>();
    const ownPorts = portsByName(l.pod === null ? [] : [l.pod]);
    for (const a of s.applied) entriesOfRule(a, ownPorts, out);
    const entries = [...out.keys()].sort((x, y) => x - y).map((n) => out.get(n) as PolicyEntry);
    endpointsOut.set(l.ep.ifindex, {
      ifindex: l.ep.ifindex,
      identity: l.group.id,
      ingressIsolated: s.ingressIsolated,
      egressIsolated: s.egressIsolated,
      entries,
    });
  }

  // --- ipcache: every pod with an address, then the local endpoints (authoritative here) ---
  const ipcache = new Map<string, number>();
  const owner = new Map<string, string>();
  for (const g of groups.values()) {
    for (const pod of g.pods) {
      const name = `${pod.namespace}/${pod.name}`;
      for (const ip of pod.ips) {
        // Two live Pod objects claiming one address is stale data; pick one stably.
        const had = owner.get(ip);
        if (had !== undefined && had < name) continue;
        owner.set(ip, name);
        ipcache.set(ip, g.id);
      }
    }
  }
  for (const l of locals) {
    if (l.group === null) continue;
    for (const text of l.ep.ips) {
      const ip = canonicalIp(withoutPrefix(text));
      if (ip !== null) ipcache.set(ip, l.group.id);
    }
  }

  return { ipcache, cidrs, endpoints: endpointsOut, rules, identities };
}

function portsByName(pods: readonly Pod[]): Map<string, number[]> {
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

function peerKey(peer: PolicyPeer): string {
  if (peer.ipBlock !== null) return `ip ${peer.ipBlock.cidr} ${peer.ipBlock.except.join(' ')}`;
  const pod = peer.podSelector === null ? '-' : selectorKey(peer.podSelector);
  const ns = peer.namespaceSelector === null ? '-' : selectorKey(peer.namespaceSelector);
  return `sel ${pod} ${ns}`;
}
