// The Service maps in memory (src/lb/types.ts LbMaps), keyed as the kernel keys
// them, with max_entries of their own (a write past it throws E2BIG, as the kernel
// does), a log of every write in order, and writes that can be made to fail: for the
// differ's, applier's and agent's tests without root.
import type { LbBackendValue, LbServiceKey, LbServiceValue, LbSlotKey } from '../../src/datapath/maps/lb.js';
import { serviceKeyText, type LbCapacity, type LbConnTable, type LbContent, type LbMaps } from '../../src/lb/types.js';

/** A connection table: raw key -> raw value. */
export class FakeConnTable implements LbConnTable {
  readonly entries = new Map<string, { key: Uint8Array; value: Uint8Array }>();
  iterations = 0;
  constructor(private readonly log: string[], private readonly name: string) {}
  put(key: Uint8Array, value: Uint8Array): void {
    this.entries.set(Buffer.from(key).toString('hex'), { key: Uint8Array.from(key), value: Uint8Array.from(value) });
  }
  dump(): { key: Uint8Array; value: Uint8Array }[] {
    this.iterations++;
    return [...this.entries.values()].map((e) => ({ key: Uint8Array.from(e.key), value: Uint8Array.from(e.value) }));
  }
  /** one log line per call, as one batch is one syscall */
  deleteMany(keys: readonly Uint8Array[]): number {
    this.log.push(`${this.name}-del ${keys.length}`);
    let n = 0;
    for (const k of keys) if (this.entries.delete(Buffer.from(k).toString('hex'))) n++;
    return n;
  }
}

const e2big = (map: string): Error => Object.assign(new Error(`${map} is full (E2BIG)`), { errnoName: 'E2BIG' });

export class FakeLbMaps implements LbMaps {
  readonly services = new Map<string, { key: LbServiceKey; value: LbServiceValue }>();
  readonly slots = new Map<string, { key: LbSlotKey; backendId: number }>();
  readonly backends = new Map<number, LbBackendValue>();
  /** every write and delete, in order: "service-set 10.96.0.1:80/TCP", "slot-set 1/2", "backend-del 3", "flows-del" */
  readonly log: string[] = [];
  readonly flows = new FakeConnTable(this.log, 'flows');
  readonly rev = new FakeConnTable(this.log, 'rev');
  readonly affinity = new FakeConnTable(this.log, 'affinity');
  /** a write whose log line this returns true for throws (and is not done) */
  failOn: ((op: string) => boolean) | null = null;
  closed = false;

  constructor(readonly cap: LbCapacity = { services: 1 << 16, backends: 1 << 18 }) {}

  private write(op: string): void {
    if (this.failOn?.(op) === true) throw new Error(`injected failure: ${op}`);
    this.log.push(op);
  }

  read(): LbContent {
    return { services: [...this.services.values()], slots: [...this.slots.values()], backends: [...this.backends].map(([id, value]) => ({ id, value })) };
  }
  capacity(): LbCapacity {
    return { ...this.cap };
  }
  setService(key: LbServiceKey, value: LbServiceValue): void {
    const k = serviceKeyText(key);
    if (!this.services.has(k) && this.services.size >= this.cap.services) throw e2big('services');
    this.write(`service-set ${k}`);
    this.services.set(k, { key, value });
  }
  delService(key: LbServiceKey): void {
    this.write(`service-del ${serviceKeyText(key)}`);
    this.services.delete(serviceKeyText(key));
  }
  setSlot(key: LbSlotKey, backendId: number): void {
    const k = `${key.serviceId}/${key.slot}`;
    if (!this.slots.has(k) && this.slots.size >= this.cap.backends) throw e2big('slots');
    this.write(`slot-set ${k}`);
    this.slots.set(k, { key, backendId });
  }
  delSlot(key: LbSlotKey): void {
    const k = `${key.serviceId}/${key.slot}`;
    this.write(`slot-del ${k}`);
    this.slots.delete(k);
  }
  setBackend(id: number, value: LbBackendValue): void {
    if (!this.backends.has(id) && this.backends.size >= this.cap.backends) throw e2big('backends');
    this.write(`backend-set ${id}`);
    this.backends.set(id, value);
  }
  delBackend(id: number): void {
    this.write(`backend-del ${id}`);
    this.backends.delete(id);
  }
  close(): void {
    this.closed = true;
  }

  /** The slots of a service in slot order: backend addr:port of each. */
  slotsOf(serviceId: number): string[] {
    const out: [number, string][] = [];
    for (const { key, backendId } of this.slots.values()) {
      if (key.serviceId !== serviceId) continue;
      const b = this.backends.get(backendId);
      out.push([key.slot, b === undefined ? `missing ${backendId}` : `${b.addr}:${b.port}`]);
    }
    return out.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }
}
