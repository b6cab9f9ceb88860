// src/datapath/maps/events.ts: a flow record round-trips byte for byte through
// encodeFlowEvent/decodeFlowEvent, and a record no program writes is refused by name.
import { describe, expect, it } from 'vitest';

import { decodeFlowEvent, decodeFlowEvents, encodeFlowEvent, FLOW_EVENT_SIZE, type FlowEvent } from '../../src/datapath/maps/events.js';
import { LAYOUT } from '../../src/datapath/maps/layout.js';
import { event } from './flows-helpers.js';

const E = LAYOUT.flow_event.members;

describe('flow event codec', () => {
  it.each<Partial<FlowEvent>>([
    {},
    { type: 'new', family: 6, saddr: 'fd00::2', daddr: 'fd00::3', point: 'from-pod', direction: 1, flags: 0x42, ruleId: 7, egressRule: 9 },
    { type: 'state', point: 'from-tunnel', tcpFlags: 0x12, flags: 0x0c },
    { type: 'drop', family: 0, saddr: null, daddr: null, sport: 0, dport: 0, protocol: 0, reason: 4, point: 'to-tunnel', srcIdentity: 0, dstIdentity: 0 },
  ])('round-trips %j', (over) => {
    const e = event(over);
    const bytes = encodeFlowEvent(e);
    expect(bytes).toHaveLength(FLOW_EVENT_SIZE);
    expect(decodeFlowEvent(bytes)).toEqual(e);
    expect(decodeFlowEvents(new Uint8Array([...bytes, ...bytes]))).toEqual([e, e]);
  });

  it('refuses a type, point, family or direction no program writes, and a nonzero pad', () => {
    const bad = (off: number, v: number): Uint8Array => {
      const b = encodeFlowEvent(event());
      b[off] = v;
      return b;
    };
    expect(() => decodeFlowEvent(bad(E.type, 9))).toThrow(/flow event type.*is not one of 1, 2, 3/);
    expect(() => decodeFlowEvent(bad(E.point, 0))).toThrow(/flow event point.*is not one of 1, 2, 3, 4, 5, 6/);
    expect(() => decodeFlowEvent(bad(E.family, 5))).toThrow(/flow event family/);
    expect(() => decodeFlowEvent(bad(E.direction, 2))).toThrow(/flow event direction/);
    expect(() => decodeFlowEvent(bad(E.pad + 3, 1))).toThrow(/flow event pad/);
    expect(() => decodeFlowEvents(new Uint8Array(FLOW_EVENT_SIZE + 1))).toThrow(/multiple of 80/);
  });
});
