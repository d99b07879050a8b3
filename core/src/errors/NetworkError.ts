import { TributaryError, brand, hasBrand } from './TributaryError.js';

const BRAND = Symbol.for('tributary.error.network');

/** Options of {@link NetworkError}. */
export interface NetworkErrorOptions {
  /** The source (pipeline source or plugin) that made the call. */
  source?: string;
  /** URL of the request, with secrets already removed (see `redactUrl`). */
  url?: string;
  /** The system error code, e.g. `ECONNREFUSED`, `ECONNRESET`, `ENOTFOUND`. */
  reason?: string;
  /** The underlying error, with secrets already removed. */
  cause?: unknown;
}

/**
 * The connection failed before an answer arrived: refused, reset, DNS lookup failed, TLS failed.
 *
 * Retriable: the next attempt may reach the server. `reason` holds the system error code
 * (`ECONNREFUSED`, `ECONNRESET`, `ENOTFOUND`, ...); the message names the source and the URL.
 * Code `ERR_NETWORK`.
 *
 * @example
 * ```ts
 * import { isNetworkError } from '@tributary/core';
 * try { await http.getJson(url); } catch (err) { if (isNetworkError(err)) console.log(err.reason); }
 * ```
 */
export class NetworkError extends TributaryError {
  readonly source: string | undefined;
  readonly url: string | undefined;
  /** System error code, e.g. `ECONNRESET`; `undefined` when the cause had none. */
  readonly reason: string | undefined;

  constructor(message: string, options: NetworkErrorOptions = {}) {
    const where = [options.source ? `source "${options.source}"` : undefined, options.url].filter(Boolean).join(' ');
    super(where ? `${message} (${where})` : message, { code: 'ERR_NETWORK', retriable: true, cause: options.cause });
    this.name = 'NetworkError';
    this.source = options.source;
    this.url = options.url;
    this.reason = options.reason;
    brand(this, BRAND);
  }
}

/** True when `err` is a {@link NetworkError}. */
export function isNetworkError(err: unknown): err is NetworkError {
  return hasBrand(err, BRAND);
}
