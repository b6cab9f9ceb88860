import { describe, expect, it } from 'vitest';
import { isEverything, matches, selectorKey } from '../../src/policy/selectors.js';
import type { LabelRequirement, LabelSelector } from '../../src/policy/types.js';

const sel = (matchLabels: Record<string, string> = {}, matchExpressions: LabelRequirement[] = []): LabelSelector => ({
  matchLabels,
  matchExpressions,
});
const req = (key: string, operator: LabelRequirement['operator'], values: string[] = []): LabelRequirement => ({
  key,
  operator,
  values,
});

describe('policy selectors', () => {
  const web = { app: 'web', tier: 'front' };

  it('the empty selector selects everything, labelled or not', () => {
    expect(matches(sel(), {})).toBe(true);
    expect(matches(sel(), web)).toBe(true);
    expect(isEverything(sel())).toBe(true);
    expect(isEverything(sel({ a: 'b' }))).toBe(false);
  });

  it('matchLabels: every pair must be present with that value', () => {
    expect(matches(sel({ app: 'web' }), web)).toBe(true);
    expect(matches(sel({ app: 'web', tier: 'front' }), web)).toBe(true);
    expect(matches(sel({ app: 'web', tier: 'back' }), web)).toBe(false);
    expect(matches(sel({ env: 'prod' }), web)).toBe(false);
    expect(matches(sel({ app: '' }), {})).toBe(false);
    expect(matches(sel({ app: '' }), { app: '' })).toBe(true);
  });

  it('In / NotIn / Exists / DoesNotExist, with the key present and absent', () => {
    const table: [LabelRequirement, boolean, boolean][] = [
      // requirement, on {app: web, tier: front}, on {}
      [req('app', 'In', ['web', 'api']), true, false],
      [req('app', 'In', ['api']), false, false],
      [req('app', 'NotIn', ['api']), true, true],
      [req('app', 'NotIn', ['web']), false, true],
      [req('app', 'Exists'), true, false],
      [req('app', 'DoesNotExist'), false, true],
      [req('env', 'NotIn', ['prod']), true, true],
      [req('env', 'DoesNotExist'), true, true],
    ];
    for (const [r, onWeb, onNothing] of table) {
      expect(matches(sel({}, [r]), web), `${r.key} ${r.operator} ${r.values.join(',')} on web`).toBe(onWeb);
      expect(matches(sel({}, [r]), {}), `${r.key} ${r.operator} ${r.values.join(',')} on {}`).toBe(onNothing);
    }
  });

  it('matchLabels AND every expression', () => {
    const s = sel({ app: 'web' }, [req('tier', 'In', ['front']), req('legacy', 'DoesNotExist')]);
    expect(matches(s, web)).toBe(true);
    expect(matches(s, { ...web, legacy: 'yes' })).toBe(false);
    expect(matches(s, { app: 'web', tier: 'back' })).toBe(false);
  });

  it('keys that name Object.prototype members are ordinary absent keys', () => {
    expect(matches(sel({}, [req('constructor', 'Exists')]), {})).toBe(false);
    expect(matches(sel({}, [req('toString', 'DoesNotExist')]), {})).toBe(true);
    expect(matches(sel({ hasOwnProperty: 'x' }), {})).toBe(false);
  });

  it('selectorKey ignores order and repeated values', () => {
    const a = sel({ a: '1', b: '2' }, [req('x', 'In', ['p', 'q']), req('y', 'Exists')]);
    const b = sel({ b: '2', a: '1' }, [req('y', 'Exists'), req('x', 'In', ['q', 'p', 'q'])]);
    expect(selectorKey(a)).toBe(selectorKey(b));
    expect(selectorKey(a)).not.toBe(selectorKey(sel({ a: '1', b: '2' }, [req('x', 'NotIn', ['p', 'q']), req('y', 'Exists')])));
  });
});
