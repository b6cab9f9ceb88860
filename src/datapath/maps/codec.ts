// Validation and byte helpers shared by the map codecs. Internal to src/datapath/maps/: not re-exported by index.ts.
// Every failure is an InvalidArgError (code ERR_INVALID_ARG), thrown before any
// byte reaches the kernel.
import { endianness } from 'node:os';

import { formatIpBytes, ipByteLength, ipBytes } from '../addr-bytes.js';
import { fail } from '../invalid-arg.js';

export { fail };

/** Integers in map keys and values are host byte order; addresses and ports are not. */
export const LE = endianness() === 'LE';

export function int(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    return fail(what, `must be an integer in ${min}..${max}`, value);
  return value;
}

export const u32 = (value: unknown, what: string, min = 0): number => int(value, what, min, 0xffff_ffff);

/** A u64 map field (a bpf_ktime_get_ns() stamp) as a bigint. */
export function u64(value: unknown, what: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value >= 1n << 64n) return fail(what, 'must be a bigint in 0..2^64-1', value);
  return value;
}

export function object<T>(value: T, what: string): T {
  if (typeof value !== 'object' || value === null) return fail(what, 'must be an object', value);
  return value;
}

export function bytesOf(buf: unknown, size: number, what: string): Uint8Array {
  if (!(buf instanceof Uint8Array)) return fail(what, 'must be a Uint8Array', typeof buf);
  if (buf.byteLength !== size) return fail(what, `must be ${size} bytes`, buf.byteLength);
  return buf;
}

export const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Bytes [from, to) of b are zero, else the key or value is one no encoder writes. */
export function zeroRange(b: Uint8Array, from: number, to: number, what: string): void {
  for (let i = from; i < to; i++) if (b[i] !== 0) fail(what, `has nonzero byte ${i}`, b[i]);
}

/** An address family field: 4 or 6. */
export function family(value: unknown, what: string): 4 | 6 {
  if (value !== 4 && value !== 6) return fail(what, 'must be 4 or 6', value);
  return value;
}

/** A bare address of the key's family, as its 4 or 16 bytes. */
export function addrOf(value: unknown, fam: 4 | 6, what: string): Uint8Array {
  const ip = ipBytes(value, what);
  if (ip.family !== fam) return fail(what, `is not IPv${fam}`, value);
  return ip.bytes;
}

/** The text of the address of that family stored at offset. */
export const addrAt = (b: Uint8Array, offset: number, fam: 4 | 6): string =>
  formatIpBytes(b.slice(offset, offset + ipByteLength(fam)));
