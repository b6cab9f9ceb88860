// The node's side of reaching other nodes' pods, reconciled by diff against what is
// there: the uplink found (the interface holding this node's InternalIP, or
// --uplink), the VXLAN device in vxlan mode, from_uplink on the uplink,
// strait_config_v1, one route per other node's pod CIDR (protocol 200, so strait's
// own are found again and nobody else's are touched), the strait_remote_v1 entries
// and the masquerade table. What is right already is left alone, so a restarted
// agent adopts it; what strait left that is no longer wanted goes.
//
// Nothing runs before the source has delivered a cluster (an empty one would remove
// every route), nor while it holds no Node at all (one node on its own). A failed step is reported and retried, never thrown: the agent
// keeps serving its pods. When the uplink cannot be found nothing is changed at
// all: the routes and entries there may still be right, and guessing is worse.
import { type MasqueradeInput, type NodeSummary, nodeNetworkPlan, nodeTopology, type RoutingMode, type StraitRoute, VXLAN_DEVICE } from '../cluster/nodes.js';
import type { ConfigValue } from '../datapath/maps/config.js';
import type { ClusterState } from '../policy/types.js';
import type { Logger } from '../util/log.js';
import type { AgentProblem } from './core.js';
import { createPassRunner } from '../util/pass-runner.js';

/** rtm_protocol of strait's routes: how the agent tells its own from everyone else's. */
export const STRAIT_ROUTE_PROTOCOL = 200;

/** VXLAN over IPv4 or IPv6 costs at most 50 bytes of the uplink's MTU (outer IPv4, UDP, VXLAN, inner Ethernet). */
export const VXLAN_OVERHEAD = 50;

export interface Uplink {
  name: string;
  ifindex: number;
  mtu: number;
}

export interface TunnelSpec {
  name: string;
  /** UDP destination port */
  port: number;
  mtu: number;
}

/**
 * What the node network does to the node. node-network-effects.ts holds the real
 * ones (one small function each); the unit tests a fake (test/helpers/fake-node-network.ts).
 */
export interface NodeNetworkEffects {
  /** the interface named `name`, else the one holding one of `addresses`; null when there is none */
  findUplink(addresses: readonly string[], name: string | null): Uplink | null;
  /** strait's routes (protocol 200) of the main table, both families; never anyone else's */
  listRoutes(): StraitRoute[];
  /** adds it with protocol 200; EEXIST when any route to dst is there */
  addRoute(r: StraitRoute): void;
  deleteRoute(r: StraitRoute): void;
  /** the collect_md VXLAN device (external, nolearning, NOARP, no IPv6 autoconf), created or brought to spec, up; its ifindex */
  ensureTunnel(spec: TunnelSpec): number;
  /** removes strait_vxlan; false when it was not there */
  removeTunnel(): boolean;
  /** from_uplink on the uplink's tc ingress (replacing strait's own program there); nothing when it runs there already */
  attachUplink(ifindex: number): void;
  readConfig(): ConfigValue | null;
  writeConfig(c: ConfigValue): void;
  /** strait_remote_v1: pod CIDR → node address */
  listRemote(): Map<string, string>;
  setRemote(cidr: string, nodeIp: string): void;
  deleteRemote(cidr: string): void;
  /**
   * `table inet strait` as the input asks, adopted if there; null removes it
   * (--masquerade false). The real one runs nft and settles later: the loop counts it
   * applied once the promise resolves, and retries a rejection after retryMs.
   */
  applyMasquerade(m: MasqueradeInput | null): void | Promise<void>;
}

export interface NodeNetworkOptions {
  nodeName: string;
  routing: RoutingMode;
  /** --uplink; null: find it by this node's InternalIP */
  uplink: string | null;
  vxlanPort: number;
  masquerade: boolean;
  log: Logger;
  /** wait before retrying a failed step; default 2 s */
  retryMs?: number;
}

export interface NodeNetworkStatus {
  problems: AgentProblem[];
  nodes: NodeSummary[];
  /**
   * The last snapshot is reconciled: no pass waiting, no nft run in flight, no failed
   * step waiting for its retry. Refused Nodes and a missing uplink do not count: they
   * wait for the source or the operator, as a refused policy does.
   */
  settled: boolean;
}

