// The agent's Prometheus metrics (issue #14), one prom-client Registry per agent (never
// the library's global one, so two agents in one test process do not share series).
// Gauges and counters are read at scrape time from what the agent already keeps (its
// status, the source's, the pinned counter maps) in collect() callbacks, not copied on a
// timer: a scrape sees the state of that moment, and an idle agent does no work for
// metrics. Only what happens between scrapes (CNI calls, reconcile passes) is observed
// as it happens, into histograms.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentStatus, MapFill, PassTimer } from './core.js';
import type { SourceStatus } from './sources/source.js';
import type { FlowStats } from '../flows/service.js';

/** One counter of the datapath, as straitctl drops reads it (src/cli/drops.ts). */
export interface DatapathCounter {
  kind: 'drop' | 'forward' | 'fib';
  /** the C name: DROP_POLICY_INGRESS, STAT_POLICY_ALLOWED, BPF_FIB_LKUP_RET_NO_NEIGH */
  name: string;
  packets: string;
  bytes: string;
}

/** What the metrics read, at each scrape. Every reader may answer null: not there (yet). */
export interface MetricsInputs {
  /** the agent's status, the source's merged in; null until the core runs */
  status(): AgentStatus | null;
  /** the source's own view; null until it is open */
  source(): { current: boolean; status: SourceStatus | null } | null;
  /** the datapath's counter maps summed over CPUs; null when none are pinned */
  counters(): DatapathCounter[] | null;
  /** max_entries of the pinned map of that name; null when it is not pinned */
  maxEntries(map: string): number | null;
  /** seconds the oldest snapshot the datapath does not hold yet has waited (SyncLag) */
  syncLagSeconds(): number;
  /** the flow pipeline's totals (src/flows/service.ts); null or absent when it does not run */
  flows?(): FlowStats | null;
}

export interface AgentMetrics {
  readonly registry: Registry;
  /** for the reconcile passes (AgentOptions.timing) */
  readonly timing: PassTimer;
  /** for the CNI service (CniServiceOptions.onCall) */
  readonly observeCni: (command: string, code: number, seconds: number) => void;
}

const PASS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const CNI_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Each map the agent counts entries of, with the capacity it plans with (status.maps, services.maps). */
export function mapFills(s: AgentStatus | null): MapFill[] {
  return s === null ? [] : [...s.maps, ...(s.services?.maps ?? [])];
}

/**
 * The lag between the source delivering a snapshot and the datapath holding it: the
 * age of the oldest delivered generation newer than the applied one (0 when none is
 * waiting). Generations only grow, so an applied one retires every older one.
 */
export class SyncLag {
  private readonly delivered = new Map<number, number>();

  deliveredAt(generation: number, nowMs: number): void {
    if (!this.delivered.has(generation)) this.delivered.set(generation, nowMs);
  }

  seconds(appliedGeneration: number, nowMs: number): number {
    let oldest: number | null = null;
    for (const [g, t] of this.delivered) {
      if (g <= appliedGeneration) this.delivered.delete(g);
      else if (oldest === null || t < oldest) oldest = t;
    }
    return oldest === null ? 0 : Math.max(0, (nowMs - oldest) / 1000);
  }
}

