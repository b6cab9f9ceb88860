// Drains the datapath's flow events: the ring buffer strait_events_v1 every 10 ms
// while records come (programs submit without a wakeup, so a timer is the reader's
// only prompt), less often while the ring stays empty (idleDrainMs), and
// strait_event_cpu_v1 every second, whose ring_full and rate_limited growth becomes
// a loss report. Both timers are unref'd: they never keep the agent alive. A pin
// that is missing (no datapath yet) or replaced (the datapath loaded again) is
// opened again on the next second's tick.
import { join } from 'node:path';
import * as bpf from '../datapath/bpf.js';
import { decodeFlowEvent, EVENT_MAP_KEY, FLOW_EVENT_SIZE, sumEventCpuStates, type EventCpuTotals, type FlowEvent } from '../datapath/maps/events.js';
import { EVENTS_RING_SIZE, MapName } from '../datapath/maps/names.js';
import type { Logger } from '../util/log.js';
import type { LostCause } from './types.js';

/** Bytes one consume() may take: a bound on one call, not on a turn (drain loops). */
export const DRAIN_CAP = 4096 * FLOW_EVENT_SIZE;
/** consume() calls in one turn at most: the 4 MiB ring is 13 caps; the rest waits 10 ms. */
const MAX_CONSUMES = 32;

/** The drain's period while records come, ms. */
export const DRAIN_MS = 10;
/** The longest an idle drain waits, ms: the first record after a quiet spell is this late at most. */
export const IDLE_DRAIN_MAX_MS = 100;
/** Records the ring holds: each takes an 8-byte header (BPF_RINGBUF_HDR_SZ) besides its own 80. */
const RING_RECORDS = Math.floor(EVENTS_RING_SIZE / (FLOW_EVENT_SIZE + 8));

/**
 * How long a drain may wait while the ring stays empty: as long as every CPU at its
 * rate limit fills half the ring at most, up to IDLE_DRAIN_MAX_MS, and never less
 * than drainMs. Unlimited (rate 0), a burst has no bound: no back-off at all. Each
 * empty drain doubles the wait up to this; a drain that finds a record goes back to
 * drainMs. Idle, the agent wakes 10 times a second, not 100.
 */
export function idleDrainMs(ratePerCpu: number, cpus: number, drainMs = DRAIN_MS): number {
  if (ratePerCpu <= 0) return drainMs;
  const fillsHalfMs = Math.floor((RING_RECORDS / 2 / (ratePerCpu * Math.max(1, cpus))) * 1000);
  return Math.max(drainMs, Math.min(IDLE_DRAIN_MAX_MS, fillsHalfMs));
}

/** The datapath's side, over pinned maps in the agent (pinnedEventSource), faked in tests. */
export interface EventSource {
  /** the ring, or null when it is not pinned (yet) */
  openRing(): bpf.RingReader | null;
  /** the pinned ring's map id, to see it replaced; null when not pinned */
  ringId(): number | null;
  /** every CPU's counters summed; null when not pinned */
  cpuTotals(): EventCpuTotals | null;
}

export function pinnedEventSource(bpfDir: string): EventSource {
  const withPin = <T>(name: string, use: (fd: number) => T): T | null => {
    const fd = bpf.getPinned(join(bpfDir, name));
    if (fd === null) return null;
    try {
      return use(fd);
    } finally {
      bpf.closeFd(fd);
    }
  };
  return {
    // The mapping holds the map: the fd is closed at once.
    openRing: () => withPin(MapName.events, (fd) => bpf.openRingReader(fd, FLOW_EVENT_SIZE)),
    ringId: () => withPin(MapName.events, (fd) => bpf.mapInfo(fd).id),
    cpuTotals: () =>
      withPin(MapName.eventCpu, (fd) => {
        const v = bpf.mapLookup(fd, EVENT_MAP_KEY);
        return v === null ? null : sumEventCpuStates(v, bpf.numPossibleCpus());
      }),
  };
}

/** The losses the datapath counts, and the reader's own (the hub counts slow readers'). */
export type ReaderLostCause = Exclude<LostCause, 'slow-reader'>;
/** The losses the datapath counts (strait_event_cpu_v1). */
type DatapathLostCause = Exclude<ReaderLostCause, 'agent-error'>;

/** Growth of each loss counter since the last read; a counter that went back (the map was made anew) grew by its value. */
export function lostGrowth(prev: EventCpuTotals, now: EventCpuTotals): { cause: DatapathLostCause; count: bigint }[] {
  const grew = (p: bigint, n: bigint): bigint => (n < p ? n : n - p);
  const out: { cause: DatapathLostCause; count: bigint }[] = [];
  const full = grew(prev.ringFull, now.ringFull);
  const limited = grew(prev.rateLimited, now.rateLimited);
  if (full > 0n) out.push({ cause: 'ring-full', count: full });
  if (limited > 0n) out.push({ cause: 'rate-limited', count: limited });
  return out;
}

