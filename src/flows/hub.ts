// The live readers of flow records (GET /v1/flows?follow=1): each with its filter and
// a bounded queue. A reader's socket that does not drain (write() returned false)
// gets records queued, up to QUEUE_MAX; past that they are lost for that reader,
// counted, and told (a slow-reader LostNotice) once it has caught up. The agent's
// memory never grows with a slow reader, and no reader slows another.
import { matchFlow } from './filter.js';
import type { FlowFilter, FlowRecord, FlowStreamLine, LostNotice } from './types.js';

/** Lines a reader may have waiting for its socket before it loses records. */
export const QUEUE_MAX = 4096;

/** Where a reader's lines go: an HTTP response, in the agent. */
export interface FlowSink {
  /** false: the line is taken, but the sink wants no more until it drains */
  write(line: string): boolean;
  /** called once, the next time the sink drains */
  onceDrain(cb: () => void): void;
}

export interface FlowSubscription {
  /** stops sending; idempotent */
  close(): void;
}

export const streamLine = (l: FlowStreamLine): string => `${JSON.stringify(l)}\n`;

class Subscriber {
  /** lines waiting while the sink does not drain: a ring of QUEUE_MAX */
  private readonly queue: (string | undefined)[] = [];
  private head = 0;
  private queued = 0;
  private blocked = false;
  /** records lost since the reader was last told */
  private lost = 0;
  closed = false;

  constructor(
    readonly filter: FlowFilter,
    private readonly sink: FlowSink,
    private readonly now: () => string,
    private readonly onLost: (n: number) => void,
  ) {}

  send(line: string, isRecord: boolean): void {
    if (this.closed) return;
    if (!this.blocked) {
      this.write(line);
      return;
    }
    if (this.queued < QUEUE_MAX) {
      this.queue[(this.head + this.queued) % QUEUE_MAX] = line;
      this.queued++;
    } else if (isRecord) {
      this.lost++;
      this.onLost(1);
    }
    // A datapath lost notice past the bound is dropped with no count: its records are
    // in the totals (FlowsReply.lost, metrics), and the reader is told of its own loss.
  }

  /** false: the sink is full, and this waits for its drain */
  private write(line: string): boolean {
    if (this.sink.write(line)) return true;
    this.blocked = true;
    this.sink.onceDrain(() => this.drained());
    return false;
  }

  private drained(): void {
    this.blocked = false;
    while (this.queued > 0 && !this.closed) {
      const line = this.queue[this.head]!;
      this.queue[this.head] = undefined;
      this.head = (this.head + 1) % QUEUE_MAX;
      this.queued--;
      if (!this.write(line)) return;
    }
    if (this.lost > 0 && !this.closed) {
      const count = this.lost;
      this.lost = 0;
      this.write(streamLine({ lost: { time: this.now(), cause: 'slow-reader', count } }));
    }
  }

  /** lines held for this reader (for tests and the bound) */
  get pending(): number {
    return this.queued;
  }
}

export class FlowHub {
  private readonly subs = new Set<Subscriber>();
  private slowLost = 0;

  /** now: the time of a slow-reader notice, as records give it */
  constructor(private readonly now: () => string) {}

  subscribe(filter: FlowFilter, sink: FlowSink): FlowSubscription & { readonly pending: number } {
    const s = new Subscriber(filter, sink, this.now, (n) => (this.slowLost += n));
    this.subs.add(s);
    return {
      close: () => {
        s.closed = true;
        this.subs.delete(s);
      },
      get pending() {
        return s.pending;
      },
    };
  }

  get subscribers(): number {
    return this.subs.size;
  }

  /** records lost by slow readers since start, over every reader */
  get slowReaderLost(): number {
    return this.slowLost;
  }

  publish(records: readonly FlowRecord[]): void {
    if (this.subs.size === 0) return;
    for (const r of records) {
      let line: string | null = null; // serialised once, for every reader that wants it
      for (const s of this.subs) {
        if (!matchFlow(s.filter, r)) continue;
        line ??= streamLine({ flow: r });
        s.send(line, true);
      }
    }
  }

  /** A datapath loss (ring-full, rate-limited): every reader is told, whatever its filter. */
  lost(notice: LostNotice): void {
    const line = streamLine({ lost: notice });
    for (const s of this.subs) s.send(line, false);
  }
}
