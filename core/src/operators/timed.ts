import { asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import type { Histogram, Registry } from 'prom-client';
import { ConfigError } from '../errors/ConfigError.js';
import { DURATION_BUCKETS, defaultMetricsRegistry, histogram as getOrCreateHistogram } from '../observability/metrics.js';
import type { DurationRecorder } from '../observability/percentiles.js';
import { callSafely, forward, operate, reportUnhandled } from './internal/operate.js';
import { describe, invalid } from './store.js';

/**
 * How a timed subscription ended: it completed, it errored, or it was unsubscribed first.
 *
 * @example
 * ```ts
 * import type { TimedOutcome } from '@tributary/core';
 *
 * const failed = (outcome: TimedOutcome): boolean => outcome === 'error';
 * ```
 */
export type TimedOutcome = 'success' | 'error' | 'cancelled';

/**
 * What `timed` reports about one subscription.
 *
 * @example
 * ```ts
 * import { timed, type TimedInfo } from '@tributary/core';
 *
 * const onTimed = ({ name, durationMs, outcome, values }: TimedInfo) => console.log(name, outcome, durationMs, values);
 * call$.pipe(timed({ name: 'tennet.load', onTimed }));
 * ```
 */
export interface TimedInfo {
  /** The operation name given to `timed`. */
  readonly name: string;
  /** From subscribe to complete, error or unsubscribe, in milliseconds of the scheduler's clock. */
  readonly durationMs: number;
  /** How it ended. */
  readonly outcome: TimedOutcome;
  /** Number of values emitted. */
  readonly values: number;
  /** The error, when `outcome` is `error`. */
  readonly error?: unknown;
}

/**
 * The part of a pino logger `timed` uses. Any pino logger (or child logger) fits.
 *
 * @example
 * ```ts
 * import type { TimedLogger } from '@tributary/core';
 *
 * const consoleLogger: TimedLogger = { warn: (o, m) => console.warn(m, o), error: (o, m) => console.error(m, o) };
 * ```
 */
export interface TimedLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * Label names of the histogram `timed` observes.
 *
 * @example
 * ```ts
 * import { timed, type TimedLabels } from '@tributary/core';
 * import { Histogram } from 'prom-client';
 *
 * const histogram = new Histogram<TimedLabels>({ name: 'collector_call_seconds', help: 'Calls', labelNames: ['operation', 'outcome'] });
 * call$.pipe(timed({ name: 'knmi.observations', histogram }));
 * ```
 */
export type TimedLabels = 'operation' | 'outcome';

/**
 * Options of {@link timed}.
 *
 * @example
 * ```ts
 * import { timed, type TimedOptions } from '@tributary/core';
 *
 * const options: TimedOptions = { name: 'entsoe.prices', warnAfter: 10_000, criticalAfter: 20_000, logger: log };
 * call$.pipe(timed(options));
 * ```
 */
export interface TimedOptions {
  /** Name of the operation, e.g. `entsoe.prices`: the `operation` metric label and the log field. Required. */
  name: string;
  /**
   * Histogram to observe durations in (seconds) with labels `operation` and `outcome`, or `false`
   * for none. Default: `tributary_operation_duration_seconds{operation, outcome}` in `registry`,
   * with buckets from 5 ms to 2 min.
   */
  histogram?: Histogram<TimedLabels> | false;
  /** Registry for the default histogram. Default: prom-client's global registry. */
  registry?: Registry;
  /** Log a warning for operations longer than this, in milliseconds. Default `30_000`. */
  warnAfter?: number;
  /** Log an error (instead of a warning) for operations longer than this, in milliseconds. Default `60_000`. */
  criticalAfter?: number;
  /** Where slow operations are logged (`warn` / `error` with an object and a message). Default: none (no logging). */
  logger?: TimedLogger;
  /** Called after each subscription ends with its {@link TimedInfo}. A throw is reported as a process warning. Default: none. */
  onTimed?: (info: TimedInfo) => void;
  /** Also record every duration (ms) here, for p50/p95/p99 in reports. Default: none. */
  recorder?: DurationRecorder;
  /** Clock (`scheduler.now()`, milliseconds). Default `asyncScheduler` (wall clock). */
  scheduler?: SchedulerLike;
}

/**
 * Measures how long each subscription takes and reports it to a histogram, a logger, a recorder
 * and a callback.
 *
 * The clock starts when the operator is subscribed and stops when upstream completes (`success`),
 * errors (`error`) or is unsubscribed before either (`cancelled`). Values and errors pass through
 * unchanged. Each subscription is observed in the histogram in seconds with labels
 * `{operation: name, outcome}`. An operation longer than `warnAfter` is logged as a warning, one
 * longer than `criticalAfter` as an error (one line per slow operation, with `operation`,
 * `durationMs`, `outcome`, `values` and `err`).
 *
 * @param options See {@link TimedOptions}; `name` is required.
 * @example
 * ```ts
 * import { timed } from '@tributary/core';
 * import pino from 'pino';
 *
 * const log = pino();
 * fetchGridLoad().pipe(
 *   timed({ name: 'tennet.load', logger: log, onTimed: ({ durationMs, outcome }) => console.log(durationMs, outcome) }),
 * );
 * ```
 */
export function timed<T>(options: TimedOptions): MonoTypeOperatorFunction<T> {
  if (typeof options !== 'object' || options === null) throw invalid('timed', `options must be an object, got ${describe(options)}`);
  const { name, warnAfter = 30_000, criticalAfter = 60_000, logger, onTimed, recorder } = options;
  if (typeof name !== 'string' || name.length === 0) throw invalid('timed.name', `must be a non-empty string, got ${describe(name)}`);
  checkMs(warnAfter, 'timed.warnAfter');
  checkMs(criticalAfter, 'timed.criticalAfter');
  if (onTimed !== undefined && typeof onTimed !== 'function') throw invalid('timed.onTimed', `must be a function, got ${describe(onTimed)}`);
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function' || typeof logger.error !== 'function')) {
    throw invalid('timed.logger', 'must have warn(obj, msg) and error(obj, msg) methods (a pino logger fits)');
  }
  if (recorder !== undefined && typeof recorder?.record !== 'function') {
    throw invalid('timed.recorder', 'must be a DurationRecorder (an object with record(ms))');
  }
  if (options.scheduler !== undefined && typeof (options.scheduler as { now?: unknown } | null)?.now !== 'function') {
    throw invalid('timed.scheduler', 'must be an RxJS scheduler (an object with now())');
  }
  const scheduler = options.scheduler ?? asyncScheduler;

  const hist =
    options.histogram === false
      ? undefined
      : (options.histogram ??
        getOrCreateHistogram(options.registry ?? defaultMetricsRegistry(), {
          name: 'tributary_operation_duration_seconds',
          help: 'Duration of timed operations in seconds, by operation and outcome (success, error, cancelled).',
          labelNames: ['operation', 'outcome'] as const,
          buckets: DURATION_BUCKETS,
        }));
  // Bind the label sets once (this also checks a user-supplied histogram's label names early).
  let observe: Record<TimedOutcome, { observe(seconds: number): void }> | undefined;
  if (hist) {
    try {
      observe = {
        success: hist.labels({ operation: name, outcome: 'success' }),
        error: hist.labels({ operation: name, outcome: 'error' }),
        cancelled: hist.labels({ operation: name, outcome: 'cancelled' }),
      };
    } catch (err) {
      throw new ConfigError(
        undefined,
        [{ path: 'timed.histogram', message: `must be a prom-client Histogram with label names 'operation' and 'outcome' (${err instanceof Error ? err.message : String(err)})` }],
        { cause: err },
      );
    }
  }

  const report = (durationMs: number, outcome: TimedOutcome, values: number, error: unknown): void => {
    if (observe) {
      try {
        observe[outcome].observe(durationMs / 1000);
      } catch (err) {
        reportUnhandled(err);
      }
    }
    if (recorder) {
      try {
        recorder.record(durationMs);
      } catch (err) {
        reportUnhandled(err);
      }
    }
    if (logger && (durationMs > criticalAfter || durationMs > warnAfter)) log(logger, durationMs, outcome, values, error);
    if (onTimed) {
      callSafely(onTimed, outcome === 'error' ? { name, durationMs, outcome, values, error } : { name, durationMs, outcome, values });
    }
  };

  const log = (logger: TimedLogger, durationMs: number, outcome: TimedOutcome, values: number, error: unknown): void => {
    const obj = error === undefined ? { operation: name, durationMs, outcome, values } : { operation: name, durationMs, outcome, values, err: error };
    try {
      if (durationMs > criticalAfter) logger.error(obj, `${name} took ${durationMs} ms (critical: over ${criticalAfter} ms)`);
      else logger.warn(obj, `${name} took ${durationMs} ms (over ${warnAfter} ms)`);
    } catch (err) {
      reportUnhandled(err);
    }
  };

  return operate<T, T>((source, subscriber) => {
    const start = scheduler.now();
    let values = 0;
    let done = false;
    const teardown = forward(source, subscriber, {
      next: (value) => {
        values++;
        subscriber.next(value);
      },
      error: (error) => {
        done = true;
        report(scheduler.now() - start, 'error', values, error);
        subscriber.error(error);
      },
      complete: () => {
        done = true;
        report(scheduler.now() - start, 'success', values, undefined);
        subscriber.complete();
      },
    });
    return () => {
      teardown();
      if (!done) {
        // Unsubscribed before upstream ended.
        done = true;
        report(scheduler.now() - start, 'cancelled', values, undefined);
      }
    };
  });
}

function checkMs(value: unknown, path: string): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw invalid(path, `must be a number of milliseconds >= 0 (Infinity allowed), got ${describe(value)}`);
  }
}