export interface FlowReaderOptions {
  source: EventSource;
  /** records in ring order, a batch at a time (up to DRAIN_CAP's worth); never empty */
  onEvents(events: FlowEvent[]): void;
  /** a loss counter grew by count since the last read, or the reader lost count records itself (agent-error) */
  onLost(cause: ReaderLostCause, count: number): void;
  log: Logger;
  /** the drain's period while records come (DRAIN_MS) */
  drainMs?: number;
  /** the longest wait while the ring stays empty (idleDrainMs); drainMs: no back-off */
  idleDrainMs?: number;
  countersMs?: number;
}

export interface FlowReader {
  /** one drain turn now (the timer's work); returns the records it handed on */
  drain(): number;
  /** one counters tick now (the timer's work) */
  tick(): void;
  close(): void;
}

export function startFlowReader(opts: FlowReaderOptions): FlowReader {
  const { source, log } = opts;
  let ring: bpf.RingReader | null = null;
  let ringId: number | null = null;
  let baseline: EventCpuTotals | null = null;
  let closed = false;
  let malformed = 0;
  let missingLogged = false;

  const open = (): void => {
    try {
      const id = source.ringId();
      if (ring !== null && id === ringId) return;
      ring?.close();
      ring = null;
      ringId = id;
      if (id === null) {
        if (!missingLogged) log.info({ map: MapName.events }, 'flow events: the ring is not pinned yet; retrying every second');
        missingLogged = true;
        return;
      }
      ring = source.openRing();
      missingLogged = false;
    } catch (e) {
      log.warn({ map: MapName.events, err: String(e) }, 'flow events: cannot open the ring; retrying');
    }
  };

  /** the records that decode into `into`; returns how many did not */
  const decode = (bytes: Uint8Array, into: FlowEvent[]): number => {
    let bad = 0;
    for (let off = 0; off < bytes.byteLength; off += FLOW_EVENT_SIZE) {
      try {
        into.push(decodeFlowEvent(bytes.subarray(off, off + FLOW_EVENT_SIZE)));
      } catch (e) {
        // A record no program of this build writes: lost (agent-error), logged now and then, skipped.
        bad++;
        if (malformed++ % 1000 === 0) log.warn({ malformed, err: String(e) }, 'flow events: a record that does not decode');
      }
    }
    return bad;
  };

  /** one consume(); null when the ring failed (it is opened again on the next tick) */
  const consume = (r: bpf.RingReader): Uint8Array | null => {
    try {
      return r.consume(DRAIN_CAP).bytes;
    } catch (e) {
      log.warn({ err: String(e) }, 'flow events: reading the ring failed; opening it again');
      r.close();
      ring = null;
      ringId = null;
      return null;
    }
  };

  const drain = (): number => {
    let total = 0;
    // A burst is taken in one turn: consume again while a call came back full.
    // Each call's records are handed on at once, so few are alive at a time.
    for (let i = 0; i < MAX_CONSUMES && !closed && ring !== null; i++) {
      const bytes = consume(ring);
      if (bytes === null) break;
      const events: FlowEvent[] = [];
      let lost = decode(bytes, events);
      total += events.length;
      if (events.length > 0) {
        try {
          opts.onEvents(events);
        } catch (e) {
          // A timer's throw would end the agent; a record that cannot be handled must not.
          log.error({ err: String(e) }, 'flow events: handling a batch failed; its records are lost');
          lost += events.length;
        }
      }
      if (lost > 0) opts.onLost('agent-error', lost);
      if (bytes.byteLength + FLOW_EVENT_SIZE <= DRAIN_CAP) break;
    }
    return total;
  };

  const tick = (): void => {
    if (closed) return;
    open();
    let now: EventCpuTotals | null;
    try {
      now = source.cpuTotals();
    } catch (e) {
      log.warn({ map: MapName.eventCpu, err: String(e) }, 'flow events: cannot read the per-CPU counters');
      return;
    }
    if (now === null) return;
    // The first read is the baseline: what was lost before this agent is no loss of its own.
    for (const l of lostGrowth(baseline ?? now, now)) opts.onLost(l.cause, Number(l.count));
    baseline = now;
  };

  tick(); // opens the ring, and takes the counters' baseline
  const drainMs = opts.drainMs ?? DRAIN_MS;
  const idleMs = Math.max(drainMs, opts.idleDrainMs ?? drainMs);
  let wait = drainMs;
  let drainTimer: NodeJS.Timeout;
  const scheduled = (): void => {
    wait = drain() > 0 ? drainMs : Math.min(idleMs, wait * 2);
    if (closed) return;
    drainTimer = setTimeout(scheduled, wait);
    drainTimer.unref();
  };
  drainTimer = setTimeout(scheduled, drainMs);
  drainTimer.unref();
  const tickTimer = setInterval(tick, opts.countersMs ?? 1000);
  tickTimer.unref();
  return {
    drain,
    tick,
    close() {
      closed = true;
      clearTimeout(drainTimer);
      clearInterval(tickTimer);
      ring?.close();
      ring = null;
    },
  };
}
