// What the tests that run a bench end to end share (test/netns/*-bench.test.ts): the
// bench as a child process on the project's Node.js, the cells of its table rows, and
// whether a process it named is still one of its own (a PID may be reused).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE } from '../../src/lab/run.js';

export const cells = (line: string): string[] => line.split('|').slice(1, -1).map((c) => c.trim());

/** Alive, and its command line names the lab's directory or matches `own`. */
export function aliveAsOwn(pid: number, labDir: string, own: RegExp): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return cmd.includes(labDir) || own.test(cmd);
  } catch {
    return false;
  }
}

/** Runs a bench; the results it writes (bench/results.mjs) go to a temp folder, removed after. */
export function runBench(script: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const results = mkdtempSync(join(tmpdir(), 'strait-bench-results-'));
  return new Promise((resolve) => {
    const child = spawn(NODE, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_RESULTS_DIR: results } });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('close', (code) => {
      rmSync(results, { recursive: true, force: true });
      resolve({ code, out, err });
    });
  });
}
