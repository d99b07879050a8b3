import { TributaryError, brand, hasBrand } from './TributaryError.js';

const BRAND = Symbol.for('tributary.error.response');

/**
 * An API answered, but the answer cannot be used: not JSON, the wrong shape, too large,
 * truncated. Names the source and the URL. Retriable (a later answer may be fine).
 */
export class ResponseError extends TributaryError {
  readonly source: string | undefined;
  readonly url: string | undefined;

  constructor(message: string, options: { source?: string; url?: string; cause?: unknown; code?: string } = {}) {
    const where = [options.source ? `source "${options.source}"` : undefined, options.url].filter(Boolean).join(' ');
    super(where ? `${message} (${where})` : message, { code: options.code ?? 'ERR_BAD_RESPONSE', retriable: true, cause: options.cause });
    this.name = 'ResponseError';
    this.source = options.source;
    this.url = options.url;
    brand(this, BRAND);
  }
}

/** True when `err` is a {@link ResponseError}. */
export function isResponseError(err: unknown): err is ResponseError {
  return hasBrand(err, BRAND);
}
