// A StraitError with the HTTP status the agent API answers it with: the API is a
// boundary like the CNI's, so the status is decided here, not by the layers below.
// What the core throws is answered 500 with its own code.
import { StraitError, type ErrorCode } from '../errors.js';

export class ApiError extends StraitError {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}
