import { TributaryError, brand, hasBrand } from './TributaryError.js';

/** Options of {@link HttpError}. */
export interface HttpErrorOptions {
  /** HTTP status code of the response. */
  status: number;
  /** URL of the request, with secrets already removed (see `redactUrl`). */
  url?: string;
  /** Milliseconds to wait before the next request, parsed from a `Retry-After` header. */
  retryAfterMs?: number;
  /** The start of the response body, for diagnostics (never the whole body). */
  body?: string;
  /** The source (pipeline source or plugin) that made the call. */
  source?: string;
  /** Human message; a default is built from the other fields. */
  message?: string;
  cause?: unknown;
}

const HTTP_BRAND = Symbol.for('tributary.error.http');

/**
 * An HTTP response with a non-success status.
 *
 * Retriable for 408, 425, 429 and 5xx; not retriable for other 4xx (the request itself is wrong).
 * Operators read `status` and `retryAfterMs` from any error that has them, so errors from other
 * HTTP clients work too.
 *
 * @example
 * ```ts
 * import { HttpError } from '@tributary/core';
 * throw new HttpError({ status: 429, url: 'https://api.example.com/x', retryAfterMs: 2000 });
 * ```
 */
export class HttpError extends TributaryError {
  readonly status: number;
  readonly url: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly body: string | undefined;
  readonly source: string | undefined;

  constructor(options: HttpErrorOptions) {
    const where = [options.source ? `source "${options.source}"` : undefined, options.url].filter(Boolean).join(' ');
    super(options.message ?? `HTTP ${options.status}${where ? ` from ${where}` : ''}`, {
      code: 'ERR_HTTP',
      retriable: isRetriableStatus(options.status),
      cause: options.cause,
    });
    this.name = 'HttpError';
    this.status = options.status;
    this.url = options.url;
    this.retryAfterMs = options.retryAfterMs;
    this.body = options.body;
    this.source = options.source;
    brand(this, HTTP_BRAND);
  }
}

/** True when `err` is a Tributary {@link HttpError}. */
export function isHttpError(err: unknown): err is HttpError {
  return hasBrand(err, HTTP_BRAND);
}

/** True for statuses where a later retry may succeed: 408, 425, 429 and 5xx. */
export function isRetriableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** The `status` of any error-like value that carries a numeric one (ours or another client's). */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { status?: unknown; statusCode?: unknown; response?: { status?: unknown } };
  const s = e.status ?? e.statusCode ?? e.response?.status;
  return typeof s === 'number' ? s : undefined;
}

/** The `retryAfterMs` of any error-like value that carries one. */
export function retryAfterOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const r = (err as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof r === 'number' && Number.isFinite(r) && r >= 0 ? r : undefined;
}

/** True when the error is an HTTP client error (4xx) other than 408, 425 and 429. */
export function isClientError(err: unknown): boolean {
  const s = statusOf(err);
  return s !== undefined && s >= 400 && s < 500 && !isRetriableStatus(s);
}

/**
 * Parses a `Retry-After` header value: delta seconds or an HTTP date. Returns milliseconds from
 * `now`, or `undefined` when the value is missing or unreadable. Negative results become 0.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value == null) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
