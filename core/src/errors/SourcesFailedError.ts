import { brand, hasBrand } from './TributaryError.js';
import { isRetriable } from './retriable.js';

const BRAND = Symbol.for('tributary.error.sources-failed');
const TRIBUTARY_BRAND = Symbol.for('tributary.error');

/** One source of a multi-source read that failed, with the error it failed with. */
export interface SourceFailure {
  /** Name of the source: its key in a record of sources, or its index (`'0'`, `'1'`, …) in an array. */
  readonly source: string;
  /** The error the source failed with, unchanged. */
  readonly error: unknown;
}

/**
 * Too few sources of a multi-source read succeeded: raised by `mergeSources` when fewer than
 * `minSuccesses` sources completed, and by `firstAvailable` when every source failed.
 *
 * It is a standard `AggregateError`: `errors` holds the sources' original errors, and `failures`
 * holds the same errors paired with their source names, index for index. The message names each
 * failed source and its error. It also carries Tributary's `code` (`ERR_SOURCES_FAILED`) and
 * `retriable` fields, and `isTributaryError()` recognises it. `retriable` is `true` when at least
 * one of the failures is retriable (so retrying the whole read may reach the quorum).
 *
 * @example
 * ```ts
 * import { mergeSources, isSourcesFailedError } from '@tributary/core';
 * mergeSources({ a: a$, b: b$ }, { minSuccesses: 2 }).subscribe({
 *   error: (err) => {
 *     if (isSourcesFailedError(err)) for (const f of err.failures) console.warn(f.source, f.error);
 *   },
 * });
 * ```
 */
export class SourcesFailedError extends AggregateError {
  /** Stable machine-readable code: `ERR_SOURCES_FAILED`. */
  readonly code: string = 'ERR_SOURCES_FAILED';
  /** Whether retrying the whole read may succeed: true when at least one failure is retriable. */
  readonly retriable: boolean;
  /** Each failed source with its error, in the order the failures happened. */
  readonly failures: readonly SourceFailure[];
  /** Names of the sources that succeeded (completed without error). */
  readonly succeeded: readonly string[];
  /** How many successes were required. */
  readonly required: number;

  constructor(options: { failures: readonly SourceFailure[]; succeeded?: readonly string[]; required: number; message?: string }) {
    const failures = [...options.failures];
    const succeeded = [...(options.succeeded ?? [])];
    const detail = failures.map((f) => `"${f.source}": ${describe(f.error)}`).join('; ');
    const total = failures.length + succeeded.length;
    const head =
      options.message ??
      (succeeded.length === 0
        ? `all ${total} source${total === 1 ? '' : 's'} failed`
        : `${failures.length} of ${total} sources failed, ${succeeded.length} succeeded but ${options.required} required`);
    super(
      failures.map((f) => f.error),
      detail ? `${head}: ${detail}` : head,
    );
    this.name = 'SourcesFailedError';
    this.retriable = failures.some((f) => isRetriable(f.error));
    this.failures = failures;
    this.succeeded = succeeded;
    this.required = options.required;
    brand(this, TRIBUTARY_BRAND);
    brand(this, BRAND);
  }
}

/** True when `err` is a {@link SourcesFailedError} (brand check, safe across package copies). */
export function isSourcesFailedError(err: unknown): err is SourcesFailedError {
  return hasBrand(err, BRAND);
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message ? `${err.name}: ${err.message}` : err.name;
  if (typeof err === 'string') return err;
  try {
    return String(err);
  } catch {
    return 'unprintable error';
  }
}
