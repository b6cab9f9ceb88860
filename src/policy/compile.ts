// NetworkPolicy → the datapath's desired state. Pure and deterministic: the same
// cluster, endpoints and options give the same DesiredState, numbers included.
//
// Phases: buildWorld (identities of pods and namespaces, who holds each address),
// numberRules, Selector (which rules apply to an identity), Prefixes (the CIDR
// prefixes and what each ipBlock covers), PeerResolver (what a rule's peers are),
// then the entries of each local endpoint and the ipcache.
//
// Work is per identity, not per pod: pods are grouped by label set first, every
// selector is evaluated once per (distinct selector, identity) and every rule's
// peers once, so 1,000 pods × 1,000 policies costs a fraction of a second.
//
// Entries stay few however broad a peer is: "every pod in namespace n" is one entry
// for n's namespace identity (each pod's ipcache entry carries it), and
// `namespaceSelector: {}` one entry for IDENTITY_CLUSTER, not one per pod identity.
//
// Named ports follow the spec ("a named port on a pod"):
//  - ingress: resolved on the endpoint's own pod;
//  - egress to selected pods (or with `to` absent): resolved on each destination.
//    An entry per destination identity is exact because a pod's identity includes
//    its named ports (identity.ts): pods that share labels but not port names do
//    not share entries. With `to` absent it never matches a non-pod destination
//    (an address that is no pod has no port names);
//  - egress to an ipBlock: "the traffic must match both ports and to", so each pod
//    address inside the block that names the port is allowed on that port. Such an
//    address becomes a /32 (/128) prefix of its own with an entry for its CIDR
//    identity: an entry for its pod identity would also admit pods of that identity
//    outside the block.
//
// Other choices worth knowing (the report and explain.ts say the same):
//  - hostNetwork pods are neither selected nor peers by identity: their address is
//    their node's, which ipBlocks (and HOST, for this node) cover.
//  - 0.0.0.0/0 and ::/0 are WORLD, except a /0 an ipBlock names, which gets a CIDR
//    identity of its own: otherwise `ipBlock 0.0.0.0/0` would also admit IPv6.
//  - Only ipBlocks of rules that apply to a local endpoint go into `cidrs`; the
//    prefixes this node's addresses form (HOST) are never policy entries, since the
//    datapath always allows the host.
import { canonicalIp, withoutPrefix } from '../ipam/addr.js';
import { portRangePrefixes } from './ports.js';
import { isEverything, selectorKey } from './selectors.js';
import {
  type AppliedRule,
  buildWorld,
  type Group,
  namedKey,
  numberRules,
  portsByName,
  Selector,
  type World,
} from './compile-world.js';
import { blockHolds, canonicalCidr, hostPrefix, hostPrefixes, Prefixes } from './compile-prefixes.js';
import {
  type ClusterState,
  type DesiredState,
  type EndpointPolicy,
  IDENTITY_ANY,
  IDENTITY_CLUSTER,
  IDENTITY_HOST,
  IDENTITY_REMOTE_NODE,
  IDENTITY_WORLD,
  type IpBlock,
  IPPROTO,
  type LocalEndpoint,
  type PolicyEntry,
  type PolicyPeer,
  type PolicyPort,
  type PolicyRule,
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

/** What a rule's peers resolve to. */
interface PeerSet {
  any: boolean;
  /** identities numeric-port entries name: pod, namespace, IDENTITY_CLUSTER and CIDR identities */
  ids: number[];
  /** every pod identity the selector peers pick (for egress named ports) */
  groups: () => Group[];
  /** the ipBlock peers (for egress named ports) */
  blocks: IpBlock[];
}

// Entries are deduplicated by a numeric key: identity (26 bits) · egress · protocol
// (4 values) · port · prefix length fits in 50 bits, exact in a double.
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

const namedPortsOf = (rule: PolicyRule): (PolicyPort & { port: string })[] =>
  rule.ports.filter((p): p is PolicyPort & { port: string } => typeof p.port === 'string');

export function compile(cluster: ClusterState, endpoints: LocalEndpoint[], opts: CompileOptions): DesiredState {
  const world = buildWorld(cluster, endpoints, opts.previous);
  const numbered = numberRules(cluster.policies);
  const selector = new Selector(world, cluster.policies, numbered);
  const blocks = new BlockPods(world);

  const node = cluster.nodes.find((n) => n.name === opts.nodeName);
  const host = hostPrefixes([...opts.hostAddresses, ...(node?.addresses ?? [])]);
  const prefixes = new Prefixes(blockPrefixes(world, selector, blocks, host), host, opts.previous?.cidrs);
  const peers = new PeerResolver(world, selector, prefixes);

  const { ipcache, podNamespaces } = classification(world, remoteNodeAddresses(cluster, opts.nodeName, host));
  return {
    ipcache,
    podNamespaces,
    namespaceIds: world.namespaceIds,
    cidrs: prefixes.cidrs,
    endpoints: endpointPolicies(world, selector, new EntryExpander(peers, prefixes, blocks)),
    rules: numbered.rules,
    identities: world.identities,
  };
}

/** Each local veth's slot: its identity, isolation and allow entries (one slot per veth; the first endpoint wins). */
function endpointPolicies(world: World, selector: Selector, expand: EntryExpander): Map<number, EndpointPolicy> {
  const out = new Map<number, EndpointPolicy>();
  for (const l of world.locals) {
    if (out.has(l.ep.ifindex)) continue;
    if (l.group === null) {
      out.set(l.ep.ifindex, { ifindex: l.ep.ifindex, identity: IDENTITY_WORLD, ingressIsolated: false, egressIsolated: false, entries: [] });
      continue;
    }
    const s = selector.selection(l.group);
    out.set(l.ep.ifindex, {
      ifindex: l.ep.ifindex,
      identity: l.group.id,
      ingressIsolated: s.ingressIsolated,
      egressIsolated: s.egressIsolated,
      entries: expand.entriesOf(s.applied, portsByName(l.pod === null ? [] : [l.pod])),
    });
  }
  return out;
}

/**
 * Other nodes' InternalIPs, which the datapath must tell from pods and the world
 * (a tunnel's far end, a packet from another node's host). Never this node's own:
 * those are HOST prefixes.
 */
function remoteNodeAddresses(cluster: ClusterState, nodeName: string, host: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const n of cluster.nodes) {
    if (n.name === nodeName) continue;
    for (const ip of n.internalIPs) if (!host.has(hostPrefix(ip))) out.add(ip);
  }
  return out;
}

