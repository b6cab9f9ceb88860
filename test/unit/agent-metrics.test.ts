// The agent's metrics without a datapath (src/agent/metrics.ts): what each scrape reads
// from fake inputs, the histograms the CNI service and the passes feed, the sync lag,
// the result code of a CNI call, the exposition parser of the tests, and where
// deploy-run serves /metrics (with the probes, on one server or two).
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { register as globalRegistry } from 'prom-client';
import { createAgentMetrics, SyncLag, type DatapathCounter, type MetricsInputs } from '../../src/agent/metrics.js';
import { resultCode } from '../../src/agent/cni-service.js';
import { startDeploy } from '../../src/agent/deploy-run.js';
import { parseAgentFlags } from '../../src/agent/options.js';
import type { AgentStatus } from '../../src/agent/core.js';
import type { SourceStatus } from '../../src/agent/sources/source.js';
import { capturingLogger } from '../helpers/agent-wait.js';
import { FakeCore } from '../helpers/fake-core.js';
import { parseExposition, samplesOf, valueOf } from '../helpers/prom-text.js';
import { cleanupAll, tempDir } from '../helpers/sys.js';

afterAll(cleanupAll);

const row = (kind: DatapathCounter['kind'], name: string, packets: number, bytes = packets * 100): DatapathCounter => ({ kind, name, packets: String(packets), bytes: String(bytes) });

function inputs(over: Partial<MetricsInputs> = {}): MetricsInputs {
  const status: AgentStatus = {
    ...new FakeCore().statusValue,
    endpoints: 4,
    identities: 3,
    problems: [
      { kind: 'policy-refused', subject: 'x/a', message: 'm' },
      { kind: 'policy-refused', subject: 'x/b', message: 'm' },
    ],
    counters: { policyRefusals: 2, writeFailures: 1, ipcacheOverflows: 0 },
    services: {
      services: 2,
      servicePorts: 3,
      backends: 5,
      readyBackends: 4,
      refused: [],
      skipped: [],
      maps: [{ map: 'strait_lb_services_v1', entries: 3, capacity: 100 }],
      counters: { refusals: 0, writeFailures: 0, purged: 0 },
    },
  };
  return {
    status: () => status,
    source: () => null,
    counters: () => [row('drop', 'DROP_POLICY_INGRESS', 7), row('drop', 'DROP_SPOOF_IP', 0), row('forward', 'STAT_POLICY_ALLOWED', 9), row('fib', 'BPF_FIB_LKUP_RET_NO_NEIGH', 2)],
    maxEntries: (map) => (map === 'strait_policy_v1' ? 48 : null),
    syncLagSeconds: () => 0.25,
    ...over,
  };
}

const scrape = async (m: ReturnType<typeof createAgentMetrics>) => parseExposition(await m.registry.metrics());

