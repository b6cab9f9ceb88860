// The agent and the datapath together, with real packets: a pod reaches a Service's
// ClusterIP only because strait-agent compiled the Service and its EndpointSlice
// from a manifest directory into the Service maps (no iptables rule, no hand-written
// entry), and an EndpointSlice edit moves new connections to the backend it names.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type ClusterPod } from '../helpers/cluster.js';
import { serviceManifest } from '../helpers/lb-builders.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('Services written by the agent, with real packets');

const VIP = '198.18.94.250';
const list = (items: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const sliceOf = (pods: ClusterPod[]) =>
  list([
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-1', namespace: 'x', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: pods.map((p) => ({ addresses: [p.ip], conditions: { ready: true } })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  ]);

describe.skipIf(!isRoot)('strait-agent serves a ClusterIP from its manifests', () => {
  const c = isRoot ? new Cluster('198.18.94.0/24') : (null as unknown as Cluster);
  let pods: Record<'client' | 'web1' | 'web2', ClusterPod>;

  beforeAll(async () => {
    c.write('services.yaml', list([serviceManifest('web', { clusterIP: VIP, selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] })]));
    await c.startAgent();
    pods = {
      client: await c.addPod({ namespace: 'x', name: 'client', labels: {} }, ['tcp:81']),
      web1: await c.addPod({ namespace: 'x', name: 'web1', labels: {} }, ['tcp:8080']),
      web2: await c.addPod({ namespace: 'x', name: 'web2', labels: {} }, ['tcp:8080']),
    };
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
    cleanupAll();
  });

  const viaService = async (): Promise<string | null> => (await pods.client.prober.run([{ host: VIP, port: 80, proto: 'tcp' }]))[0] ?? null;

  it('no EndpointSlice: nothing answers; the slice written: its backend answers through the ClusterIP', async () => {
    expect(await viaService()).toBeNull();
    c.write('slices.yaml', sliceOf([pods.web1]));
    await c.waitSynced();
    expect(await viaService()).toBe('x/web1');
  });

  it('the slice edited to the other backend: new connections go there', async () => {
    c.write('slices.yaml', sliceOf([pods.web2]));
    await c.waitSynced();
    const answers = new Set<string | null>();
    for (let i = 0; i < 6; i++) answers.add(await viaService());
    expect([...answers]).toEqual(['x/web2']);
  });
});
