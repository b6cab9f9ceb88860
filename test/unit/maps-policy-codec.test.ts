// The policy-side map codecs without a kernel (ipcache, cidr, policy, ct): byte-exact
// keys and values, round trips, and refusal of anything the C side would misread
// or no encoder writes. test/bpf/maps-btf.test.ts holds the layouts to the objects'
// BTF; test/bpf/policy.test.ts and conntrack.test.ts use these codecs against the
// running programs.
import { endianness } from 'node:os';

import { describe, expect, it } from 'vitest';

import {
  CIDR_KEY_SIZE,
  CT_F_REPLY_SEEN,
  CT_KEY_SIZE,
  CT_F_CLOSED,
  CT_LIFETIME_CLOSED_NS,
  CT_LIFETIME_OTHER_NS,
  CT_LIFETIME_PENDING_NS,
  CT_LIFETIME_TCP_NS,
  CT_VALUE_SIZE,
  ctExpired,
  ctLifetimeNs,
  decodeCidrKey,
  decodeCidrValue,
  decodeCtKey,
  decodeCtValue,
  decodeIpcacheValue,
  decodePolicyKey,
  decodePolicyValue,
  describeStat,
  encodeCidrKey,
  encodeCidrValue,
  encodeCtKey,
  encodeCtValue,
  encodeIpcacheValue,
  encodePolicyKey,
  encodePolicyValue,
  IDENTITY_ANY,
  IDENTITY_CIDR_FLAG,
  IDENTITY_CLUSTER,
  IDENTITY_REMOTE_NODE,
  IDENTITY_HOST,
  IDENTITY_NS_FLAG,
  IDENTITY_WORLD,
  IPCACHE_VALUE_SIZE,
  POLICY_KEY_SIZE,
  POLICY_PREFIX_ANY_PORT,
  POLICY_PREFIX_ANY_PROTO,
  POLICY_PREFIX_FULL,
  policyPrefixLen,
  policySlot,
  reverseCtKey,
  StatId,
  type PolicyKey,
  decodeFragKey,
  decodeFragValue,
  encodeFragKey,
  FRAG_KEY_SIZE,
} from '../../src/datapath/maps/index.js';
import { portRangePrefixes as policyPortPrefixes } from '../../src/policy/ports.js';
import * as policyTypes from '../../src/policy/types.js';
import { codeOf } from '../helpers/thrown.js';

const LE = endianness() === 'LE';
/** A host-order u32 as the 4 bytes the kernel stores. */
const u32b = (n: number): number[] => {
  const b = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  return LE ? b : b.reverse();
};

describe('reserved identities', () => {
  it('match the copy in src/policy/types.ts', () => {
    expect([IDENTITY_ANY, IDENTITY_HOST, IDENTITY_WORLD, IDENTITY_CLUSTER, IDENTITY_REMOTE_NODE, IDENTITY_CIDR_FLAG, IDENTITY_NS_FLAG]).toEqual([
      policyTypes.IDENTITY_ANY,
      policyTypes.IDENTITY_HOST,
      policyTypes.IDENTITY_WORLD,
      policyTypes.IDENTITY_CLUSTER,
      policyTypes.IDENTITY_REMOTE_NODE,
      policyTypes.IDENTITY_CIDR_FLAG,
      policyTypes.IDENTITY_NS_FLAG,
    ]);
  });
});

describe('ipcache value', () => {
  it('lays out the identity and the namespace identity in host order, and round-trips', () => {
    const buf = encodeIpcacheValue({ identity: 0x01020304, namespace: IDENTITY_NS_FLAG | 5 });
    expect(buf.byteLength).toBe(IPCACHE_VALUE_SIZE);
    expect([...buf]).toEqual([...u32b(0x01020304), ...u32b(IDENTITY_NS_FLAG | 5)]);
    expect(decodeIpcacheValue(buf)).toEqual({ identity: 0x01020304, namespace: IDENTITY_NS_FLAG | 5 });
  });

  it('an entry of an older agent (the word was reserved, 0) reads as no namespace; refuses bad input', () => {
    expect([...encodeIpcacheValue({ identity: 300 })]).toEqual([...u32b(300), 0, 0, 0, 0]);
    expect(decodeIpcacheValue(encodeIpcacheValue({ identity: 300 }))).toEqual({ identity: 300, namespace: 0 });
    for (const v of [{ identity: -1 }, { identity: 2 ** 32 }, { identity: '1' }, { identity: 1, namespace: -1 }, null])
      expect(codeOf(() => encodeIpcacheValue(v as never)), JSON.stringify(v)).toBe('ERR_INVALID_ARG');
    expect(codeOf(() => decodeIpcacheValue(new Uint8Array(4)))).toBe('ERR_INVALID_ARG');
  });
});