describe('agent metrics', () => {
  it('reads the status, the counters and the map sizes at scrape time', async () => {
    const e = await scrape(createAgentMetrics(inputs()));
    expect(valueOf(e, 'strait_endpoints')).toBe(4);
    expect(valueOf(e, 'strait_identities')).toBe(3);
    expect(valueOf(e, 'strait_policy_entries')).toBe(12);
    expect(valueOf(e, 'strait_services')).toBe(2);
    expect(valueOf(e, 'strait_service_backends_ready')).toBe(4);
    expect(valueOf(e, 'strait_problems', { kind: 'policy-refused' })).toBe(2);
    expect(valueOf(e, 'strait_policy_refusals_total')).toBe(2);
    expect(valueOf(e, 'strait_map_write_failures_total')).toBe(1);
    // max_entries from the pinned map where there is one, else the capacity the agent plans with
    expect(valueOf(e, 'strait_map_max_entries', { map: 'strait_policy_v1' })).toBe(48);
    expect(valueOf(e, 'strait_map_fill_ratio', { map: 'strait_policy_v1' })).toBe(0.25);
    expect(valueOf(e, 'strait_map_fill_ratio', { map: 'strait_lb_services_v1' })).toBe(0.03);
    expect(valueOf(e, 'strait_drops_total', { reason: 'DROP_POLICY_INGRESS' })).toBe(7);
    expect(valueOf(e, 'strait_drop_bytes_total', { reason: 'DROP_POLICY_INGRESS' })).toBe(700);
    expect(valueOf(e, 'strait_drops_total', { reason: 'DROP_SPOOF_IP' })).toBe(0);
    expect(valueOf(e, 'strait_datapath_packets_total', { counter: 'STAT_POLICY_ALLOWED' })).toBe(9);
    expect(valueOf(e, 'strait_policy_allowed_connections_total')).toBe(9);
    expect(valueOf(e, 'strait_fib_fallbacks_total', { code: 'BPF_FIB_LKUP_RET_NO_NEIGH' })).toBe(2);
    expect(valueOf(e, 'strait_source_sync_lag_seconds')).toBe(0.25);
    expect(e.types.get('strait_drops_total')).toBe('counter');
    expect(e.types.get('strait_map_fill_ratio')).toBe('gauge');
  });

  it('counters follow the maps, not an increment of their own: a second scrape reads the new value', async () => {
    let n = 1;
    const m = createAgentMetrics(inputs({ counters: () => [row('drop', 'DROP_POLICY_EGRESS', n)] }));
    expect(valueOf(await scrape(m), 'strait_drops_total', { reason: 'DROP_POLICY_EGRESS' })).toBe(1);
    n = 5;
    await new Promise((r) => setTimeout(r, 150)); // past the per-scrape read cache
    expect(valueOf(await scrape(m), 'strait_drops_total', { reason: 'DROP_POLICY_EGRESS' })).toBe(5);
  });

  it('flow events: records by event and verdict, lost by cause, live monitors; nothing before the pipeline runs', async () => {
    const flows = {
      events: [
        { event: 'new' as const, verdict: 'allowed' as const, count: 12 },
        { event: 'drop' as const, verdict: 'denied' as const, count: 3 },
        { event: 'drop' as const, verdict: 'dropped' as const, count: 0 },
      ],
      lost: { 'ring-full': 4, 'rate-limited': 0, 'agent-error': 1, 'slow-reader': 9 },
      subscribers: 2,
    };
    const e = await scrape(createAgentMetrics(inputs({ flows: () => flows })));
    expect(e.types.get('strait_flow_events_total')).toBe('counter');
    expect(valueOf(e, 'strait_flow_events_total', { event: 'new', verdict: 'allowed' })).toBe(12);
    expect(valueOf(e, 'strait_flow_events_total', { event: 'drop', verdict: 'denied' })).toBe(3);
    expect(valueOf(e, 'strait_flow_events_total', { event: 'drop', verdict: 'dropped' })).toBe(0);
    expect(e.types.get('strait_flow_events_lost_total')).toBe('counter');
    expect(valueOf(e, 'strait_flow_events_lost_total', { cause: 'ring-full' })).toBe(4);
    expect(valueOf(e, 'strait_flow_events_lost_total', { cause: 'rate-limited' })).toBe(0);
    expect(valueOf(e, 'strait_flow_events_lost_total', { cause: 'agent-error' })).toBe(1);
    expect(valueOf(e, 'strait_flow_events_lost_total', { cause: 'slow-reader' })).toBe(9);
    expect(valueOf(e, 'strait_flow_subscribers')).toBe(2);
    const none = await scrape(createAgentMetrics(inputs({ flows: () => null })));
    expect(samplesOf(none, 'strait_flow_events_total')).toEqual([]);
    expect(valueOf(none, 'strait_flow_subscribers')).toBe(0);
    expect(samplesOf(none, 'strait_flow_events_lost_total')).toEqual([]);
  });

  it('before the core and the maps exist: not synced, no per-map or per-reason series, and nothing throws', async () => {
    const e = await scrape(createAgentMetrics(inputs({ status: () => null, counters: () => null })));
    expect(valueOf(e, 'strait_agent_synced')).toBe(0);
    expect(samplesOf(e, 'strait_drops_total')).toEqual([]);
    expect(samplesOf(e, 'strait_map_fill_ratio')).toEqual([]);
  });

  it('the source: per watched kind synced, reconnects, relists and errors; the directory source as "manifests"', async () => {
    const kube: SourceStatus = {
      kind: 'kube',
      current: false,
      generation: 4,
      problems: [],
      resources: [
        { resource: 'pods', synced: true, resourceVersion: '1', objects: 3, invalid: 1, lastError: null, reconnects: 2, relists: 1, errors: 3 },
        { resource: 'nodes', synced: false, resourceVersion: '1', objects: 1, invalid: 0, lastError: 'x', reconnects: 0, relists: 0, errors: 1 },
      ],
    };
    let e = await scrape(createAgentMetrics(inputs({ source: () => ({ current: false, status: kube }) })));
    expect(valueOf(e, 'strait_source_current')).toBe(0);
    expect(valueOf(e, 'strait_source_synced', { resource: 'pods' })).toBe(1);
    expect(valueOf(e, 'strait_source_synced', { resource: 'nodes' })).toBe(0);
    expect(valueOf(e, 'strait_source_reconnects_total', { resource: 'pods' })).toBe(2);
    expect(valueOf(e, 'strait_source_relists_total', { resource: 'pods' })).toBe(1);
    expect(valueOf(e, 'strait_source_errors_total', { resource: 'nodes' })).toBe(1);
    expect(valueOf(e, 'strait_source_invalid_objects', { resource: 'pods' })).toBe(1);
    e = await scrape(createAgentMetrics(inputs({ source: () => ({ current: true, status: null }) })));
    expect(valueOf(e, 'strait_source_synced', { resource: 'manifests' })).toBe(1);
    expect(samplesOf(e, 'strait_source_errors_total')).toEqual([]);
  });

  it('histograms: CNI calls by command and code (unknown commands folded), passes by loop', async () => {
    const m = createAgentMetrics(inputs());
    m.observeCni('ADD', 0, 0.02);
    m.observeCni('ADD', 11, 3);
    m.observeCni('rm -rf', 4, 0.001);
    m.timing('policy', 'compile', 0.004);
    m.timing('services', 'apply', 0.2);
    const e = await scrape(m);
    expect(valueOf(e, 'strait_cni_call_duration_seconds_count', { command: 'ADD', code: '0' })).toBe(1);
    expect(valueOf(e, 'strait_cni_call_duration_seconds_bucket', { command: 'ADD', code: '11', le: '2.5' })).toBe(0);
    expect(valueOf(e, 'strait_cni_call_duration_seconds_bucket', { command: 'ADD', code: '11', le: '5' })).toBe(1);
    expect(valueOf(e, 'strait_cni_call_duration_seconds_count', { command: 'other', code: '4' })).toBe(1);
    expect(valueOf(e, 'strait_compile_duration_seconds_sum', { loop: 'policy' })).toBe(0.004);
    expect(valueOf(e, 'strait_apply_duration_seconds_count', { loop: 'services' })).toBe(1);
  });

  it('each agent has its own registry: the global one stays empty and two agents do not share series', async () => {
    const a = createAgentMetrics(inputs());
    const b = createAgentMetrics(inputs());
    a.observeCni('DEL', 0, 0.01);
    expect(samplesOf(await scrape(b), 'strait_cni_call_duration_seconds_count')).toEqual([]);
    expect(await globalRegistry.metrics()).not.toContain('strait_');
  });

  it('SyncLag: the age of the oldest delivered generation not applied yet', () => {
    const lag = new SyncLag();
    expect(lag.seconds(0, 1000)).toBe(0);
    lag.deliveredAt(1, 1000);
    lag.deliveredAt(2, 1500);
    lag.deliveredAt(2, 1900); // the same generation again keeps its first time
    expect(lag.seconds(0, 3000)).toBe(2);
    expect(lag.seconds(1, 3000)).toBe(1.5);
    expect(lag.seconds(2, 3000)).toBe(0);
    expect(lag.seconds(1, 4000)).toBe(0); // retired: an applied generation never waits again
  });

  it('resultCode: 0, the CNI error code on stdout, or 999', () => {
    expect(resultCode({ exitCode: 0, stdout: '' })).toBe(0);
    expect(resultCode({ exitCode: 1, stdout: JSON.stringify({ cniVersion: '1.1.0', code: 11, msg: 'try again' }) })).toBe(11);
    expect(resultCode({ exitCode: 1, stdout: 'not json' })).toBe(999);
    expect(resultCode({ exitCode: 1, stdout: '{"code":"7"}' })).toBe(999);
  });
});

