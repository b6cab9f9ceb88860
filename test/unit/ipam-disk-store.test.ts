import { fstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StraitError } from '../../src/errors.js';
import { DiskStore, flockLocker, ipOfFileName, leaseFileName, type Locker } from '../../src/ipam/disk-store.js';
import { lease, leaseStoreContract } from '../helpers/lease-store-contract.js';
import { readGeneration, writeGeneration } from '../../src/ipam/lease-view.js';
import { closeSync, openSync, renameSync, unlinkSync } from 'node:fs';

/**
 * Stands in for flock(2): checks it is handed an open fd of the lock file, that lock
 * and unlock pair up, and lets tests see whether the lock is held right now.
 */
class TestLocker implements Locker {
  held = false;
  calls: string[] = [];
  failNext = false;
  constructor(private readonly dir: string) {}
  lock(fd: number): void {
    if (this.held) throw new Error('lock taken twice: flock would deadlock');
    expect(fstatSync(fd).ino).toBe(statSync(join(this.dir, 'lock')).ino);
    this.calls.push(`lock ${fd}`);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('EINTR');
    }
    this.held = true;
  }
  unlock(fd: number): void {
    if (!this.held) throw new Error('unlock without lock');
    this.calls.push(`unlock ${fd}`);
    this.held = false;
  }
}

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'strait-ipam-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const netDir = () => join(root, 'ipam', 'net1');

function open(warnings: string[] = []) {
  const dir = netDir();
  const locker = new TestLocker(dir);
  return { dir, locker, store: new DiskStore(dir, locker, { warn: (m) => warnings.push(m) }) };
}

leaseStoreContract('DiskStore', () => {
  // each contract test gets a fresh directory
  const dir = mkdtempSync(join(root, 'contract-'));
  return new DiskStore(join(dir, 'net'), new TestLocker(join(dir, 'net')));
});

