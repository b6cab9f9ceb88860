// Services and EndpointSlices -> the Service entries this node wants (docs/services.md,
// "What is translated"). Pure. Each Service with ClusterIPs gets one entry per
// (ClusterIP, port); its backends are the endpoints of its EndpointSlices of that
// ClusterIP's family, the target port taken from the slice's port of the same name
// and protocol (named targetPorts too, as kube-proxy resolves them). Order is
// deterministic, so the same cluster always compiles to the same entries. A memo
// (by the Service object and its slices, which the sources keep while they do not
// change) hands back the same DesiredService for the same inputs, so the agent
// recompiles and rediffs only what changed.
import { ipFamily, parseIp } from '../ipam/addr.js';
import { LB_SVC_F_AFFINITY } from '../datapath/maps/lb.js';
import { IPPROTO, type ClusterState, type EndpointSlice, type Service, type ServicePort } from '../policy/types.js';
import type { CompiledServices, DesiredBackend, DesiredEntry, DesiredService, LbSkipped } from './types.js';


/** One Service's output, for the objects it came from. */
interface Compiled {
  slices: readonly EndpointSlice[];
  service: DesiredService | null;
  skipped: LbSkipped[];
}

/** Keep one per agent (nodeName fixed): outputs by Service object. */
export type CompileMemo = WeakMap<Service, Compiled>;

/** The same objects in the same order. */
export const sameList = <T>(a: readonly T[], b: readonly T[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export function compileServices(cluster: ClusterState, nodeName: string, memo: CompileMemo = new WeakMap()): CompiledServices {
  const slicesOf = new Map<string, EndpointSlice[]>();
  for (const s of cluster.endpointSlices) {
    if (s.serviceName === null) continue;
    const k = `${s.namespace}/${s.serviceName}`;
    slicesOf.set(k, [...(slicesOf.get(k) ?? []), s]);
  }
  const services: DesiredService[] = [];
  const skipped: LbSkipped[] = [];
  const named = cluster.services.map((svc) => ({ svc, name: `${svc.namespace}/${svc.name}` })).sort((x, y) => cmp(x.name, y.name));
  for (const { svc, name } of named) {
    if (svc.type === 'ExternalName' || svc.headless || svc.clusterIPs.length === 0) continue;
    const mine = slicesOf.get(name) ?? [];
    let out = memo.get(svc);
    if (out === undefined || !sameList(out.slices, mine)) {
      out = { slices: mine, ...compileService(svc, mine, nodeName) };
      memo.set(svc, out);
    }
    if (out.service !== null) services.push(out.service);
    skipped.push(...out.skipped);
  }
  return { services, skipped };
}

function compileService(svc: Service, mine: readonly EndpointSlice[], nodeName: string): { service: DesiredService | null; skipped: LbSkipped[] } {
  const name = `${svc.namespace}/${svc.name}`;
  const skipped: LbSkipped[] = [];
  const entries: DesiredEntry[] = [];
  for (const ip of svc.clusterIPs) {
    const fam = ipFamily(ip);
    const slices = mine.filter((s) => s.addressType === (fam === 4 ? 'IPv4' : 'IPv6'));
    for (const port of svc.ports) {
      const backends = backendsOf(svc, port, slices, nodeName);
      if (port.protocol === 'SCTP' && (port.targetPort !== port.port || backends.some((b) => b.port !== port.port))) {
        // SCTP's CRC32c covers the ports: strait translates SCTP by address only.
        skipped.push({ service: name, reason: `SCTP port ${port.port} has another targetPort (${String(port.targetPort)}): left to kube-proxy (strait rewrites SCTP addresses, never ports)` });
        continue;
      }
      entries.push({
        key: { family: fam, addr: ip, port: port.port, protocol: IPPROTO[port.protocol] },
        flags: svc.sessionAffinity === null ? 0 : LB_SVC_F_AFFINITY,
        affinityTimeoutS: svc.sessionAffinity?.timeoutSeconds ?? 0,
        backends,
      });
    }
  }
  return { service: entries.length > 0 ? { name, entries } : null, skipped };
}

/** The endpoints of the slices behind one Service port: duplicates collapsed (ready wins), sorted by address value (10.0.0.9 before 10.0.0.10), then port. */
function backendsOf(svc: Service, port: ServicePort, slices: readonly EndpointSlice[], nodeName: string): DesiredBackend[] {
  const byKey = new Map<string, DesiredBackend>();
  for (const slice of slices) {
    // The slice's port for this Service port: same name (both unnamed counts) and protocol.
    const target = slice.ports.find((p) => p.name === port.name && p.protocol === port.protocol)?.port ?? null;
    if (target === null) continue;
    for (const ep of slice.endpoints) {
      if (svc.internalTrafficPolicy === 'Local' && ep.nodeName !== nodeName) continue;
      // As kube-proxy: an endpoint's addresses are fungible; the first one is used.
      const addr = ep.addresses[0];
      if (addr === undefined) continue;
      const ready = ep.conditions.ready && !ep.conditions.terminating;
      const k = `${addr} ${target}`;
      const seen = byKey.get(k);
      byKey.set(k, { addr, port: target, ready: ready || (seen?.ready ?? false) });
    }
  }
  const value = new Map([...byKey.values()].map((b) => [b.addr, parseIp(b.addr)?.value ?? 0n]));
  const byValue = (a: DesiredBackend, b: DesiredBackend): number => {
    const x = value.get(a.addr)!;
    const y = value.get(b.addr)!;
    return x < y ? -1 : x > y ? 1 : a.port - b.port;
  };
  return [...byKey.values()].sort(byValue);
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
