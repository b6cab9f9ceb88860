import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/errors.js';
import { DiskStore } from '../../src/ipam/disk-store.js';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemoryStore } from '../../src/ipam/memory-store.js';
import { parseRangeSets } from '../../src/ipam/ranges.js';
import type { Lease, LeaseStore } from '../../src/ipam/store.js';
import { thrown } from '../helpers/thrown.js';

const DUAL = parseRangeSets({
  ranges: [
    [{ subnet: '198.18.0.0/24', rangeStart: '198.18.0.10', rangeEnd: '198.18.0.12', gateway: '198.18.0.1' }],
    [{ subnet: 'fd5a::/64' }],
  ],
});
const A = { containerId: 'aaaa', ifname: 'eth0', meta: { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'web-0' } };
const B = { containerId: 'bbbb', ifname: 'eth0' };
const C = { containerId: 'cccc', ifname: 'eth0' };
const clock = () => new Date('2024-05-01T10:00:00Z');

const tmp = mkdtempSync(join(tmpdir(), 'strait-ipam-facade-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const noLock = { lock: () => {}, unlock: () => {} };

const stores: [string, () => LeaseStore][] = [
  ['memory', () => new MemoryStore()],
  ['disk', () => new DiskStore(join(tmp, `net${n++}`), noLock)],
];

describe.each(stores)('Ipam over the %s store', (_, makeStore) => {
  const make = () => {
    const store = makeStore();
    return { store, ipam: new Ipam(DUAL, store, clock) };
  };

  it('allocates one address per set, in CIDR form with the subnet prefix and gateway', () => {
    const { ipam, store } = make();
    expect(ipam.allocate(A, [])).toEqual([
      { address: '198.18.0.10/24', ip: '198.18.0.10', prefixLen: 24, gateway: '198.18.0.1', family: 4, setIndex: 0 },
      { address: 'fd5a::2/64', ip: 'fd5a::2', prefixLen: 64, gateway: 'fd5a::1', family: 6, setIndex: 1 },
    ]);
    const leases = store.list().sort((a, b) => a.setIndex - b.setIndex);
    expect(leases[0]).toEqual({
      ip: '198.18.0.10',
      setIndex: 0,
      containerId: 'aaaa',
      ifname: 'eth0',
      createdAt: '2024-05-01T10:00:00.000Z',
      meta: { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'web-0' },
    });
    expect(store.lastReserved(0)).toBe('198.18.0.10');
    expect(store.lastReserved(1)).toBe('fd5a::2');
  });

  it('releaseAddresses frees only the listed addresses the owner still holds', () => {
    const { ipam, store } = make();
    const [v4, v6] = ipam.allocate(A, []).map((a) => a.ip);
    ipam.allocate(B, []);
    expect(ipam.releaseAddresses(A, [v6!, '198.18.0.11']).map((l) => l.ip)).toEqual([v6]);
    expect(store.list().map((l) => `${l.containerId} ${l.ip}`).sort()).toEqual(['aaaa 198.18.0.10', 'bbbb 198.18.0.11', 'bbbb fd5a::3']);
    expect(v4).toBe('198.18.0.10');
  });

  it('stamps leases with the boot and veth, and reclaims other boots when allocating', () => {
    const { ipam, store } = make();
    ipam.allocate({ ...A, bootId: 'boot-1', hostVeth: 'st0' }, []);
    ipam.allocate(B, []); // no stamp: an older strait wrote it, left to DEL and GC
    expect(store.list().find((l) => l.containerId === 'aaaa')).toMatchObject({ bootId: 'boot-1', hostVeth: 'st0' });
    ipam.allocate({ ...C, bootId: 'boot-2' }, []);
    expect(store.list().map((l) => l.containerId).sort()).toEqual(['bbbb', 'bbbb', 'cccc', 'cccc']);
    expect(ipam.reclaimOtherBoots('boot-2')).toEqual([]);
    expect(ipam.reclaimOtherBoots('boot-3').map((l) => l.containerId)).toEqual(['cccc', 'cccc']);
  });

  it('returns the existing leases on a retried ADD instead of allocating more', () => {
    const { ipam, store } = make();
    const first = ipam.allocate(A, ['198.18.0.11']);
    expect(ipam.allocate(A, ['198.18.0.11/24'])).toEqual(first);
    expect(ipam.allocate(A, [])).toEqual(first);
    expect(store.list()).toHaveLength(2);
    // but a retried ADD asking for a different address in a held set is an error
    expect(thrown(() => ipam.allocate(A, ['198.18.0.12'])).code).toBe('E_ADDRESS_UNAVAILABLE');
    expect(store.list()).toHaveLength(2);
  });

  it('completes an ADD that died half-way: keeps the held set, allocates the rest', () => {
    const { ipam, store } = make();
    store.withLock(() =>
      store.reserve({ ip: '198.18.0.12', setIndex: 0, containerId: 'aaaa', ifname: 'eth0', createdAt: 'x' }),
    );
    expect(ipam.allocate(A, []).map((a) => a.ip)).toEqual(['198.18.0.12', 'fd5a::2']);
    expect(store.list()).toHaveLength(2);
  });

  it('says which addresses a call leased itself, so the undo of an ADD frees only those', () => {
    const { ipam } = make();
    {
      const first = ipam.allocateMarked(A, []);
      expect(first.fresh).toEqual(first.all.map((a) => a.ip));
      expect(ipam.allocateMarked(A, []).fresh).toEqual([]); // a retry holds them already
    }
    const half = make();
    half.store.withLock(() => half.store.reserve({ ip: '198.18.0.12', setIndex: 0, containerId: 'aaaa', ifname: 'eth0', createdAt: 'x' }));
    expect(half.ipam.allocateMarked(A, []).fresh).toEqual(['fd5a::2']);
  });

  it('names the holder of a requested address', () => {
    const { ipam } = make();
    ipam.allocate(A, ['198.18.0.11']);
    ipam.allocate(B, ['198.18.0.12']);
    expect(thrown(() => ipam.allocate(C, ['198.18.0.11'])).message).toBe(
      'requested IP 198.18.0.11 is already allocated to pod default/web-0 (container aaaa eth0)',
    );
    expect(thrown(() => ipam.allocate(C, ['198.18.0.12'])).message).toBe(
      'requested IP 198.18.0.12 is already allocated to container bbbb eth0',
    );
  });

  it('exhausts the pool, reports it in status, and leaves no partial leases behind', () => {
    const { ipam, store } = make();
    expect(ipam.status()).toEqual({ ok: true });
    ipam.allocate(A, []);
    ipam.allocate(B, []);
    ipam.allocate(C, []);
    const e = thrown(() => ipam.allocate({ containerId: 'dddd', ifname: 'eth0' }, []));
    expect(e.code).toBe('E_POOL_EXHAUSTED');
    expect(store.list().filter((l) => l.containerId === 'dddd')).toEqual([]);
    expect(ipam.status()).toEqual({
      ok: false,
      reason: 'range set 0 (198.18.0.0/24 (198.18.0.10-198.18.0.12)) is fully allocated',
    });
  });

  it('does not hand a released address straight back (round-robin)', () => {
    const { ipam } = make();
    expect(ipam.allocate(A, [])[0]?.ip).toBe('198.18.0.10');
    ipam.release(A);
    expect(ipam.allocate(B, [])[0]?.ip).toBe('198.18.0.11');
    expect(ipam.allocate(C, [])[0]?.ip).toBe('198.18.0.12');
    expect(ipam.allocate(A, [])[0]?.ip).toBe('198.18.0.10'); // wrapped
  });

  it('releases idempotently', () => {
    const { ipam } = make();
    ipam.allocate(A, []);
    ipam.allocate(B, []);
    expect(ipam.release(A).map((l) => l.ip).sort()).toEqual(['198.18.0.10', 'fd5a::2']);
    expect(ipam.release(A)).toEqual([]);
    expect(ipam.release({ containerId: 'never', ifname: 'eth0' })).toEqual([]);
    expect(ipam.leasesOf(A)).toEqual([]);
    expect(ipam.leasesOf(B).map((l) => l.ip).sort()).toEqual(['198.18.0.11', 'fd5a::3']);
  });

  it('garbage-collects leases whose owner is not valid, and only those', () => {
    const { ipam } = make();
    ipam.allocate(A, []);
    ipam.allocate(B, []);
    ipam.allocate({ containerId: 'aaaa', ifname: 'net1' }, []);
    const gone = ipam.gc([A, { containerId: 'bbbb', ifname: 'net9' }]);
    expect(gone.map((l) => `${l.containerId}/${l.ifname}/${l.ip}`).sort()).toEqual([
      'aaaa/net1/198.18.0.12',
      'aaaa/net1/fd5a::4',
      'bbbb/eth0/198.18.0.11',
      'bbbb/eth0/fd5a::3',
    ]);
    expect(ipam.leasesOf(A)).toHaveLength(2);
    expect(ipam.gc([A])).toEqual([]);
  });
});

describe('Ipam effects', () => {
  it('takes the lock once per call', () => {
    const store = new MemoryStore();
    const ipam = new Ipam(DUAL, store);
    ipam.allocate(A, []);
    ipam.leasesOf(A);
    ipam.status();
    ipam.gc([]);
    ipam.release(A);
    expect(store.lockCount).toBe(5);
  });

  it('undoes the first lease when reserving the second fails', () => {
    class FailingV6 extends MemoryStore {
      override reserve(lease: Lease): void {
        if (lease.ip.includes(':')) throw errors.io('disk full');
        super.reserve(lease);
      }
    }
    const store = new FailingV6();
    const ipam = new Ipam(DUAL, store);
    expect(thrown(() => ipam.allocate(A, [])).code).toBe('E_IO');
    expect(store.list()).toEqual([]);
  });

  it('steps over a corrupt lease file instead of failing the ADD or clobbering it', () => {
    const dir = join(tmp, 'corrupt');
    const warnings: string[] = [];
    const store = new DiskStore(dir, noLock, { warn: (m) => warnings.push(m) });
    const ipam = new Ipam(DUAL, store);
    store.withLock(() => {});
    writeFileSync(join(dir, '198.18.0.10'), 'garbage');
    writeFileSync(join(dir, '198.18.0.11'), 'garbage');
    expect(ipam.allocate(A, [])[0]?.ip).toBe('198.18.0.12');
    expect(warnings.some((w) => w.includes('198.18.0.10'))).toBe(true);
    // with every address unreadable or taken, the set is exhausted, not looping
    expect(thrown(() => ipam.allocate(B, [])).code).toBe('E_POOL_EXHAUSTED');
    // a corrupt file under a requested address is refused, not overwritten
    expect(thrown(() => ipam.allocate(C, ['198.18.0.10'])).code).toBe('E_ADDRESS_UNAVAILABLE');
  });
});
