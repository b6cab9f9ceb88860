// src/flows/filter.ts: the filter of GET /v1/flows and straitctl monitor/flows.
import { describe, expect, it } from 'vitest';

import { FilterError, filterFromQuery, filterToQuery, matchFlow } from '../../src/flows/filter.js';
import type { FlowRecord } from '../../src/flows/types.js';
import { flowRecord } from '../helpers/fake-flow-agent.js';

const record = (over: Partial<FlowRecord> = {}): FlowRecord =>
  flowRecord({
    verdict: 'denied',
    reason: 'policy-ingress',
    event: 'drop',
    src: { ip: '10.1.0.2', port: 40000, pod: 'x/a', identity: 256 },
    dst: { ip: '10.1.0.3', port: 80, pod: 'y/b', identity: 257 },
    ...over,
  });

const q = (s: string) => filterFromQuery(new URLSearchParams(s));

describe('flow filters', () => {
  it('parses every field, repeated and comma-separated, and writes back the same filter', () => {
    const f = q('pod=x/a&pod=y/b,z/c&namespace=x&verdict=denied,dropped&protocol=TCP&protocol=47&port=80&port=443');
    expect(f).toEqual({ pods: ['x/a', 'y/b', 'z/c'], namespaces: ['x'], verdicts: ['denied', 'dropped'], protocols: ['tcp', '47'], ports: [80, 443] });
    expect(filterFromQuery(filterToQuery(f))).toEqual(f);
    expect(q('')).toEqual({});
  });

  it.each([
    ['pod=a', /namespace\/name/],
    ['namespace=a/b', /without "\/"/],
    ['verdict=maybe', /verdict must be allowed, denied, dropped/],
    ['protocol=gre', /protocol must be/],
    ['protocol=256', /protocol must be/],
    ['port=0', /port must be an integer 1..65535/],
    ['port=80x', /port must be/],
  ])('refuses %s precisely', (query, message) => {
    expect(() => q(query)).toThrow(FilterError);
    expect(() => q(query)).toThrow(message);
  });

  it('matches pod, namespace and port on either side, any value within a field, all fields', () => {
    const r = record();
    expect(matchFlow({}, r)).toBe(true);
    expect(matchFlow(q('pod=y/b'), r)).toBe(true);
    expect(matchFlow(q('pod=x/a'), r)).toBe(true);
    expect(matchFlow(q('pod=x/b'), r)).toBe(false);
    expect(matchFlow(q('namespace=y'), r)).toBe(true);
    expect(matchFlow(q('namespace=z,x'), r)).toBe(true);
    expect(matchFlow(q('namespace=z'), r)).toBe(false);
    expect(matchFlow(q('port=40000'), r)).toBe(true);
    expect(matchFlow(q('port=81'), r)).toBe(false);
    expect(matchFlow(q('verdict=allowed'), r)).toBe(false);
    expect(matchFlow(q('verdict=allowed,denied&protocol=tcp&port=80&pod=y/b'), r)).toBe(true);
    expect(matchFlow(q('verdict=denied&protocol=udp'), r)).toBe(false);
  });

  it('a record without pods, ports or protocol matches no filter that asks for them', () => {
    const r = record({ protocol: null, src: { ip: null, port: null, identity: 0 }, dst: { ip: null, port: null, identity: 0 } });
    expect(matchFlow(q('pod=x/a'), r)).toBe(false);
    expect(matchFlow(q('namespace=x'), r)).toBe(false);
    expect(matchFlow(q('port=80'), r)).toBe(false);
    expect(matchFlow(q('protocol=tcp'), r)).toBe(false);
    expect(matchFlow(q('verdict=denied'), r)).toBe(true);
  });
});
