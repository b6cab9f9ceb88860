// The Service map codecs (src/datapath/maps/lb.ts): what they write is what maps.h
// lays out (byte for byte at the offsets test/bpf/maps-btf.test.ts checks), they
// read back what they wrote, and they refuse what no struct can hold.
import { describe, expect, it } from 'vitest';

import {
  decodeLbAffinityKey,
  decodeLbAffinityValue,
  decodeLbBackendValue,
  decodeLbFlowValue,
  decodeLbId,
  decodeLbRevValue,
  decodeLbServiceKey,
  decodeLbServiceValue,
  decodeLbSlotKey,
  encodeLbAffinityKey,
  encodeLbAffinityValue,
  encodeLbBackendValue,
  encodeLbFlowValue,
  encodeLbId,
  encodeLbRevValue,
  encodeLbServiceKey,
  encodeLbServiceValue,
  encodeLbSlotKey,
  LB_FLOW_F_HAIRPIN,
  LB_PROTOCOLS,
} from '../../src/datapath/maps/index.js';

describe('Service map codecs', () => {
  it('a service key holds the ClusterIP, the port in network order, protocol and family', () => {
    const key = { family: 4 as const, addr: '10.96.0.10', port: 53, protocol: LB_PROTOCOLS.UDP };
    const b = encodeLbServiceKey(key);
    expect([...b.slice(0, 4)]).toEqual([10, 96, 0, 10]);
    expect([...b.slice(16, 20)]).toEqual([0, 53, 17, 4]);
    expect(decodeLbServiceKey(b)).toEqual(key);
    const v6 = { family: 6 as const, addr: 'fd00:96::a', port: 443, protocol: LB_PROTOCOLS.TCP };
    expect(decodeLbServiceKey(encodeLbServiceKey(v6))).toEqual(v6);
  });

  it('round-trips every value, and the u32 ids', () => {
    const sv = { serviceId: 7, count: 3, flags: 1, affinityTimeoutS: 10800 };
    expect(decodeLbServiceValue(encodeLbServiceValue(sv))).toEqual(sv);
    expect(decodeLbSlotKey(encodeLbSlotKey({ serviceId: 7, slot: 2 }))).toEqual({ serviceId: 7, slot: 2 });
    expect(decodeLbId(encodeLbId(99))).toBe(99);
    const be = { family: 6 as const, addr: 'fd00::5', port: 8080, flags: 1, serviceId: 7 };
    expect(decodeLbBackendValue(encodeLbBackendValue(be))).toEqual(be);
    const flow = { backendId: 4, serviceId: 7, flags: LB_FLOW_F_HAIRPIN };
    expect(decodeLbFlowValue(encodeLbFlowValue(flow))).toEqual(flow);
    const rev = { family: 4 as const, vip: '10.96.0.10', client: '10.0.0.5', vport: 80, flags: LB_FLOW_F_HAIRPIN, backendId: 4 };
    expect(decodeLbRevValue(encodeLbRevValue(rev), 4)).toEqual(rev);
    const plain = { ...rev, client: null, flags: 0 };
    expect(decodeLbRevValue(encodeLbRevValue(plain), 4)).toEqual(plain);
    const ak = { serviceId: 7, family: 4 as const, client: '10.0.0.5' };
    expect(decodeLbAffinityKey(encodeLbAffinityKey(ak))).toEqual(ak);
    const av = { lastSeenNs: 123456789n, backendId: 4 };
    expect(decodeLbAffinityValue(encodeLbAffinityValue(av))).toEqual(av);
  });

  it('refuses ids of 0, ports past 65535, a family that is not the address’s, and short buffers', () => {
    expect(() => encodeLbServiceValue({ serviceId: 0, count: 0, flags: 0, affinityTimeoutS: 0 })).toThrow(/service id/);
    expect(() => encodeLbServiceKey({ family: 4, addr: '10.0.0.1', port: 70000, protocol: 6 })).toThrow(/port/);
    expect(() => encodeLbBackendValue({ family: 6, addr: '10.0.0.1', port: 80, flags: 0, serviceId: 1 })).toThrow(/not IPv6/);
    expect(() => decodeLbServiceKey(new Uint8Array(19))).toThrow(/20 bytes/);
    expect(() => encodeLbSlotKey({ serviceId: 1, slot: 0 })).toThrow(/slot/);
  });
});