describe('deploy/grafana-dashboard.json', () => {
  it('is a dashboard whose every query names metrics the agent exports', async () => {
    const d = JSON.parse(readFileSync(new URL('../../deploy/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: { type: string; targets?: { expr: string }[] }[] };
    const exported = new Set((await createAgentMetrics(inputs()).registry.getMetricsAsJSON()).map((m) => m.name));
    const named = new Set<string>();
    for (const p of d.panels) for (const t of p.targets ?? []) for (const m of t.expr.matchAll(/\bstrait_[a-z_]+/g)) named.add(m[0].replace(/_(bucket|count|sum)$/, ''));
    expect(named.size).toBeGreaterThan(20);
    expect([...named].filter((n) => !exported.has(n))).toEqual([]);
  });
});

describe('parseExposition', () => {
  it('reads samples, labels with escapes, TYPE lines and +Inf; refuses what it cannot read', () => {
    const e = parseExposition('# HELP a_total x\n# TYPE a_total counter\na_total{r="q\\"x",s="1"} 3\nb_bucket{le="+Inf"} 2\nc NaN\nd +Inf 123\n');
    expect(e.types.get('a_total')).toBe('counter');
    expect(valueOf(e, 'a_total', { r: 'q"x', s: '1' })).toBe(3);
    expect(valueOf(e, 'b_bucket', { le: '+Inf' })).toBe(2);
    expect(valueOf(e, 'c')).toBeNaN();
    expect(valueOf(e, 'd')).toBe(Infinity);
    for (const bad of ['a{b=1} 2', 'a 1 2 3', '# weird', 'a x']) expect(() => parseExposition(bad), bad).toThrow(/exposition/);
  });
});

describe('deploy-run serves /metrics', () => {
  const route = () => ({ status: 200, contentType: 'text/plain; version=0.0.4', body: 'strait_up 1\n' });
  const flags = (...a: string[]) => parseAgentFlags(['--source', `dir:${tempDir('metrics-run')}`, '--state-dir', tempDir('metrics-state'), ...a], {})!;
  const get = async (port: number, path: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, body: await r.text() };
  };

  it('on its own address with the probes, and beside them when --health-addr names the same', async () => {
    const { log } = capturingLogger();
    const d = await startDeploy(flags('--health-addr', '127.0.0.1:0', '--metrics-addr', `127.0.0.1:${await freePort()}`), log, route);
    try {
      expect(d.metrics!.port).not.toBe(d.health!.port);
      expect(await get(d.metrics!.port, '/metrics')).toEqual({ status: 200, body: 'strait_up 1\n' });
      expect((await get(d.metrics!.port, '/healthz')).status).toBe(503); // the API is not listening yet
      expect((await get(d.health!.port, '/metrics')).status).toBe(404);
    } finally {
      await d.close();
    }
    const port = await freePort();
    const one = await startDeploy(flags('--health-addr', `127.0.0.1:${port}`, '--metrics-addr', `127.0.0.1:${port}`), log, route);
    try {
      expect(one.metrics).toEqual(one.health);
      expect(await get(port, '/metrics')).toEqual({ status: 200, body: 'strait_up 1\n' });
    } finally {
      await one.close();
    }
  });

  it('a taken address: fatal when asked for, a warning for the default; off serves nothing', async () => {
    const { log, lines } = capturingLogger();
    const held = createServer();
    const port = await new Promise<number>((resolve) => held.listen(0, '127.0.0.1', () => resolve((held.address() as { port: number }).port)));
    try {
      await expect(startDeploy(flags('--metrics-addr', `127.0.0.1:${port}`), log, route)).rejects.toThrow(/EADDRINUSE/);
      const f = flags();
      f.deploy.metrics = { host: '127.0.0.1', port, explicit: false };
      const d = await startDeploy(f, log, route);
      expect(d.metrics).toBeNull();
      expect(lines.some((l) => /no metrics: 127\.0\.0\.1:\d+ is not free/.test(JSON.stringify(l)))).toBe(true);
      await d.close();
      const off = await startDeploy(flags('--metrics-addr', 'off'), log, route);
      expect(off.metrics).toBeNull();
      await off.close();
    } finally {
      held.close();
    }
  });
});

function freePort(): Promise<number> {
  const s = createServer();
  return new Promise((resolve) =>
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    }),
  );
}
