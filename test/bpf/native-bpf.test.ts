// The libbpf half of the addon (src/datapath/bpf.ts over native/bpf_*.cc) against
// the real kernel, with a test-only object (fixtures/native_fixture.bpf.c) compiled
// here: load with a pin root, reuse and refuse pinned maps, pin and re-get fds, map
// operations on a hash and a per-CPU array, BPF_PROG_TEST_RUN, and tc/XDP on a veth.
//
// Needs root. Maps are pinned in a private bpffs mounted in a temp dir, never under
// /sys/fs/bpf/strait (the default pin dir); the veth pair carries a random name. The
// mount, the links (and with them every filter and XDP program) and the temp dir
// are removed in afterAll, even when a test fails half-way.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  BufferLengthError,
  closeFd,
  dupFd,
  getPinned,
  InvalidArgError,
  loadObject,
  type LoadedObject,
  mapDelete,
  mapDeleteMany,
  mapDump,
  mapInfo,
  mapKeys,
  mapLookup,
  mapUpdate,
  numPossibleCpus,
  pinFd,
  progFdById,
  progInfo,
  progTestRun,
  skbContext,
  skbLayout,
  tcAttach,
  tcDetach,
  tcQuery,
  xdpAttach,
  xdpDetach,
  xdpQuery,
} from '../../src/datapath/bpf.js';
import { cleanupAll, isRoot, rand, sh, tempDir, trackLink, warnIfNotRoot } from '../helpers/sys.js';
import { errnoThrown } from '../helpers/thrown.js';

warnIfNotRoot('test/bpf/native-bpf.test.ts (libbpf through the addon: load, pin, maps, test runs, tc and XDP)');

const FIXTURE = fileURLToPath(new URL('./fixtures/native_fixture.bpf.c', import.meta.url));

const u32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const readU32 = (b: Uint8Array | null | undefined, off = 0): number | undefined =>
  b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32LE(off) : undefined;

const ifindexOf = (name: string): number => Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());

/** An Ethernet frame of zeros: enough for a tc program that reads no headers. */
const packet = (): Uint8Array => new Uint8Array(64);

