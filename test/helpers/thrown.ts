// What a call throws, for tests that assert on its code and message.
import { expect } from 'vitest';
import { StraitError, SyscallError } from '../../src/errors.js';

export function thrown(fn: () => unknown): StraitError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StraitError);
    return e as StraitError;
  }
  throw new Error('expected a throw');
}

/** The errno name of the SyscallError a call throws (datapath wrappers), or 'no error'. */
export function errnoThrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SyscallError);
    return (e as SyscallError).errnoName;
  }
  return 'no error';
}

/** The `.code` of whatever a call throws (stable codes, ERR_INVALID_ARG, ...), or 'no error'. */
export function codeOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return (e as { code?: unknown }).code;
  }
  return 'no error';
}
