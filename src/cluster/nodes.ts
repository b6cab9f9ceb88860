// The other nodes, as this node's agent must see them to reach their pods: from the
// Node objects of the cluster, which nodes are usable (an InternalIP, pod CIDRs that
// collide with no other node's) and what that asks of this node's network: a route
// and a strait_remote_v1 entry per pod CIDR, and the masquerade's view of the pod
// CIDRs. A node with any problem is refused whole, on every agent alike (the checks
// look at the cluster, not at who runs them): its pods are unreachable, never
// guessed at. Pure: the same cluster gives the same answer.
import { type Family, networkOf, parseCidr } from '../ipam/addr.js';
import type { ClusterState, Node } from '../policy/types.js';

export type RoutingMode = 'native' | 'vxlan';

/** The collect_md VXLAN device of vxlan mode. */
export const VXLAN_DEVICE = 'strait_vxlan';

/** A Node that is missing or refused, and what to do about it. */
export interface NodeProblem {
  /** node-missing: this node's own Node object; node-invalid: any node's refusal */
  kind: 'node-missing' | 'node-invalid';
  /** "node <name>" */
  subject: string;
  message: string;
}

/** One Node as `straitctl status` shows it. */
export interface NodeSummary {
  name: string;
  self: boolean;
  podCIDRs: string[];
  internalIPs: string[];
  state: 'ok' | 'refused';
  /** why it is refused; null when ok */
  reason: string | null;
}

/** Another node this one routes to. */
export interface PeerNode {
  name: string;
  podCIDRs: string[];
  /** the address each pod CIDR is reached by: same family (native), the tunnel's far end (vxlan) */
  nexthops: Map<string, string>;
}

export interface NodeTopology {
  routing: RoutingMode;
  /** this node's Node object (even when refused: its InternalIPs still find the uplink); null when missing */
  self: Node | null;
  selfOk: boolean;
  peers: PeerNode[];
  nodes: NodeSummary[];
  problems: NodeProblem[];
}

/** A route strait owns (protocol 200): `<dst> [via <gateway>] dev <dev>`. */
export interface StraitRoute {
  dst: string;
  gateway: string | null;
  dev: string;
}

/** What the masquerade needs: whose traffic (this node's pods) and which destinations are not the outside. */
export interface MasqueradeInput {
  podCIDRs: string[];
  clusterCIDRs: string[];
}

export interface NodeNetworkPlan {
  routes: StraitRoute[];
  /** strait_remote_v1: pod CIDR → the node address it is reached by */
  remote: Map<string, string>;
  masquerade: MasqueradeInput;
}

const familyOf = (ip: string): Family => (ip.includes(':') ? 6 : 4);
const byName = (a: Node, b: Node): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (x === null || y?.family !== x.family) return false;
  const len = Math.min(x.prefixLen, y.prefixLen);
  return networkOf(x.family, x.value, len) === networkOf(y.family, y.value, len);
}

/** Problems of one node on its own, as the routing mode sees them. */
function ownReasons(n: Node, routing: RoutingMode): string[] {
  const out: string[] = [];
  if (n.internalIPs.length === 0) out.push('has no InternalIP in status.addresses');
  if (n.podCIDRs.length === 0) out.push('has no spec.podCIDRs');
  if (routing === 'native' && n.internalIPs.length > 0) {
    for (const c of n.podCIDRs) {
      const f = familyOf(c);
      if (!n.internalIPs.some((ip) => familyOf(ip) === f)) {
        out.push(`has pod CIDR ${c} but no IPv${f} InternalIP (native routing needs one of the same family; --routing vxlan does not)`);
      }
    }
  }
  return out;
}

/** Pairs of nodes that cannot both be right: overlapping pod CIDRs, or one InternalIP. */
function collisions(nodes: readonly Node[], reasons: Map<string, string[]>): void {
  const add = (n: Node, why: string): void => void reasons.get(n.name)!.push(why);
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const a = nodes[i]!;
      const b = nodes[j]!;
      for (const ca of a.podCIDRs) {
        for (const cb of b.podCIDRs) {
          if (!overlaps(ca, cb)) continue;
          add(a, `pod CIDR ${ca} overlaps Node ${b.name}'s ${cb}`);
          add(b, `pod CIDR ${cb} overlaps Node ${a.name}'s ${ca}`);
        }
      }
      for (const ip of a.internalIPs.filter((x) => b.internalIPs.includes(x))) {
        add(a, `shares InternalIP ${ip} with Node ${b.name}`);
        add(b, `shares InternalIP ${ip} with Node ${a.name}`);
      }
    }
  }
}

