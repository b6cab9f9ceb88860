// What a call throws, for tests that assert on its code and message.
import { expect } from 'vitest';
import { StraitError } from '../../src/cni/errors.js';

export function thrown(fn: () => unknown): StraitError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StraitError);
    return e as StraitError;
  }
  throw new Error('expected a throw');
}

/** The `.code` of whatever a call throws (errno names, ERR_INVALID_ARG, ...), or 'no error'. */
export function codeOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return (e as { code?: unknown }).code;
  }
  return 'no error';
}
