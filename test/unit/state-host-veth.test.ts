// The host veth's name and alias: what DEL, GC, doctor and the agent's host-address
// reader recognise a pod's veth by.
import { describe, expect, it } from 'vitest';

import { hostVethName, isStraitAlias, ownerAlias, parseOwnerAlias } from '../../src/state/host-veth.js';

const owner = { network: 'net', containerId: 'c0ffee', ifname: 'eth0' };

describe('host veth name and alias', () => {
  it('spells the owner out in the alias and reads it back', () => {
    expect(ownerAlias(owner)).toBe('strait/net/c0ffee/eth0');
    expect(parseOwnerAlias(ownerAlias(owner))).toEqual(owner);
    expect(parseOwnerAlias('strait/net/c0ffee')).toBeNull();
    expect(parseOwnerAlias('strait/net//eth0')).toBeNull();
    expect(parseOwnerAlias('other/net/c0ffee/eth0')).toBeNull();
    expect(parseOwnerAlias(null)).toBeNull();
  });

  it('takes any strait/ alias, even a malformed one, as a pod veth (it holds no host address)', () => {
    expect(isStraitAlias(ownerAlias(owner))).toBe(true);
    expect(isStraitAlias('strait/broken')).toBe(true);
    expect(isStraitAlias('uplink')).toBe(false);
    expect(isStraitAlias(null)).toBe(false);
    expect(isStraitAlias(undefined)).toBe(false);
  });

  it('names the veth st + 13 hex digits, distinct per network', () => {
    expect(hostVethName(owner)).toMatch(/^st[0-9a-f]{13}$/);
    expect(hostVethName({ ...owner, network: 'other' })).not.toBe(hostVethName(owner));
  });
});
