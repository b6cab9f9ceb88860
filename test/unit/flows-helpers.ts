// Flow events as a program would write them (encodeFlowEvent), an EventSource that
// hands them over as the ring does, and a client of GET /v1/flows?follow=1, for the
// flow pipeline's tests.
import { request, type IncomingMessage } from 'node:http';
import type { RingReader } from '../../src/datapath/bpf.js';
import { encodeFlowEvent, type EventCpuTotals, type FlowEvent } from '../../src/datapath/maps/events.js';
import type { EventSource } from '../../src/flows/reader.js';
import type { FlowStreamLine } from '../../src/flows/types.js';

export const event = (over: Partial<FlowEvent> = {}): FlowEvent => ({
  timeNs: 1_000_000_123n,
  type: 'drop',
  family: 4,
  saddr: '10.1.0.2',
  daddr: '10.1.0.3',
  sport: 40000,
  dport: 80,
  protocol: 6,
  reason: 7, // DROP_POLICY_INGRESS
  srcIdentity: 256,
  dstIdentity: 257,
  ruleId: 0,
  egressRule: 0,
  ifindex: 12,
  len: 74,
  point: 'to-pod',
  direction: 0,
  tcpFlags: 0x02,
  flags: 0,
  ...over,
});

/** A ring of encoded records; consume() honours maxBytes as the addon does (whole records only). */
export class FakeRing implements RingReader {
  pending: Uint8Array[] = [];
  consumes: number[] = [];
  closed = false;
  write(...events: (FlowEvent | Uint8Array)[]): void {
    for (const e of events) this.pending.push(e instanceof Uint8Array ? e : encodeFlowEvent(e));
  }
  consume(maxBytes = 1 << 20): { bytes: Uint8Array; skipped: number } {
    if (this.closed) throw new Error('closed');
    const n = Math.min(this.pending.length, Math.floor(maxBytes / 80));
    const taken = this.pending.splice(0, n);
    this.consumes.push(n);
    const bytes = new Uint8Array(n * 80);
    taken.forEach((b, i) => bytes.set(b, i * 80));
    return { bytes, skipped: 0 };
  }
  close(): void {
    this.closed = true;
  }
}

export class FakeSource implements EventSource {
  ring: FakeRing | null = new FakeRing();
  id: number | null = 1;
  totals: EventCpuTotals | null = { sent: 0n, ringFull: 0n, rateLimited: 0n };
  opened = 0;
  openRing(): RingReader | null {
    this.opened++;
    return this.ring;
  }
  ringId(): number | null {
    return this.ring === null ? null : this.id;
  }
  cpuTotals(): EventCpuTotals | null {
    return this.totals;
  }
}

/** A follow=1 client: the lines as they come, and the response to pause or end. */
export class Follower {
  lines: FlowStreamLine[] = [];
  res!: IncomingMessage;
  private rest = '';
  private waiters: (() => void)[] = [];
  readonly ready: Promise<IncomingMessage>;
  private readonly req;
  constructor(sock: string, query: string) {
    this.req = request({ socketPath: sock, path: `/v1/flows?${query}` });
    this.ready = new Promise((resolve, reject) => {
      this.req.on('response', (res) => {
        this.res = res;
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          const parts = (this.rest + d).split('\n');
          this.rest = parts.pop()!;
          for (const p of parts) this.lines.push(JSON.parse(p) as FlowStreamLine);
          for (const w of this.waiters.splice(0)) w();
        });
        resolve(res);
      });
      this.req.on('error', reject);
    });
    this.req.end();
  }
  /** resolves once pred holds for the lines received (the test's timeout bounds it) */
  async until(pred: (lines: FlowStreamLine[]) => boolean): Promise<void> {
    while (!pred(this.lines)) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  get sports(): number[] {
    return this.lines.flatMap((l) => ('flow' in l && l.flow.src.port !== null ? [l.flow.src.port] : []));
  }
  close(): void {
    this.req.destroy();
  }
}
