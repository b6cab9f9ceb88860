// The DELs bin/strait could not hand to the agent (docs/cni-agent.md "The DEL queue"):
// one file per call in <stateDir>/cni-del-queue, written durably by the shim. The agent
// runs them before it listens, so no ADD overtakes a queued DEL, and retries those that
// may yet succeed until they do.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sweepDeadTempFiles } from '../util/temp-files.js';
import type { Logger } from '../util/log.js';
import type { CallOutcome } from '../cni/call.js';
import { CniCode } from '../cni/errors.js';
import { parseForwardedCall, type ForwardedCall } from './cni-service.js';

export const DEL_QUEUE_DIR = 'cni-del-queue';
const RETRY_MS = 30_000;
const QUEUED = /^\d{20}-\d+\.json$/;

export interface DrainReport {
  done: number;
  /** may yet succeed: retried */
  kept: number;
  /** can never succeed: moved to failed/ */
  failed: number;
}

export type RunCall = (call: ForwardedCall) => Promise<CallOutcome>;

export const delQueueDir = (stateDir: string): string => join(stateDir, DEL_QUEUE_DIR);

/** Runs every queued DEL once, oldest first. */
export async function drainDelQueue(stateDir: string, run: RunCall, log: Logger): Promise<DrainReport> {
  const dir = delQueueDir(stateDir);
  const report: DrainReport = { done: 0, kept: 0, failed: 0 };
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => QUEUED.test(n)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return report;
    throw e;
  }
  for (const temp of sweepDeadTempFiles(dir)) log.info({ file: temp }, 'removed a DEL a shim died writing');
  for (const name of names) {
    const file = join(dir, name);
    const verdict = await runOne(file, run);
    if (verdict.kind === 'done') {
      rmSync(file, { force: true });
      report.done++;
    } else if (verdict.kind === 'retry') {
      report.kept++;
      log.warn({ file, why: verdict.why }, 'queued DEL failed; retrying later');
    } else {
      mkdirSync(join(dir, 'failed'), { recursive: true, mode: 0o700 });
      renameSync(file, join(dir, 'failed', name));
      report.failed++;
      log.error({ file: join(dir, 'failed', name), why: verdict.why }, 'queued DEL can never succeed; kept in failed/');
    }
  }
  if (names.length > 0) log.info(report, 'DEL queue drained');
  return report;
}

type Verdict = { kind: 'done' } | { kind: 'retry' | 'failed'; why: string };

async function runOne(file: string, run: RunCall): Promise<Verdict> {
  let call: ForwardedCall;
  try {
    call = parseForwardedCall(JSON.parse(readFileSync(file, 'utf8')) as unknown);
  } catch (e) {
    return { kind: 'failed', why: `not a queued CNI call: ${(e as Error).message}` };
  }
  if (call.env.CNI_COMMAND !== 'DEL') return { kind: 'failed', why: `a queued call must be a DEL, not ${call.env.CNI_COMMAND ?? 'nothing'}` };
  const out = await run(call);
  if (out.exitCode === 0) return { kind: 'done' };
  const reply = JSON.parse(out.stdout) as { code: number; msg: string };
  const why = `code ${reply.code}: ${reply.msg}`;
  return reply.code === CniCode.TryAgainLater || reply.code === CniCode.IoFailure ? { kind: 'retry', why } : { kind: 'failed', why };
}

/** Drains now, then every 30 s while DELs are kept for retry. */
export async function startDelQueue(stateDir: string, run: RunCall, log: Logger): Promise<{ close(): void }> {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const pass = async (): Promise<void> => {
    const r = await drainDelQueue(stateDir, run, log).catch((e: unknown) => {
      log.warn({ err: String(e) }, 'draining the DEL queue failed');
      return { kept: 1 };
    });
    if (r.kept > 0 && !closed) timer = setTimeout(() => void pass(), RETRY_MS).unref();
  };
  await pass();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
