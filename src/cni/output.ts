// What the plugin prints on stdout. Written synchronously: the process exits right
// after, and an async stdout write to a pipe could be lost.

import { writeSync } from 'node:fs';
import { CniCode, isStraitError } from './errors.js';
import { isNativeError } from '../datapath/native.js';

export interface ErrorReply {
  cniVersion: string;
  code: number;
  msg: string;
  /** optional in the spec: present only when there is something to say */
  details?: string;
}

/** Addon operations that talk netlink (libnl's rtnl_*, libbpf's tc and XDP attachment). */
const NETLINK_OPS = /^(rtnl_|nl_|bpf_tc_|bpf_xdp_)/;

/**
 * The spec's error object for anything thrown. A failed netlink operation from the
 * addon is 105 with the operation and errno in details; any other error that is not
 * a StraitError is 100.
 */
export function errorReply(err: unknown, cniVersion: string): ErrorReply {
  let code: number = CniCode.Internal;
  let msg: string;
  let details = '';
  if (isStraitError(err)) {
    code = err.cniCode;
    msg = err.message;
    details = err.details;
  } else if (isNativeError(err) && NETLINK_OPS.test(err.syscall ?? '')) {
    code = CniCode.Netlink;
    msg = `netlink: ${err.message}`;
    details = `${err.syscall} failed with ${err.code}`;
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
