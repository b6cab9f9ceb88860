// TypeScript mirror of bpf/include/maps.h, part 4: struct traffic_counter, the value
// of the per-CPU arrays strait_drops_v1 and strait_stats_v2 (keys: a u32 index, see
// drop.ts). A lookup on a per-CPU map returns one slot per possible CPU, each
// rounded up to 8 bytes (the addon computes that length: MapInfo.valueLength);
// this sums them.
import { endianness } from 'node:os';

import { InvalidArgError } from '../invalid-arg.js';
import { LAYOUT } from './layout.js';

export interface TrafficCounter {
  packets: bigint;
  bytes: bigint;
}

const LE = endianness() === 'LE';
const C = LAYOUT.traffic_counter.members;
/**
 * Two u64s, already a multiple of 8, so a CPU's slot is the struct itself. Were it
 * ever not, the kernel's buffers would stop matching ncpus × this and sumPerCpu
 * would refuse them: loudly, never a misread.
 */
export const COUNTER_SLOT_SIZE = LAYOUT.traffic_counter.size;

/** The key of an array map: a u32 index in host byte order. */
export function counterKey(index: number): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index > 0xffff_ffff)
    throw new InvalidArgError(`counter index must be an integer in 0..4294967295: ${JSON.stringify(index)}`);
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, index, LE);
  return out;
}

/** Sums a per-CPU traffic_counter buffer of exactly ncpus slots. */
export function sumPerCpu(buf: Uint8Array, ncpus: number): TrafficCounter {
  if (!Number.isInteger(ncpus) || ncpus < 1)
    throw new InvalidArgError(`ncpus must be a positive integer: ${JSON.stringify(ncpus)}`);
  if (!(buf instanceof Uint8Array) || buf.byteLength !== ncpus * COUNTER_SLOT_SIZE)
    throw new InvalidArgError(
      `per-CPU counter buffer must be ${ncpus} × ${COUNTER_SLOT_SIZE} bytes, got ${buf instanceof Uint8Array ? buf.byteLength : typeof buf}`,
    );
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let packets = 0n;
  let bytes = 0n;
  for (let cpu = 0; cpu < ncpus; cpu++) {
    const base = cpu * COUNTER_SLOT_SIZE;
    packets += dv.getBigUint64(base + C.packets, LE);
    bytes += dv.getBigUint64(base + C.bytes, LE);
  }
  return { packets, bytes };
}
