// TypeScript mirror of bpf/include/maps.h: strait_remote_v1, the other nodes' pod
// CIDRs (key: a cidr_key, encodeCidrKey) and struct remote_value, the node that
// holds each one (its InternalIP: the route's nexthop, or the tunnel's far end).
import { bytesOf, addrAt, addrOf, family, LE, object, u32, view, zeroRange } from './codec.js';
import { ipBytes } from '../addr-bytes.js';
import { LAYOUT } from './layout.js';

export const REMOTE_VALUE_SIZE = LAYOUT.remote_value.size;

export interface RemoteValue {
  /** the node's InternalIP, canonical text */
  nodeIp: string;
}

const V = LAYOUT.remote_value.members;

export function encodeRemoteValue(value: RemoteValue): Uint8Array {
  object(value, 'remote value');
  const fam = ipBytes(value.nodeIp, 'remote node address').family;
  const out = new Uint8Array(REMOTE_VALUE_SIZE);
  out.set(addrOf(value.nodeIp, fam, 'remote node address'), V.node_ip);
  out[V.node_family] = fam;
  view(out).setUint32(V.flags, 0, LE);
  return out;
}

export function decodeRemoteValue(buf: Uint8Array): RemoteValue {
  const b = bytesOf(buf, REMOTE_VALUE_SIZE, 'remote value');
  const fam = family(b[V.node_family], 'remote value node_family');
  zeroRange(b, V.pad, V.flags, 'remote value pad');
  u32(view(b).getUint32(V.flags, LE), 'remote value flags');
  return { nodeIp: addrAt(b, V.node_ip, fam) };
}
