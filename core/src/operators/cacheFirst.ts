import { asyncScheduler, type MonoTypeOperatorFunction, type Observable, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import type { Registry } from 'prom-client';
import { counter } from '../observability/metrics.js';
import { callSafely, operate } from './internal/operate.js';
import {
  CACHE_PREFIX,
  checkCommonOptions,
  checkKeyOption,
  describe,
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
 * How one `cacheFirst` subscription was answered.
 *
 * @example
 * ```ts
 * import type { CacheResultKind } from '@tributary/core';
 *
 * const header = (result: CacheResultKind): string => (result === 'hit' ? 'cache' : 'origin');
 * ```
 */
export type CacheResultKind = 'hit' | 'miss' | 'refresh';

/**
 * What `cacheFirst` tells {@link CacheFirstOptions.onResult} about one subscription.
 *
 * @example
 * ```ts
 * import { cacheFirst, type CacheResultInfo } from '@tributary/core';
 *
 * const onResult = ({ key, hit, ageMs }: CacheResultInfo) => log.debug({ key, hit, ageMs }, 'cache');
 * call$.pipe(cacheFirst({ key: 'air:stations', ttl: 86_400_000, onResult }));
 * ```
 */
export interface CacheResultInfo {
  /** The key, as given or as returned by the key function (without the `cache:` prefix). */
  readonly key: string;
  /** `hit`: served from the store; `miss`: no fresh entry, upstream called; `refresh`: forced refresh. */
  readonly result: CacheResultKind;
  /** `true` exactly when `result` is `hit`. */
  readonly hit: boolean;
  /** On a hit, the age in milliseconds of the values served; otherwise `undefined`. */
  readonly ageMs: number | undefined;
}

/**
 * Options of {@link cacheFirst}.
 *
 * @example
 * ```ts
 * import { cacheFirst, type CacheFirstOptions } from '@tributary/core';
 *
 * const options: CacheFirstOptions = { key: () => `knmi:${day}`, ttl: 10 * 60_000, forceRefresh: process.argv.includes('--force-refresh') };
 * call$.pipe(cacheFirst(options));
 * ```
 */
export interface CacheFirstOptions {
  /**
   * What identifies the data: a string, or a function called once per subscription that returns
   * one (for example from the time window being fetched). Required. If the function throws, the
   * subscriber receives the error. Two `cacheFirst` operators with the same key and store share
   * entries and in-flight calls.
   */
  key: string | (() => string);
  /** How long stored values stay fresh, in milliseconds (`Infinity` allowed; `0` never hits). Required. */
  ttl: number;
  /** Where values are kept. Default: {@link defaultStore} (process-wide in-memory LRU). */
  store?: KeyedStore;
  /**
   * Skip the read and call upstream, still storing the result: `true`, or a function of the key
   * called once per subscription. Default `false`.
   */
  forceRefresh?: boolean | ((key: string) => boolean);
  /** Clock for `storedAt` and ages (`scheduler.now()`). Default `asyncScheduler` (wall clock). */
  scheduler?: SchedulerLike;
  /**
   * prom-client registry for the counter `tributary_cache_requests_total{cache, result}`.
   * Default: none (no metric is recorded).
   */
  registry?: Registry;
  /** Value of the `cache` metric label. Default: the key when it is a string, else `"cacheFirst"`. */
  name?: string;
  /**
   * Called once per subscription, before any value is emitted, with how it was answered (use it to
   * mark records as served from cache). A throw is reported as a process warning and does not
   * affect the stream. Default: none.
   */
  onResult?: (info: CacheResultInfo) => void;
}

/** One shared upstream subscription for concurrent misses on the same store and key. */
interface Flight {
  /** Current subscribers; replaced (never mutated) on join and leave, so emission loops see a stable list. */
  subscribers: readonly Subscriber<unknown>[];
  /** Values emitted so far: replayed to late joiners, stored on completion. */
  readonly values: unknown[];
  subscription: Subscription | undefined;
  /** Completed, errored or abandoned: no longer joinable. */
  done: boolean;
  /** Marks the flight done and removes it from the in-flight map. */
  finish: () => void;
}

const flights = new WeakMap<KeyedStore, Map<string, Flight>>();

/**
 * Answers from a store while the stored values are fresh, and calls upstream only when they are
 * not.
 *
 * On subscription it looks up the key. If the store holds values younger than `ttl`, it emits them
 * and completes without subscribing upstream. Otherwise it subscribes upstream, passes the values
 * through and, when upstream completes with at least one value, stores them with the current time.
 * Errors and empty results are never stored, so a failed or empty call is retried next time.
 *
 * Concurrent misses on the same key share one upstream subscription (single flight): a subscriber
 * that joins late first receives the values emitted so far. One subscriber unsubscribing does not
 * cancel the others; the upstream call is cancelled when the last one unsubscribes.
 *
 * With an asynchronous store (one whose `get` returns a promise) a hit is emitted when the promise
 * resolves; with the default in-memory store everything happens synchronously.
 *
 * @param options See {@link CacheFirstOptions}; `key` and `ttl` are required.
 * @example
 * ```ts
 * import { cacheFirst } from '@tributary/core';
 *
 * // Station list changes rarely: fetch it at most once a day.
 * const stations$ = http.getJson(stationsUrl).pipe(
 *   cacheFirst({
 *     key: 'luchtmeetnet:stations',
 *     ttl: 24 * 60 * 60 * 1000,
 *     onResult: ({ hit, ageMs }) => log.debug({ hit, ageMs }, 'stations'),
 *   }),
 * );
 * ```
 */
export function cacheFirst<T>(options: CacheFirstOptions): MonoTypeOperatorFunction<T> {
  if (typeof options !== 'object' || options === null) throw invalid('cacheFirst', `options must be an object, got ${describe(options)}`);
  const { key, ttl, forceRefresh = false, onResult } = options;
  checkKeyOption(key, 'cacheFirst');
  if (typeof ttl !== 'number' || Number.isNaN(ttl) || ttl < 0) {
    throw invalid('cacheFirst.ttl', `must be a number of milliseconds >= 0 (Infinity allowed), got ${describe(ttl)}`);
  }
  if (typeof forceRefresh !== 'boolean' && typeof forceRefresh !== 'function') {
    throw invalid('cacheFirst.forceRefresh', `must be a boolean or a function, got ${describe(forceRefresh)}`);
  }
  if (onResult !== undefined && typeof onResult !== 'function') {
    throw invalid('cacheFirst.onResult', `must be a function, got ${describe(onResult)}`);
  }
  const store = checkCommonOptions(options, 'cacheFirst');
  const scheduler = options.scheduler ?? asyncScheduler;
  const fixedStoreKey = typeof key === 'string' ? CACHE_PREFIX + key : undefined;

  let countHit: (() => void) | undefined;
  let countMiss: (() => void) | undefined;
  let countRefresh: (() => void) | undefined;
  if (options.registry) {
    const cache = options.name ?? (typeof key === 'string' ? key : 'cacheFirst');
    const requests = counter(options.registry, {
      name: 'tributary_cache_requests_total',
      help: 'cacheFirst subscriptions by result: hit (served from the store), miss (upstream called), refresh (forced).',
      labelNames: ['cache', 'result'] as const,
    });
    const hit = requests.labels({ cache, result: 'hit' });
    const miss = requests.labels({ cache, result: 'miss' });
    const refresh = requests.labels({ cache, result: 'refresh' });
    countHit = () => hit.inc();
    countMiss = () => miss.inc();
    countRefresh = () => refresh.inc();
  }

  const write = (storeKey: string, values: unknown[]): void => {
    writeEntry(store, storeKey, { values, storedAt: replayOrigin(values) ?? scheduler.now() }, 'cacheFirst');
  };

  // Defined once per operator (not per subscription) to keep the hit path free of allocations.
  const miss = (
    source: Observable<unknown>,
    subscriber: Subscriber<unknown>,
    resolvedKey: string,
    storeKey: string,
    result: 'miss' | 'refresh',
  ): (() => void) | undefined => {
    (result === 'miss' ? countMiss : countRefresh)?.();
    if (onResult) callSafely(onResult, { key: resolvedKey, result, hit: false, ageMs: undefined });
    if (subscriber.closed) return undefined;
    return join(source, subscriber, store, storeKey, write);
  };

  const answer = (
    source: Observable<unknown>,
    subscriber: Subscriber<unknown>,
    resolvedKey: string,
    storeKey: string,
    entry: StoreEntry | undefined,
  ): (() => void) | undefined => {
    if (entry !== undefined) {
      const age = scheduler.now() - entry.storedAt;
      if (age < ttl) {
        countHit?.();
        if (onResult) callSafely(onResult, { key: resolvedKey, result: 'hit', hit: true, ageMs: age > 0 ? age : 0 });
        replayEntry(subscriber, entry);
        return undefined;
      }
    }
    return miss(source, subscriber, resolvedKey, storeKey, 'miss');
  };

  return operate<unknown, unknown>((source, subscriber) => {
    const resolvedKey = fixedStoreKey === undefined ? resolveKey(key, 'cacheFirst') : (key as string);
    const storeKey = fixedStoreKey ?? CACHE_PREFIX + resolvedKey;
    const refresh = typeof forceRefresh === 'function' ? forceRefresh(resolvedKey) === true : forceRefresh;
    if (refresh) return miss(source, subscriber, resolvedKey, storeKey, 'refresh');

    const got = readEntry(store, storeKey, 'cacheFirst');
    if (!isPromiseLike<StoreEntry | undefined>(got)) return answer(source, subscriber, resolvedKey, storeKey, got);

    // Asynchronous store: decide when the read resolves, unless the subscriber has left by then.
    let leave: (() => void) | undefined;
    let left = false;
    got.then((entry) => {
      if (left || subscriber.closed) return;
      try {
        leave = answer(source, subscriber, resolvedKey, storeKey, entry);
      } catch (err) {
        subscriber.error(err);
      }
    });
    return () => {
      left = true;
      leave?.();
    };
  }) as MonoTypeOperatorFunction<T>;
}

/**
 * Subscribes `subscriber` to the flight for `storeKey`, starting it if there is none. Returns the
 * function that takes the subscriber out again.
 */
function join(
  source: Observable<unknown>,
  subscriber: Subscriber<unknown>,
  store: KeyedStore,
  storeKey: string,
  write: (storeKey: string, values: unknown[]) => void,
): () => void {
  let inFlight = flights.get(store);
  if (!inFlight) flights.set(store, (inFlight = new Map()));
  const existing = inFlight.get(storeKey);
  if (existing) {
    // Join first (so the flight's end reaches this subscriber), then catch up with what the shared
    // call emitted before it joined.
    const seen = existing.values.length;
    existing.subscribers = [...existing.subscribers, subscriber];
    for (let i = 0; i < seen && !subscriber.closed; i++) subscriber.next(existing.values[i]);
    return () => leave(existing, subscriber);
  }

  const map = inFlight;
  const flight: Flight = {
    subscribers: [subscriber],
    values: [],
    subscription: undefined,
    done: false,
    finish: () => {
      flight.done = true;
      if (map.get(storeKey) === flight) map.delete(storeKey);
    },
  };
  map.set(storeKey, flight);
  const subscription = source.subscribe({
    next: (value) => {
      if (flight.done) return;
      flight.values.push(value);
      for (const s of flight.subscribers) s.next(value);
    },
    error: (err: unknown) => {
      if (flight.done) return;
      flight.finish();
      for (const s of flight.subscribers) s.error(err);
    },
    complete: () => {
      if (flight.done) return;
      flight.finish();
      if (flight.values.length > 0) write(storeKey, flight.values);
      for (const s of flight.subscribers) s.complete();
    },
  });
  // The last subscriber may have left (or upstream finished) while upstream was emitting synchronously.
  if (flight.done) subscription.unsubscribe();
  else flight.subscription = subscription;
  return () => leave(flight, subscriber);
}

function leave(flight: Flight, subscriber: Subscriber<unknown>): void {
  if (flight.done) return;
  const rest = flight.subscribers.filter((s) => s !== subscriber);
  if (rest.length === flight.subscribers.length) return;
  flight.subscribers = rest;
  if (rest.length > 0) return;
  // The last subscriber left: cancel the shared call (if it has already been assigned; otherwise
  // join() unsubscribes once upstream's subscribe returns).
  flight.finish();
  flight.subscription?.unsubscribe();
}
