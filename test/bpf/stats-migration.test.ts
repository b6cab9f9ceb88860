// strait_stats_v1 (8 slots) became strait_stats_v2 (32): a datapath installed by an
// older build keeps its verdict counts across the upgrade, and the old pin goes.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as bpf from '../../src/datapath/bpf.js';
import { openDatapath } from '../../src/datapath/loader.js';
import { MapName, StatId, sumPerCpu } from '../../src/datapath/maps/index.js';
import { bpffsDir, cleanupAll, isRoot, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('stats map migration test');

describe.skipIf(!isRoot)('strait_stats_v1 → strait_stats_v2', () => {
  afterAll(() => cleanupAll());

  it('carries every per-CPU count of v1 over to the same slot of v2 and unpins v1', () => {
    const bpfDir = bpffsDir('stm');
    const stateDir = tempDir('stm');
    const v1Path = join(bpfDir, 'strait_stats_v1');
    sh('bpftool', ['map', 'create', v1Path, 'type', 'percpu_array', 'key', '4', 'value', '16', 'entries', '8', 'name', 'strait_stats_v1']);
    const ncpus = bpf.numPossibleCpus();
    const v1 = bpf.getPinned(v1Path)!;
    const slot = (packets: number): Uint8Array => {
      const buf = new Uint8Array(16 * ncpus);
      const v = new DataView(buf.buffer);
      for (let c = 0; c < ncpus; c++) {
        v.setBigUint64(c * 16, BigInt(packets), true);
        v.setBigUint64(c * 16 + 8, BigInt(packets * 100), true);
      }
      return buf;
    };
    const key = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
    bpf.mapUpdate(v1, key(StatId.REDIRECT_PEER), slot(7));
    bpf.mapUpdate(v1, key(StatId.TTL_EXPIRED), slot(3));
    bpf.closeFd(v1);

    openDatapath({ bpfDir, stateDir }).close();

    expect(existsSync(v1Path)).toBe(false);
    const v2 = bpf.getPinned(join(bpfDir, MapName.stats))!;
    try {
      expect(sumPerCpu(bpf.mapLookup(v2, key(StatId.REDIRECT_PEER))!, ncpus)).toEqual({ packets: 7n * BigInt(ncpus), bytes: 700n * BigInt(ncpus) });
      expect(sumPerCpu(bpf.mapLookup(v2, key(StatId.TTL_EXPIRED))!, ncpus).packets).toBe(3n * BigInt(ncpus));
      expect(sumPerCpu(bpf.mapLookup(v2, key(StatId.TO_NODE))!, ncpus).packets).toBe(0n);
    } finally {
      bpf.closeFd(v2);
    }
  });
});
