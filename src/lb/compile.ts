// Services and EndpointSlices -> the Service entries this node wants (docs/services.md,
// "What is translated"). Pure. Each Service with ClusterIPs gets one entry per
// (ClusterIP, port); its backends are the endpoints of its EndpointSlices of that
// ClusterIP's family, the target port taken from the slice's port of the same name
// and protocol (named targetPorts too, as kube-proxy resolves them). Order is
// deterministic, so the same cluster always compiles to the same entries.
import { ipFamily, parseIp } from '../ipam/addr.js';
import { LB_SVC_F_AFFINITY } from '../datapath/maps/lb.js';
import { IPPROTO, type ClusterState, type EndpointSlice, type Service, type ServicePort } from '../policy/types.js';
import type { CompiledServices, DesiredBackend, DesiredEntry, DesiredService, LbSkipped } from './types.js';


export function compileServices(cluster: ClusterState, nodeName: string): CompiledServices {
  const slicesOf = new Map<string, EndpointSlice[]>();
  for (const s of cluster.endpointSlices) {
    if (s.serviceName === null) continue;
    const k = `${s.namespace}/${s.serviceName}`;
    slicesOf.set(k, [...(slicesOf.get(k) ?? []), s]);
  }
  const services: DesiredService[] = [];
  const skipped: LbSkipped[] = [];
  const sorted = [...cluster.services].sort((a, b) => cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  for (const svc of sorted) {
    if (svc.type === 'ExternalName' || svc.headless || svc.clusterIPs.length === 0) continue;
    const name = `${svc.namespace}/${svc.name}`;
    const entries: DesiredEntry[] = [];
    for (const ip of svc.clusterIPs) {
      const fam = ipFamily(ip);
      const slices = (slicesOf.get(name) ?? []).filter((s) => s.addressType === (fam === 4 ? 'IPv4' : 'IPv6'));
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
    if (entries.length > 0) services.push({ name, entries });
  }
  return { services, skipped };
}

/** The endpoints of the slices behind one Service port: duplicates collapsed (ready wins), sorted. */
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
  return [...byKey.values()].sort((a, b) => compareIp(a.addr, b.addr) || a.port - b.port);
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** By numeric value: 10.0.0.9 before 10.0.0.10 (both canonical, one family). */
function compareIp(a: string, b: string): number {
  const x = parseIp(a)?.value ?? 0n;
  const y = parseIp(b)?.value ?? 0n;
  return x < y ? -1 : x > y ? 1 : 0;
}
