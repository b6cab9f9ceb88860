// The StraitError a call throws, for tests that assert on its code and message.
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
