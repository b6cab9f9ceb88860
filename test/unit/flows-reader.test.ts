// src/flows/reader.ts over an EventSource that hands records over as the addon's ring
// reader does: a burst taken in one turn, bad records skipped, a missing pin retried,
// a replaced ring opened again, loss counters' growth reported, timers stopped by close.
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';

import { FLOW_EVENT_SIZE, type FlowEvent } from '../../src/datapath/maps/events.js';
import { DRAIN_CAP, DRAIN_MS, IDLE_DRAIN_MAX_MS, idleDrainMs, lostGrowth, startFlowReader } from '../../src/flows/reader.js';
import { event, FakeRing, FakeSource } from './flows-helpers.js';

const log = pino({ level: 'silent' });
const PER_CAP = Math.floor(DRAIN_CAP / FLOW_EVENT_SIZE);

function reader(source: FakeSource) {
  const batches: FlowEvent[][] = [];
  const lost: [string, number][] = [];
  // Timers far out: the test turns the crank itself.
  const r = startFlowReader({ source, onEvents: (e) => batches.push(e), onLost: (c, n) => lost.push([c, n]), log, drainMs: 1e9, countersMs: 1e9 });
  return { r, batches, lost };
}

describe('the flow reader', () => {
  it('hands on the records written so far, decoded, in ring order; nothing on an empty ring', () => {
    const src = new FakeSource();
    const { r, batches } = reader(src);
    try {
      expect(r.drain()).toBe(0);
      expect(batches).toEqual([]);
      src.ring!.write(event({ sport: 1 }), event({ sport: 2, type: 'new', reason: 0 }));
      expect(r.drain()).toBe(2);
      expect(batches).toHaveLength(1);
      expect(batches[0]!.map((e) => [e.sport, e.type])).toEqual([
        [1, 'drop'],
        [2, 'new'],
      ]);
    } finally {
      r.close();
    }
  });

  it('takes a burst bigger than one consume in one turn, consuming until a call comes back short', () => {
    const src = new FakeSource();
    const { r, batches } = reader(src);
    try {
      const n = PER_CAP * 2 + 5;
      for (let i = 0; i < n; i++) src.ring!.write(event({ sport: i % 65536 }));
      expect(r.drain()).toBe(n);
      expect(src.ring!.consumes).toEqual([PER_CAP, PER_CAP, 5]);
      // handed on call by call, so a burst is never alive all at once
      expect(batches.map((b) => b.length)).toEqual([PER_CAP, PER_CAP, 5]);
      expect(batches.flat().map((e) => e.sport)).toEqual(Array.from({ length: n }, (_, i) => i % 65536));
    } finally {
      r.close();
    }
  });

  it('skips a record no program writes, keeps the rest, and reports the one it skipped as lost (agent-error)', () => {
    const src = new FakeSource();
    const { r, batches, lost } = reader(src);
    try {
      const bad = new Uint8Array(FLOW_EVENT_SIZE).fill(0xee);
      src.ring!.write(event({ sport: 1 }), bad, event({ sport: 3 }), bad);
      expect(r.drain()).toBe(2);
      expect(batches[0]!.map((e) => e.sport)).toEqual([1, 3]);
      expect(lost).toEqual([['agent-error', 2]]);
    } finally {
      r.close();
    }
  });

  it('a missing ring is retried on the counters tick; a replaced one is opened anew', () => {
    const src = new FakeSource();
    const ring = src.ring!;
    src.ring = null; // no datapath yet
    const { r, batches } = reader(src);
    try {
      expect(r.drain()).toBe(0);
      src.ring = ring;
      ring.write(event());
      r.tick();
      expect(r.drain()).toBe(1);
      const opened = src.opened;
      r.tick(); // same map: not opened again
      expect(src.opened).toBe(opened);
      const replaced = new FakeRing();
      src.ring = replaced;
      src.id = 2;
      r.tick();
      expect(ring.closed).toBe(true);
      replaced.write(event({ sport: 9 }));
      r.drain();
      expect(batches.at(-1)!.map((e) => e.sport)).toEqual([9]);
    } finally {
      r.close();
    }
  });

  it('a batch its handler throws on is lost (agent-error) and logged, not the reader; a ring that fails is opened again', () => {
    const src = new FakeSource();
    let calls = 0;
    const lost: [string, number][] = [];
    const r = startFlowReader({
      source: src,
      onEvents: () => {
        if (calls++ === 0) throw new Error('naming bug');
      },
      onLost: (c, n) => lost.push([c, n]),
      log,
      drainMs: 1e9,
      countersMs: 1e9,
    });
    try {
      src.ring!.write(event(), event(), event());
      expect(r.drain()).toBe(3);
      expect(lost).toEqual([['agent-error', 3]]);
      src.ring!.write(event());
      expect(r.drain()).toBe(1);
      expect(calls).toBe(2);
      expect(lost).toHaveLength(1);
      const broken = src.ring!;
      broken.consume = () => {
        throw new Error('EIO');
      };
      expect(r.drain()).toBe(0);
      expect(broken.closed).toBe(true);
      src.ring = new FakeRing();
      src.ring.write(event());
      r.tick();
      expect(r.drain()).toBe(1);
    } finally {
      r.close();
    }
  });

  it('reports growth of ring_full and rate_limited, not what was lost before it started', () => {
    const src = new FakeSource();
    src.totals = { sent: 10n, ringFull: 50n, rateLimited: 3n };
    const { r, lost } = reader(src);
    try {
      r.tick();
      expect(lost).toEqual([]);
      src.totals = { sent: 20n, ringFull: 57n, rateLimited: 3n };
      r.tick();
      expect(lost).toEqual([['ring-full', 7]]);
      src.totals = { sent: 30n, ringFull: 57n, rateLimited: 5n };
      r.tick();
      expect(lost).toEqual([
        ['ring-full', 7],
        ['rate-limited', 2],
      ]);
      src.totals = null; // unpinned for a moment: nothing said, baseline kept
      r.tick();
      src.totals = { sent: 30n, ringFull: 58n, rateLimited: 5n };
      r.tick();
      expect(lost.at(-1)).toEqual(['ring-full', 1]);
    } finally {
      r.close();
    }
  });

  it('lostGrowth: a counter that went back (a map made anew) grew by its whole value', () => {
    expect(lostGrowth({ sent: 0n, ringFull: 100n, rateLimited: 4n }, { sent: 0n, ringFull: 6n, rateLimited: 4n })).toEqual([{ cause: 'ring-full', count: 6n }]);
    expect(lostGrowth({ sent: 0n, ringFull: 1n, rateLimited: 1n }, { sent: 9n, ringFull: 1n, rateLimited: 1n })).toEqual([]);
  });

  it('drains on its 10 ms timer and reads the counters every second; close stops both and closes the ring', () => {
    vi.useFakeTimers();
    const src = new FakeSource();
    const batches: FlowEvent[][] = [];
    const lost: number[] = [];
    const r = startFlowReader({ source: src, onEvents: (e) => batches.push(e), onLost: (_, n) => lost.push(n), log });
    try {
      src.ring!.write(event());
      vi.advanceTimersByTime(9);
      expect(batches).toHaveLength(0);
      vi.advanceTimersByTime(1);
      expect(batches).toHaveLength(1);
      src.totals = { sent: 0n, ringFull: 4n, rateLimited: 0n };
      vi.advanceTimersByTime(990);
      expect(lost).toEqual([4]);
      r.close();
      expect(src.ring!.closed).toBe(true);
      const opened = src.opened;
      src.totals = { sent: 0n, ringFull: 8n, rateLimited: 0n };
      vi.advanceTimersByTime(5000);
      expect(lost).toEqual([4]);
      expect(r.drain()).toBe(0);
      r.tick();
      expect(src.opened).toBe(opened);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      r.close();
      vi.useRealTimers();
    }
  });

  it('backs off while the ring stays empty, doubling up to its idle bound, and is back at 10 ms once a record comes', () => {
    vi.useFakeTimers();
    const src = new FakeSource();
    const batches: FlowEvent[][] = [];
    const r = startFlowReader({ source: src, onEvents: (e) => batches.push(e), onLost: () => {}, log, drainMs: 10, idleDrainMs: 100, countersMs: 1e9 });
    const drainsAt: number[] = [];
    const ring = src.ring!;
    const consume = ring.consume.bind(ring);
    ring.consume = (max) => {
      drainsAt.push(Date.now() - t0);
      return consume(max);
    };
    const t0 = Date.now();
    try {
      vi.advanceTimersByTime(450);
      // empty: 10, then waits of 20, 40, 80, and 100 from there on
      expect(drainsAt).toEqual([10, 30, 70, 150, 250, 350, 450]);
      ring.write(event({ sport: 7 }));
      vi.advanceTimersByTime(100);
      expect(batches.flat().map((e) => e.sport)).toEqual([7]);
      // found one at 550: 10 ms again, then the doubling starts over
      vi.advanceTimersByTime(70);
      expect(drainsAt.slice(7)).toEqual([550, 560, 580, 620]);
    } finally {
      r.close();
      vi.useRealTimers();
    }
  });

  it('idleDrainMs: as long as every CPU at its limit fills half the ring, within 10..100 ms; unlimited, no back-off', () => {
    expect(idleDrainMs(0, 2)).toBe(DRAIN_MS);
    expect(idleDrainMs(50_000, 2)).toBe(IDLE_DRAIN_MAX_MS);
    // 47,662 records in 4 MiB; half of them at 16 CPUs x 50,000/s: 29 ms
    expect(idleDrainMs(50_000, 16)).toBe(29);
    expect(idleDrainMs(50_000, 256)).toBe(DRAIN_MS);
    expect(idleDrainMs(1_000, 2, 20)).toBe(IDLE_DRAIN_MAX_MS);
  });
});
