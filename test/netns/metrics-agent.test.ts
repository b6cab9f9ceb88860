// strait-agent --metrics-addr, scraped and parsed (issue #14, item 4): the real agent on
// a manifest directory, three pods through bin/strait, a NetworkPolicy that denies one
// of them, a Service; every metric the agent exports is there with a value that follows
// from what the test did (a denied probe is a counted drop, each ADD a CNI observation).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { runCni } from '../helpers/cni.js';
import { serviceManifest } from '../helpers/lb-builders.js';
import { parseExposition, samplesOf, valueOf, type Exposition } from '../helpers/prom-text.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';
import { list, NAMESPACE_X, PODS, WEB_FROM_CLIENT } from '../helpers/web-client-other.js';
import { POLICY_MAX } from '../../src/datapath/maps/names.js';

warnIfNotRoot('the agent metrics endpoint');

const VIP = '198.18.95.250';
describe.skipIf(!isRoot)('strait-agent --metrics-addr', () => {
  const c = isRoot ? new Cluster('198.18.95.0/24') : (null as unknown as Cluster);
  let base = '';

  beforeAll(async () => {
    c.write('namespaces.yaml', NAMESPACE_X);
    c.write('pods.yaml', PODS);
    c.write('services.yaml', list([serviceManifest('web', { clusterIP: VIP, selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] })]));
    await c.startAgent(['--metrics-addr', '127.0.0.1:0']);
    const m = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(c.agentLog);
    if (m === null) throw new Error(`no metrics address in the agent log:\n${c.agentLog.slice(-2000)}`);
    base = m[1]!;
    for (const name of ['web', 'client', 'other']) await c.addPod({ namespace: 'x', name, labels: {} }, ['tcp:80']);
    const web = c.pod('x/web');
    c.write(
      'slices.yaml',
      list([
        {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: 'web-1', namespace: 'x', labels: { 'kubernetes.io/service-name': 'web' } },
          addressType: 'IPv4',
          endpoints: [{ addresses: [web.ip], conditions: { ready: true } }],
          ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
        },
      ]),
    );
    c.write('policy.yaml', WEB_FROM_CLIENT);
    await c.waitSynced();
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
    cleanupAll();
  });

  const scrape = async (): Promise<Exposition> => {
    const r = await fetch(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseExposition(await r.text());
  };

  it('serves /healthz and /readyz beside /metrics', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ ready: true });
  });

  it('counts what the test did: endpoints, policy, Services, map pressure, CNI calls, passes, source', async () => {
    const e = await scrape();
    expect(valueOf(e, 'strait_agent_synced')).toBe(1);
    expect(valueOf(e, 'strait_endpoints')).toBe(3);
    expect(valueOf(e, 'strait_identities')).toBeGreaterThanOrEqual(3); // three label sets
    expect(valueOf(e, 'strait_network_policies')).toBe(1);
    const entries = valueOf(e, 'strait_policy_entries');
    expect(entries).toBeGreaterThan(0);
    expect(valueOf(e, 'strait_services')).toBe(1);
    expect(valueOf(e, 'strait_service_ports')).toBe(1);
    expect(valueOf(e, 'strait_service_backends')).toBe(1);
    expect(valueOf(e, 'strait_service_backends_ready')).toBe(1);
    // Map pressure, per map: the policy map holds the entries, against the kernel's max_entries.
    expect(valueOf(e, 'strait_map_entries', { map: 'strait_policy_v1' })).toBe(entries);
    expect(valueOf(e, 'strait_map_max_entries', { map: 'strait_policy_v1' })).toBe(POLICY_MAX);
    expect(valueOf(e, 'strait_map_fill_ratio', { map: 'strait_policy_v1' })).toBeCloseTo(entries / POLICY_MAX, 12);
    for (const map of ['strait_ipcache_v1', 'strait_cidr_v1', 'strait_lb_services_v1', 'strait_lb_backends_v1', 'strait_lb_slots_v1']) {
      const ratio = valueOf(e, 'strait_map_fill_ratio', { map });
      expect(ratio).toBeGreaterThan(0);
      expect(ratio).toBeLessThanOrEqual(1);
    }
    // Every ADD went through the agent, observed with its command and result code.
    expect(e.types.get('strait_cni_call_duration_seconds')).toBe('histogram');
    expect(valueOf(e, 'strait_cni_call_duration_seconds_count', { command: 'ADD', code: '0' })).toBeGreaterThanOrEqual(3);
    expect(valueOf(e, 'strait_cni_call_duration_seconds_bucket', { command: 'ADD', code: '0', le: '+Inf' })).toBeGreaterThanOrEqual(3);
    expect(valueOf(e, 'strait_cni_call_duration_seconds_sum', { command: 'ADD', code: '0' })).toBeGreaterThan(0);
    // Reconcile passes of both loops, compile and apply.
    for (const name of ['strait_compile_duration_seconds', 'strait_apply_duration_seconds']) {
      expect(e.types.get(name)).toBe('histogram');
      for (const loop of ['policy', 'services']) expect(valueOf(e, `${name}_count`, { loop })).toBeGreaterThan(0);
    }
    // The directory source: current, its one "kind", nothing waiting.
    expect(valueOf(e, 'strait_source_current')).toBe(1);
    expect(valueOf(e, 'strait_source_synced', { resource: 'manifests' })).toBe(1);
    expect(valueOf(e, 'strait_source_sync_lag_seconds')).toBe(0);
    expect(valueOf(e, 'strait_applied_generation')).toBe(valueOf(e, 'strait_source_generation'));
    for (const name of ['strait_policy_refusals_total', 'strait_map_write_failures_total', 'strait_ipcache_overflows_total', 'strait_service_refusals_total', 'strait_service_write_failures_total']) {
      expect(e.types.get(name)).toBe('counter');
      expect(valueOf(e, name)).toBe(0);
    }
    expect(samplesOf(e, 'strait_problems')).toEqual([]);
    // Flow events: the pipeline runs; every event/verdict pair and loss cause has its series.
    expect(e.types.get('strait_flow_events_total')).toBe('counter');
    expect(samplesOf(e, 'strait_flow_events_total')).toHaveLength(9);
    for (const cause of ['ring-full', 'rate-limited', 'agent-error', 'slow-reader']) expect(valueOf(e, 'strait_flow_events_lost_total', { cause })).toBe(0);
    expect(valueOf(e, 'strait_flow_subscribers')).toBe(0);
  });

  it('a failed CNI call is observed under its result code', async () => {
    const r = await runCni({ command: 'CHECK', config: c.config(), containerId: 'metrics-never-added', netns: c.pod('x/web').netns.path, ...c.cniRun });
    expect(r.exitCode).not.toBe(0);
    const code = String((r.json as { code: number }).code);
    expect(code).not.toBe('0');
    expect(valueOf(await scrape(), 'strait_cni_call_duration_seconds_count', { command: 'CHECK', code })).toBe(1);
  });

  it('a denied probe is a counted drop by reason; allowed and Service connections are counted too', async () => {
    const before = await scrape();
    const drops0 = samplesOf(before, 'strait_drops_total', { reason: 'DROP_POLICY_INGRESS' })[0]?.value ?? 0;
    const allowed0 = valueOf(before, 'strait_policy_allowed_connections_total');
    const [web, client, other] = [c.pod('x/web'), c.pod('x/client'), c.pod('x/other')];
    expect(await c.probe([{ from: other, to: web, proto: 'tcp', port: 80 }])).toEqual([false]);
    expect(await c.probe([{ from: client, to: web, proto: 'tcp', port: 80 }])).toEqual([true]);
    expect(await client.prober.run([{ host: VIP, port: 80, proto: 'tcp' }])).toEqual(['x/web']);

    const e = await scrape();
    for (const name of ['strait_drops_total', 'strait_drop_bytes_total', 'strait_datapath_packets_total', 'strait_datapath_bytes_total', 'strait_fib_fallbacks_total', 'strait_policy_allowed_connections_total']) {
      expect(e.types.get(name)).toBe('counter');
    }
    expect(valueOf(e, 'strait_drops_total', { reason: 'DROP_POLICY_INGRESS' })).toBeGreaterThan(drops0);
    expect(valueOf(e, 'strait_drop_bytes_total', { reason: 'DROP_POLICY_INGRESS' })).toBeGreaterThan(0);
    // Every reason and counter has its series, zero or not: a dashboard's rate() needs the zero.
    expect(valueOf(e, 'strait_drops_total', { reason: 'DROP_SPOOF_IP' })).toBe(0);
    expect(samplesOf(e, 'strait_fib_fallbacks_total').length).toBeGreaterThan(0);
    // Two new connections allowed by web's policy: the direct one and the one through the Service.
    expect(valueOf(e, 'strait_policy_allowed_connections_total')).toBeGreaterThanOrEqual(allowed0 + 2);
    expect(valueOf(e, 'strait_datapath_packets_total', { counter: 'STAT_POLICY_ALLOWED' })).toBe(valueOf(e, 'strait_policy_allowed_connections_total'));
    expect(valueOf(e, 'strait_datapath_packets_total', { counter: 'STAT_LB_TRANSLATED' })).toBeGreaterThan(0);
    expect(valueOf(e, 'strait_datapath_packets_total', { counter: 'STAT_REDIRECT_PEER' })).toBeGreaterThan(0);
  });
});
