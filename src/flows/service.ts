// The agent's flow pipeline: the reader's events named, kept in the buffer, handed
// to the live readers; loss reported to them and totalled. What the API
// (src/flows/http.ts) and the metrics read.
import type { FlowNameSources } from '../agent/core.js';
import type { FlowEvent } from '../datapath/maps/events.js';
import type { Logger } from '../util/log.js';
import { FlowBuffer } from './buffer.js';
import { FlowHub, type FlowSink, type FlowSubscription } from './hub.js';
import { FlowNamer } from './naming.js';
import { startFlowReader, type EventSource, type FlowReader } from './reader.js';
import { rfc3339Ns } from './time.js';
import { FLOW_VERDICTS, type FlowEventKind, type FlowFilter, type FlowRecord, type FlowVerdict, type LostCause } from './types.js';

export interface FlowServiceOptions {
  nodeName: string;
  /** --flow-buffer */
  capacity: number;
  source: EventSource;
  /** the core's names now; null before the core runs */
  names(): FlowNameSources | null;
  /** wall minus CLOCK_MONOTONIC, ns (monotonicToWallOffsetNs) */
  clockOffsetNs: bigint;
  log: Logger;
  drainMs?: number;
  /** the reader's back-off while the ring is empty (idleDrainMs); unset, none */
  idleDrainMs?: number;
  countersMs?: number;
}

export interface FlowStats {
  /** records read, by event and verdict (every pair, zeros too) */
  events: { event: FlowEventKind; verdict: FlowVerdict; count: number }[];
  lost: Record<LostCause, number>;
  subscribers: number;
}

export interface FlowService {
  readonly capacity: number;
  /** the newest n records the filter matches, oldest first */
  recent(n: number, filter: FlowFilter): FlowRecord[];
  /** records lost since start, by cause */
  lost(): Record<LostCause, number>;
  subscribe(filter: FlowFilter, sink: FlowSink): FlowSubscription;
  stats(): FlowStats;
  /** the reader's work, now (tests; the timers do it otherwise) */
  readonly reader: FlowReader;
  close(): void;
}

const KINDS: FlowEventKind[] = ['new', 'state', 'drop'];

export function startFlowService(opts: FlowServiceOptions): FlowService {
  const namer = new FlowNamer({ nodeName: opts.nodeName, clockOffsetNs: opts.clockOffsetNs });
  const buffer = new FlowBuffer(opts.capacity);
  const wallNow = () => rfc3339Ns(process.hrtime.bigint() + opts.clockOffsetNs);
  const hub = new FlowHub(wallNow);
  const readerLost = { 'ring-full': 0, 'rate-limited': 0, 'agent-error': 0 };
  const counts = new Map<string, number>(KINDS.flatMap((k) => FLOW_VERDICTS.map((v) => [`${k} ${v}`, 0] as const)));

  const onEvents = (events: FlowEvent[]): void => {
    namer.refresh(opts.names());
    const records = events.map((e) => namer.name(e));
    for (const r of records) {
      buffer.push(r);
      const key = `${r.event} ${r.verdict}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    hub.publish(records);
  };
  const reader = startFlowReader({
    source: opts.source,
    onEvents,
    onLost(cause, count) {
      readerLost[cause] += count;
      hub.lost({ time: wallNow(), cause, count });
    },
    log: opts.log,
    ...(opts.drainMs === undefined ? {} : { drainMs: opts.drainMs }),
    ...(opts.idleDrainMs === undefined ? {} : { idleDrainMs: opts.idleDrainMs }),
    ...(opts.countersMs === undefined ? {} : { countersMs: opts.countersMs }),
  });
  const lost = () => ({ ...readerLost, 'slow-reader': hub.slowReaderLost });
  return {
    capacity: opts.capacity,
    recent: (n, filter) => buffer.last(n, filter),
    lost,
    subscribe: (filter, sink) => hub.subscribe(filter, sink),
    stats: () => ({
      events: KINDS.flatMap((event) => FLOW_VERDICTS.map((verdict) => ({ event, verdict, count: counts.get(`${event} ${verdict}`) ?? 0 }))),
      lost: lost(),
      subscribers: hub.subscribers,
    }),
    reader,
    close: () => reader.close(),
  };
}
