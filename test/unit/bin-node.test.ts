// bin/* run on the project's Node.js 24 (tools/node24, made by scripts/setup.sh),
// whatever `node` comes first on PATH, and also through a link in another directory
// (a runtime's CNI bin dir) and with no environment at all: containerd and podman
// exec the plugin that way.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'strait-bin-node-'));
  // A node that must never run: first on PATH, it fails loudly.
  writeFileSync(join(dir, 'node'), '#!/bin/sh\necho "the node on PATH ran" >&2\nexit 97\n', { mode: 0o755 });
  // Preloaded by whichever node does run: it writes down its version.
  writeFileSync(join(dir, 'report.cjs'), `require('node:fs').writeFileSync(process.env.REPORT, process.versions.node);\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `path` with `env` plus the version probe; returns the exit code and the version of the node that ran. */
function run(path: string, args: string[], env: Record<string, string>, stdin = ''): { code: number | null; stderr: string; node: string } {
  const report = join(dir, `report-${n++}`);
  const r = spawnSync(path, args, {
    env: { ...env, REPORT: report, NODE_OPTIONS: `--require ${join(dir, 'report.cjs')}` },
    input: stdin,
    encoding: 'utf8',
    timeout: 20_000,
  });
  let node = '';
  try {
    node = readFileSync(report, 'utf8');
  } catch {}
  return { code: r.status, stderr: r.stderr, node };
}

const major = (v: string) => Number(v.split('.')[0]);

describe.each([
  ['strait', [], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}'],
  ['straitctl', ['version'], {}, ''],
  ['strait-agent', ['--help'], {}, ''],
] as const)('bin/%s', (name, args, extraEnv, stdin) => {
  it('runs on Node.js 24 when another node is first on PATH', () => {
    const r = run(join(ROOT, 'bin', name), [...args], { PATH: `${dir}:/usr/sbin:/usr/bin:/sbin:/bin`, ...extraEnv }, stdin);
    expect(r.stderr).not.toContain('the node on PATH ran');
    expect(r.code).toBe(0);
    expect(major(r.node)).toBeGreaterThanOrEqual(24);
  });

  it('runs through a link in another directory, with no environment but its own', () => {
    const link = join(dir, `link-${n++}`, name);
    mkdirSync(join(link, '..'));
    symlinkSync(join(ROOT, 'bin', name), link);
    const r = run(link, [...args], { ...extraEnv }, stdin);
    expect(r.code).toBe(0);
    expect(major(r.node)).toBeGreaterThanOrEqual(24);
  });
});
