// The main job's Service check: one ClusterIP Service over every lab pod (port 80 to
// the pods' named port http), its EndpointSlices as the controller would write them,
// and a client pod's connections to each ClusterIP answered by pods of several
// nodes — translated by the client node's from_pod (STAT_LB_TRANSLATED), with no
// kube-proxy and no iptables rule in the lab.
import { counter, probe } from './checks.js';
import type { EmulatedCluster } from './cluster.js';
import { serviceEndpointSlices, type PodObject, type ServiceObject } from './endpoint-slices.js';
import { podObject } from './manifests.js';
import { LAB_NAMESPACE, POD_PORT } from './topology.js';

/** The Service's ClusterIPs: a range no lab node, pod or outside host uses. */
export const LAB_SERVICE_IPS = { v4: '198.18.250.10', v6: 'fd5a:5e:1::a' } as const;
const SERVICE_PORT = 80;
const CONNECTIONS = 12;

const serviceFile = 'service-lab-web.json';
const sliceFile = (name: string): string => `endpointslice-${LAB_NAMESPACE}-${name}.json`;

function webService(dualStack: boolean): ServiceObject {
  const clusterIPs = dualStack ? [LAB_SERVICE_IPS.v4, LAB_SERVICE_IPS.v6] : [LAB_SERVICE_IPS.v4];
  return {
    metadata: { namespace: LAB_NAMESPACE, name: 'web' },
    spec: {
      type: 'ClusterIP',
      selector: { app: 'lab' },
      clusterIP: clusterIPs[0]!,
      clusterIPs,
      ipFamilies: dualStack ? ['IPv4', 'IPv6'] : ['IPv4'],
      ipFamilyPolicy: dualStack ? 'RequireDualStack' : 'SingleStack',
      ports: [{ name: 'http', protocol: 'TCP', port: SERVICE_PORT, targetPort: 'http' }],
    },
  };
}

export type Check = (ok: boolean, line: string) => void;

/** Writes the Service, probes it from the first pod of node 1, removes it again. */
export function serviceDemo(c: EmulatedCluster, check: Check): void {
  const svc = webService(c.state.dualStack);
  const pods = c.state.pods.map((p) => podObject(p, POD_PORT) as PodObject);
  const slices = serviceEndpointSlices(svc, pods);
  c.writeManifest(serviceFile, { apiVersion: 'v1', kind: 'Service', ...svc });
  for (const s of slices) c.writeManifest(sliceFile(s.metadata.name), s);
  try {
    c.waitSynced();
    const client = c.podsOf(1)[0]!;
    const ips = svc.spec.clusterIPs ?? [];
    console.log(`  Service lab/web ${ips.join(', ')} port ${SERVICE_PORT} -> http (${POD_PORT}) on the ${pods.length} lab pods`);
    for (const ip of ips) {
      const before = counter(c, 1, 'STAT_LB_TRANSLATED');
      const answers = Array.from({ length: CONNECTIONS }, () => probe(c, { pod: client.name }, ip, 1500, SERVICE_PORT));
      const translated = counter(c, 1, 'STAT_LB_TRANSLATED') - before;
      const by = new Set(answers.filter((a): a is string => a !== null));
      const nodes = new Set([...by].map((name) => c.pod(name).node));
      const ok = answers.every((a) => a !== null) && nodes.size > 1 && translated > 0n;
      check(ok, `${client.name} -> ${ip}:${SERVICE_PORT}  ${answers.filter((a) => a !== null).length}/${CONNECTIONS} answered, by ${[...by].sort().join(' ')} (${nodes.size} nodes); n1 counted ${translated} STAT_LB_TRANSLATED`);
    }
  } finally {
    c.removeManifest(serviceFile);
    for (const s of slices) c.removeManifest(sliceFile(s.metadata.name));
    c.waitSynced();
  }
}