describe('cidr key', () => {
  it('lays out an IPv4 prefix: prefixlen 32 + bits, family, zero pad, address in network order', () => {
    expect([...encodeCidrKey('198.18.0.0/16')]).toEqual([
      ...u32b(48), 4, 0, 0, 0, 198, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
  });

  it('lays out an IPv6 prefix', () => {
    const buf = encodeCidrKey('fd00:1::/32');
    expect(buf.byteLength).toBe(CIDR_KEY_SIZE);
    expect([...buf]).toEqual([...u32b(64), 6, 0, 0, 0, 0xfd, 0, 0, 1, ...new Array<number>(12).fill(0)]);
  });

  it('round-trips to the canonical form, host routes and default routes included', () => {
    for (const [cidr, canonical] of [
      ['10.0.0.0/8', '10.0.0.0/8'],
      ['192.0.2.7/32', '192.0.2.7/32'],
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['::/0', '::/0'],
      ['FD00:0:0:0:0:0:0:10/128', 'fd00::10/128'],
      ['2001:db8:8000::/33', '2001:db8:8000::/33'],
    ] as const)
      expect(decodeCidrKey(encodeCidrKey(cidr)), cidr).toBe(canonical);
  });

  it('refuses host bits, bare addresses and bad prefix lengths', () => {
    for (const bad of ['10.0.0.1/8', '2001:db8:c000::/33', '10.0.0.0', '10.0.0.0/33', '::/129', '10.0.0.0/-1', '10.0.0.0/8.0', '10.0.0.0/', 7, null])
      expect(codeOf(() => encodeCidrKey(bad as never)), String(bad)).toBe('ERR_INVALID_ARG');
  });

  it('refuses keys no encoder writes', () => {
    const good = encodeCidrKey('10.0.0.0/8');
    const hostBits = good.slice();
    hostBits[9] = 1; // 10.1.0.0 under /8
    const pastV4 = good.slice();
    pastV4[12] = 1;
    const pad = good.slice();
    pad[6] = 1;
    const tooLong = good.slice();
    tooLong.set(u32b(32 + 33), 0);
    const tooShort = good.slice();
    tooShort.set(u32b(31), 0);
    for (const b of [hostBits, pastV4, pad, tooLong, tooShort, good.slice(0, 20)])
      expect(codeOf(() => decodeCidrKey(b))).toBe('ERR_INVALID_ARG');
  });

  it('values hold an identity', () => {
    expect([...encodeCidrValue({ identity: IDENTITY_CIDR_FLAG | 5 })]).toEqual(u32b(IDENTITY_CIDR_FLAG | 5));
    expect(decodeCidrValue(encodeCidrValue({ identity: IDENTITY_HOST }))).toEqual({ identity: IDENTITY_HOST });
    expect(codeOf(() => encodeCidrValue({ identity: 1.5 }))).toBe('ERR_INVALID_ARG');
  });
});

describe('policy key', () => {
  const base: PolicyKey = { ifindex: 0x01020304, gen: 0, identity: 300, egress: false, protocol: 6, port: 8080, portPrefixLen: 16 };

  it('lays out one port: prefixlen 96, slot, identity, direction, protocol, port big-endian', () => {
    const buf = encodePolicyKey(base);
    expect(buf.byteLength).toBe(POLICY_KEY_SIZE);
    expect([...buf]).toEqual([...u32b(96), ...u32b(0x01020304), ...u32b(300), 0, 6, 0x1f, 0x90]);
  });

  it('puts the generation in bit 31 of the slot and egress in its byte', () => {
    const buf = encodePolicyKey({ ...base, gen: 1, egress: true });
    expect([...buf.subarray(4, 8)]).toEqual(u32b((0x01020304 | 0x8000_0000) >>> 0));
    expect(buf[12]).toBe(1);
  });

  it('slot and prefix length helpers mirror maps.h (the ones encodePolicyKey writes)', () => {
    expect(policySlot(7, 0)).toBe(7);
    expect(policySlot(7, 1)).toBe(0x80000007);
    const e = (protocol: number, portPrefixLen: number) => ({ identity: 1, egress: false, protocol, port: 0, portPrefixLen, ruleId: 1 });
    expect(policyPrefixLen(e(0, 0))).toBe(72);
    expect(policyPrefixLen(e(6, 0))).toBe(80);
    expect(policyPrefixLen(e(6, 16))).toBe(96);
    expect(policyPrefixLen(e(6, 13))).toBe(93);
  });

  it('computes the prefix length: 72 any protocol, 80 every port, 80 + port bits', () => {
    const prefix = (k: Partial<PolicyKey>): number => new DataView(encodePolicyKey({ ...base, ...k }).buffer).getUint32(0, LE);
    expect(prefix({ protocol: 0, port: 0, portPrefixLen: 0 })).toBe(POLICY_PREFIX_ANY_PROTO);
    expect(prefix({ port: 0, portPrefixLen: 0 })).toBe(POLICY_PREFIX_ANY_PORT);
    expect(prefix({ port: 8080, portPrefixLen: 13 })).toBe(93);
    expect(prefix({})).toBe(POLICY_PREFIX_FULL);
  });

  it('round-trips, and ignores extra properties such as a PolicyEntry ruleId', () => {
    for (const k of [
      base,
      { ...base, gen: 1 as const, egress: true, identity: IDENTITY_ANY },
      { ...base, protocol: 0, port: 0, portPrefixLen: 0 },
      { ...base, protocol: 132, port: 0, portPrefixLen: 0 },
      { ...base, port: 8080, portPrefixLen: 13 },
      { ...base, ifindex: 0x7fff_ffff, identity: 0xffff_ffff },
    ])
      expect(decodePolicyKey(encodePolicyKey(k))).toEqual(k);
    expect(decodePolicyKey(encodePolicyKey({ ...base, ruleId: 9 } as PolicyKey))).toEqual(base);
  });

  it('refuses bad input with ERR_INVALID_ARG', () => {
    const bad: unknown[] = [
      { ...base, ifindex: 0 },
      { ...base, ifindex: 0x8000_0000 },
      { ...base, gen: 2 },
      { ...base, egress: 1 },
      { ...base, identity: -1 },
      { ...base, protocol: 256 },
      { ...base, port: 65536 },
      { ...base, portPrefixLen: 17 },
      { ...base, port: 8081, portPrefixLen: 13 }, // bits past the prefix
      { ...base, protocol: 0 }, // any protocol with a port
      { ...base, protocol: 0, port: 0, portPrefixLen: 16 },
      null,
    ];
    for (const k of bad) expect(codeOf(() => encodePolicyKey(k as never)), JSON.stringify(k)).toBe('ERR_INVALID_ARG');
  });

  it('refuses keys no encoder writes', () => {
    const good = encodePolicyKey(base);
    const edit = (src: Uint8Array, at: number, bytes: number[]): Uint8Array => {
      const b = src.slice();
      b.set(bytes, at);
      return b;
    };
    const cases: [string, Uint8Array][] = [
      ['prefixlen below 72', edit(good, 0, u32b(64))],
      ['prefixlen above 96', edit(good, 0, u32b(97))],
      ['prefixlen inside the protocol byte', edit(good, 0, u32b(76))],
      ['port bits past a /13', edit(edit(good, 0, u32b(93)), 15, [0x91])],
      ['egress neither 0 nor 1', edit(good, 12, [2])],
      ['any protocol with protocol and port bytes set', edit(good, 0, u32b(72))],
      ['one protocol, and it is 0', edit(edit(good, 0, u32b(80)), 13, [0])],
      ['a slot that names no ifindex', edit(good, 4, u32b(0x8000_0000))],
      ['15 bytes', good.slice(0, 15)],
    ];
    for (const [what, b] of cases) expect(codeOf(() => decodePolicyKey(b)), what).toBe('ERR_INVALID_ARG');
  });

  it('values hold a rule id', () => {
    expect([...encodePolicyValue({ ruleId: 7 })]).toEqual([...u32b(7), 0, 0, 0, 0]);
    expect(decodePolicyValue(encodePolicyValue({ ruleId: 0xffff_ffff }))).toEqual({ ruleId: 0xffff_ffff });
    expect(codeOf(() => encodePolicyValue({ ruleId: -1 }))).toBe('ERR_INVALID_ARG');
  });
});

// The one port-range split there is (src/policy/ports.ts), as this encoder takes it.
describe('port range prefixes', () => {
  const portRangePrefixes = (a: number, b: number) =>
    policyPortPrefixes(a, b).map((p) => ({ port: p.port, portPrefixLen: p.prefixLen }));
  const expand = (ps: { port: number; portPrefixLen: number }[]): number[] =>
    ps.flatMap(({ port, portPrefixLen }) => Array.from({ length: 2 ** (16 - portPrefixLen) }, (_, i) => port + i));

  it('covers an aligned range with one prefix', () => {
    expect(portRangePrefixes(8080, 8087)).toEqual([{ port: 8080, portPrefixLen: 13 }]);
    expect(portRangePrefixes(443, 443)).toEqual([{ port: 443, portPrefixLen: 16 }]);
    expect(portRangePrefixes(0, 65535)).toEqual([{ port: 0, portPrefixLen: 0 }]);
  });

  it('covers any range exactly, each prefix aligned and encodable', () => {
    for (const [a, b] of [
      [80, 443],
      [1, 65535],
      [32768, 60999],
      [1000, 1001],
      [65535, 65535],
    ] as const) {
      const ps = portRangePrefixes(a, b);
      expect(expand(ps)).toEqual(Array.from({ length: b - a + 1 }, (_, i) => a + i));
      for (const p of ps) encodePolicyKey({ ifindex: 1, gen: 0, identity: 0, egress: false, protocol: 6, ...p });
      expect(ps.length).toBeLessThanOrEqual(30);
    }
  });

  it('refuses an empty or out-of-range range', () => {
    expect(() => portRangePrefixes(10, 9)).toThrow(RangeError);
    expect(() => portRangePrefixes(0, 65536)).toThrow(RangeError);
  });
});

describe('ct key and value', () => {
  const v4 = { family: 4 as const, saddr: '10.244.0.10', daddr: '192.0.2.80', sport: 40000, dport: 443, protocol: 6 };

  it('lays out an IPv4 tuple: addresses in the first word, ports big-endian, protocol, family, zero pad', () => {
    const buf = encodeCtKey(v4);
    expect(buf.byteLength).toBe(CT_KEY_SIZE);
    expect([...buf]).toEqual([
      10, 244, 0, 10, ...new Array<number>(12).fill(0),
      192, 0, 2, 80, ...new Array<number>(12).fill(0),
      0x9c, 0x40, 0x01, 0xbb, 6, 4, 0, 0,
    ]);
  });

  it('round-trips IPv4 and IPv6 tuples, and reverses them', () => {
    const v6 = { family: 6 as const, saddr: 'fd00:244::10', daddr: '2001:db8::80', sport: 7, dport: 7, protocol: 58 };
    expect(decodeCtKey(encodeCtKey(v4))).toEqual(v4);
    expect(decodeCtKey(encodeCtKey(v6))).toEqual(v6);
    expect(reverseCtKey(v4)).toEqual({ ...v4, saddr: v4.daddr, daddr: v4.saddr, sport: 443, dport: 40000 });
  });

  it('refuses bad tuples and keys no encoder writes', () => {
    for (const k of [
      { ...v4, family: 6 },
      { ...v4, daddr: '::1' },
      { ...v4, sport: 65536 },
      { ...v4, protocol: -1 },
      null,
    ])
      expect(codeOf(() => encodeCtKey(k as never)), JSON.stringify(k)).toBe('ERR_INVALID_ARG');
    const good = encodeCtKey(v4);
    for (const i of [5, 20, 38, 39]) {
      const b = good.slice();
      b[i] = 1;
      expect(codeOf(() => decodeCtKey(b)), `byte ${i}`).toBe('ERR_INVALID_ARG');
    }
    const noFamily = good.slice();
    noFamily[37] = 0;
    expect(codeOf(() => decodeCtKey(noFamily))).toBe('ERR_INVALID_ARG');
  });

  it('lays out a value: last_seen u64, flags, rule id, host order; round-trips', () => {
    const value = { lastSeenNs: 0x0102030405060708n, flags: CT_F_REPLY_SEEN, ruleId: 42 };
    const buf = encodeCtValue(value);
    expect(buf.byteLength).toBe(CT_VALUE_SIZE);
    const lo = u32b(0x05060708);
    const hi = u32b(0x01020304);
    expect([...buf]).toEqual([...(LE ? [...lo, ...hi] : [...hi, ...lo]), ...u32b(1), ...u32b(42)]);
    expect(decodeCtValue(buf)).toEqual(value);
    for (const v of [{ ...value, lastSeenNs: -1n }, { ...value, lastSeenNs: 1 }, { ...value, flags: -1 }, null])
      expect(codeOf(() => encodeCtValue(v as never))).toBe('ERR_INVALID_ARG');
  });

  it('expires entries as conntrack.h does: answered TCP after 6 h idle, answered others after 120 s, unanswered after 60 s, closed after 10 s, never from the future', () => {
    expect(ctLifetimeNs(6, CT_F_REPLY_SEEN)).toBe(CT_LIFETIME_TCP_NS);
    expect(ctLifetimeNs(17, CT_F_REPLY_SEEN)).toBe(CT_LIFETIME_OTHER_NS);
    expect(ctLifetimeNs(6, 0)).toBe(CT_LIFETIME_PENDING_NS);
    expect(ctLifetimeNs(6, CT_F_REPLY_SEEN | CT_F_CLOSED)).toBe(CT_LIFETIME_CLOSED_NS);
    const now = 10n ** 15n;
    const at = (ago: bigint, flags = CT_F_REPLY_SEEN) => ({ lastSeenNs: now - ago, flags, ruleId: 0 });
    expect(ctExpired(17, at(CT_LIFETIME_OTHER_NS), now)).toBe(false);
    expect(ctExpired(17, at(CT_LIFETIME_OTHER_NS + 1n), now)).toBe(true);
    expect(ctExpired(6, at(CT_LIFETIME_OTHER_NS + 1n), now)).toBe(false);
    expect(ctExpired(6, at(CT_LIFETIME_TCP_NS + 1n), now)).toBe(true);
    expect(ctExpired(6, at(CT_LIFETIME_PENDING_NS + 1n, 0), now)).toBe(true);
    expect(ctExpired(6, at(CT_LIFETIME_CLOSED_NS + 1n, CT_F_REPLY_SEEN | CT_F_CLOSED), now)).toBe(true);
    expect(ctExpired(17, at(-5n), now)).toBe(false);
  });
});

describe('frag key and value', () => {
  it('puts the identification where frag.h does: IPv4 16 bits, IPv6 32 bits, network order', () => {
    const v4 = encodeFragKey({ family: 4, saddr: '10.0.0.1', daddr: '10.0.0.2', id: 0x1234, protocol: 17 });
    expect(v4.byteLength).toBe(FRAG_KEY_SIZE);
    expect([...v4.slice(32, 40)]).toEqual([0x12, 0x34, 0, 0, 17, 4, 0, 0]);
    expect(decodeFragKey(v4)).toEqual({ family: 4, saddr: '10.0.0.1', daddr: '10.0.0.2', id: 0x1234, protocol: 17 });
    const v6 = encodeFragKey({ family: 6, saddr: 'fd00::1', daddr: 'fd00::2', id: 0x89abcdef, protocol: 60 });
    expect([...v6.slice(32, 38)]).toEqual([0x89, 0xab, 0xcd, 0xef, 60, 6]);
    expect(decodeFragKey(v6).id).toBe(0x89abcdef);
    for (const k of [{ family: 4, saddr: '10.0.0.1', daddr: '10.0.0.2', id: 0x10000, protocol: 17 }, { family: 6, saddr: '10.0.0.1', daddr: 'fd00::2', id: 1, protocol: 17 }])
      expect(codeOf(() => encodeFragKey(k as never))).toBe('ERR_INVALID_ARG');
    expect(decodeFragValue(Uint8Array.of(0x9c, 0x40, 0, 53, 17, 1, 0, 0))).toEqual({ sport: 40000, dport: 53, protocol: 17, flags: 1 });
  });
});

describe('stats', () => {
  it('names the conntrack and policy counters', () => {
    expect(StatId.CT_HIT).toBe(3);
    expect(StatId.POLICY_ALLOWED).toBe(4);
    expect(describeStat(StatId.CT_HIT).name).toBe('STAT_CT_HIT');
    expect(describeStat(StatId.POLICY_ALLOWED).name).toBe('STAT_POLICY_ALLOWED');
  });
});
