// TypeScript mirror of bpf/include/maps.h: strait_identity_vni_v1 (pod identity →
// the VNI that names its label set on every node) and strait_vni_v1 (VNI → the pod
// and namespace identity it stands for on this node: an ipcache_value, see
// ipcache.ts). Keys and the first map's value are host-order u32s.
import { bytesOf, fail, LE, u32, view } from './codec.js';

export const VNI_KEY_SIZE = 4;
/** The VNI field is 24 bits; 0 means "no hint". */
export const VNI_MAX_VALUE = 0xffffff;

function vniNumber(value: unknown, what: string): number {
  const n = u32(value, what, 1);
  if (n > VNI_MAX_VALUE) return fail(what, `must be 1..${VNI_MAX_VALUE}`, value);
  return n;
}

/** A u32 key (a pod identity, or a VNI). */
export function encodeU32Key(n: number, what: string): Uint8Array {
  const out = new Uint8Array(VNI_KEY_SIZE);
  view(out).setUint32(0, u32(n, what), LE);
  return out;
}

export const decodeU32 = (buf: Uint8Array, what: string): number => view(bytesOf(buf, VNI_KEY_SIZE, what)).getUint32(0, LE);

export function encodeVni(vni: number): Uint8Array {
  const out = new Uint8Array(VNI_KEY_SIZE);
  view(out).setUint32(0, vniNumber(vni, 'vni'), LE);
  return out;
}
