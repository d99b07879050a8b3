/**
 * Error helpers: the API's own error text added to an `HttpError`, and short descriptions of
 * unexpected JSON for `ResponseError` messages.
 */
import { HttpError } from '@tributary/core';

/**
 * A copy of `err` whose message adds `detail` (the API's own explanation). Status, URL,
 * `retryAfterMs`, body and source are kept, so the resilience operators treat it the same.
 */
export function withDetail(err: HttpError, detail: string | undefined): HttpError {
  if (!detail) return err;
  const where = [err.source ? `source "${err.source}"` : undefined, err.url].filter(Boolean).join(' ');
  return new HttpError({
    status: err.status,
    ...(err.url !== undefined ? { url: err.url } : {}),
    ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
    ...(err.body !== undefined ? { body: err.body } : {}),
    ...(err.source !== undefined ? { source: err.source } : {}),
    message: `HTTP ${err.status}${where ? ` from ${where}` : ''}: ${detail}`,
    cause: err,
  });
}

/** The error body as JSON, or `undefined` when it is not JSON (or was cut short). */
export function parseBody(body: string | undefined): unknown {
  if (!body) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** A few words on what a JSON value is, for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') {
    const keys = Object.keys(v);
    return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', …' : ''}`;
  }
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `the ${typeof v} ${String(v)}`;
}

/** True for plain objects. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