/**
 * The ipcache (pod address → identity, other nodes' addresses → REMOTE_NODE) and the
 * namespace identity each pod identity carries. A node's address is a node's even
 * when a (stale) Pod object claims it; only a local endpoint's own address is kept.
 */
function classification(world: World, nodes: ReadonlySet<string>): { ipcache: Map<string, number>; podNamespaces: Map<number, number> } {
  const ipcache = new Map<string, number>();
  for (const [ip, g] of world.addresses) ipcache.set(ip, g.id);
  const local = new Set(world.locals.flatMap((l) => (l.group === null ? [] : l.ep.ips.map((t) => canonicalIp(withoutPrefix(t))))));
  for (const ip of nodes) if (!local.has(ip)) ipcache.set(ip, IDENTITY_REMOTE_NODE);
  const podNamespaces = new Map<number, number>();
  for (const g of world.groups) podNamespaces.set(g.id, world.namespaceIds.get(g.namespace) ?? 0);
  return { ipcache, podNamespaces };
}

/** The pod addresses inside an ipBlock, with the identity that holds each. */
class BlockPods {
  private readonly memo = new Map<string, [string, Group][]>();
  constructor(private readonly world: World) {}

  of(block: IpBlock): [string, Group][] {
    const key = `${block.cidr} ${block.except.join(' ')}`;
    let hit = this.memo.get(key);
    if (hit === undefined) {
      hit = [...this.world.addresses].filter(([ip]) => blockHolds(block, ip));
      this.memo.set(key, hit);
    }
    return hit;
  }
}

