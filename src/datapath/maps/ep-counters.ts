// TypeScript mirror of bpf/include/maps.h, part 7: the keys of strait_ep_counters_v1
// (struct ep_counter_key: endpoint veth, direction, drop reason or the new-connection
// slot) and of strait_rule_counters_v1 (a rule id, a host-order u32). Both are
// per-CPU hashes of traffic_counter (counters.ts sums a value).
import { bytesOf, fail, int, LE, u32, view, zeroRange } from './codec.js';
import { DROP_MAX } from './drop.js';
import { LAYOUT } from './layout.js';

export const EP_COUNTER_KEY_SIZE = LAYOUT.ep_counter_key.size;
/** reason of the slot that counts new connections that passed (DROP_NONE's value) */
export const EP_REASON_NEW_CONN = 0;

export type CounterDirection = 'ingress' | 'egress';

export interface EpCounterKey {
  ifindex: number;
  /** ingress: what the endpoint receives; egress: what it sends */
  direction: CounterDirection;
  /** a DropReason value, or EP_REASON_NEW_CONN */
  reason: number;
}

const K = LAYOUT.ep_counter_key.members;
const EP_DIR_EGRESS = 1;

export function encodeEpCounterKey(k: EpCounterKey): Uint8Array {
  const out = new Uint8Array(EP_COUNTER_KEY_SIZE);
  const dv = view(out);
  dv.setUint32(K.ifindex, u32(k.ifindex, 'counter ifindex', 1), LE);
  if (k.direction !== 'ingress' && k.direction !== 'egress') fail('counter direction', 'must be ingress or egress', k.direction);
  dv.setUint8(K.direction, k.direction === 'egress' ? EP_DIR_EGRESS : 0);
  dv.setUint8(K.reason, int(k.reason, 'counter reason', 0, DROP_MAX - 1));
  return out;
}

/** A key no program writes (direction past 1, nonzero pad) is refused, never misread. */
export function decodeEpCounterKey(buf: Uint8Array): EpCounterKey {
  const b = bytesOf(buf, EP_COUNTER_KEY_SIZE, 'endpoint counter key');
  const dv = view(b);
  const direction = int(dv.getUint8(K.direction), 'endpoint counter key direction', 0, EP_DIR_EGRESS);
  zeroRange(b, K.pad, EP_COUNTER_KEY_SIZE, 'endpoint counter key');
  return { ifindex: dv.getUint32(K.ifindex, LE), direction: direction === EP_DIR_EGRESS ? 'egress' : 'ingress', reason: dv.getUint8(K.reason) };
}
