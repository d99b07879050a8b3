import { asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { TimeoutError } from '../errors/TimeoutError.js';
import { forward, operate } from './internal/operate.js';

/**
 * Time limits of {@link attemptTimeout}, in milliseconds. Give at least one; `Infinity` disables a limit.
 */
export interface AttemptTimeoutLimits {
  /** The whole attempt, from subscription to completion. */
  total?: number;
  /** From subscription to the first value (or to completion, if the attempt emits nothing). Default: `each`. */
  first?: number;
  /**
   * The longest silence between two notifications after the first value: value to value, and last
   * value to completion. Also applies to the first value when `first` is not given.
   */
  each?: number;
}

/** Options of {@link attemptTimeout}. */
export interface AttemptTimeoutOptions {
  /** What is being timed, for the error message (`"<what> timed out after <ms> ms"`). Default `'attempt'`. */
  what?: string;
  /** Scheduler for the timers. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/**
 * Fails one attempt with a (retriable) `TimeoutError` when it takes too long.
 *
 * Given a number, the limit covers the whole attempt: the source must **complete** within `ms`
 * milliseconds of being subscribed, however many values it emits on the way. Given
 * `{ total, first, each }`, the limits combine: `total` bounds the whole attempt, `first` the wait
 * for the first value, `each` the silence between later notifications (like RxJS `timeout`'s
 * `first`/`each`). On timeout the operator first unsubscribes from the source — which aborts an HTTP
 * request made with the subscription's `AbortSignal` — and then errors with `TimeoutError`
 * (`code: 'ERR_TIMEOUT'`, `retriable: true`, `timeoutMs`). Values emitted before the timeout stay
 * emitted.
 *
 * Place it inside `retryBackoff` so that each attempt gets its own clock and a timed-out attempt is
 * retried.
 *
 * @param limit Milliseconds for the whole attempt, or {@link AttemptTimeoutLimits}.
 * @param options See {@link AttemptTimeoutOptions}.
 * @example
 * ```ts
 * import { attemptTimeout, retryBackoff } from '@tributary/core';
 * import { defer } from 'rxjs';
 *
 * // each attempt must finish within 30 s; a timed-out attempt is aborted and retried
 * const load$ = defer(() => fetchGridLoad()).pipe(
 *   attemptTimeout(30_000, { what: 'grid load request' }),
 *   retryBackoff(),
 * );
 *
 * // a stream: first value within 10 s, then never silent for more than 5 s
 * const ticks$ = tickStream().pipe(attemptTimeout({ first: 10_000, each: 5_000 }));
 * ```
 */
export function attemptTimeout<T>(limit: number | AttemptTimeoutLimits, options: AttemptTimeoutOptions = {}): MonoTypeOperatorFunction<T> {
  const limits: AttemptTimeoutLimits = typeof limit === 'number' ? { total: limit } : limit;
  if (typeof limits !== 'object' || limits === null) {
    throw new TypeError(`attemptTimeout: limit must be a number of milliseconds or { total, first, each }, got ${String(limit)}`);
  }
  if (limits.total === undefined && limits.first === undefined && limits.each === undefined) {
    throw new RangeError('attemptTimeout: give at least one of total, first or each');
  }
  const total = checkLimit('total', limits.total);
  const each = checkLimit('each', limits.each);
  const first = limits.first !== undefined ? checkLimit('first', limits.first) : each;
  const what = options.what ?? 'attempt';
  if (typeof what !== 'string') throw new TypeError(`attemptTimeout: what must be a string, got ${typeof what}`);
  const scheduler = options.scheduler ?? asyncScheduler;
  if (total === undefined && first === undefined && each === undefined) return (source) => source;

  return operate<T, T>((source, subscriber) => {
    let totalTimer: Subscription | undefined;
    let gapTimer: Subscription | undefined;
    let stop: (() => void) | undefined;
    let timedOut: TimeoutError | undefined;

    const clear = (): void => {
      totalTimer?.unsubscribe();
      gapTimer?.unsubscribe();
      totalTimer = gapTimer = undefined;
    };
    const fire = (error: TimeoutError): void => {
      clear();
      timedOut = error;
      if (!stop) return; // still subscribing; handled right after `forward` returns
      stop(); // unsubscribe upstream first, so the attempt is aborted before anyone reacts
      subscriber.error(error);
    };
    const armGap = (ms: number | undefined, label: string): void => {
      gapTimer?.unsubscribe();
      gapTimer = ms === undefined ? undefined : scheduler.schedule(() => fire(new TimeoutError(label, ms)), ms);
    };

    if (total !== undefined) totalTimer = scheduler.schedule(() => fire(new TimeoutError(what, total)), total);
    armGap(first, `${what} (waiting for the first value)`);

    const unsubscribeSource = forward(source, subscriber, {
      next: (value) => {
        armGap(each, `${what} (waiting for the next value)`);
        subscriber.next(value);
      },
      finalize: clear,
    });
    stop = unsubscribeSource;
    if (timedOut) {
      stop();
      subscriber.error(timedOut);
    }
    return () => {
      clear();
      unsubscribeSource();
    };
  });
}

function checkLimit(name: string, value: unknown): number | undefined {
  if (value === undefined || value === Infinity) return undefined;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`attemptTimeout: ${name} must be a number of milliseconds > 0 (or Infinity), got ${String(value)}`);
  }
  return value;
}
