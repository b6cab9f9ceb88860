// src/flows/buffer.ts: the newest N records in a fixed ring.
import { describe, expect, it } from 'vitest';

import { FlowBuffer } from '../../src/flows/buffer.js';
import type { FlowRecord } from '../../src/flows/types.js';

const rec = (i: number): FlowRecord => ({
  time: `t${i}`,
  verdict: i % 2 === 0 ? 'allowed' : 'denied',
  reason: 'x',
  event: 'new',
  protocol: 'tcp',
  src: { ip: '10.0.0.1', port: 1000 + i, identity: 0 },
  dst: { ip: '10.0.0.2', port: 80, identity: 0 },
  node: 'n',
  direction: 'egress',
  point: 'from-pod',
  bytes: i,
});
const times = (rs: FlowRecord[]) => rs.map((r) => r.time);

describe('the flow buffer', () => {
  it('gives the newest n, oldest first, before it is full', () => {
    const b = new FlowBuffer(5);
    expect(b.last(10)).toEqual([]);
    for (let i = 0; i < 3; i++) b.push(rec(i));
    expect(b.size).toBe(3);
    expect(times(b.last(10))).toEqual(['t0', 't1', 't2']);
    expect(times(b.last(2))).toEqual(['t1', 't2']);
    expect(b.last(0)).toEqual([]);
  });

  it('wraps: keeps only the newest capacity records, in order, and never grows', () => {
    const b = new FlowBuffer(4);
    for (let i = 0; i < 11; i++) b.push(rec(i));
    expect(b.size).toBe(4);
    expect(times(b.last(100))).toEqual(['t7', 't8', 't9', 't10']);
    expect(times(b.last(3))).toEqual(['t8', 't9', 't10']);
    b.push(rec(11));
    expect(times(b.last(4))).toEqual(['t8', 't9', 't10', 't11']);
  });

  it('the newest n that match a filter, looking past those that do not', () => {
    const b = new FlowBuffer(8);
    for (let i = 0; i < 8; i++) b.push(rec(i));
    expect(times(b.last(2, { verdicts: ['denied'] }))).toEqual(['t5', 't7']);
    expect(times(b.last(10, { ports: [1002, 1006] }))).toEqual(['t2', 't6']);
    expect(b.last(10, { protocols: ['udp'] })).toEqual([]);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new FlowBuffer(0)).toThrow(RangeError);
    expect(() => new FlowBuffer(1.5)).toThrow(RangeError);
  });
});
