// TypeScript mirror of bpf/include/maps.h, part 5: the reserved identities and
// struct ipcache_value of strait_ipcache_v1 (every pod address of the cluster →
// its pod identity and its namespace's identity). The key is an endpoint_key: use encodeEndpointKey.
// src/policy/types.ts repeats the identities for the pure policy core; a unit test
// holds the two together.
import { bytesOf, LE, object, u32, view } from './codec.js';
import { LAYOUT } from './layout.js';

/** In a policy key: any peer. */
export const IDENTITY_ANY = 0;
/** This node: traffic to and from it is always allowed. */
export const IDENTITY_HOST = 1;
/** An address no known prefix covers (what strait_cidr_v1 answers for a miss). */
export const IDENTITY_WORLD = 2;
/** In a policy key: any pod of the cluster (every address the ipcache holds). */
export const IDENTITY_CLUSTER = 3;
/** In the ipcache: another node's address (never a pod; classified by its CIDR for policy). */
export const IDENTITY_REMOTE_NODE = 4;
/** Set in the identities of ipBlock prefixes; pod identities start at 256. */
export const IDENTITY_CIDR_FLAG = 1 << 24;
/** Set in namespace identities (ipcache_value.namespace). */
export const IDENTITY_NS_FLAG = 1 << 25;

export const IPCACHE_VALUE_SIZE = LAYOUT.ipcache_value.size;

export interface IpcacheValue {
  /** pod identity of the address */
  identity: number;
  /** identity of the pod's namespace (IDENTITY_NS_FLAG | n); 0 or absent: none */
  namespace?: number;
}

const V = LAYOUT.ipcache_value.members;

export function encodeIpcacheValue(value: IpcacheValue): Uint8Array {
  object(value, 'ipcache value');
  const identity = u32(value.identity, 'ipcache identity');
  const namespace = u32(value.namespace ?? 0, 'ipcache namespace');
  const out = new Uint8Array(IPCACHE_VALUE_SIZE);
  view(out).setUint32(V.identity, identity, LE);
  view(out).setUint32(V.namespace, namespace, LE);
  return out;
}

/** An entry written before the namespace word existed (it was reserved, 0) reads as namespace 0. */
export function decodeIpcacheValue(buf: Uint8Array): Required<IpcacheValue> {
  const b = bytesOf(buf, IPCACHE_VALUE_SIZE, 'ipcache value');
  return { identity: view(b).getUint32(V.identity, LE), namespace: view(b).getUint32(V.namespace, LE) };
}
