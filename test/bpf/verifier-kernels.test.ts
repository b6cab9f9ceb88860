// Verifier portability (issue #8 drills): every object in build/bpf must load on
// the kernels people run, not only on this machine's. scripts/verifier-vms.sh
// boots Debian's 5.10, 6.1 and 6.12 kernels under qemu (KVM where /dev/kvm can run
// them, else TCG) with a tiny initramfs that loads the objects as the addon does
// (libbpf open with a pin root, load), and reports the verifier's verdict per
// kernel. Debian has no 5.15 or 6.6 kernel; those two sit between the ones booted.
//
// A canary object (fixtures/verifier_canary.bpf.c) rides along in the same boots:
// it calls a helper of Linux 6.1, so 5.10 must reject it and name the helper. That
// shows the drill catches what an older verifier refuses, and with its words.
//
// The first run installs qemu-system-x86 and busybox-static (root) and downloads
// the kernel packages into /var/cache/strait/verifier-vms; later runs only boot.
// When the drill cannot run here (not root and packages missing, or no kernel
// could be fetched) every test says why, loudly, and is skipped.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cleanupAll, sh, tempDir } from '../helpers/sys.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/verifier-vms.sh');
const CANARY_SRC = fileURLToPath(new URL('./fixtures/verifier_canary.bpf.c', import.meta.url));
const CANARY_SINCE: [number, number] = [6, 1]; // bpf_ktime_get_tai_ns
const CANNOT_RUN = 77; // the script's "cannot run here"

const LABELS = sh('bash', [SCRIPT, '--list']).trim().split('\n');

interface Program {
  name: string;
  stats: string;
  log: string;
  trace?: string;
}
interface ObjectResult {
  object: string;
  ok: boolean;
  error?: string;
  libbpf: string;
  programs: Program[];
}
interface Guest {
  kernel?: string;
  object?: string;
  done?: number;
}
interface Line {
  label: string;
  unavailable?: string;
  package?: string;
  guest?: Guest & Partial<ObjectResult>;
  console?: string;
}

let lines: Line[] = [];
let cannotRun = '';
let straitObjects: string[] = [];

beforeAll(() => {
  const dir = tempDir('verifier-vms');
  const canary = join(dir, 'verifier_canary.bpf.o');
  sh('clang', ['-O2', '-g', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-c', CANARY_SRC, '-o', canary]);
  sh('make', ['-s', '-C', join(ROOT, 'bpf')]);
  const bpfDir = join(ROOT, 'build/bpf');
  straitObjects = readdirSync(bpfDir).filter((f) => f.endsWith('.bpf.o')).sort();
  const out = join(dir, 'results.jsonl');
  const objects = [...straitObjects.map((f) => join(bpfDir, f)), canary];
  const r = spawnSync('bash', [SCRIPT, '--json', out, ...objects], { encoding: 'utf8' });
  if (r.status === CANNOT_RUN) {
    cannotRun = r.stderr.replace(/\x1b\[[0-9;]*m/g, '').trim().split('\n').slice(-3).join(' / ');
    return;
  }
  // 1 only says that some object failed somewhere (the canary does on 5.10); the
  // tests below judge each one. Anything else is the drill itself breaking.
  if (r.status !== 0 && r.status !== 1) throw new Error(`verifier-vms.sh exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  console.log(r.stdout);
  lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
}, 600_000);

afterAll(cleanupAll);

/** Why this kernel cannot be tested here, or '' when it ran. */
function skipReason(label: string): string {
  if (cannotRun) return `the drill cannot run on this machine: ${cannotRun}`;
  return lines.find((l) => l.label === label && l.unavailable)?.unavailable ?? '';
}

function guestOf(label: string): { kernel: string; objects: ObjectResult[]; finished: boolean; console: string } {
  const guest = lines.filter((l) => l.label === label && l.guest).map((l) => l.guest as Guest & ObjectResult);
  return {
    kernel: guest.find((g) => g.kernel)?.kernel ?? '',
    objects: guest.filter((g) => g.object),
    finished: guest.some((g) => g.done !== undefined),
    console: lines.find((l) => l.label === label && l.console)?.console ?? '',
  };
}

const named = (objects: ObjectResult[], file: string): ObjectResult | undefined =>
  objects.find((o) => o.object === `/obj/${file}`);

/** What the verifier said about a failed object, for the assertion message. */
const why = (o: ObjectResult): string =>
  `${o.object}: ${o.error}\n${o.libbpf}\n` +
  o.programs.map((p) => `--- ${p.name}\n${p.log}\n${(p.trace ?? '').split('\n').slice(-60).join('\n')}`).join('\n');

describe.each(LABELS)('Linux %s under qemu', (label) => {
  it('boots and runs the loader to the end', (ctx) => {
    const reason = skipReason(label);
    if (reason) {
      console.warn(`\n*** SKIPPING verifier drill on Linux ${label}: ${reason} ***\n`);
      ctx.skip();
    }
    const g = guestOf(label);
    expect(g.finished, `the guest did not finish; console:\n${g.console}`).toBe(true);
    expect(g.kernel.startsWith(`${label}.`)).toBe(true);
  });

  it('loads every object in build/bpf, with all its programs', (ctx) => {
    const reason = skipReason(label);
    if (reason) ctx.skip();
    const g = guestOf(label);
    expect(straitObjects.length).toBeGreaterThan(0);
    for (const file of straitObjects) {
      const o = named(g.objects, file);
      expect(o, `no result for ${file}`).toBeDefined();
      if (!o) continue;
      expect(o.ok, why(o)).toBe(true);
      expect(o.programs.length).toBeGreaterThan(0);
      for (const p of o.programs) expect(p.stats, `${file} ${p.name}`).toMatch(/^processed \d+ insns/);
    }
  });

  it('rejects the canary (a helper newer than the kernel) exactly when the kernel is older', (ctx) => {
    const reason = skipReason(label);
    if (reason) ctx.skip();
    const g = guestOf(label);
    const o = named(g.objects, 'verifier_canary.bpf.o');
    expect(o, 'no result for the canary').toBeDefined();
    if (!o) return;
    expect(g.kernel).not.toBe('');
    const [major = 0, minor = 0] = g.kernel.split('.').map(Number);
    const older = major < CANARY_SINCE[0] || (major === CANARY_SINCE[0] && minor < CANARY_SINCE[1]);
    expect(o.ok).toBe(!older);
    if (older) expect(o.programs[0]?.log).toContain('invalid func unknown#208');
  });
});
