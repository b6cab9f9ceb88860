// Temp files of writes a kill cut short: only strait's `.tmp-<pid>-` names count,
// and only when that process is gone; a write in progress is left alone.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadTempFiles, sweepDeadTempFiles, writerOf } from '../../src/util/temp-files.js';

const dir = mkdtempSync(join(tmpdir(), 'strait-tmpfiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('temp files of killed writers', () => {
  it('names the writer only for strait temp names', () => {
    expect(writerOf('.tmp-123-abcdef')).toBe(123);
    expect(writerOf('.tmp-123-c1.eth0.json')).toBe(123);
    expect(writerOf('198.18.0.5')).toBeNull();
    expect(writerOf('.tmp-x-1')).toBeNull();
    expect(writerOf('last_reserved_ip.0')).toBeNull();
  });

  it('finds and sweeps those of gone processes, keeps those of live ones and every other file', () => {
    const dead = spawnSync('true').pid;
    const names = [`.tmp-${dead}-aa`, `.tmp-${process.pid}-bb`, '198.18.0.5', 'lock'];
    for (const n of names) writeFileSync(join(dir, n), '');
    expect(deadTempFiles(dir)).toEqual([join(dir, `.tmp-${dead}-aa`)]);
    expect(sweepDeadTempFiles(dir)).toEqual([join(dir, `.tmp-${dead}-aa`)]);
    expect(names.map((n) => existsSync(join(dir, n)))).toEqual([false, true, true, true]);
    expect(deadTempFiles(join(dir, 'missing'))).toEqual([]);
  });
});
