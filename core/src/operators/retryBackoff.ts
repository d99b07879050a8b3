import { asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { isRetriable } from '../errors/retriable.js';
import { retryAfterOf } from '../errors/HttpError.js';
import { callSafely, forward, operate } from './internal/operate.js';

/**
 * How a retry delay is randomised around the nominal exponential delay `d`.
 *
 * - `'equal'`: uniform in `[d/2, d]` — never longer than the nominal delay, never shorter than half of it.
 * - `'full'`: uniform in `[0, d]` — the widest spread, but a retry may come at once.
 * - `'none'`: exactly `d` (2 s, 4 s, 8 s, … with the defaults).
 */
export type RetryJitter = 'full' | 'equal' | 'none';

/** What {@link RetryBackoffOptions.onRetry} receives before each retry. */
export interface RetryEvent {
  /**
   * Number of the attempt that just failed: 1 for the first subscription, 2 for the first retry, …
   * (counted from 1 again after `resetOnSuccess` has reset it).
   */
  readonly attempt: number;
  /** How long the operator waits before the next attempt, in milliseconds. */
  readonly delayMs: number;
  /** The error the attempt failed with. */
  readonly error: unknown;
}

/** Options of {@link retryBackoff}. */
export interface RetryBackoffOptions {
  /** How many times a failed attempt is retried (so at most `maxRetries + 1` attempts). `Infinity` is allowed. Default `3`. */
  maxRetries?: number;
  /** Nominal delay before the first retry, in milliseconds. Default `2000`. */
  initialDelay?: number;
  /** Each further nominal delay is the previous one times `factor` (≥ 1). Default `2`. */
  factor?: number;
  /** Upper bound of the nominal delay, in milliseconds. Default `60_000`. */
  maxDelay?: number;
  /** How the delay is randomised; see {@link RetryJitter}. Default `'equal'`. */
  jitter?: RetryJitter;
  /**
   * Longest `Retry-After` (from the error's `retryAfterMs`, see `retryAfterOf`) that is honoured, in
   * milliseconds; a longer one is shortened to this. Default: `maxDelay`.
   */
  maxRetryAfter?: number;
  /**
   * Extra veto, consulted only for errors that `isRetriable` already accepts: return `false` to
   * give up. `attempt` is the number of the attempt that failed (1-based). If it throws, the thrown
   * error goes downstream and nothing is retried. Default: always `true`.
   */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /**
   * Called before each retry is scheduled (for logs and metrics). If it throws, the exception is
   * reported as a process warning (`TRIBUTARY_LISTENER_ERROR`) and the retry still happens.
   */
  onRetry?: (event: RetryEvent) => void;
  /**
   * When `true`, the attempt counter (and with it the delay) starts over whenever an attempt emits
   * a value, so only consecutive failures without progress count towards `maxRetries`. Default `false`.
   */
  resetOnSuccess?: boolean;
  /** Source of randomness in `[0, 1)` for the jitter (inject one in tests). Default `Math.random`. */
  random?: () => number;
  /** Scheduler for the delays. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/**
 * Retries a failed call with exponential backoff: resubscribes the source after about 2 s, 4 s, 8 s.
 *
 * Apply it to a cold Observable whose subscription is one attempt (one HTTP call). When an attempt
 * fails with a retriable error, the operator waits and subscribes again; after `maxRetries` retries
 * the last error goes downstream unchanged. The nominal delay of retry n is
 * `min(maxDelay, initialDelay × factor^(n-1))`, randomised by `jitter`. A `Retry-After` carried by
 * the error (`retryAfterMs`, e.g. from an `HttpError` 429/503) is honoured when it is longer than
 * that delay, up to `maxRetryAfter`.
 *
 * Errors that retrying cannot fix are passed on at once: `CircuitOpenError`, HTTP 4xx client errors
 * (other than 408/425/429) and any error marked `retriable: false` (see `isRetriable`). `shouldRetry`
 * can veto more.
 *
 * Values already emitted by an attempt that later fails stay emitted (RxJS retry semantics), and the
 * retry emits from the start again; to get all-or-nothing per call, collect the values first (e.g.
 * `toArray()` inside the retried Observable). Unsubscribing cancels a pending delay and the current
 * attempt.
 *
 * @param options See {@link RetryBackoffOptions}; every option has a default.
 * @example
 * ```ts
 * import { retryBackoff, attemptTimeout } from '@tributary/core';
 * import { defer } from 'rxjs';
 *
 * // one subscription = one HTTP call; retried after ~2 s, ~4 s, ~8 s, then the last error goes on
 * const prices$ = defer(() => fetchDayAheadPrices()).pipe(
 *   attemptTimeout(30_000),
 *   retryBackoff({
 *     maxRetries: 3,
 *     onRetry: ({ attempt, delayMs, error }) => log.warn({ attempt, delayMs, err: error }, 'retrying'),
 *   }),
 * );
 * ```
 */
export function retryBackoff<T>(options: RetryBackoffOptions = {}): MonoTypeOperatorFunction<T> {
  const maxRetries = options.maxRetries ?? 3;
  const initialDelay = options.initialDelay ?? 2000;
  const factor = options.factor ?? 2;
  const maxDelay = options.maxDelay ?? 60_000;
  const jitter = options.jitter ?? 'equal';
  const maxRetryAfter = options.maxRetryAfter ?? maxDelay;
  const random = options.random ?? Math.random;
  const scheduler = options.scheduler ?? asyncScheduler;
  const { shouldRetry, onRetry } = options;
  const resetOnSuccess = options.resetOnSuccess ?? false;

  if (!(maxRetries === Infinity || (Number.isInteger(maxRetries) && maxRetries >= 0))) {
    throw new RangeError(`retryBackoff: maxRetries must be a non-negative integer or Infinity, got ${String(maxRetries)}`);
  }
  requireDuration('initialDelay', initialDelay);
  requireDuration('maxDelay', maxDelay);
  requireDuration('maxRetryAfter', maxRetryAfter);
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) {
    throw new RangeError(`retryBackoff: factor must be a finite number >= 1, got ${String(factor)}`);
  }
  if (jitter !== 'full' && jitter !== 'equal' && jitter !== 'none') {
    throw new RangeError(`retryBackoff: jitter must be 'full', 'equal' or 'none', got ${JSON.stringify(jitter)}`);
  }
  for (const [name, fn] of [
    ['shouldRetry', shouldRetry],
    ['onRetry', onRetry],
    ['random', options.random],
  ] as const) {
    if (fn !== undefined && typeof fn !== 'function') throw new TypeError(`retryBackoff: ${name} must be a function, got ${typeof fn}`);
  }

  const delayFor = (attempt: number, error: unknown): number => {
    const grown = initialDelay * Math.pow(factor, attempt - 1); // NaN only for 0 × Infinity
    const nominal = Number.isNaN(grown) ? 0 : Math.min(maxDelay, grown);
    let delay = nominal;
    if (jitter !== 'none') {
      const r = Math.min(1, Math.max(0, Number(random()) || 0));
      delay = jitter === 'full' ? nominal * r : nominal / 2 + (nominal / 2) * r;
    }
    delay = Math.round(delay);
    const retryAfter = retryAfterOf(error);
    if (retryAfter !== undefined) delay = Math.max(delay, Math.min(retryAfter, maxRetryAfter));
    return delay;
  };

  return operate<T, T>((source, subscriber) => {
    let failures = 0;
    let stopAttempt: (() => void) | undefined;
    let timer: Subscription | undefined;

    const start = (): void => {
      timer = undefined;
      stopAttempt = forward(source, subscriber, {
        next: (value) => {
          if (resetOnSuccess) failures = 0;
          subscriber.next(value);
        },
        error: (error) => {
          const attempt = ++failures;
          // A throwing shouldRetry/random lands in `forward`, which sends it downstream.
          if (attempt > maxRetries || !isRetriable(error) || (shouldRetry && !shouldRetry(error, attempt))) {
            subscriber.error(error);
            return;
          }
          const delayMs = delayFor(attempt, error);
          callSafely(onRetry, { attempt, delayMs, error });
          if (subscriber.closed) return;
          timer = scheduler.schedule(start, delayMs);
        },
      });
    };

    start();
    return () => {
      timer?.unsubscribe();
      stopAttempt?.();
    };
  });
}

function requireDuration(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`retryBackoff: ${name} must be a finite number of milliseconds >= 0, got ${String(value)}`);
  }
}
