// What the plugin prints on stdout. Written synchronously: the process exits right
// after, and an async stdout write to a pipe could be lost.

import { writeSync } from 'node:fs';
import { CniCode, isStraitError } from './errors.js';

export interface ErrorReply {
  cniVersion: string;
  code: number;
  msg: string;
  /** optional in the spec: present only when there is something to say */
  details?: string;
}

/** The spec's error object for anything thrown; non-StraitErrors become code 100. */
export function errorReply(err: unknown, cniVersion: string): ErrorReply {
  let code: number = CniCode.Internal;
  let msg: string;
  let details = '';
  if (isStraitError(err)) {
    code = err.cniCode;
    msg = err.message;
    details = err.details;
  } else if (err instanceof Error) {
    msg = err.message || err.name;
  } else {
    msg = String(err);
  }
  const reply: ErrorReply = { cniVersion, code, msg };
  if (details) reply.details = details;
  return reply;
}

// Blocks the thread briefly without spinning; used only when a non-blocking stdout
// pipe is full.
const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** JSON plus a newline, fully written to `fd` (stdout by default) before returning. */
export function writeJson(obj: unknown, fd = 1): void {
  const buf = Buffer.from(`${JSON.stringify(obj)}\n`, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      pause(1);
    }
  }
}