export function createAgentMetrics(inputs: MetricsInputs): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];
  const gauge = (name: string, help: string, read: (s: AgentStatus) => number | undefined): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const s = inputs.status();
        const v = s === null ? undefined : read(s);
        if (v !== undefined) this.set(v);
      },
    });
  };
  gauge('strait_agent_synced', 'Whether the datapath holds everything the source holds now (1) or not (0)', (s) => (s.synced ? 1 : 0));
  gauge('strait_endpoints', 'Local endpoints (pods of this node) the agent serves', (s) => s.endpoints);
  gauge('strait_identities', 'Pod identities (distinct label sets) of the last compiled state', (s) => s.identities ?? 0);
  gauge('strait_network_policies', 'NetworkPolicy objects in the cluster state', (s) => s.policies);
  gauge('strait_policy_entries', 'Entries written to strait_policy_v1', (s) => s.maps.find((m) => m.map === 'strait_policy_v1')?.entries);
  gauge('strait_services', 'Services written to the Service maps', (s) => s.services?.services);
  gauge('strait_service_ports', '(ClusterIP, port) entries written to the Service maps', (s) => s.services?.servicePorts);
  gauge('strait_service_backends', 'Service backends written', (s) => s.services?.backends);
  gauge('strait_service_backends_ready', 'Service backends written as ready', (s) => s.services?.readyBackends);
  gauge('strait_source_generation', 'Generation of the last snapshot the source delivered', (s) => s.sourceGeneration);
  gauge('strait_applied_generation', 'Generation of the last snapshot the datapath holds', (s) => s.appliedGeneration);

  new Gauge({
    name: 'strait_problems',
    help: 'Things the datapath does not hold as the source says, by kind (straitctl status lists them)',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      for (const p of inputs.status()?.problems ?? []) this.inc({ kind: p.kind });
    },
  });

  const agentCounter = (name: string, help: string, read: (s: AgentStatus) => number | undefined): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        const s = inputs.status();
        const v = s === null ? undefined : read(s);
        if (v === undefined) return;
        this.reset();
        this.inc(v);
      },
    });
  };
  agentCounter('strait_policy_refusals_total', 'Times a NetworkPolicy went from applied (or new) to refused: it did not fit the maps', (s) => s.counters.policyRefusals);
  agentCounter('strait_map_write_failures_total', 'Policy map writes that failed (each retried)', (s) => s.counters.writeFailures);
  agentCounter('strait_ipcache_overflows_total', 'Times strait_ipcache_v1 went from holding every pod address to not', (s) => s.counters.ipcacheOverflows);
  agentCounter('strait_service_refusals_total', 'Times a Service went from written (or new) to refused', (s) => s.services?.counters.refusals);
  agentCounter('strait_service_write_failures_total', 'Service map writes that failed (each retried)', (s) => s.services?.counters.writeFailures);

  mapPressure(inputs, registers);
  datapathCounters(inputs, registers);
  sourceSync(inputs, registers);
  flowEvents(inputs, registers);

  const passes = {
    compile: new Histogram({
      name: 'strait_compile_duration_seconds',
      help: 'Time a reconcile pass spent compiling: policy (compile, admission, diff) or Services (compile, plan)',
      labelNames: ['loop'],
      buckets: PASS_BUCKETS,
      registers,
    }),
    apply: new Histogram({
      name: 'strait_apply_duration_seconds',
      help: 'Time a reconcile pass spent writing its plan into the maps (and cutting connections policy no longer allows)',
      labelNames: ['loop'],
      buckets: PASS_BUCKETS,
      registers,
    }),
  };
  const cni = new Histogram({
    name: 'strait_cni_call_duration_seconds',
    help: 'CNI calls the agent answered (POST /v1/cni and queued DELs), by command and result code (0: success)',
    labelNames: ['command', 'code'],
    buckets: CNI_BUCKETS,
    registers,
  });
  return {
    registry,
    timing: (loop, phase, seconds) => passes[phase].observe({ loop }, seconds),
    // The command as the runtime sent it, bounded: CNI has six, anything else is one label value.
    observeCni: (command, code, seconds) => cni.observe({ command: /^(ADD|DEL|CHECK|GC|STATUS|VERSION)$/.test(command) ? command : 'other', code: String(code) }, seconds),
  };
}

/**
 * read, at most once per scrape (collect() runs once per metric, and several metrics
 * share one read): a result younger than 100 ms is handed out again.
 */
function perScrape<T>(read: () => T): () => T {
  let cached: { at: number; value: T } | null = null;
  return () => {
    const now = performance.now();
    if (cached === null || now - cached.at > 100) cached = { at: now, value: read() };
    return cached.value;
  };
}

function mapPressure(inputs: MetricsInputs, registers: Registry[]): void {
  // Entries as the agent wrote them, max_entries as the kernel holds them: a map pinned
  // at another size than maps.h (--max-entries service=) is measured against its own.
  // Each pin is opened once per scrape, not once for each of the three gauges.
  const rows = perScrape((): { map: string; entries: number; max: number }[] =>
    mapFills(inputs.status()).map((f) => ({ map: f.map, entries: f.entries, max: inputs.maxEntries(f.map) ?? f.capacity })),
  );
  const perMap = (name: string, help: string, value: (r: { entries: number; max: number }) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['map'],
      registers,
      collect() {
        this.reset();
        for (const r of rows()) this.set({ map: r.map }, value(r));
      },
    });
  };
  perMap('strait_map_entries', 'Entries the agent has written to a pinned map', (r) => r.entries);
  perMap('strait_map_max_entries', 'max_entries of a pinned map', (r) => r.max);
  perMap('strait_map_fill_ratio', 'How full a pinned map is: entries / max_entries (1 = full)', (r) => (r.max > 0 ? r.entries / r.max : 0));
}

