/**
 * Base of every error Tributary throws.
 *
 * Each error has a stable `code` (documented in docs/errors.md), a `retriable` flag that the retry
 * operator reads, and an optional `cause`. Use the `isXError` guards instead of `instanceof`: they
 * check a brand, so they work even when two copies of `@tributary/core` are installed.
 *
 * @example
 * ```ts
 * import { TributaryError, isTributaryError } from '@tributary/core';
 * try { ... } catch (err) { if (isTributaryError(err) && !err.retriable) throw err; }
 * ```
 */
export class TributaryError extends Error {
  /** Stable machine-readable code, e.g. `ERR_HTTP`, `ERR_CIRCUIT_OPEN`. */
  readonly code: string;
  /** Whether retrying the same operation may succeed. */
  readonly retriable: boolean;

  constructor(message: string, options: { code?: string; retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TributaryError';
    this.code = options.code ?? 'ERR_TRIBUTARY';
    this.retriable = options.retriable ?? true;
    brand(this, TRIBUTARY_BRAND);
  }
}

/**
 * An error that retrying cannot fix (bad configuration, a schema violation, a client error).
 * `retriable` is always `false`.
 */
export class NonRetriableError extends TributaryError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { ...options, code: options.code ?? 'ERR_NON_RETRIABLE', retriable: false });
    this.name = 'NonRetriableError';
  }
}

const TRIBUTARY_BRAND = Symbol.for('tributary.error');

/** @internal Marks an error object with a global brand symbol. */
export function brand(target: object, symbol: symbol): void {
  Object.defineProperty(target, symbol, { value: true, enumerable: false });
}

/** @internal Tests an unknown value for a global brand symbol. */
export function hasBrand(value: unknown, symbol: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[symbol] === true;
}

/** True when `err` is any Tributary error (brand check, safe across package copies). */
export function isTributaryError(err: unknown): err is TributaryError {
  return hasBrand(err, TRIBUTARY_BRAND);
}
