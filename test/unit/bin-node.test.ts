// bin/* run on the project's Node.js 24 (tools/node24, made by scripts/setup.sh),
// whatever `node` comes first on PATH, and also through a link in another directory
// (a runtime's CNI bin dir) and with no environment at all: containerd and podman
// exec the plugin that way. bin/strait is the static C shim (shim/strait.c): it runs
// Node only in standalone mode, for a call other than VERSION.
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

// bin/strait standalone: an ADD the Node plugin refuses (no CNI_CONTAINERID...), exit 1.
describe.each([
  ['strait', [], { CNI_COMMAND: 'ADD' }, '{"cniVersion":"1.0.0"}', 1],
  ['straitctl', ['version'], {}, '', 0],
  ['strait-agent', ['--help'], {}, '', 0],
] as const)('bin/%s', (name, args, extraEnv, stdin, code) => {
  it('runs on Node.js 24 when another node is first on PATH', () => {
    const r = run(join(ROOT, 'bin', name), [...args], { PATH: `${dir}:/usr/sbin:/usr/bin:/sbin:/bin`, ...extraEnv }, stdin);
    expect(r.stderr).not.toContain('the node on PATH ran');
    expect(r.code).toBe(code);
    expect(major(r.node)).toBeGreaterThanOrEqual(24);
  });

  it('runs through a link in another directory, with no environment but its own', () => {
    const link = join(dir, `link-${n++}`, name);
    mkdirSync(join(link, '..'));
    symlinkSync(join(ROOT, 'bin', name), link);
    const r = run(link, [...args], { ...extraEnv }, stdin);
    expect(r.code).toBe(code);
    expect(major(r.node)).toBeGreaterThanOrEqual(24);
  });
});

describe('bin/strait, the shim', () => {
  it('answers VERSION without starting any node', () => {
    const r = run(join(ROOT, 'bin/strait'), [], { PATH: `${dir}:/usr/bin:/bin`, CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    expect([r.code, r.node, r.stderr]).toEqual([0, '', '']);
  });

  it('is a static ELF: no program interpreter, no dynamic section, so it runs on any host', () => {
    const elf = readFileSync(join(ROOT, 'bin/strait'));
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(elf[4]).toBe(2); // 64-bit, the only layout read below
    const [phoff, phentsize, phnum] = [Number(elf.readBigUInt64LE(0x20)), elf.readUInt16LE(0x36), elf.readUInt16LE(0x38)];
    const types = Array.from({ length: phnum }, (_, i) => elf.readUInt32LE(phoff + i * phentsize));
    expect(types).toContain(1); // PT_LOAD: the header was read right
    expect(types.filter((t) => t === 2 || t === 3)).toEqual([]); // PT_DYNAMIC, PT_INTERP
  });
});