describe('DiskStore files', () => {
  it('creates the directory 0700 on first lock, and lists nothing before', () => {
    const { dir, store } = open();
    expect(store.list()).toEqual([]);
    expect(store.lastReserved(0)).toBeNull();
    store.withLock(() => {});
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, 'ipam')).mode & 0o777).toBe(0o700);
  });

  it('writes one JSON file per lease, named by the address, and nothing else behind', () => {
    const { dir, store } = open();
    store.withLock(() => {
      store.reserve({ ...lease('198.18.0.10'), meta: { K8S_POD_NAMESPACE: 'default' } });
      store.reserve(lease('fd5a::1:a', 'c2', 'eth0', 1));
      store.setLastReserved(0, '198.18.0.10');
      store.setLastReserved(1, 'fd5a::1:a');
    });
    expect(readdirSync(dir).sort()).toEqual(
      ['198.18.0.10', 'fd5a__1_a', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock'].sort(),
    );
    expect(JSON.parse(readFileSync(join(dir, '198.18.0.10'), 'utf8'))).toEqual({
      containerId: 'c1',
      ifname: 'eth0',
      setIndex: 0,
      createdAt: '2024-05-01T10:00:00.000Z',
      meta: { K8S_POD_NAMESPACE: 'default' },
    });
    expect(readFileSync(join(dir, 'last_reserved_ip.1'), 'utf8')).toBe('fd5a::1:a');
    expect(statSync(join(dir, 'fd5a__1_a')).mode & 0o777).toBe(0o600);
  });

  it('names files reversibly, and only canonical spellings map back', () => {
    for (const ip of ['198.18.0.10', 'fd5a::1', '::', '2001:db8::1:0:0:1', '::ffff:102:304']) {
      expect(ipOfFileName(leaseFileName(ip))).toBe(ip);
      expect(leaseFileName(ip)).not.toContain(':');
    }
    for (const name of ['FD5A__1', 'fd5a_0__1', '198.18.0.010', 'lock', 'last_reserved_ip.0', 'x', '198.18.0.0_24']) {
      expect(ipOfFileName(name), name).toBeNull();
    }
  });

  it('persists across instances (a later plugin process sees the leases)', () => {
    const { dir, store } = open();
    store.withLock(() => {
      store.reserve(lease('198.18.0.10'));
      store.setLastReserved(0, '198.18.0.10');
    });
    const again = new DiskStore(dir, new TestLocker(dir));
    expect(again.list()).toEqual([lease('198.18.0.10')]);
    expect(again.lastReserved(0)).toBe('198.18.0.10');
  });

  it('does not overwrite a lease file that already exists', () => {
    const { dir, store } = open();
    store.withLock(() => store.reserve(lease('198.18.0.10', 'first')));
    const before = readFileSync(join(dir, '198.18.0.10'), 'utf8');
    expect(() => store.withLock(() => store.reserve(lease('198.18.0.10', 'second')))).toThrow(/already leased/);
    expect(readFileSync(join(dir, '198.18.0.10'), 'utf8')).toBe(before);
    expect(readdirSync(dir).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('skips corrupt and foreign files with a warning, keeping the good leases', () => {
    const warnings: string[] = [];
    const { dir, store } = open(warnings);
    store.withLock(() => store.reserve(lease('198.18.0.10')));
    writeFileSync(join(dir, '198.18.0.11'), '{not json');
    writeFileSync(join(dir, '198.18.0.12'), JSON.stringify({ containerId: 'c', ifname: 'eth0' })); // no setIndex
    writeFileSync(join(dir, '198.18.0.13'), JSON.stringify({ ...lease('x'), setIndex: -1 }));
    writeFileSync(join(dir, '198.18.0.14'), JSON.stringify({ ...lease('x'), meta: { a: 1 } }));
    writeFileSync(join(dir, '198.18.0.15'), 'c1\r\neth0'); // host-local's format
    writeFileSync(join(dir, 'README'), 'hello');
    writeFileSync(join(dir, 'FD5A__1'), JSON.stringify(lease('x')));
    mkdirSync(join(dir, '198.18.0.16'));
    writeFileSync(join(dir, '.tmp-123-abc'), 'half a write'); // left by a crash: silent
    writeFileSync(join(dir, 'last_reserved_ip.0'), 'garbage');

    expect(store.list()).toEqual([lease('198.18.0.10')]);
    expect(store.lastReserved(0)).toBeNull();
    const named = (n: string) => warnings.filter((w) => w.includes(join(dir, n))).length;
    for (const n of ['198.18.0.11', '198.18.0.12', '198.18.0.13', '198.18.0.14', '198.18.0.15', 'README', 'FD5A__1', '198.18.0.16', 'last_reserved_ip.0']) {
      expect(named(n), n).toBe(1);
    }
    expect(named('.tmp-123-abc')).toBe(0);
    // the corrupt file is no lease, so the address is still free to reserve? No: the
    // file occupies the name, and reserve must not clobber what it cannot read.
    expect(() => store.withLock(() => store.reserve(lease('198.18.0.11')))).toThrow(StraitError);
    expect(readFileSync(join(dir, '198.18.0.11'), 'utf8')).toBe('{not json');
    // releasing a corrupt lease leaves it for a person
    expect(store.withLock(() => store.releaseIp('198.18.0.11'))).toBeNull();
  });
});

// The agent keeps what it read of a lease directory and re-reads only when the lock
// file's generation (bumped by every strait writer) or the set of lease files changed.
describe('DiskStore view: what a long-lived process keeps between calls', () => {
  const owned = (ip: string, containerId: string) => ({ ...lease(ip), containerId });
  const bumpAsAnotherProcess = (dir: string) => {
    const fd = openSync(join(dir, 'lock'), 'r+');
    writeGeneration(fd, readGeneration(fd) + 1n);
    closeSync(fd);
  };

  it('reads the files once while nothing changes: an edit in place nobody announced is not seen', () => {
    const { dir, store } = open();
    store.withLock(() => store.reserve(owned('198.18.0.10', 'a')));
    expect(store.withLock(() => store.list())).toEqual([owned('198.18.0.10', 'a')]);
    writeFileSync(join(dir, '198.18.0.10'), JSON.stringify(owned('x', 'edited')));
    expect(store.withLock(() => store.list())[0]!.containerId).toBe('a'); // the view
    expect(store.list()[0]!.containerId).toBe('edited'); // outside the lock: always read
  });

  it('sees another process release and take the same address by the generation it bumped', () => {
    const { dir, store } = open();
    store.withLock(() => store.reserve(owned('198.18.0.10', 'a')));
    expect(store.withLock(() => store.list())[0]!.containerId).toBe('a');
    // what another strait process does: bump under the lock, then replace the lease
    writeFileSync(join(dir, '.tmp-1-x'), JSON.stringify({ ...owned('x', 'b'), ip: undefined }));
    bumpAsAnotherProcess(dir);
    unlinkSync(join(dir, '198.18.0.10'));
    renameSync(join(dir, '.tmp-1-x'), join(dir, '198.18.0.10'));
    expect(store.withLock(() => store.list())).toEqual([owned('198.18.0.10', 'b')]);
  });

  it('sees lease files added or removed by hand, by the names', () => {
    const { dir, store } = open();
    store.withLock(() => store.reserve(owned('198.18.0.10', 'a')));
    store.withLock(() => store.list());
    writeFileSync(join(dir, '198.18.0.11'), JSON.stringify(owned('x', 'by-hand')));
    expect(store.withLock(() => store.list()).map((l) => l.ip).sort()).toEqual(['198.18.0.10', '198.18.0.11']);
    rmSync(join(dir, '198.18.0.10'));
    expect(store.withLock(() => store.list()).map((l) => l.ip)).toEqual(['198.18.0.11']);
  });

  it('keeps its own changes in view, and a second store of the same directory agrees with the files', () => {
    const { dir, store } = open();
    store.withLock(() => {
      store.reserve(owned('198.18.0.10', 'a'));
      store.reserve(owned('198.18.0.11', 'b'));
      store.reserve(owned('fd5a::2', 'a'));
    });
    store.withLock(() => store.list());
    store.withLock(() => {
      store.releaseByOwner('a', 'eth0');
      store.reserve(owned('198.18.0.12', 'c'));
      store.releaseIp('198.18.0.11');
    });
    const fromView = store.withLock(() => store.list());
    const fromFiles = new DiskStore(dir, new TestLocker(dir)).list(); // unlocked: read from disk
    expect(fromView).toEqual(fromFiles);
    expect(fromView.map((l) => l.ip)).toEqual(['198.18.0.12']);
    // a failed change (the address is taken) drops the view rather than guess
    expect(() => store.withLock(() => store.reserve(owned('198.18.0.12', 'd')))).toThrow(StraitError);
    expect(store.withLock(() => store.list())).toEqual(fromFiles);
  });
});

describe('DiskStore locking', () => {
  it('holds the lock exactly while fn runs, and once for nested calls', () => {
    const { store, locker } = open();
    let heldInside = false;
    store.withLock(() => store.withLock(() => (heldInside = locker.held)));
    expect(heldInside).toBe(true);
    expect(locker.held).toBe(false);
    expect(locker.calls).toHaveLength(2);
    expect(locker.calls[0]?.replace('lock', 'unlock')).toBe(locker.calls[1]);
  });

  it('unlocks when fn throws, and survives a failing lock without leaking the fd', () => {
    const { store, locker } = open();
    const fds = () => readdirSync('/proc/self/fd').length;
    store.withLock(() => {}); // creates the directory and lock file first
    const before = fds();
    expect(() => store.withLock(() => { throw new Error('inside'); })).toThrow('inside');
    expect(locker.held).toBe(false);
    locker.failNext = true;
    expect(() => store.withLock(() => 1)).toThrow('EINTR');
    expect(() => store.reserve(lease('198.18.0.10'))).toThrow(/outside withLock/);
    for (let i = 0; i < 50; i++) store.withLock(() => store.list());
    expect(fds()).toBe(before);
  });

  it('adapts the native flock to a blocking Locker', () => {
    const calls: unknown[][] = [];
    let answer = true;
    const locker = flockLocker((fd, mode, wait) => {
      calls.push([fd, mode, wait]);
      return answer;
    });
    locker.lock(7);
    locker.unlock(7);
    expect(calls).toEqual([
      [7, 'exclusive', true],
      [7, 'unlock', false],
    ]);
    answer = false;
    expect(() => locker.lock(7)).toThrow(/could not lock/);
  });
});
