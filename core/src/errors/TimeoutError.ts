import { TributaryError, brand, hasBrand } from './TributaryError.js';

const BRAND = Symbol.for('tributary.error.timeout');

/** An operation (one attempt) took longer than its allowed time. Retriable. */
export class TimeoutError extends TributaryError {
  /** The limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number, options: { cause?: unknown } = {}) {
    super(`${what} timed out after ${timeoutMs} ms`, { code: 'ERR_TIMEOUT', retriable: true, cause: options.cause });
    this.name = 'TimeoutError';
    this.timeoutMs = timeoutMs;
    brand(this, BRAND);
  }
}

/** True when `err` is a Tributary {@link TimeoutError}. */
export function isTimeoutError(err: unknown): err is TimeoutError {
  return hasBrand(err, BRAND);
}
