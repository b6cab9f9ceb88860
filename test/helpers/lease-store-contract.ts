// Behaviour every LeaseStore must share; run against the memory and disk stores so
// the fake the facade tests use cannot drift from the real thing.
import { describe, expect, it } from 'vitest';
import { StraitError } from '../../src/errors.js';
import type { Lease, LeaseStore } from '../../src/ipam/store.js';

export const lease = (ip: string, containerId = 'c1', ifname = 'eth0', setIndex = 0): Lease => ({
  ip,
  setIndex,
  containerId,
  ifname,
  createdAt: '2024-05-01T10:00:00.000Z',
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StraitError);
    return (e as StraitError).code;
  }
  throw new Error('expected an error');
}

const byIp = (a: Lease, b: Lease) => a.ip.localeCompare(b.ip);

export function leaseStoreContract(name: string, make: () => LeaseStore): void {
  describe(`${name}: LeaseStore contract`, () => {
    it('starts empty and lists what was reserved, with canonical addresses', () => {
      const s = make();
      expect(s.list()).toEqual([]);
      s.withLock(() => {
        s.reserve(lease('198.18.0.10'));
        s.reserve({ ...lease('FD5A:0::0001', 'c2', 'net1', 1), meta: { K8S_POD_NAME: 'web-0' } });
      });
      expect(s.list().sort(byIp)).toEqual([
        lease('198.18.0.10'),
        { ...lease('fd5a::1', 'c2', 'net1', 1), meta: { K8S_POD_NAME: 'web-0' } },
      ]);
    });

    it('refuses to reserve a taken address, keeping the first holder', () => {
      const s = make();
      s.withLock(() => s.reserve(lease('198.18.0.10', 'c1')));
      expect(code(() => s.withLock(() => s.reserve(lease('198.18.0.10', 'c2'))))).toBe('E_ADDRESS_UNAVAILABLE');
      expect(s.list().map((l) => l.containerId)).toEqual(['c1']);
    });

    it('refuses mutations outside withLock', () => {
      const s = make();
      expect(code(() => s.reserve(lease('198.18.0.10')))).toBe('E_INTERNAL');
      expect(code(() => s.releaseIp('198.18.0.10'))).toBe('E_INTERNAL');
      expect(code(() => s.releaseByOwner('c1', 'eth0'))).toBe('E_INTERNAL');
      expect(code(() => s.setLastReserved(0, '198.18.0.10'))).toBe('E_INTERNAL');
      expect(s.list()).toEqual([]);
    });

    it('returns fn\'s value, allows nesting, and releases the lock when fn throws', () => {
      const s = make();
      expect(s.withLock(() => s.withLock(() => 42))).toBe(42);
      expect(() => s.withLock(() => { throw new Error('boom'); })).toThrow('boom');
      // not still "inside" the lock after the throw
      expect(code(() => s.reserve(lease('198.18.0.10')))).toBe('E_INTERNAL');
      s.withLock(() => s.reserve(lease('198.18.0.10')));
      expect(s.list()).toHaveLength(1);
    });

    it('releases by address', () => {
      const s = make();
      s.withLock(() => {
        s.reserve(lease('fd5a::7'));
        expect(s.releaseIp('FD5A::7')).toEqual(lease('fd5a::7'));
        expect(s.releaseIp('fd5a::7')).toBeNull();
      });
      expect(s.list()).toEqual([]);
    });

    it('releases by owner, idempotently, touching only that owner', () => {
      const s = make();
      s.withLock(() => {
        s.reserve(lease('198.18.0.10', 'c1', 'eth0'));
        s.reserve(lease('fd5a::10', 'c1', 'eth0', 1));
        s.reserve(lease('198.18.0.11', 'c1', 'net1'));
        s.reserve(lease('198.18.0.12', 'c2', 'eth0'));
      });
      const gone = s.withLock(() => s.releaseByOwner('c1', 'eth0'));
      expect(gone.map((l) => l.ip).sort()).toEqual(['198.18.0.10', 'fd5a::10']);
      expect(s.withLock(() => s.releaseByOwner('c1', 'eth0'))).toEqual([]);
      expect(s.list().map((l) => l.ip).sort()).toEqual(['198.18.0.11', '198.18.0.12']);
    });

    it('remembers the last reserved address per set', () => {
      const s = make();
      expect(s.lastReserved(0)).toBeNull();
      s.withLock(() => {
        s.setLastReserved(0, '198.18.0.10');
        s.setLastReserved(1, 'fd5a::a');
        s.setLastReserved(0, '198.18.0.11');
      });
      expect(s.lastReserved(0)).toBe('198.18.0.11');
      expect(s.lastReserved(1)).toBe('fd5a::a');
      expect(s.lastReserved(2)).toBeNull();
    });
  });
}
