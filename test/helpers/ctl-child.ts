// The real bin/straitctl as a child process (compiled dist/: build first), whose
// output a test can wait on line by line while it runs, and signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;
export const STRAITCTL = join(ROOT, 'bin/straitctl');

export interface CtlChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** resolves once stdout holds `n` complete lines (rejects if it exits first) */
  stdoutLines(n: number): Promise<string[]>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs straitctl against `socket` (STRAIT_AGENT_SOCKET), in UTC so times print as the records say. */
export function runCtl(args: string[], socket: string): CtlChild {
  const child = spawn(STRAITCTL, args, { env: { PATH: process.env.PATH, STRAIT_AGENT_SOCKET: socket, TZ: 'UTC' } });
  let out = '';
  let err = '';
  const checks = new Set<() => void>();
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const c of checks) c();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      exited = true;
      for (const c of checks) c();
      resolve({ code, signal });
    }),
  );
  const complete = (): string[] => out.split('\n').slice(0, -1);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    stdoutLines: (n) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (complete().length >= n) {
            checks.delete(check);
            resolve(complete());
          } else if (exited) {
            checks.delete(check);
            reject(new Error(`straitctl exited with ${complete().length} of ${n} lines; stderr: ${err}`));
          }
        };
        checks.add(check);
        check();
      }),
    exit,
  };
}

/** Runs it to the end. */
export async function ctl(args: string[], socket: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = runCtl(args, socket);
  const { code } = await c.exit;
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}
