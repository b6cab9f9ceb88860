// The map codecs without a kernel: byte-exact keys and values, round trips, and
// refusal of anything the C side would misread. test/bpf/ checks the same codecs
// against the compiled objects (BTF) and the running programs.
import { endianness } from 'node:os';

import { describe, expect, it } from 'vitest';

import {
  COUNTER_SLOT_SIZE,
  counterKey,
  decodeEndpointFlags,
  decodeEndpointKey,
  decodeEndpointValue,
  decodeLinkKey,
  decodeLinkValue,
  describeDrop,
  DROP_MAX,
  DROP_REASONS,
  DropReason,
  encodeEndpointFlags,
  encodeEndpointKey,
  encodeEndpointValue,
  encodeLinkKey,
  encodeLinkValue,
  ENDPOINT_KEY_SIZE,
  ENDPOINT_VALUE_SIZE,
  EP_F_READY,
  LAYOUT,
  STAT_MAX,
  StatId,
  sumPerCpu,
} from '../../src/datapath/maps/index.js';
import { codeOf } from '../helpers/thrown.js';

const LE = endianness() === 'LE';
describe('endpoint key', () => {
  it('lays out an IPv4 key: address in network order in ip[0], family at 16, zero elsewhere', () => {
    expect([...encodeEndpointKey({ family: 4, ip: '10.1.2.3' })]).toEqual([
      10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0,
    ]);
  });

  it('lays out an IPv6 key: 16 address bytes in network order, family 6', () => {
    expect([...encodeEndpointKey({ family: 6, ip: 'fd00:1::a:1' })]).toEqual([
      0xfd, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x0a, 0x00, 0x01, 6, 0, 0, 0,
    ]);
  });

  it('round-trips to the canonical text form', () => {
    for (const [family, ip, canonical] of [
      [4, '192.0.2.255', '192.0.2.255'],
      [6, 'FD00:0:0:0:0:0:0:10', 'fd00::10'],
      [6, '::ffff:10.0.0.1', '::ffff:a00:1'],
    ] as const) {
      const buf = encodeEndpointKey({ family, ip });
      expect(buf.byteLength).toBe(ENDPOINT_KEY_SIZE);
      expect(decodeEndpointKey(buf)).toEqual({ family, ip: canonical });
    }
  });

  it('refuses bad input with ERR_INVALID_ARG', () => {
    const bad: unknown[] = [
      { family: 4, ip: '::1' },
      { family: 6, ip: '10.0.0.1' },
      { family: 5, ip: '10.0.0.1' },
      { family: 4, ip: '10.0.0.1/32' },
      { family: 6, ip: 'fe80::1%eth0' },
      { family: 4, ip: '10.0.0.256' },
      { family: 4, ip: 167772161 },
      null,
    ];
    for (const k of bad) expect(codeOf(() => encodeEndpointKey(k as never)), JSON.stringify(k)).toBe('ERR_INVALID_ARG');
  });

  it('refuses keys no encoder writes', () => {
    const v4 = encodeEndpointKey({ family: 4, ip: '10.0.0.1' });
    const withJunk = v4.slice();
    withJunk[5] = 1; // past the IPv4 address
    const withPad = v4.slice();
    withPad[19] = 1;
    const noFamily = v4.slice();
    noFamily[16] = 0;
    for (const b of [withJunk, withPad, noFamily, v4.slice(0, 19), new Uint8Array(21)])
      expect(codeOf(() => decodeEndpointKey(b))).toBe('ERR_INVALID_ARG');
  });
});

describe('endpoint flags', () => {
  it('encodes and decodes the EP_F_* bits of maps.h', () => {
    expect(encodeEndpointFlags({ ready: true, generation: 1, ingressIsolated: true, egressIsolated: false })).toBe(0b1011);
    expect(encodeEndpointFlags({ ready: false, generation: 0, ingressIsolated: false, egressIsolated: true })).toBe(0b0100);
    expect(decodeEndpointFlags(0b1001).generation).toBe(1);
    expect(decodeEndpointFlags(0b0111).generation).toBe(0);
    expect(decodeEndpointFlags(0b0111)).toEqual({ ready: true, ingressIsolated: true, egressIsolated: true, generation: 0 });
    for (let f = 0; f < 16; f++) expect(encodeEndpointFlags(decodeEndpointFlags(f))).toBe(f);
  });
});

