import { asyncScheduler, type MonoTypeOperatorFunction, type OperatorFunction, type SchedulerLike, type Subscriber } from 'rxjs';
import type { Registry } from 'prom-client';
import { counter } from '../observability/metrics.js';
import { callSafely, forward, operate } from './internal/operate.js';
import {
  STALE_PREFIX,
  checkCommonOptions,
  checkKeyOption,
  describe,
  holdsEntry,
  invalid,
  isPromiseLike,
  readEntry,
  replayEntry,
  replayOrigin,
  resolveKey,
  writeEntry,
  type KeyedStore,
  type StoreEntry,
} from './store.js';

/**
 * What `staleFallback` tells {@link StaleFallbackOptions.onStale} when it serves old values.
 *
 * @example
 * ```ts
 * import { staleFallback, type StaleInfo } from '@tributary/core';
 *
 * const onStale = ({ key, ageMs, error }: StaleInfo) => log.warn({ key, ageMs, err: error }, 'serving stale data');
 * call$.pipe(staleFallback({ key: 'air:NL01485', onStale }));
 * ```
 */
export interface StaleInfo {
  /** The key (without the `stale:` prefix). */
  readonly key: string;
  /** Age in milliseconds of the values being served (time since they were fetched). */
  readonly ageMs: number;
  /** The upstream error that the stale values stand in for. */
  readonly error: unknown;
  /** Number of values being served (`0` when the last good result was empty). */
  readonly count: number;
}

/**
 * A value from {@link staleFallback.withMeta}: the value and whether it is fresh or replayed.
 *
 * @example
 * ```ts
 * import type { StaleMarked } from '@tributary/core';
 *
 * const describe = ({ stale, ageMs }: StaleMarked<unknown>) => (stale ? `stale, ${ageMs} ms old` : 'fresh');
 * ```
 */
export interface StaleMarked<T> {
  /** The value itself. */
  readonly value: T;
  /** `true` when the value is a replay of the last good result because upstream failed. */
  readonly stale: boolean;
  /** `0` for fresh values; for stale ones, milliseconds since they were fetched. */
  readonly ageMs: number;
}

/**
 * Options of {@link staleFallback} and {@link staleFallback.withMeta}.
 *
 * @example
 * ```ts
 * import { staleFallback, type StaleFallbackOptions } from '@tributary/core';
 *
 * const options: StaleFallbackOptions = { key: 'entsoe:prices:NL', maxAge: 6 * 3_600_000 };
 * call$.pipe(staleFallback(options));
 * ```
 */
export interface StaleFallbackOptions {
  /**
   * What identifies the data: a string, or a function called once per subscription that returns
   * one. Required. If the function throws, the subscriber receives the error.
   */
  key: string | (() => string);
  /**
   * Oldest result, in milliseconds, that may still be served in place of an error. Older results
   * are not served and the error goes through. Default `Infinity` (old data beats no data).
   */
  maxAge?: number;
  /** Where the last good result is kept. Default: {@link defaultStore} (process-wide in-memory LRU). */
  store?: KeyedStore;
  /**
   * Called once, before the stale values are emitted, each time they are served. A throw is
   * reported as a process warning and does not affect the stream. Default: none.
   */
  onStale?: (info: StaleInfo) => void;
  /** Clock for `storedAt` and ages (`scheduler.now()`). Default `asyncScheduler` (wall clock). */
  scheduler?: SchedulerLike;
  /** prom-client registry for the counter `tributary_stale_served_total{name}`. Default: none (no metric). */
  registry?: Registry;
  /** Value of the `name` metric label. Default: the key when it is a string, else `"staleFallback"`. */
  name?: string;
}

/**
 * Remembers the last good result of a call and replays it when a later call fails.
 *
 * Every time upstream completes, the values it emitted are stored as the last good result for the
 * key; an empty success counts too (it is the latest truth, so older values are not replayed in
 * its place). When upstream errors before emitting anything, the last good result is emitted
 * instead, followed by completion, provided it is at most `maxAge` old; otherwise, or when there
 * is none, the original error goes through. An error after some values were emitted is passed on
 * unchanged, so fresh and stale values are never mixed in one result.
 *
 * `onStale` and the metric say when stale values were served; use {@link staleFallback.withMeta}
 * to have every value carry a `stale` flag and its age instead.
 *
 * @param options See {@link StaleFallbackOptions}; `key` is required.
 * @example
 * ```ts
 * import { staleFallback } from '@tributary/core';
 *
 * const prices$ = fetchDayAheadPrices().pipe(
 *   staleFallback({
 *     key: 'entsoe:prices:NL',
 *     maxAge: 6 * 60 * 60 * 1000, // six hours
 *     onStale: ({ ageMs, error }) => log.warn({ ageMs, err: error }, 'serving stale prices'),
 *   }),
 * );
 * ```
 */