/** Every prefix applied rules name: ipBlocks and excepts, and pod addresses that egress named ports through a block reach. */
function blockPrefixes(world: World, selector: Selector, blocks: BlockPods, host: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const l of world.locals) {
    if (l.group === null) continue;
    for (const a of selector.selection(l.group).applied) {
      const named = a.egress ? namedPortsOf(a.rule).map((p) => namedKey(p.protocol, p.port)) : [];
      for (const peer of a.rule.peers ?? []) {
        if (peer.ipBlock === null) continue;
        for (const text of [peer.ipBlock.cidr, ...peer.ipBlock.except]) {
          const c = canonicalCidr(text);
          if (c !== null) out.add(c);
        }
        if (named.length === 0) continue;
        for (const [ip, g] of blocks.of(peer.ipBlock)) {
          const p = hostPrefix(ip);
          if (!host.has(p) && named.some((k) => g.namedPorts.has(k))) out.add(p);
        }
      }
    }
  }
  return out;
}

/** Phase 5: what a rule's peers are, once per (namespace, peers). */
class PeerResolver {
  private readonly memo = new Map<string, PeerSet>();
  constructor(
    private readonly world: World,
    private readonly selector: Selector,
    private readonly prefixes: Prefixes,
  ) {}

  of(rule: PolicyRule, namespace: string): PeerSet {
    if (rule.peers === null) return { any: true, ids: [IDENTITY_ANY], groups: () => this.world.groups, blocks: [] };
    const memoKey = JSON.stringify([namespace, rule.peers.map(peerKey)]);
    let hit = this.memo.get(memoKey);
    if (hit !== undefined) return hit;
    const ids = new Set<number>();
    const blocks: IpBlock[] = [];
    const selectorPeers: PolicyPeer[] = [];
    for (const peer of rule.peers) {
      if (peer.ipBlock !== null) {
        for (const id of this.prefixes.idsIn(peer.ipBlock)) ids.add(id);
        blocks.push(peer.ipBlock);
        continue;
      }
      selectorPeers.push(peer);
      for (const id of this.selectorIds(peer, namespace)) ids.add(id);
    }
    let groups: Group[] | null = null;
    const groupsOf = (): Group[] => {
      if (groups !== null) return groups;
      const gs = new Set<Group>();
      for (const peer of selectorPeers) {
        for (const ns of this.namespacesOf(peer, namespace)) {
          for (const g of this.selector.groupsSelected(peer.podSelector, ns)) gs.add(g);
        }
      }
      return (groups = [...gs]);
    };
    hit = { any: false, ids: [...ids], groups: groupsOf, blocks };
    this.memo.set(memoKey, hit);
    return hit;
  }

  private namespacesOf(peer: PolicyPeer, namespace: string): string[] {
    return peer.namespaceSelector === null ? [namespace] : this.selector.namespacesMatching(peer.namespaceSelector);
  }

  /** A whole namespace is its namespace identity, every namespace IDENTITY_CLUSTER; narrower peers their pod identities. */
  private selectorIds(peer: PolicyPeer, namespace: string): number[] {
    const allPods = peer.podSelector === null || isEverything(peer.podSelector);
    if (allPods && peer.namespaceSelector !== null && isEverything(peer.namespaceSelector)) return [IDENTITY_CLUSTER];
    const out: number[] = [];
    for (const ns of this.namespacesOf(peer, namespace)) {
      if (allPods) {
        const id = this.world.namespaceIds.get(ns);
        if (id !== undefined) out.push(id);
      } else {
        for (const g of this.selector.groupsSelected(peer.podSelector, ns)) out.push(g.id);
      }
    }
    return out;
  }
}

