// The key of strait_ep_counters_v1 without a kernel: byte-exact (ifindex in host
// order, then direction and reason bytes, two zero pad bytes), a round trip, and a
// precise refusal of what the C side would misread. test/bpf/counters.test.ts uses
// it against the running programs; test/bpf/maps-btf.test.ts holds the layout.
import { endianness } from 'node:os';

import { describe, expect, it } from 'vitest';

import { decodeEpCounterKey, DropReason, encodeEpCounterKey, EP_COUNTER_KEY_SIZE, EP_REASON_NEW_CONN } from '../../src/datapath/maps/index.js';

const LE = endianness() === 'LE';

describe('ep_counter_key codec', () => {
  it('is 8 bytes: ifindex, direction (1 = egress), reason, zero pad; and decodes back', () => {
    const key = { ifindex: 0x01020304, direction: 'egress' as const, reason: DropReason.POLICY_INGRESS };
    const b = encodeEpCounterKey(key);
    expect(b.byteLength).toBe(EP_COUNTER_KEY_SIZE);
    expect([...b]).toEqual([...(LE ? [4, 3, 2, 1] : [1, 2, 3, 4]), 1, 7, 0, 0]);
    expect(decodeEpCounterKey(b)).toEqual(key);
    expect(decodeEpCounterKey(encodeEpCounterKey({ ifindex: 9, direction: 'ingress', reason: EP_REASON_NEW_CONN }))).toEqual({ ifindex: 9, direction: 'ingress', reason: 0 });
  });

  it('refuses ifindex 0, a direction other than ingress/egress, a reason past DROP_MAX; decoding, a short buffer or a key no program writes', () => {
    expect(() => encodeEpCounterKey({ ifindex: 0, direction: 'ingress', reason: 0 })).toThrow(/counter ifindex must be an integer in 1\.\./);
    expect(() => encodeEpCounterKey({ ifindex: 3, direction: 'sideways' as 'ingress', reason: 0 })).toThrow(/counter direction must be ingress or egress/);
    expect(() => encodeEpCounterKey({ ifindex: 3, direction: 'egress', reason: 32 })).toThrow(/counter reason must be an integer in 0\.\.31/);
    expect(() => decodeEpCounterKey(new Uint8Array(7))).toThrow(/endpoint counter key must be 8 bytes/);
    expect(() => decodeEpCounterKey(new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0]))).toThrow(/direction must be an integer in 0\.\.1/);
    expect(() => decodeEpCounterKey(new Uint8Array([1, 0, 0, 0, 1, 0, 0, 5]))).toThrow(/endpoint counter key has nonzero byte 7/);
  });
});
