// TypeScript mirror of bpf/include/maps.h, part 7: struct policy_key and struct
// policy_value of strait_policy_v1, the LPM trie of allowed (endpoint slot, peer
// identity, direction, protocol, port). The fields after prefixlen are matched in
// order: slot, identity and direction always (72 bits), then the protocol (80),
// then leading bits of the big-endian port (up to 96). So "any protocol" is
// prefixlen 72, "every port of a protocol" 80, one port 96, and a port range is a
// few prefixes (src/policy/ports.ts splits it). slot is the endpoint's host veth ifindex with
// the generation in bit 31 (POLICY_SLOT_GEN): the agent writes a new policy under
// the other generation and flips EP_F_POLICY_GEN in the endpoint map.
// Integers are host byte order; dport is network order, as the packet has it.
import { bytesOf, fail, int, LE, object, u32, view, zeroRange } from './codec.js';
import { LAYOUT } from './layout.js';

export const POLICY_KEY_SIZE = LAYOUT.policy_key.size;
export const POLICY_VALUE_SIZE = LAYOUT.policy_value.size;

export const POLICY_SLOT_GEN = 0x8000_0000;
export const POLICY_PREFIX_ANY_PROTO = 72;
export const POLICY_PREFIX_ANY_PORT = 80;
export const POLICY_PREFIX_FULL = 96;

export interface PolicyKey {
  /** the endpoint's host veth, 1..2^31-1 (bit 31 of the slot is the generation) */
  ifindex: number;
  /** the generation these entries belong to (EP_F_POLICY_GEN of the live one) */
  gen: 0 | 1;
  /** peer: pod or CIDR identity, or IDENTITY_ANY */
  identity: number;
  /** true: traffic the endpoint sends; false: traffic it receives */
  egress: boolean;
  /** IP protocol number; 0: every protocol (and port) */
  protocol: number;
  /** first port of the prefix, host order; bits past portPrefixLen must be 0 */
  port: number;
  /** leading bits of the 16-bit port that must match: 0 every port, 16 exactly `port` */
  portPrefixLen: number;
}

export interface PolicyValue {
  /** the compiled rule that allows it (explain, flows, metrics) */
  ruleId: number;
}

const K = LAYOUT.policy_key.members;
const V = LAYOUT.policy_value.members;
const IFINDEX_MAX = POLICY_SLOT_GEN - 1;

/** policy_key.slot: the host veth ifindex with the generation in the top bit. */
export const policySlot = (ifindex: number, gen: 0 | 1): number => (gen === 1 ? ifindex | POLICY_SLOT_GEN : ifindex) >>> 0;

/** policy_key.prefixlen: how much of (slot, identity, egress, protocol, port) the LPM must match. */
export const policyPrefixLen = (k: { protocol: number; portPrefixLen: number }): number =>
  k.protocol === 0 ? POLICY_PREFIX_ANY_PROTO : POLICY_PREFIX_ANY_PORT + k.portPrefixLen;

const portMask = (prefixLen: number): number => (0xffff << (16 - prefixLen)) & 0xffff;

/**
 * Extra properties are ignored, so a PolicyEntry of src/policy/types.ts (which also
 * carries ruleId) can be spread in with ifindex and gen.
 */
export function encodePolicyKey(key: PolicyKey): Uint8Array {
  object(key, 'policy key');
  const ifindex = int(key.ifindex, 'policy key ifindex', 1, IFINDEX_MAX);
  if (key.gen !== 0 && key.gen !== 1) return fail('policy key gen', 'must be 0 or 1', key.gen);
  const identity = u32(key.identity, 'policy key identity');
  if (typeof key.egress !== 'boolean') return fail('policy key egress', 'must be a boolean', key.egress);
  const protocol = int(key.protocol, 'policy key protocol', 0, 255);
  const port = int(key.port, 'policy key port', 0, 0xffff);
  const portPrefixLen = int(key.portPrefixLen, 'policy key portPrefixLen', 0, 16);
  if (protocol === 0 && (port !== 0 || portPrefixLen !== 0))
    return fail('policy key', 'with protocol 0 (any) must have port 0 and portPrefixLen 0', key);
  if ((port & ~portMask(portPrefixLen)) !== 0)
    return fail('policy key port', `has bits set past its ${portPrefixLen}-bit prefix`, key.port);

  const out = new Uint8Array(POLICY_KEY_SIZE);
  const dv = view(out);
  dv.setUint32(K.prefixlen, policyPrefixLen({ protocol, portPrefixLen }), LE);
  dv.setUint32(K.slot, policySlot(ifindex, key.gen), LE);
  dv.setUint32(K.identity, identity, LE);
  out[K.egress] = key.egress ? 1 : 0;
  out[K.protocol] = protocol;
  dv.setUint16(K.dport, port, false);
  return out;
}

export function decodePolicyKey(buf: Uint8Array): PolicyKey {
  const b = bytesOf(buf, POLICY_KEY_SIZE, 'policy key');
  const dv = view(b);
  const prefixlen = dv.getUint32(K.prefixlen, LE);
  if (prefixlen !== POLICY_PREFIX_ANY_PROTO && (prefixlen < POLICY_PREFIX_ANY_PORT || prefixlen > POLICY_PREFIX_FULL))
    return fail('policy key prefixlen', `must be ${POLICY_PREFIX_ANY_PROTO} or ${POLICY_PREFIX_ANY_PORT}..${POLICY_PREFIX_FULL}`, prefixlen);
  const slot = dv.getUint32(K.slot, LE);
  const ifindex = slot & IFINDEX_MAX;
  if (ifindex === 0) return fail('policy key slot', 'names no ifindex', slot);
  const egress = b[K.egress];
  if (egress !== 0 && egress !== 1) return fail('policy key egress', 'must be 0 or 1', egress);
  const protocol = b[K.protocol] ?? 0;
  const port = dv.getUint16(K.dport, false);
  const portPrefixLen = prefixlen === POLICY_PREFIX_ANY_PROTO ? 0 : prefixlen - POLICY_PREFIX_ANY_PORT;
  if (prefixlen === POLICY_PREFIX_ANY_PROTO) zeroRange(b, K.protocol, POLICY_KEY_SIZE, 'policy key for any protocol');
  else if (protocol === 0) return fail('policy key protocol', `must be nonzero with prefixlen ${prefixlen}`, protocol);
  if ((port & ~portMask(portPrefixLen)) !== 0)
    return fail('policy key port', `has bits set past its ${portPrefixLen}-bit prefix`, port);
  return {
    ifindex,
    gen: slot & POLICY_SLOT_GEN ? 1 : 0,
    identity: dv.getUint32(K.identity, LE),
    egress: egress === 1,
    protocol,
    port,
    portPrefixLen,
  };
}

export function encodePolicyValue(value: PolicyValue): Uint8Array {
  object(value, 'policy value');
  const out = new Uint8Array(POLICY_VALUE_SIZE);
  view(out).setUint32(V.rule_id, u32(value.ruleId, 'policy ruleId'), LE);
  return out;
}

export function decodePolicyValue(buf: Uint8Array): PolicyValue {
  return { ruleId: view(bytesOf(buf, POLICY_VALUE_SIZE, 'policy value')).getUint32(V.rule_id, LE) };
}