function datapathCounters(inputs: MetricsInputs, registers: Registry[]): void {
  // One read of the maps per scrape, shared by every counter below.
  const rows = perScrape((): DatapathCounter[] => inputs.counters() ?? []);
  const counter = (name: string, help: string, label: string, pick: (r: DatapathCounter) => string | null, field: 'packets' | 'bytes'): void => {
    new Counter({
      name,
      help,
      labelNames: label === '' ? [] : [label],
      registers,
      collect() {
        this.reset();
        for (const r of rows()) {
          const v = pick(r);
          if (v === null) continue;
          if (label === '') this.inc(Number(r[field]));
          else this.inc({ [label]: v }, Number(r[field]));
        }
      },
    });
  };
  const kind = (k: DatapathCounter['kind']) => (r: DatapathCounter) => (r.kind === k ? r.name : null);
  counter('strait_drops_total', 'Packets the datapath dropped, by reason (strait_drops_v1)', 'reason', kind('drop'), 'packets');
  counter('strait_drop_bytes_total', 'Bytes the datapath dropped, by reason (strait_drops_v1)', 'reason', kind('drop'), 'bytes');
  counter('strait_datapath_packets_total', 'Packets by verdict counter (strait_stats_v2): where they went', 'counter', kind('forward'), 'packets');
  counter('strait_datapath_bytes_total', 'Bytes by verdict counter (strait_stats_v2)', 'counter', kind('forward'), 'bytes');
  counter('strait_fib_fallbacks_total', 'FIB lookups for another node that fell back to the host stack, by return code (strait_fib_v1)', 'code', kind('fib'), 'packets');
  counter(
    'strait_policy_allowed_connections_total',
    'New connections the policy of an isolated endpoint allowed (STAT_POLICY_ALLOWED)',
    '',
    (r) => (r.name === 'STAT_POLICY_ALLOWED' ? r.name : null),
    'packets',
  );
}

function flowEvents(inputs: MetricsInputs, registers: Registry[]): void {
  const stats = () => inputs.flows?.() ?? null;
  new Counter({
    name: 'strait_flow_events_total',
    help: 'Flow records the agent read from the datapath, by event (new, state, drop) and verdict',
    labelNames: ['event', 'verdict'],
    registers,
    collect() {
      this.reset();
      for (const e of stats()?.events ?? []) this.inc({ event: e.event, verdict: e.verdict }, e.count);
    },
  });
  new Counter({
    name: 'strait_flow_events_lost_total',
    help: 'Flow records lost since the agent started, by cause: ring-full (the agent was behind), rate-limited (over --flow-events-rate), agent-error (the agent could not decode or handle them), slow-reader (a monitor did not keep up)',
    labelNames: ['cause'],
    registers,
    collect() {
      this.reset();
      const s = stats();
      if (s !== null) for (const [cause, n] of Object.entries(s.lost)) this.inc({ cause }, n);
    },
  });
  new Gauge({
    name: 'strait_flow_subscribers',
    help: 'Live readers of flow records (straitctl monitor, GET /v1/flows?follow=1)',
    registers,
    collect() {
      const s = stats();
      if (s !== null) this.set(s.subscribers);
    },
  });
}

function sourceSync(inputs: MetricsInputs, registers: Registry[]): void {
  const source = () => inputs.source();
  // The directory source watches no kinds: it is one, "manifests", synced when current.
  const synced = () => {
    const src = source();
    if (src === null) return [];
    return src.status?.resources.map((r) => ({ resource: r.resource, synced: r.synced })) ?? [{ resource: 'manifests', synced: src.current }];
  };
  new Gauge({
    name: 'strait_source_current',
    help: 'Whether what the cluster holds now has been delivered by the source (1) or not (0)',
    registers,
    collect() {
      const src = source();
      if (src !== null) this.set(src.current ? 1 : 0);
    },
  });
  new Gauge({
    name: 'strait_source_sync_lag_seconds',
    help: 'Seconds the datapath is behind: since the source stopped being current (a watch down), or since the oldest snapshot it delivered that is not applied yet; 0: in step',
    registers,
    collect() {
      this.set(inputs.syncLagSeconds());
    },
  });
  new Gauge({
    name: 'strait_source_synced',
    help: 'Per watched kind (the directory source: "manifests"): listed and watched with nothing known to be missed (1) or not (0)',
    labelNames: ['resource'],
    registers,
    collect() {
      this.reset();
      for (const r of synced()) this.set({ resource: r.resource }, r.synced ? 1 : 0);
    },
  });
  type Resource = NonNullable<SourceStatus['resources']>[number];
  const watched = (name: string, help: string, read: (r: Resource) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['resource'],
      registers,
      collect() {
        this.reset();
        for (const r of source()?.status?.resources ?? []) this.inc({ resource: r.resource }, read(r));
      },
    });
  };
  watched('strait_source_reconnects_total', 'Per watched kind: watches restarted after an error, a drop or a silent connection', (r) => r.reconnects);
  watched('strait_source_relists_total', 'Per watched kind: lists again after 410 Gone', (r) => r.relists);
  watched('strait_source_errors_total', 'Per watched kind: lists and watches that failed', (r) => r.errors);
  new Gauge({
    name: 'strait_source_invalid_objects',
    help: 'Per watched kind: objects refused by validation',
    labelNames: ['resource'],
    registers,
    collect() {
      this.reset();
      for (const r of source()?.status?.resources ?? []) this.set({ resource: r.resource }, r.invalid);
    },
  });
}
