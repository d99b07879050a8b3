/**
 * Error and JSON helpers of the crypto price plugins: the API's own error text added to an
 * `HttpError`, short descriptions of unexpected JSON for `ResponseError` messages, and decimal
 * strings read as numbers.
 */
import { HttpError } from '@tributary/core';

/**
 * A copy of `err` whose message adds `detail` (the API's own explanation).
 *
 * Status, URL, `retryAfterMs`, body and source are kept, and `err` becomes the `cause`, so the
 * resilience operators treat the copy the same. Without a `detail`, `err` itself is returned.
 *
 * @example
 * ```ts
 * import { HttpError } from '@tributary/core';
 * import { withDetail } from '@tributary/crypto-common';
 * const err = withDetail(new HttpError({ status: 429, source: 'coingecko' }), 'CoinGecko error 429: rate limit');
 * // err.message: 'HTTP 429 from source "coingecko": CoinGecko error 429: rate limit'
 * ```
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

/**
 * An error body parsed as JSON, or `undefined` when it is missing or not JSON (or was cut short).
 *
 * @example
 * ```ts
 * import { parseBody } from '@tributary/crypto-common';
 * parseBody('{"error":"bad id"}'); // { error: 'bad id' }
 * parseBody('<html>'); // undefined
 * ```
 */
export function parseBody(body: string | undefined): unknown {
  if (!body) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/**
 * A few words on what a JSON value is, for error messages (`null`, `a list of 3`, `an object
 * with keys a, b`, `the string "x"`, `the number 1`); long strings and key lists are cut short.
 *
 * @example
 * ```ts
 * import { describe } from '@tributary/crypto-common';
 * describe({ data: [] }); // 'an object with keys data'
 * ```
 */
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

/**
 * True for plain objects (not `null`, not arrays).
 *
 * @example
 * ```ts
 * import { isObject } from '@tributary/crypto-common';
 * isObject({}); // true
 * isObject([]); // false
 * ```
 */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A decimal string (or number), as CoinCap and Binance send their numbers, read as a number;
 * `undefined` when it is missing, blank or not a finite number.
 *
 * @example
 * ```ts
 * import { decimal } from '@tributary/crypto-common';
 * decimal('96243.89'); // 96243.89
 * decimal('n/a'); // undefined
 * ```
 */
export function decimal(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}
