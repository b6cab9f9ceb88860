// The addon's ring buffer reader (src/datapath/bpf.ts openRingReader over
// native/bpf_ring.cc) against the real kernel, with a test-only object
// (fixtures/ring_fixture.bpf.c) compiled here whose every test run writes one
// record, numbered by the skb mark: records come back whole and in order, a byte cap
// leaves the rest for the next call, a record of another size is skipped and
// counted, the fd may be closed once the ring is mapped, and a full ring refuses
// records (the program sees it) until the reader drains it.
//
// Needs root. The object's ring is not pinned; the pin root is a private bpffs in a
// temp dir, unmounted in afterAll.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeFd, dupFd, InvalidArgError, loadObject, type LoadedObject, openRingReader, progTestRun, skbContext } from '../../src/datapath/bpf.js';
import { cleanupAll, isRoot, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/ring-reader.test.ts (reading a BPF ring buffer through the addon)');

const FIXTURE = fileURLToPath(new URL('./fixtures/ring_fixture.bpf.c', import.meta.url));
const RECORD = 80;
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;

describe.skipIf(!isRoot)('the ring buffer reader', () => {
  let dir = '';
  let bpffs = '';
  let mounted = false;
  let obj: LoadedObject | undefined;

  beforeAll(() => {
    dir = tempDir('ring');
    const path = join(dir, 'ring_fixture.bpf.o');
    sh('clang', ['-O2', '-g', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-c', FIXTURE, '-o', path]);
    bpffs = join(dir, 'bpffs');
    mkdirSync(bpffs);
    sh('mount', ['-t', 'bpf', 'bpf', bpffs]);
    mounted = true;
    obj = loadObject(path, { pinRoot: bpffs });
  });

  afterAll(() => {
    obj?.close();
    if (mounted) sh('umount', [bpffs]);
    cleanupAll();
  });

  const write = (mark: number): number =>
    progTestRun(obj!.programs.write_record!, new Uint8Array(64), { ctx: skbContext({ mark }) }).retval;
  const marks = (bytes: Uint8Array): number[] => {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: number[] = [];
    for (let off = 0; off < b.length; off += RECORD) out.push(b.readUInt32LE(off));
    return out;
  };
  const reader = () => openRingReader(obj!.maps.fixture_ring!, RECORD);

  it('hands over every record written so far, whole and in order, and nothing twice', () => {
    const r = reader();
    try {
      expect(r.consume().bytes).toHaveLength(0);
      for (let i = 1; i <= 5; i++) expect(write(i)).toBe(TC_ACT_OK);
      const got = r.consume();
      expect(got.skipped).toBe(0);
      expect(got.bytes).toHaveLength(5 * RECORD);
      expect(marks(got.bytes)).toEqual([1, 2, 3, 4, 5]);
      const b = Buffer.from(got.bytes.buffer, got.bytes.byteOffset, got.bytes.byteLength);
      expect(b.readUInt32LE(4)).toBe(64); // skb->len of the 64-byte frame
      expect([...b.subarray(8, RECORD)].every((x) => x === 0xab)).toBe(true);
      expect(r.consume().bytes).toHaveLength(0);
    } finally {
      r.close();
    }
  });

  it('stops at maxBytes and leaves the rest for the next call', () => {
    const r = reader();
    try {
      for (let i = 10; i < 17; i++) write(i);
      expect(marks(r.consume(3 * RECORD).bytes)).toEqual([10, 11, 12]);
      expect(marks(r.consume(3 * RECORD + 79).bytes)).toEqual([13, 14, 15]);
      expect(marks(r.consume().bytes)).toEqual([16]);
    } finally {
      r.close();
    }
  });

  it('skips a record of another size and counts it, never handing it over', () => {
    const r = reader();
    try {
      write(20);
      write(0x8000_0000 + 21);
      write(22);
      const got = r.consume();
      expect(got.skipped).toBe(1);
      expect(marks(got.bytes)).toEqual([20, 22]);
    } finally {
      r.close();
    }
  });

  it('keeps reading after the map fd it was opened with is closed', () => {
    const fd = dupFd(obj!.maps.fixture_ring!);
    const r = openRingReader(fd, RECORD);
    closeFd(fd);
    try {
      write(30);
      expect(marks(r.consume().bytes)).toEqual([30]);
    } finally {
      r.close();
    }
  });

  it('a full ring refuses records until it is drained', () => {
    const r = reader();
    try {
      let written = 0;
      while (write(100 + written) === TC_ACT_OK) written++;
      // 4096 bytes of 88-byte slots (an 8-byte header each): 46 fit
      expect(written).toBe(Math.floor(4096 / (RECORD + 8)));
      expect(write(999)).toBe(TC_ACT_SHOT);
      const got = marks(r.consume().bytes);
      expect(got).toHaveLength(written);
      expect(got[0]).toBe(100);
      expect(got.at(-1)).toBe(100 + written - 1);
      expect(write(1000)).toBe(TC_ACT_OK);
      expect(marks(r.consume().bytes)).toEqual([1000]);
    } finally {
      r.close();
    }
  });

  it('refuses bad arguments precisely, and a closed reader', () => {
    expect(() => openRingReader(obj!.maps.fixture_ring!, 0)).toThrow(InvalidArgError);
    expect(() => openRingReader(-1, RECORD)).toThrow(InvalidArgError);
    const r = reader();
    expect(() => r.consume(RECORD - 1)).toThrow(InvalidArgError);
    r.close();
    r.close();
    expect(() => r.consume()).toThrow(/closed/);
  });
});