describe.skipIf(!isRoot)('libbpf through the addon', () => {
  let dir = '';
  let bpffs = '';
  let mounted = false;
  let objPath = '';
  let changedObjPath = '';
  const vethA = `stb${rand(3)}`;
  const vethB = `stb${rand(3)}`;
  let ifA = 0;
  const objects: LoadedObject[] = [];
  const ownFds: number[] = [];

  const load = (path = objPath): LoadedObject => {
    const o = loadObject(path, { pinRoot: bpffs });
    objects.push(o);
    return o;
  };
  const own = (fd: number): number => {
    ownFds.push(fd);
    return fd;
  };

  beforeAll(() => {
    dir = tempDir('bpf');
    objPath = join(dir, 'fixture.bpf.o');
    changedObjPath = join(dir, 'fixture-u64.bpf.o');
    const cc = ['-O2', '-g', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-c', FIXTURE];
    sh('clang', [...cc, '-o', objPath]);
    sh('clang', [...cc, '-DFX_VERDICT_T=__u64', '-o', changedObjPath]);

    bpffs = join(dir, 'bpffs');
    mkdirSync(bpffs);
    sh('mount', ['-t', 'bpf', 'bpf', bpffs]);
    mounted = true;

    trackLink(vethA);
    sh('ip', ['link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB]);
    sh('ip', ['link', 'set', vethA, 'up']);
    sh('ip', ['link', 'set', vethB, 'up']);
    ifA = ifindexOf(vethA);
  });

  afterAll(() => {
    for (const o of objects) o.close();
    for (const fd of ownFds) {
      try {
        closeFd(fd);
      } catch {
        // closed by the test itself
      }
    }
    if (mounted) sh('umount', [bpffs], { allowFail: true });
    cleanupAll(); // the veth pair (its filters and XDP program go with it) and the temp dir
  });

  describe('objects and pins', () => {
    it('loads the fixture and pins the LIBBPF_PIN_BY_NAME map under pinRoot', () => {
      const o = load();
      expect(Object.keys(o.programs).sort()).toEqual(['fx_classify', 'fx_pass', 'fx_xdp']);
      expect(o.maps).toHaveProperty('fx_verdict');
      expect(o.maps).toHaveProperty('fx_runs');
      expect(existsSync(join(bpffs, 'fx_verdict'))).toBe(true);
      expect(existsSync(join(bpffs, 'fx_runs'))).toBe(false); // not declared for pinning

      expect(mapInfo(o.maps.fx_verdict!)).toMatchObject({
        name: 'fx_verdict',
        type: 1, // BPF_MAP_TYPE_HASH
        keySize: 4,
        valueSize: 4,
        maxEntries: 64,
        flags: 0,
      });
      const pinned = own(getPinned(join(bpffs, 'fx_verdict'))!);
      expect(mapInfo(pinned).id).toBe(mapInfo(o.maps.fx_verdict!).id);
    });

    it('a second load reuses the pinned map: a write through one is read through the other', () => {
      const [first, second] = [objects[0] ?? load(), load()];
      const m1 = first.maps.fx_verdict!;
      const m2 = second.maps.fx_verdict!;
      expect(m2).not.toBe(m1);
      expect(mapInfo(m2).id).toBe(mapInfo(m1).id);
      // fx_runs is not pinned, so each load has its own
      expect(mapInfo(second.maps.fx_runs!).id).not.toBe(mapInfo(first.maps.fx_runs!).id);

      mapUpdate(m1, u32(77), u32(0xabcd));
      expect(readU32(mapLookup(m2, u32(77)))).toBe(0xabcd);
      expect(mapDelete(m2, u32(77))).toBe(true);
      expect(mapLookup(m1, u32(77))).toBeNull();
    });

    it('refuses a pinned map whose definition changed, naming the map, and leaves the pin alone', () => {
      const before = own(getPinned(join(bpffs, 'fx_verdict'))!);
      let err: (Error & { code?: string; errnoName?: string; log?: string }) | undefined;
      try {
        load(changedObjPath);
      } catch (e) {
        err = e as typeof err;
      }
      expect(err?.code).toBe('E_SYSCALL');
      expect(err?.errnoName).toBe('EINVAL');
      expect(err?.message).toMatch(/fx_verdict/);
      expect(err?.message).toMatch(/couldn't reuse pinned map/);
      expect(err?.message).toContain(changedObjPath);
      expect(err?.log).toMatch(/parameter mismatch/);

      const after = own(getPinned(join(bpffs, 'fx_verdict'))!);
      expect(mapInfo(after)).toMatchObject({ id: mapInfo(before).id, valueSize: 4 });
    });

    it('maxEntries sizes a map before the load; a pin of another size is refused, the same size reused', () => {
      const o = loadObject(objPath, { pinRoot: bpffs, maxEntries: { fx_runs: 8, absent_map: 3 } });
      objects.push(o);
      expect(mapInfo(o.maps.fx_runs!).maxEntries).toBe(8); // unpinned: created with that size
      expect(mapInfo(o.maps.fx_verdict!).maxEntries).toBe(64);
      expect(() => loadObject(objPath, { pinRoot: bpffs, maxEntries: { fx_verdict: 32 } })).toThrow(/couldn't reuse pinned map/);
      expect(mapInfo(load().maps.fx_verdict!).id).toBe(mapInfo(o.maps.fx_verdict!).id);
      expect(() => loadObject(objPath, { pinRoot: bpffs, maxEntries: { fx_runs: 0 } })).toThrow(InvalidArgError);
    });

    it('fails to load a missing file with ENOENT, and a pin root off bpffs with EINVAL', () => {
      expect(errnoThrown(() => loadObject(join(dir, 'absent.bpf.o'), { pinRoot: bpffs }))).toBe('ENOENT');
      expect(() => loadObject(objPath, { pinRoot: dir })).toThrow(/not on BPF FS/);
    });

    it('pins a program and gets it back by path and by id', () => {
      const prog = objects[0]!.programs.fx_classify!;
      const info = progInfo(prog);
      expect(info).toMatchObject({ name: 'fx_classify', type: 3 }); // BPF_PROG_TYPE_SCHED_CLS
      expect(info.tag).toMatch(/^[0-9a-f]{16}$/);
      expect(progInfo(objects[0]!.programs.fx_pass!).tag).not.toBe(info.tag);

      const path = join(bpffs, `prog-${rand()}`);
      pinFd(prog, path);
      expect(errnoThrown(() => pinFd(prog, path))).toBe('EEXIST');
      const byPath = own(getPinned(path)!);
      expect(byPath).not.toBe(prog);
      expect(progInfo(byPath)).toEqual(info);
      const byId = own(progFdById(info.id));
      expect(progInfo(byId).id).toBe(info.id);
    });

    it('answers absence with null and misuse with codes', () => {
      expect(getPinned(join(bpffs, 'nothing-here'))).toBeNull();
      expect(errnoThrown(() => pinFd(objects[0]!.programs.fx_pass!, join(dir, 'not-bpffs')))).toBe('EPERM');
      expect(errnoThrown(() => progFdById(0x7ffffff0))).toBe('ENOENT');
      const fd = dupFd(objects[0]!.maps.fx_verdict!);
      closeFd(fd);
      expect(errnoThrown(() => closeFd(fd))).toBe('EBADF');
      expect(() => pinFd(-1, join(bpffs, 'x'))).toThrow(InvalidArgError);
      expect(() => loadObject('', { pinRoot: bpffs })).toThrow(InvalidArgError);
    });

    it('dupFd outlives the object: its map and pins stay usable after close()', () => {
      const o = load();
      const map = own(dupFd(o.maps.fx_verdict!));
      o.close();
      o.close(); // idempotent
      mapUpdate(map, u32(78), u32(1));
      expect(readU32(mapLookup(map, u32(78)))).toBe(1);
      expect(mapDelete(map, u32(78))).toBe(true);
    });
  });

  describe('maps', () => {
    it('update, lookup, delete, keys and dump on the hash', () => {
      const m = objects[0]!.maps.fx_verdict!;
      for (const k of mapKeys(m)) mapDelete(m, k);

      mapUpdate(m, u32(1), u32(100), 'noexist');
      mapUpdate(m, u32(2), u32(200));
      expect(errnoThrown(() => mapUpdate(m, u32(1), u32(101), 'noexist'))).toBe('EEXIST');
      expect(errnoThrown(() => mapUpdate(m, u32(3), u32(300), 'exist'))).toBe('ENOENT');
      mapUpdate(m, u32(1), u32(101), 'exist');

      expect(readU32(mapLookup(m, u32(1)))).toBe(101);
      expect(mapLookup(m, u32(3))).toBeNull();
      expect(mapKeys(m).map((k) => readU32(k)).sort()).toEqual([1, 2]);
      const dump = mapDump(m).map((e) => [readU32(e.key), readU32(e.value)]);
      expect(dump.sort()).toEqual([
        [1, 101],
        [2, 200],
      ]);

      expect(mapDelete(m, u32(2))).toBe(true);
      expect(mapDelete(m, u32(2))).toBe(false);
      expect(mapKeys(m).map((k) => readU32(k))).toEqual([1]);
      expect(mapDelete(m, u32(1))).toBe(true);
      expect(mapKeys(m)).toEqual([]);
      expect(mapDump(m)).toEqual([]);
    });

    it('deletes many keys at once, skipping those already gone; an array refuses', () => {
      const m = objects[0]!.maps.fx_verdict!;
      for (const k of mapKeys(m)) mapDelete(m, k);
      for (let i = 1; i <= 40; i++) mapUpdate(m, u32(i), u32(i));
      // 41 was never there, 7 twice: the batch stops at each and carries on.
      const keys = [u32(3), u32(41), u32(7), u32(7), ...Array.from({ length: 20 }, (_, i) => u32(i + 10))];
      expect(mapDeleteMany(m, keys)).toBe(22);
      expect(mapKeys(m).length).toBe(18);
      expect(mapDeleteMany(m, [])).toBe(0);
      expect(() => mapDeleteMany(m, [new Uint8Array(3)])).toThrow(RangeError);
      // Arrays cannot delete at all: the kernel's refusal comes through.
      expect(errnoThrown(() => mapDeleteMany(objects[0]!.maps.fx_runs!, [u32(0)]))).toBe('EINVAL');
      for (const k of mapKeys(m)) mapDelete(m, k);
    });

    it('dumps a hash larger than one batch', () => {
      const o = objects[0]!;
      const m = o.maps.fx_verdict!;
      for (let i = 0; i < 64; i++) mapUpdate(m, u32(1000 + i), u32(i));
      expect(errnoThrown(() => mapUpdate(m, u32(5000), u32(1)))).toBe('E2BIG'); // max_entries 64
      const dump = mapDump(m);
      expect(dump).toHaveLength(64);
      expect(new Set(dump.map((e) => readU32(e.key))).size).toBe(64);
      for (const e of dump) expect(readU32(e.value)).toBe(readU32(e.key)! - 1000);
      expect(mapKeys(m)).toHaveLength(64);
      for (const k of mapKeys(m)) mapDelete(m, k);
      expect(mapKeys(m)).toEqual([]);
    });

    it('per-CPU array values carry one 8-byte slot per possible CPU', () => {
      const m = objects[0]!.maps.fx_runs!;
      const info = mapInfo(m);
      expect(info).toMatchObject({ type: 6, keySize: 4, valueSize: 8, maxEntries: 4 }); // PERCPU_ARRAY
      const ncpus = numPossibleCpus();
      expect(ncpus).toBeGreaterThan(0);
      expect(info.valueLength).toBe(8 * ncpus);

      const value = Buffer.alloc(8 * ncpus);
      for (let c = 0; c < ncpus; c++) value.writeBigUInt64LE(BigInt(c + 1) * 1000n, c * 8);
      mapUpdate(m, u32(2), value);
      expect(Buffer.from(mapLookup(m, u32(2))!)).toEqual(value);
      expect(mapLookup(m, u32(4))).toBeNull(); // out of the array: ENOENT
      expect(mapKeys(m).map((k) => readU32(k))).toEqual([0, 1, 2, 3]);
      const dump = mapDump(m);
      expect(dump.map((e) => readU32(e.key))).toEqual([0, 1, 2, 3]);
      expect(Buffer.from(dump[2]!.value)).toEqual(value);
      expect(dump[1]!.value).toHaveLength(8 * ncpus);
      expect(errnoThrown(() => mapDelete(m, u32(2)))).toBe('EINVAL'); // arrays cannot delete
      mapUpdate(m, u32(2), Buffer.alloc(8 * ncpus));
    });

    it('refuses keys and values of the wrong length with a RangeError before the kernel sees them', () => {
      const hash = objects[0]!.maps.fx_verdict!;
      const percpu = objects[0]!.maps.fx_runs!;
      expect(() => mapUpdate(hash, new Uint8Array(3), u32(1))).toThrow(BufferLengthError);
      expect(() => mapUpdate(hash, u32(1), new Uint8Array(8))).toThrow(RangeError);
      expect(() => mapLookup(hash, new Uint8Array(5))).toThrow(/key for map "fx_verdict" .* must be 4 bytes, got 5/);
      expect(() => mapDelete(hash, new Uint8Array(0))).toThrow(RangeError);
      // a per-CPU value sized for one CPU (plus one slot, so this fails even with 1 CPU)
      expect(() => mapUpdate(percpu, u32(0), new Uint8Array(8 * numPossibleCpus() + 8))).toThrow(RangeError);
      expect(() => mapUpdate(percpu, u32(0), new Uint8Array(4))).toThrow(RangeError);
      expect(() => mapUpdate(hash, 'x' as unknown as Uint8Array, u32(1))).toThrow(InvalidArgError);
      expect(() => mapUpdate(hash, u32(1), u32(1), 'sometimes' as 'any')).toThrow(InvalidArgError);
      expect(mapLookup(hash, u32(1))).toBeNull(); // nothing was written
    });
  });

  describe('BPF_PROG_TEST_RUN', () => {
    const runsSum = (o: LoadedObject): bigint => {
      const v = Buffer.from(mapLookup(o.maps.fx_runs!, u32(0))!);
      let sum = 0n;
      for (let off = 0; off < v.length; off += 8) sum += v.readBigUInt64LE(off);
      return sum;
    };

    it('returns what the program computes from the map, and changes with it', () => {
      const o = objects[0]!;
      const prog = o.programs.fx_classify!;
      const m = o.maps.fx_verdict!;
      mapUpdate(m, u32(0), u32(7));
      expect(progTestRun(prog, packet()).retval).toBe(7);
      mapUpdate(m, u32(0), u32(9));
      expect(progTestRun(prog, packet()).retval).toBe(9);
      mapDelete(m, u32(0));
      expect(progTestRun(prog, packet()).retval).toBe(0); // TC_ACT_OK when nothing matches
    });

    it('counts every repetition and reports an average duration', () => {
      const o = objects[0]!;
      const before = runsSum(o);
      const r = progTestRun(o.programs.fx_classify!, packet(), { repeat: 25 });
      expect(runsSum(o) - before).toBe(25n);
      expect(r.durationNs).toBeGreaterThanOrEqual(0);
      expect(r.data).toHaveLength(64);
      expect(r.ctx).toBeUndefined();
    });

    it('honours the ifindex of a __sk_buff ctx', () => {
      const o = objects[0]!;
      const prog = o.programs.fx_classify!;
      const m = o.maps.fx_verdict!;
      mapUpdate(m, u32(0), u32(9));
      mapUpdate(m, u32(ifA), u32(42));

      const layout = skbLayout();
      const ctx = skbContext({ ifindex: ifA, mark: 0x1234 });
      expect(ctx).toHaveLength(layout.size);
      expect(readU32(ctx, layout.ifindex)).toBe(ifA);
      expect(readU32(ctx, layout.mark)).toBe(0x1234);

      const r = progTestRun(prog, packet(), { ctx });
      expect(r.retval).toBe(42);
      expect(r.ctx).toHaveLength(layout.size);
      expect(readU32(r.ctx, layout.ifindex)).toBe(ifA);
      expect(readU32(r.ctx, layout.mark)).toBe(0x1234);
      // without a ctx the kernel runs it on loopback (ifindex 1): the key-0 fallback
      expect(progTestRun(prog, packet()).retval).toBe(9);

      mapDelete(m, u32(ifA));
      mapDelete(m, u32(0));
    });

    it('reports kernel refusals with codes', () => {
      const prog = objects[0]!.programs.fx_classify!;
      expect(errnoThrown(() => progTestRun(prog, packet(), { ctx: skbContext({ ifindex: 0x7ffffff0 }) }))).toBe('ENODEV');
      expect(errnoThrown(() => progTestRun(prog, new Uint8Array(4)))).toBe('EINVAL'); // shorter than an Ethernet header
      expect(() => progTestRun(prog, packet(), { repeat: 0 })).toThrow(InvalidArgError);
    });
  });

  describe('attachment', () => {
    it('tc: attach ingress and egress, query, replace atomically, detach', () => {
      const o = objects[0]!;
      const classify = progInfo(o.programs.fx_classify!).id;
      const pass = progInfo(o.programs.fx_pass!).id;

      expect(tcQuery(ifA, 'ingress')).toBeNull(); // no clsact yet
      expect(tcDetach(ifA, 'ingress')).toBe(false);

      tcAttach(ifA, 'ingress', o.programs.fx_classify!);
      tcAttach(ifA, 'egress', o.programs.fx_classify!);
      expect(tcQuery(ifA, 'ingress')).toEqual({ progId: classify });
      expect(tcQuery(ifA, 'egress')).toEqual({ progId: classify });
      expect(tcQuery(ifA, 'ingress', { priority: 2 })).toBeNull();
      expect(sh('tc', ['filter', 'show', 'dev', vethA, 'ingress'])).toMatch(/fx_classify.*direct-action/);

      expect(errnoThrown(() => tcAttach(ifA, 'ingress', o.programs.fx_pass!))).toBe('EEXIST');
      tcAttach(ifA, 'ingress', o.programs.fx_pass!, { replace: true });
      expect(tcQuery(ifA, 'ingress')).toEqual({ progId: pass });
      expect(tcQuery(ifA, 'egress')).toEqual({ progId: classify });
      // swapped in place: still one filter at handle 1 priority 1, no second one added
      const filters = sh('tc', ['filter', 'show', 'dev', vethA, 'ingress']);
      expect(filters.match(/ handle 0x/g)).toHaveLength(1);
      expect(filters).toMatch(/pref 1 bpf chain 0 handle 0x1 .*direct-action.* id \d+ name fx_pass /);

      // a second filter at another priority is addressed separately
      tcAttach(ifA, 'ingress', o.programs.fx_classify!, { handle: 2, priority: 5 });
      expect(tcQuery(ifA, 'ingress', { handle: 2, priority: 5 })).toEqual({ progId: classify });
      expect(tcDetach(ifA, 'ingress', { handle: 2, priority: 5 })).toBe(true);

      expect(tcDetach(ifA, 'ingress')).toBe(true);
      expect(tcQuery(ifA, 'ingress')).toBeNull();
      expect(tcDetach(ifA, 'ingress')).toBe(false);
      expect(tcQuery(ifA, 'egress')).toEqual({ progId: classify });
      expect(tcDetach(ifA, 'egress')).toBe(true);
      expect(tcQuery(ifA, 'egress')).toBeNull();
    });

    it('tc: an attached program outlives the object that loaded it', () => {
      const o = load();
      const id = progInfo(o.programs.fx_pass!).id;
      tcAttach(ifA, 'ingress', o.programs.fx_pass!, { priority: 3 });
      o.close();
      expect(tcQuery(ifA, 'ingress', { priority: 3 })).toEqual({ progId: id });
      const fd = own(progFdById(id));
      expect(progInfo(fd).name).toBe('fx_pass');
      expect(tcDetach(ifA, 'ingress', { priority: 3 })).toBe(true);
    });

    it('tc: refuses a missing interface with ENODEV and bad arguments before crossing', () => {
      const prog = objects[0]!.programs.fx_pass!;
      expect(errnoThrown(() => tcAttach(0x7ffffff0, 'ingress', prog))).toBe('ENODEV');
      expect(tcDetach(0x7ffffff0, 'ingress')).toBe(false);
      expect(tcQuery(0x7ffffff0, 'egress')).toBeNull();
      expect(() => tcAttach(ifA, 'sideways' as 'ingress', prog)).toThrow(InvalidArgError);
      expect(() => tcAttach(0, 'ingress', prog)).toThrow(InvalidArgError);
      expect(() => tcAttach(ifA, 'ingress', prog, { priority: 0x10000 })).toThrow(InvalidArgError);
      expect(() => tcAttach(ifA, 'ingress', prog, { handle: 1.5 })).toThrow(InvalidArgError);
      // an XDP program is not a tc program
      expect(errnoThrown(() => tcAttach(ifA, 'ingress', objects[0]!.programs.fx_xdp!, { priority: 9 }))).toBe('EINVAL');
      expect(tcQuery(ifA, 'ingress', { priority: 9 })).toBeNull();
    });

    it('xdp: attach in skb mode, query, refuse a second without replace, detach', () => {
      const o = objects[0]!;
      const id = progInfo(o.programs.fx_xdp!).id;
      expect(xdpQuery(ifA)).toBeNull();

      xdpAttach(ifA, o.programs.fx_xdp!, { mode: 'skb' });
      expect(xdpQuery(ifA)).toEqual({ progId: id, mode: 'skb' });
      expect(sh('ip', ['link', 'show', 'dev', vethA])).toMatch(/xdpgeneric/);
      expect(errnoThrown(() => xdpAttach(ifA, o.programs.fx_xdp!, { mode: 'skb' }))).toBe('EBUSY');
      xdpAttach(ifA, o.programs.fx_xdp!, { mode: 'skb', replace: true });
      expect(xdpQuery(ifA)).toEqual({ progId: id, mode: 'skb' });

      xdpDetach(ifA);
      expect(xdpQuery(ifA)).toBeNull();
      xdpDetach(ifA); // nothing left: a no-op
      expect(errnoThrown(() => xdpAttach(ifA, o.programs.fx_classify!, { mode: 'skb' }))).toBe('EINVAL');
      expect(errnoThrown(() => xdpAttach(0x7ffffff0, o.programs.fx_xdp!, { mode: 'skb' }))).toBe('ENODEV');
      expect(() => xdpAttach(ifA, o.programs.fx_xdp!, { mode: 'hw' as 'skb' })).toThrow(InvalidArgError);
    });
  });
});
