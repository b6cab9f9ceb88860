// The newest N flow records (--flow-buffer), what GET /v1/flows?last= answers from:
// a fixed ring allocated once, so a record costs one slot write and the memory is
// the capacity's whatever the rate.
import { matchFlow } from './filter.js';
import type { FlowFilter, FlowRecord } from './types.js';

export class FlowBuffer {
  private readonly slots: (FlowRecord | undefined)[];
  /** where the next record goes */
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`flow buffer capacity must be a positive integer, not ${capacity}`);
    this.slots = new Array<FlowRecord | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  push(r: FlowRecord): void {
    this.slots[this.next] = r;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** The newest n records the filter matches, oldest first. */
  last(n: number, filter: FlowFilter = {}): FlowRecord[] {
    const out: FlowRecord[] = [];
    for (let i = 1; i <= this.count && out.length < n; i++) {
      const r = this.slots[(this.next - i + this.capacity) % this.capacity]!;
      if (matchFlow(filter, r)) out.push(r);
    }
    return out.reverse();
  }
}