export function staleFallback<T>(options: StaleFallbackOptions): MonoTypeOperatorFunction<T> {
  return build<T, T>(options, 'staleFallback', undefined);
}

/**
 * Like {@link staleFallback}, but every value comes out wrapped as `{ value, stale, ageMs }`, so
 * downstream can tell a replayed value from a fresh one value by value.
 *
 * @param options Same options as {@link staleFallback}.
 * @example
 * ```ts
 * import { staleFallback } from '@tributary/core';
 * import { map } from 'rxjs';
 *
 * fetchAirQuality().pipe(
 *   staleFallback.withMeta({ key: 'air:NL01485', maxAge: 3_600_000 }),
 *   map(({ value, stale, ageMs }) => ({ ...value, stale, ageMs })),
 * );
 * ```
 */
staleFallback.withMeta = function withMeta<T>(options: StaleFallbackOptions): OperatorFunction<T, StaleMarked<T>> {
  return build<T, StaleMarked<T>>(options, 'staleFallback.withMeta', (value, stale, ageMs) => ({ value, stale, ageMs }));
};

function build<T, R>(
  options: StaleFallbackOptions,
  operator: string,
  mark: ((value: T, stale: boolean, ageMs: number) => R) | undefined,
): OperatorFunction<T, R> {
  if (typeof options !== 'object' || options === null) throw invalid(operator, `options must be an object, got ${describe(options)}`);
  const { key, maxAge = Infinity, onStale } = options;
  checkKeyOption(key, operator);
  if (typeof maxAge !== 'number' || Number.isNaN(maxAge) || maxAge < 0) {
    throw invalid(`${operator}.maxAge`, `must be a number of milliseconds >= 0 (Infinity allowed), got ${describe(maxAge)}`);
  }
  if (onStale !== undefined && typeof onStale !== 'function') {
    throw invalid(`${operator}.onStale`, `must be a function, got ${describe(onStale)}`);
  }
  const store = checkCommonOptions(options, operator);
  const scheduler = options.scheduler ?? asyncScheduler;
  const fixedStoreKey = typeof key === 'string' ? STALE_PREFIX + key : undefined;

  let countServed: (() => void) | undefined;
  if (options.registry) {
    const served = counter(options.registry, {
      name: 'tributary_stale_served_total',
      help: 'Times staleFallback served the last good result in place of an error.',
      labelNames: ['name'] as const,
    }).labels({ name: options.name ?? (typeof key === 'string' ? key : 'staleFallback') });
    countServed = () => served.inc();
  }

  // Defined once per operator (not per subscription).
  const serve = (subscriber: Subscriber<R>, resolvedKey: string, entry: StoreEntry | undefined, error: unknown): void => {
    if (entry === undefined) {
      subscriber.error(error);
      return;
    }
    const age = scheduler.now() - entry.storedAt;
    const ageMs = age > 0 ? age : 0;
    if (ageMs > maxAge) {
      subscriber.error(error);
      return;
    }
    countServed?.();
    if (onStale) callSafely(onStale, { key: resolvedKey, ageMs, error, count: entry.values.length });
    replayEntry<T, R>(subscriber, entry, mark && ((value: T) => mark(value, true, ageMs)));
  };

  return operate<T, R>((source, subscriber) => {
    const resolvedKey = fixedStoreKey === undefined ? resolveKey(key, operator) : (key as string);
    const storeKey = fixedStoreKey ?? STALE_PREFIX + resolvedKey;
    const values: T[] = [];
    let left = false;

    const teardown = forward(source, subscriber, {
      next: (value) => {
        values.push(value);
        subscriber.next(mark ? mark(value, false, 0) : (value as unknown as R));
      },
      complete: () => {
        const origin = replayOrigin(values);
        // Values replayed from a store (a cacheFirst hit) that are already our last good result
        // need no second write: the common case on the hot path.
        if (origin === undefined || !holdsEntry(store, storeKey, values, origin)) {
          writeEntry(store, storeKey, { values, storedAt: origin ?? scheduler.now() }, operator);
        }
        subscriber.complete();
      },
      error: (error) => {
        if (values.length > 0) {
          subscriber.error(error);
          return;
        }
        const got = readEntry(store, storeKey, operator);
        if (!isPromiseLike<StoreEntry | undefined>(got)) {
          serve(subscriber, resolvedKey, got, error);
          return;
        }
        got.then((entry) => {
          if (left || subscriber.closed) return;
          try {
            serve(subscriber, resolvedKey, entry, error);
          } catch (err) {
            subscriber.error(err);
          }
        });
      },
    });
    return () => {
      left = true;
      teardown();
    };
  });
}