function nexthops(n: Node, routing: RoutingMode): Map<string, string> {
  const out = new Map<string, string>();
  // vxlan: one far end per node, IPv4 preferred; either family carries both.
  const tunnel = n.internalIPs.find((ip) => familyOf(ip) === 4) ?? n.internalIPs[0]!;
  for (const c of n.podCIDRs) {
    out.set(c, routing === 'vxlan' ? tunnel : n.internalIPs.find((ip) => familyOf(ip) === familyOf(c))!);
  }
  return out;
}

export function nodeTopology(cluster: ClusterState, nodeName: string, routing: RoutingMode): NodeTopology {
  const nodes = [...cluster.nodes].sort(byName);
  const reasons = new Map(nodes.map((n) => [n.name, ownReasons(n, routing)]));
  collisions(nodes, reasons);
  const self = nodes.find((n) => n.name === nodeName) ?? null;
  const problems: NodeProblem[] = [];
  if (self === null) {
    problems.push({
      kind: 'node-missing',
      subject: `node ${nodeName}`,
      message: `Node ${nodeName} (this node, --node) is missing from the source: write it with spec.podCIDRs and an InternalIP; until then other nodes cannot reach its pods and this node finds no uplink by address`,
    });
  }
  const summaries: NodeSummary[] = [];
  const peers: PeerNode[] = [];
  for (const n of nodes) {
    const why = reasons.get(n.name)!;
    const isSelf = n.name === nodeName;
    summaries.push({ name: n.name, self: isSelf, podCIDRs: n.podCIDRs, internalIPs: n.internalIPs, state: why.length === 0 ? 'ok' : 'refused', reason: why.length === 0 ? null : why.join('; ') });
    if (why.length > 0) {
      const consequence = isSelf ? 'other nodes refuse it alike and do not reach its pods, and this node masquerades none of their traffic' : 'its pods are unreachable from this node';
      problems.push({ kind: 'node-invalid', subject: `node ${n.name}`, message: `Node ${n.name} ${why.join('; ')}: ${consequence} until that is fixed` });
      continue;
    }
    if (!isSelf) peers.push({ name: n.name, podCIDRs: n.podCIDRs, nexthops: nexthops(n, routing) });
  }
  return { routing, self, selfOk: self !== null && reasons.get(self.name)!.length === 0, peers, nodes: summaries, problems };
}

/** Routes, remote entries and masquerade input for a topology, with the uplink found. */
export function nodeNetworkPlan(t: NodeTopology, uplink: string): NodeNetworkPlan {
  const routes: StraitRoute[] = [];
  const remote = new Map<string, string>();
  for (const p of t.peers) {
    for (const [cidr, ip] of p.nexthops) {
      remote.set(cidr, ip);
      routes.push(t.routing === 'native' ? { dst: cidr, gateway: ip, dev: uplink } : { dst: cidr, gateway: null, dev: VXLAN_DEVICE });
    }
  }
  const clusterCIDRs = [...new Set(t.nodes.flatMap((n) => n.podCIDRs))].sort();
  return { routes, remote, masquerade: { podCIDRs: t.selfOk && t.self !== null ? [...t.self.podCIDRs] : [], clusterCIDRs } };
}

/** This node's spec.podCIDRs as the agent's cluster state holds them (Kubernetes IPAM mode). */
export interface NodePodCidrs {
  /** --node */
  node: string;
  /** null: no Node object of that name (or the source has not loaded yet); []: one without spec.podCIDRs */
  podCIDRs: string[] | null;
}

export function nodePodCidrs(cluster: ClusterState | null, nodeName: string): NodePodCidrs {
  const self = cluster?.nodes.find((n) => n.name === nodeName);
  return { node: nodeName, podCIDRs: self === undefined ? null : [...self.podCIDRs] };
}