/** Phase 6: the allow entries of one endpoint, from the rules that apply to it. */
class EntryExpander {
  // Rules whose entries do not depend on the endpoint (all but ingress named ports)
  // are expanded once and reused by every endpoint they apply to.
  private readonly staticMemo = new Map<number, number[]>();
  constructor(
    private readonly peers: PeerResolver,
    private readonly prefixes: Prefixes,
    private readonly blocks: BlockPods,
  ) {}

  entriesOf(applied: readonly AppliedRule[], ownPorts: Map<string, number[]>): PolicyEntry[] {
    const out = new Map<number, PolicyEntry>();
    for (const a of applied) this.rule(a, ownPorts, out);
    return [...out.keys()].sort((x, y) => x - y).map((n) => out.get(n)!);
  }

  private rule(a: AppliedRule, ownPorts: Map<string, number[]>, out: Map<number, PolicyEntry>): void {
    const add = (identity: number, protocol: number, port: number, len: number): void => {
      const n = entryNumber(identity, a.egress, protocol, port, len);
      const have = out.get(n);
      if (have === undefined || have.ruleId > a.ruleId) {
        out.set(n, { identity, egress: a.egress, protocol, port, portPrefixLen: len, ruleId: a.ruleId });
      }
    };
    const peers = this.peers.of(a.rule, a.namespace);
    const fixed = this.staticEntries(a, peers);
    for (let i = 0; i < fixed.length; i += 4) add(fixed[i]!, fixed[i + 1]!, fixed[i + 2]!, fixed[i + 3]!);
    if (a.egress) return;
    // Ingress named ports: on the endpoint's own pod.
    for (const p of namedPortsOf(a.rule)) {
      for (const port of ownPorts.get(namedKey(p.protocol, p.port)) ?? []) {
        for (const t of peers.ids) add(t, IPPROTO[p.protocol], port, 16);
      }
    }
  }

  /** Flat (identity, protocol, port, prefix length) quadruples. */
  private staticEntries(a: AppliedRule, peers: PeerSet): number[] {
    let fixed = this.staticMemo.get(a.ruleId);
    if (fixed !== undefined) return fixed;
    fixed = [];
    const portMatches = a.rule.ports.length === 0 ? ANY_TRAFFIC : a.rule.ports.flatMap(numericMatches);
    for (const t of peers.ids) for (const m of portMatches) fixed.push(t, m.protocol, m.port, m.len);
    if (a.egress) {
      for (const p of namedPortsOf(a.rule)) {
        const key = namedKey(p.protocol, p.port);
        const protocol = IPPROTO[p.protocol];
        // On each destination identity the selectors pick (all of them with `to` absent).
        for (const g of peers.groups()) for (const port of g.namedPorts.get(key) ?? []) fixed.push(g.id, protocol, port, 16);
        // On each pod address inside a block, by that address's own prefix.
        for (const block of peers.blocks) {
          for (const [ip, g] of this.blocks.of(block)) {
            const id = this.prefixes.cidrs.get(hostPrefix(ip));
            if (id === undefined || id === IDENTITY_HOST) continue; // this node's own address: always allowed anyway
            for (const port of g.namedPorts.get(key) ?? []) fixed.push(id, protocol, port, 16);
          }
        }
      }
    }
    this.staticMemo.set(a.ruleId, fixed);
    return fixed;
  }
}

function peerKey(peer: PolicyPeer): string {
  if (peer.ipBlock !== null) return `ip ${peer.ipBlock.cidr} ${peer.ipBlock.except.join(' ')}`;
  const pod = peer.podSelector === null ? '-' : selectorKey(peer.podSelector);
  const ns = peer.namespaceSelector === null ? '-' : selectorKey(peer.namespaceSelector);
  return `sel ${pod} ${ns}`;
}
