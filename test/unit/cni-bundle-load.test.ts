// What the CNI plugin loads per call is start-up time of every ADD and DEL. On
// Node.js 22+, an ESM import of node:http builds the module's namespace by reading
// every export, and two of them are getters that load undici: some 30 ms of CPU per
// call (nodejs/node#59686). The agent client reaches http without that.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const BUNDLE = new URL('../../dist/cni-bundle/', import.meta.url).pathname;

/** The internal modules Node loaded while importing `file` (not running it). */
function internalModulesLoadedBy(file: string): string[] {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(file)}); console.log(JSON.stringify(process.moduleLoadList));`], {
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as string[];
}

describe('the CNI bundle', () => {
  beforeAll(() => {
    if (!existsSync(join(BUNDLE, 'main.js'))) throw new Error('no dist/cni-bundle: run bash scripts/setup.sh first');
  });

  it.each(['add', 'del', 'check', 'gc', 'status'])('CNI %s loads no undici', (cmd) => {
    const chunk = readdirSync(BUNDLE).find((f) => f.startsWith(`cmd-${cmd}-`));
    expect(chunk).toBeDefined();
    const loaded = internalModulesLoadedBy(join(BUNDLE, chunk!));
    expect(loaded.filter((m) => m.includes('undici'))).toEqual([]);
  });
});
