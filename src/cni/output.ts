// What the plugin prints on stdout. Written synchronously: the process exits right
// after, and an async stdout write to a pipe could be lost.

import { writeSync } from 'node:fs';
import { fromAddon, isStraitError } from '../errors.js';
import { cniCodeOf } from './errors.js';

export interface ErrorReply {
  cniVersion: string;
  code: number;
  msg: string;
  /** optional in the spec: present only when there is something to say */
  details?: string;
}

/**
 * The spec's error object for anything thrown: the code from cniCodeOf, the message
 * and details of a StraitError (a failed addon call that escaped its wrapper becomes
 * one first: netlink 105 with the operation and errno in details), the message of
 * anything else.
 */
export function errorReply(thrown: unknown, cniVersion: string): ErrorReply {
  const err = fromAddon(thrown);
  let msg: string;
  let details = '';
  if (isStraitError(err)) {
    msg = err.message;
    details = err.details;
  } else if (err instanceof Error) {
    msg = err.message || err.name;
  } else {
    msg = String(err);
  }
  const reply: ErrorReply = { cniVersion, code: cniCodeOf(err), msg };
  if (details) reply.details = details;
  return reply;
}

// Blocks the thread briefly without spinning; used only when a non-blocking stdout
// pipe is full.
const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** What the plugin prints of an object: its JSON on one line. */
export const jsonLine = (obj: unknown): string => `${JSON.stringify(obj)}\n`;

/** JSON plus a newline, fully written to `fd` (stdout by default) before returning. */
export function writeJson(obj: unknown, fd = 1): void {
  writeAll(jsonLine(obj), fd);
}

/** `text` fully written to `fd` (stdout by default) before returning. */
export function writeAll(text: string, fd = 1): void {
  const buf = Buffer.from(text, 'utf8');
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