describe('endpoint value', () => {
  const value = {
    ifindex: 0x01020304,
    flags: EP_F_READY,
    podMac: '0a:58:0a:01:02:03',
    hostMac: 'ee:ee:ee:ee:ee:01',
    identity: 0xdeadbeef,
  };

  it.runIf(LE)('lays out integers in host order (little-endian here) and MACs as bytes', () => {
    expect([...encodeEndpointValue(value)]).toEqual([
      0x04, 0x03, 0x02, 0x01, // ifindex
      0x01, 0x00, 0x00, 0x00, // flags
      0x0a, 0x58, 0x0a, 0x01, 0x02, 0x03, // pod_mac
      0xee, 0xee, 0xee, 0xee, 0xee, 0x01, // host_mac
      0xef, 0xbe, 0xad, 0xde, // identity
    ]);
  });

  it('round-trips, MACs in lower case', () => {
    const buf = encodeEndpointValue({ ...value, podMac: '0A:58:0A:01:02:03' });
    expect(buf.byteLength).toBe(ENDPOINT_VALUE_SIZE);
    expect(decodeEndpointValue(buf)).toEqual(value);
    expect(decodeEndpointValue(encodeEndpointValue({ ...value, flags: 0, identity: 0 }))).toEqual({
      ...value,
      flags: 0,
      identity: 0,
    });
  });

  it('refuses bad input with ERR_INVALID_ARG', () => {
    const bad: unknown[] = [
      { ...value, ifindex: 0 },
      { ...value, ifindex: -1 },
      { ...value, ifindex: 1.5 },
      { ...value, flags: 2 ** 32 },
      { ...value, identity: '7' },
      { ...value, podMac: '0a:58:0a:01:02' },
      { ...value, hostMac: '0a-58-0a-01-02-03' },
      { ...value, podMac: undefined },
      null,
    ];
    for (const v of bad) expect(codeOf(() => encodeEndpointValue(v as never)), JSON.stringify(v)).toBe('ERR_INVALID_ARG');
    expect(codeOf(() => decodeEndpointValue(new Uint8Array(23)))).toBe('ERR_INVALID_ARG');
  });
});

describe('per-CPU counters', () => {
  it('sums every CPU slot of a traffic_counter buffer', () => {
    const ncpus = 3;
    const buf = new Uint8Array(ncpus * COUNTER_SLOT_SIZE);
    const dv = new DataView(buf.buffer);
    const per = [
      [1n, 100n],
      [0n, 0n],
      [2n ** 40n, 2n ** 50n],
    ] as const;
    per.forEach(([p, b], cpu) => {
      dv.setBigUint64(cpu * 16 + LAYOUT.traffic_counter.members.packets, p, LE);
      dv.setBigUint64(cpu * 16 + LAYOUT.traffic_counter.members.bytes, b, LE);
    });
    expect(sumPerCpu(buf, ncpus)).toEqual({ packets: 1n + 2n ** 40n, bytes: 100n + 2n ** 50n });
  });

  it('refuses a buffer that is not ncpus slots of 16 bytes', () => {
    expect(COUNTER_SLOT_SIZE).toBe(16);
    expect(codeOf(() => sumPerCpu(new Uint8Array(16), 2))).toBe('ERR_INVALID_ARG');
    expect(codeOf(() => sumPerCpu(new Uint8Array(48), 2))).toBe('ERR_INVALID_ARG');
    expect(codeOf(() => sumPerCpu(new Uint8Array(0), 0))).toBe('ERR_INVALID_ARG');
  });

  it('keys array maps by a host-order u32', () => {
    expect([...counterKey(DropReason.SPOOF_MAC)]).toEqual(LE ? [3, 0, 0, 0] : [0, 0, 0, 3]);
    expect(codeOf(() => counterKey(-1))).toBe('ERR_INVALID_ARG');
  });
});

describe('drop reasons and stats', () => {
  it('names and describes every reason, unknown ones too', () => {
    expect(describeDrop(DropReason.SPOOF_IP)).toMatchObject({ name: 'DROP_SPOOF_IP' });
    expect(describeDrop(31)).toMatchObject({ value: 31, name: 'DROP_#31' });
    for (const d of DROP_REASONS) {
      expect(d.value).toBeLessThan(DROP_MAX);
      expect(d.description.length).toBeGreaterThan(0);
    }
    expect(new Set(DROP_REASONS.map((d) => d.value)).size).toBe(DROP_REASONS.length);
    for (const v of Object.values(StatId)) expect(v).toBeLessThan(STAT_MAX);
  });
});

describe('link entries (strait_links_v1)', () => {
  it('keys a host-order ifindex and holds an endpoint key, both round-tripping', () => {
    const key = encodeLinkKey(0x01020304);
    expect([...key]).toEqual(LE ? [4, 3, 2, 1] : [1, 2, 3, 4]);
    expect(decodeLinkKey(key)).toBe(0x01020304);
    const value = encodeLinkValue({ family: 6, ip: 'fd00:1::a:1' });
    expect(value.length).toBe(LAYOUT.link_value.size);
    expect([...value]).toEqual([...encodeEndpointKey({ family: 6, ip: 'fd00:1::a:1' })]);
    expect(decodeLinkValue(value)).toEqual({ family: 6, ip: 'fd00:1::a:1' });
  });

  it('refuses ifindex 0 (no device) and a value of the wrong size', () => {
    expect(codeOf(() => encodeLinkKey(0))).toBe('ERR_INVALID_ARG');
    expect(codeOf(() => decodeLinkValue(new Uint8Array(19)))).toBe('ERR_INVALID_ARG');
  });
});
