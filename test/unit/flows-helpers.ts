// Flow events as a program would write them (encodeFlowEvent), and an EventSource
// that hands them over as the ring does, for the flow pipeline's unit tests.
import type { RingReader } from '../../src/datapath/bpf.js';
import { encodeFlowEvent, type EventCpuTotals, type FlowEvent } from '../../src/datapath/maps/events.js';
import type { EventSource } from '../../src/flows/reader.js';

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
