// TypeScript mirror of bpf/include/maps.h, part 3: struct endpoint_key and struct
// endpoint_value of strait_endpoints_v1, as the bytes the kernel stores. Offsets
// come from layout.ts (checked against the objects' BTF); integers are host byte
// order, addresses network order, and every byte of a key is written (the pad and
// an IPv4 key's unused words are zero) because the hash compares whole keys.
import { formatMac, ipByteLength, macBytes } from '../addr-bytes.js';
import { addrAt, addrOf, bytesOf, fail, family, LE, object, u32, view } from './codec.js';
import { LAYOUT } from './layout.js';

/** endpoint_value.flags: policy written; until then the datapath drops (fail closed). */
export const EP_F_READY = 1 << 0;
/** a policy selects it for ingress: default deny inbound */
export const EP_F_INGRESS_ISOLATED = 1 << 1;
/** a policy selects it for egress: default deny outbound */
export const EP_F_EGRESS_ISOLATED = 1 << 2;
/** which generation of its strait_policy_v1 entries is live (see policy.ts) */
export const EP_F_POLICY_GEN = 1 << 3;

/** endpoint_value.flags in the agent's terms; encodeEndpointFlags and decodeEndpointFlags are the only translation. */
export interface EndpointFlagState {
  /** the agent has written the endpoint's policy (EP_F_READY) */
  ready: boolean;
  ingressIsolated: boolean;
  egressIsolated: boolean;
  /** the live generation of its strait_policy_v1 entries (EP_F_POLICY_GEN) */
  generation: 0 | 1;
}

export const encodeEndpointFlags = (s: EndpointFlagState): number =>
  (s.ready ? EP_F_READY : 0) |
  (s.ingressIsolated ? EP_F_INGRESS_ISOLATED : 0) |
  (s.egressIsolated ? EP_F_EGRESS_ISOLATED : 0) |
  (s.generation === 1 ? EP_F_POLICY_GEN : 0);

/** Bits strait does not define are ignored, as the datapath ignores them. */
export const decodeEndpointFlags = (flags: number): EndpointFlagState => ({
  ready: (flags & EP_F_READY) !== 0,
  ingressIsolated: (flags & EP_F_INGRESS_ISOLATED) !== 0,
  egressIsolated: (flags & EP_F_EGRESS_ISOLATED) !== 0,
  generation: (flags & EP_F_POLICY_GEN) !== 0 ? 1 : 0,
});

export const ENDPOINT_KEY_SIZE = LAYOUT.endpoint_key.size;
export const ENDPOINT_VALUE_SIZE = LAYOUT.endpoint_value.size;

export interface EndpointKey {
  family: 4 | 6;
  /** bare address, canonical on decode (dotted quad, RFC 5952) */
  ip: string;
}

export interface EndpointValue {
  /** host-side veth: redirect target and where the pod's packets arrive */
  ifindex: number;
  /** EP_F_* bits */
  flags: number;
  /** aa:bb:cc:dd:ee:ff of the pod's interface (lower case on decode) */
  podMac: string;
  /** MAC of the host-side veth, the pod's gateway */
  hostMac: string;
  /** security identity; 0 until assigned */
  identity: number;
}

const K = LAYOUT.endpoint_key.members;
const V = LAYOUT.endpoint_value.members;
const MAC_LEN = 6;

export function encodeEndpointKey(key: EndpointKey): Uint8Array {
  object(key, 'endpoint key');
  family(key.family, 'endpoint key family');
  const ip = addrOf(key.ip, key.family, 'endpoint key ip');
  const out = new Uint8Array(ENDPOINT_KEY_SIZE);
  out.set(ip, K.ip);
  out[K.family] = key.family;
  return out;
}

export function decodeEndpointKey(buf: Uint8Array): EndpointKey {
  const b = bytesOf(buf, ENDPOINT_KEY_SIZE, 'endpoint key');
  const fam = family(b[K.family], 'endpoint key family');
  const len = ipByteLength(fam);
  // Nonzero bytes past the address or in the pad would make a key no encoder writes.
  for (let i = K.ip + len; i < K.family; i++)
    if (b[i] !== 0) return fail('endpoint key', `has nonzero byte ${i} past the IPv${fam} address`, b[i]);
  for (let i = K.pad; i < ENDPOINT_KEY_SIZE; i++) if (b[i] !== 0) return fail('endpoint key pad', 'must be zero', b[i]);
  return { family: fam, ip: addrAt(b, K.ip, fam) };
}

export function encodeEndpointValue(value: EndpointValue): Uint8Array {
  object(value, 'endpoint value');
  // ifindex 0 names no device: a redirect to it would fail on every packet.
  const ifindex = u32(value.ifindex, 'endpoint ifindex', 1);
  const flags = u32(value.flags, 'endpoint flags');
  const identity = u32(value.identity, 'endpoint identity');
  const podMac = macBytes(value.podMac, 'endpoint podMac');
  const hostMac = macBytes(value.hostMac, 'endpoint hostMac');
  const out = new Uint8Array(ENDPOINT_VALUE_SIZE);
  const dv = view(out);
  dv.setUint32(V.ifindex, ifindex, LE);
  dv.setUint32(V.flags, flags, LE);
  out.set(podMac, V.pod_mac);
  out.set(hostMac, V.host_mac);
  dv.setUint32(V.identity, identity, LE);
  return out;
}

export function decodeEndpointValue(buf: Uint8Array): EndpointValue {
  const b = bytesOf(buf, ENDPOINT_VALUE_SIZE, 'endpoint value');
  const dv = view(b);
  return {
    ifindex: dv.getUint32(V.ifindex, LE),
    flags: dv.getUint32(V.flags, LE),
    podMac: formatMac(b.slice(V.pod_mac, V.pod_mac + MAC_LEN)),
    hostMac: formatMac(b.slice(V.host_mac, V.host_mac + MAC_LEN)),
    identity: dv.getUint32(V.identity, LE),
  };
}