export interface NodeNetwork {
  /** a new cluster snapshot: reconcile against it (coalesced) */
  update(cluster: ClusterState): void;
  status(): NodeNetworkStatus;
  close(): void;
}

const routeKey = (r: StraitRoute): string => `${r.dst} via ${r.gateway ?? '-'} dev ${r.dev}`;
const sameConfig = (a: ConfigValue | null, b: ConfigValue): boolean =>
  a !== null && a.routing === b.routing && a.uplinkIfindex === b.uplinkIfindex && a.tunnelIfindex === b.tunnelIfindex;
const problemKey = (p: AgentProblem): string => `${p.kind}\n${p.subject}\n${p.message}`;
const FAILED = Symbol('failed');

export function createNodeNetwork(opts: NodeNetworkOptions, fx: NodeNetworkEffects): NodeNetwork {
  const { log } = opts;
  const retryMs = opts.retryMs ?? 2000;
  let cluster: ClusterState | null = null;
  let nodes: NodeSummary[] = [];
  let problems = new Map<string, AgentProblem>();
  let masqueradeApplied: string | null = null;
  /** the masquerade input an nft run is applying now */
  let masqueradeInFlight: string | null = null;
  /** the last nft run's failure, and when to try again */
  let masqueradeFailed: { problem: AgentProblem; retryAt: number } | null = null;
  const runner = createPassRunner(run, retryMs);
  const schedule = (): void => runner.schedule();

  /** One pass; returns the problems it found (failed steps included). */
  function reconcile(state: ClusterState): AgentProblem[] {
    // A source with no Node at all is a one-node cluster (a manifest directory of a
    // single node): nobody to route to, and nothing there is touched.
    if (state.nodes.length === 0) {
      nodes = [];
      return [];
    }
    const t = nodeTopology(state, opts.nodeName, opts.routing);
    nodes = t.nodes;
    const found: AgentProblem[] = [...t.problems];
    const attempt = <T>(subject: string, fn: () => T): T | typeof FAILED => {
      try {
        return fn();
      } catch (e) {
        found.push({ kind: 'node-network-failed', subject, message: `${subject} failed: ${(e as Error).message}; retrying` });
        return FAILED;
      }
    };
    const step = (subject: string, fn: () => void): boolean => attempt(subject, fn) !== FAILED;

    const addresses = t.self?.internalIPs ?? [];
    const up = attempt('finding the uplink', () => fx.findUplink(addresses, opts.uplink));
    if (up === FAILED) return found;
    if (up === null) {
      found.push({ kind: 'uplink-missing', subject: opts.uplink ?? 'uplink', message: uplinkMissing(opts.uplink, addresses) });
      return found;
    }

    let tunnelIfindex = 0;
    if (opts.routing === 'vxlan') {
      const spec = { name: VXLAN_DEVICE, port: opts.vxlanPort, mtu: up.mtu - VXLAN_OVERHEAD };
      const ifindex = attempt(`creating ${VXLAN_DEVICE}`, () => fx.ensureTunnel(spec));
      if (ifindex === FAILED) return found; // routes and entries would point at a device that is not there
      tunnelIfindex = ifindex;
    }
    // Every pass: a program someone detached comes back (the effect writes nothing when it runs there).
    step(`attaching from_uplink to ${up.name}`, () => fx.attachUplink(up.ifindex));

    const plan = nodeNetworkPlan(t, up.name);
    // Leaving first, so nothing is sent toward a node whose route is going; then joining,
    // route before entry, so from_pod's FIB lookup finds the route an entry sends it to.
    const haveRemote = attempt('reading strait_remote_v1', () => fx.listRemote());
    const haveRoutes = attempt("listing strait's routes", () => fx.listRoutes());
    if (haveRemote === FAILED || haveRoutes === FAILED) return found;
    for (const cidr of haveRemote.keys()) {
      if (!plan.remote.has(cidr)) step(`removing the remote entry for ${cidr}`, () => fx.deleteRemote(cidr));
    }
    const want = new Map(plan.routes.map((r) => [routeKey(r), r]));
    const have = new Map(haveRoutes.map((r) => [routeKey(r), r]));
    for (const [k, r] of have) if (!want.has(k)) step(`removing route ${k}`, () => fx.deleteRoute(r));
    const unrouted = new Set<string>();
    for (const [k, r] of want) if (!have.has(k) && !step(`adding route ${k}`, () => fx.addRoute(r))) unrouted.add(r.dst);
    for (const [cidr, ip] of plan.remote) {
      if (haveRemote.get(cidr) === ip || (opts.routing === 'native' && unrouted.has(cidr))) continue;
      step(`writing the remote entry for ${cidr}`, () => fx.setRemote(cidr, ip));
    }

    const config: ConfigValue = { routing: opts.routing, uplinkIfindex: up.ifindex, tunnelIfindex };
    step('writing strait_config_v1', () => {
      if (!sameConfig(fx.readConfig(), config)) fx.writeConfig(config);
    });
    if (opts.routing === 'native') step(`removing ${VXLAN_DEVICE}`, () => fx.removeTunnel());

    const masq: MasqueradeInput | null = opts.masquerade ? plan.masquerade : null;
    applyMasqueradeOnce(masq, found);
    return found;
  }

  /** One nft run at a time, only for an input not applied yet; its failure is reported and retried. */
  function applyMasqueradeOnce(masq: MasqueradeInput | null, found: AgentProblem[]): void {
    const text = JSON.stringify(masq);
    const subject = 'applying the masquerade table';
    const failed = (e: unknown): AgentProblem => {
      const problem: AgentProblem = { kind: 'node-network-failed', subject, message: `${subject} failed: ${(e as Error).message}; retrying` };
      masqueradeFailed = { problem, retryAt: Date.now() + retryMs };
      return problem;
    };
    if (masqueradeFailed !== null && Date.now() < masqueradeFailed.retryAt) {
      found.push(masqueradeFailed.problem);
      return;
    }
    if (text === masqueradeApplied || text === masqueradeInFlight) return;
    masqueradeFailed = null;
    let pending: void | Promise<void>;
    try {
      pending = fx.applyMasquerade(masq);
    } catch (e) {
      found.push(failed(e));
      return;
    }
    if (!(pending instanceof Promise)) {
      masqueradeApplied = text;
      return;
    }
    masqueradeInFlight = text;
    pending
      .then(
        () => {
          masqueradeApplied = text;
        },
        (e: unknown) => void failed(e),
      )
      .finally(() => {
        masqueradeInFlight = null;
        schedule(); // report the outcome (and, after a failure, arm the retry)
      });
  }

  /** One log line per problem when it appears, one when it is gone. */
  function report(found: readonly AgentProblem[]): void {
    const next = new Map(found.map((p) => [problemKey(p), p]));
    for (const [k, p] of next) if (!problems.has(k)) log.error({ kind: p.kind, subject: p.subject }, p.message);
    for (const [k, p] of problems) if (!next.has(k)) log.info({ kind: p.kind, subject: p.subject }, `resolved: ${p.message}`);
    problems = next;
  }

  function run(): void {
    if (cluster === null) return;
    let found: AgentProblem[];
    try {
      found = reconcile(cluster);
    } catch (e) {
      // Every effect is guarded; this is a bug, and it must not take the agent down.
      found = [{ kind: 'node-network-failed', subject: 'node network', message: `reconciling the node network failed: ${(e as Error).message}; retrying` }];
    }
    report(found);
    // Node problems wait for a new snapshot; the node's own (a step, the uplink) are retried.
    if (found.some((p) => p.kind === 'node-network-failed' || p.kind === 'uplink-missing')) runner.retryLater();
  }

  return {
    update(state) {
      cluster = state;
      schedule();
    },
    status: () => ({
      problems: [...problems.values()],
      nodes,
      settled: !runner.scheduled && masqueradeInFlight === null && ![...problems.values()].some((p) => p.kind === 'node-network-failed'),
    }),
    close() {
      runner.close();
    },
  };
}

function uplinkMissing(named: string | null, addresses: readonly string[]): string {
  if (named !== null) return `--uplink ${named}: no such interface in this network namespace; nothing toward other nodes is changed until it appears`;
  if (addresses.length === 0) return 'no uplink: this node has no InternalIP to find it by; give --uplink IFACE or fix the Node; nothing toward other nodes is changed until then';
  return `no interface holds this node's InternalIP (${addresses.join(', ')}): give --uplink IFACE or fix the Node; nothing toward other nodes is changed until then`;
}
