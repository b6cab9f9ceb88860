// Waiting on an agent core whose loop runs on timers, and a logger whose lines a
// test can read.
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { AgentCore, AgentStatus } from '../../src/agent/core.js';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export function capturingLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _e, cb) => {
        lines.push(JSON.parse(chunk.toString()) as LogLine);
        cb();
      },
    }));
  return { log, lines };
}

/** Polls until `ok` holds; fails with the last status after many rounds. */
export async function until(core: AgentCore, ok: (s: AgentStatus) => boolean): Promise<AgentStatus> {
  for (let i = 0; i < 2000; i++) {
    const s = core.status();
    if (ok(s)) return s;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`never reached: ${JSON.stringify(core.status())}`);
}
