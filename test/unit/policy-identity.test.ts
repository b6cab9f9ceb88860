import { describe, expect, it } from 'vitest';
import { assignCidrIdentities, assignPodIdentities, hash32, isCidrIdentity, isPodIdentity, podIdentityKey } from '../../src/policy/identity.js';
import { FIRST_POD_IDENTITY, IDENTITY_CIDR_FLAG } from '../../src/policy/types.js';

describe('policy identities', () => {
  it('the canonical text ignores label order and separates namespaces', () => {
    const a = podIdentityKey('x', { n: '1' }, { app: 'web', tier: 'f' });
    expect(podIdentityKey('x', { n: '1' }, { tier: 'f', app: 'web' })).toBe(a);
    expect(podIdentityKey('y', { n: '1' }, { app: 'web', tier: 'f' })).not.toBe(a);
    expect(podIdentityKey('x', { n: '2' }, { app: 'web', tier: 'f' })).not.toBe(a);
  });

  it('numbers are in range, deterministic and independent of input order', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => podIdentityKey(`ns${i % 7}`, {}, { app: `a${i}` }));
    const one = assignPodIdentities(keys);
    const two = assignPodIdentities([...keys].reverse());
    expect([...one].sort()).toEqual([...two].sort());
    expect(new Set(one.values()).size).toBe(keys.length);
    for (const id of one.values()) {
      expect(isPodIdentity(id)).toBe(true);
      expect(id).toBeGreaterThanOrEqual(FIRST_POD_IDENTITY);
    }
    const cidrs = assignCidrIdentities(['10.0.0.0/8', '10.1.0.0/16', 'fd00::/8']);
    for (const id of cidrs.values()) {
      expect(isCidrIdentity(id)).toBe(true);
      expect(id & ~(IDENTITY_CIDR_FLAG - 1)).toBe(IDENTITY_CIDR_FLAG);
    }
  });

  it('collisions probe in sorted order; previous numbers stay and freed ones wait a round', () => {
    // Find two texts whose pod-identity hashes collide.
    const space = IDENTITY_CIDR_FLAG - FIRST_POD_IDENTITY;
    const seen = new Map<number, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; pair === null; i++) {
      const k = `k${i}`;
      const slot = hash32(k) % space;
      const other = seen.get(slot);
      if (other !== undefined) pair = [other, k].sort() as [string, string];
      seen.set(slot, k);
    }
    const [first, second] = pair;
    const fresh = assignPodIdentities([second, first]);
    expect(fresh.get(second)).toBe(fresh.get(first)! + 1 === IDENTITY_CIDR_FLAG ? FIRST_POD_IDENTITY : fresh.get(first)! + 1);

    // `second` arrived first and holds the slot; `first` arriving later does not take it.
    const before = assignPodIdentities([second]);
    const after = assignPodIdentities([first, second], before);
    expect(after.get(second)).toBe(before.get(second));
    expect(after.get(first)).not.toBe(before.get(second));

    // `second` leaves as `first` arrives: its number is not reused in the same round.
    const swapped = assignPodIdentities([first], before);
    expect(swapped.get(first)).not.toBe(before.get(second));
  });
});
