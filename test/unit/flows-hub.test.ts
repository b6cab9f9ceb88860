// src/flows/hub.ts: live readers with filters; a reader that does not drain loses
// records past the bound, counted and told when it catches up; memory stays bounded.
import { describe, expect, it } from 'vitest';

import { FlowHub, QUEUE_MAX } from '../../src/flows/hub.js';
import type { FlowRecord, FlowStreamLine } from '../../src/flows/types.js';

const rec = (i: number, verdict: FlowRecord['verdict'] = 'allowed'): FlowRecord => ({
  time: `t${i}`,
  verdict,
  reason: 'x',
  event: 'new',
  protocol: 'tcp',
  src: { ip: '10.0.0.1', port: 1000, pod: 'x/a', identity: 0 },
  dst: { ip: '10.0.0.2', port: 80, identity: 0 },
  node: 'n',
  direction: 'egress',
  point: 'from-pod',
  bytes: i,
});

/** A sink that takes `room` lines before it asks to wait, then drains when told. */
class Sink {
  lines: FlowStreamLine[] = [];
  private drainCb: (() => void) | null = null;
  constructor(public room = Infinity) {}
  write(line: string): boolean {
    expect(line.endsWith('\n')).toBe(true);
    this.lines.push(JSON.parse(line) as FlowStreamLine);
    return --this.room > 0;
  }
  onceDrain(cb: () => void): void {
    this.drainCb = cb;
  }
  drain(room = Infinity): void {
    this.room = room;
    const cb = this.drainCb;
    this.drainCb = null;
    cb?.();
  }
  get flows(): string[] {
    return this.lines.flatMap((l) => ('flow' in l ? [l.flow.time] : []));
  }
}

describe('the flow hub', () => {
  it('writes each record to the readers whose filter matches, and lost notices to all', () => {
    const hub = new FlowHub(() => 'now');
    const all = new Sink();
    const denied = new Sink();
    hub.subscribe({}, all);
    hub.subscribe({ verdicts: ['denied'] }, denied);
    expect(hub.subscribers).toBe(2);
    hub.publish([rec(1), rec(2, 'denied'), rec(3)]);
    expect(all.flows).toEqual(['t1', 't2', 't3']);
    expect(denied.flows).toEqual(['t2']);
    hub.lost({ time: 'now', cause: 'ring-full', count: 7 });
    expect(denied.lines.at(-1)).toEqual({ lost: { time: 'now', cause: 'ring-full', count: 7 } });
    expect(all.lines.at(-1)).toEqual({ lost: { time: 'now', cause: 'ring-full', count: 7 } });
  });

  it('a closed subscription gets nothing more and is no longer counted', () => {
    const hub = new FlowHub(() => 'now');
    const s = new Sink();
    const sub = hub.subscribe({}, s);
    sub.close();
    sub.close();
    hub.publish([rec(1)]);
    expect(s.lines).toEqual([]);
    expect(hub.subscribers).toBe(0);
  });

  it('a reader that does not drain: queued up to the bound, the rest lost, counted, and told once it catches up', () => {
    const hub = new FlowHub(() => 'later');
    const slow = new Sink(2);
    const fast = new Sink();
    const sub = hub.subscribe({}, slow);
    hub.subscribe({}, fast);
    const total = 2 + QUEUE_MAX + 100;
    hub.publish(Array.from({ length: total }, (_, i) => rec(i)));
    // The fast reader saw everything; the slow one took 2, holds QUEUE_MAX, lost 100.
    expect(fast.flows).toHaveLength(total);
    expect(slow.flows).toHaveLength(2);
    expect(sub.pending).toBe(QUEUE_MAX);
    expect(hub.slowReaderLost).toBe(100);
    // More while it is still full: lost too, the queue no longer.
    hub.publish([rec(total)]);
    expect(sub.pending).toBe(QUEUE_MAX);
    expect(hub.slowReaderLost).toBe(101);
    // It drains some: the queue shrinks, no notice yet (it has not caught up).
    slow.drain(10);
    expect(sub.pending).toBe(QUEUE_MAX - 10);
    expect(slow.lines.some((l) => 'lost' in l)).toBe(false);
    // It catches up: the rest of the queue in order, then the notice of what it lost.
    slow.drain();
    expect(sub.pending).toBe(0);
    expect(slow.flows).toEqual(Array.from({ length: 2 + QUEUE_MAX }, (_, i) => `t${i}`));
    expect(slow.lines.at(-1)).toEqual({ lost: { time: 'later', cause: 'slow-reader', count: 101 } });
    // And after that it is live again; the count starts over.
    hub.publish([rec(9999)]);
    expect(slow.flows.at(-1)).toBe('t9999');
    expect(hub.slowReaderLost).toBe(101);
  });

  it('a datapath lost notice queues like a record but, past the bound, is not counted as the reader\'s loss', () => {
    const hub = new FlowHub(() => 'now');
    const slow = new Sink(1);
    const sub = hub.subscribe({}, slow);
    hub.publish(Array.from({ length: 1 + QUEUE_MAX }, (_, i) => rec(i)));
    hub.lost({ time: 'now', cause: 'rate-limited', count: 3 });
    expect(sub.pending).toBe(QUEUE_MAX);
    expect(hub.slowReaderLost).toBe(0);
  });
});
