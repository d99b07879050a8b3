import { LRUCache } from 'lru-cache';
import type { Subscriber } from 'rxjs';
import { ConfigError } from '../errors/ConfigError.js';
import { reportUnhandled } from './internal/operate.js';

/**
 * One remembered result: the values a call emitted and when they were stored.
 *
 * `storedAt` is a timestamp in milliseconds from the operator's scheduler (`scheduler.now()`,
 * wall-clock time by default). Stores keep entries as they are given; `values` is never mutated
 * by Tributary.
 *
 * @example
 * ```ts
 * import { defaultStore, type StoreEntry } from '@tributary/core';
 *
 * const entry: StoreEntry | undefined = defaultStore().get('cache:air:stations');
 * if (entry) console.log(`${entry.values.length} stations, ${Date.now() - entry.storedAt} ms old`);
 * ```
 */
export interface StoreEntry {
  /** The values the call emitted, in order. May be empty (only `staleFallback` stores empty results). */
  readonly values: readonly unknown[];
  /** When the values were fetched, in scheduler milliseconds. */
  readonly storedAt: number;
}

/**
 * A value, or a promise of it. Synchronous stores return plain values; remote stores return promises.
 *
 * @example
 * ```ts
 * import type { MaybePromise, StoreEntry } from '@tributary/core';
 *
 * const read = (key: string): MaybePromise<StoreEntry | undefined> => fileStore.get(key);
 * ```
 */
export type MaybePromise<T> = T | PromiseLike<T>;

/**
 * A string-keyed store of {@link StoreEntry} objects, shared by `cacheFirst` and `staleFallback`.
 *
 * The in-memory default ({@link MemoryStore}) answers synchronously, so a cache hit never waits
 * for a promise. A store backed by Redis or a file may return promises from any method instead;
 * the operators handle both. A store only keeps and returns entries: freshness (`ttl`, `maxAge`)
 * is decided by the operators from `storedAt`.
 *
 * Keys arrive already namespaced: `cacheFirst` uses `cache:<key>` and `staleFallback` uses
 * `stale:<key>`, so both operators can share one store without overwriting each other.
 *
 * A store method that throws or rejects never fails the call: a failed read counts as "no entry",
 * a failed write is dropped, and both are reported as a process warning
 * (code `TRIBUTARY_LISTENER_ERROR`). The error messages do not contain keys, which may be built
 * from URLs.
 *
 * An entry's `values` are the records themselves; a store that leaves the process (Redis, a file)
 * must serialize them (for example with JSON) and give back equal values.
 *
 * @example
 * ```ts
 * import { cacheFirst, type KeyedStore, type StoreEntry } from '@tributary/core';
 * import { createClient } from 'redis';
 *
 * const redis = createClient();
 * const redisStore: KeyedStore = {
 *   async get(key) {
 *     const text = await redis.get(`tributary:${key}`);
 *     return text ? (JSON.parse(text) as StoreEntry) : undefined;
 *   },
 *   async set(key, entry) { await redis.set(`tributary:${key}`, JSON.stringify(entry)); },
 *   async delete(key) { await redis.del(`tributary:${key}`); },
 *   async clear() { // delete the tributary:* keys
 *   },
 * };
 * fetchStations().pipe(cacheFirst({ key: 'stations', ttl: 86_400_000, store: redisStore }));
 * ```
 */
export interface KeyedStore {
  /** The entry stored under `key`, or `undefined` when there is none. */
  get(key: string): MaybePromise<StoreEntry | undefined>;
  /** Stores `entry` under `key`, replacing any previous entry. */
  set(key: string, entry: StoreEntry): MaybePromise<unknown>;
  /** Removes the entry under `key`, if any. */
  delete(key: string): MaybePromise<unknown>;
  /** Removes every entry. */
  clear(): MaybePromise<unknown>;
}

/**
 * Options of {@link MemoryStore}.
 *
 * @example
 * ```ts
 * import { MemoryStore, type MemoryStoreOptions } from '@tributary/core';
 *
 * const options: MemoryStoreOptions = { maxEntries: 500, maxBytes: 20 * 1024 * 1024 };
 * const store = new MemoryStore(options);
 * ```
 */
export interface MemoryStoreOptions {
  /** Most entries kept; the least recently used entry is evicted first. Default `10_000`. */
  maxEntries?: number;
  /**
   * Approximate memory budget in bytes for all entries together. Default: none (only
   * `maxEntries` bounds the store). An entry larger than the whole budget is not kept.
   */
  maxBytes?: number;
  /**
   * Estimates the size in bytes of one entry, used with `maxBytes`. Default: a walk over the
   * values that counts strings as 2 bytes per character, numbers as 8, byte arrays by length,
   * plus a small overhead per object, array and property.
   */
  sizeOf?: (entry: StoreEntry, key: string) => number;
}

/**
 * The default {@link KeyedStore}: an in-process LRU map (lru-cache), synchronous, bounded by entry
 * count and optionally by approximate bytes.
 *
 * Reads refresh an entry's recency, so entries that are used stay and forgotten keys are evicted
 * first. Values are kept by reference: do not mutate records after emitting them.
 *
 * @example
 * ```ts
 * import { MemoryStore, cacheFirst, staleFallback } from '@tributary/core';
 *
 * const store = new MemoryStore({ maxEntries: 1_000, maxBytes: 50 * 1024 * 1024 });
 * fetchPrices().pipe(
 *   staleFallback({ key: 'prices', store }),
 *   cacheFirst({ key: 'prices', ttl: 60_000, store }),
 * );
 * ```
 */
export class MemoryStore implements KeyedStore {
  readonly #cache: LRUCache<string, StoreEntry>;

  constructor(options: MemoryStoreOptions = {}) {
    const { maxEntries = 10_000, maxBytes, sizeOf = defaultSizeOf } = options;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw invalid('MemoryStore.maxEntries', `must be a positive integer, got ${describe(maxEntries)}`);
    }
    if (maxBytes !== undefined && (!Number.isInteger(maxBytes) || maxBytes < 1)) {
      throw invalid('MemoryStore.maxBytes', `must be a positive integer (bytes), got ${describe(maxBytes)}`);
    }
    if (typeof sizeOf !== 'function') {
      throw invalid('MemoryStore.sizeOf', `must be a function, got ${describe(sizeOf)}`);
    }
    this.#cache =
      maxBytes === undefined
        ? new LRUCache<string, StoreEntry>({ max: maxEntries })
        : new LRUCache<string, StoreEntry>({
            max: maxEntries,
            maxSize: maxBytes,
            sizeCalculation: (entry, key) => {
              const size = Math.ceil(sizeOf(entry, key));
              return Number.isFinite(size) && size >= 1 ? size : 1;
            },
          });
  }

  /** The entry stored under `key`, or `undefined`. Marks the entry as recently used. */
  get(key: string): StoreEntry | undefined {
    return this.#cache.get(key);
  }

  /** Stores `entry` under `key` (evicting the least recently used entries when over a bound). */
  set(key: string, entry: StoreEntry): void {
    this.#cache.set(key, entry);
  }

  /** Removes the entry under `key`; `true` when there was one. */
  delete(key: string): boolean {
    return this.#cache.delete(key);
  }

  /** Removes every entry. */
  clear(): void {
    this.#cache.clear();
  }

  /** Number of entries currently kept. */
  get size(): number {
    return this.#cache.size;
  }

  /** Approximate bytes currently kept (`0` when the store has no `maxBytes`). */
  get bytes(): number {
    return this.#cache.calculatedSize ?? 0;
  }

  /** The keys currently kept, most recently used first (namespaced: `cache:…`, `stale:…`). */
  keys(): string[] {
    return [...this.#cache.keys()];
  }
}

let shared: MemoryStore | undefined;

/**
 * The process-wide {@link MemoryStore} that `cacheFirst` and `staleFallback` use when no `store`
 * is given (created on first use, default bounds: 10 000 entries).
 *
 * A cache must outlive the subscription that filled it, so the default cannot be per call. Because
 * it is shared, keys must identify the data (include the source name, e.g. `air:stations`). Call
 * `defaultStore().clear()` to forget everything, for example between tests.
 *
 * @example
 * ```ts
 * import { defaultStore } from '@tributary/core';
 *
 * afterEach(() => defaultStore().clear());
 * ```
 */
export function defaultStore(): MemoryStore {
  shared ??= new MemoryStore();
  return shared;
}

/**
 * Key prefix `cacheFirst` puts before its keys in the store (`cache:`).
 *
 * @example
 * ```ts
 * import { CACHE_PREFIX, defaultStore } from '@tributary/core';
 *
 * defaultStore().delete(`${CACHE_PREFIX}air:stations`); // forget one cached result
 * ```
 */
export const CACHE_PREFIX = 'cache:';
/**
 * Key prefix `staleFallback` puts before its keys in the store (`stale:`).
 *
 * @example
 * ```ts
 * import { STALE_PREFIX, defaultStore } from '@tributary/core';
 *
 * const last = defaultStore().get(`${STALE_PREFIX}entsoe:prices:NL`);
 * ```
 */
export const STALE_PREFIX = 'stale:';

// ---------------------------------------------------------------------------------------------
// Internals shared by cacheFirst and staleFallback (not part of the public API).
// ---------------------------------------------------------------------------------------------

/** @internal True for promises and other thenables. */
export function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** @internal True when `value` looks like a {@link StoreEntry}; anything else counts as "no entry". */
export function isEntry(value: unknown): value is StoreEntry {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as StoreEntry).values) &&
    typeof (value as StoreEntry).storedAt === 'number' &&
    !Number.isNaN((value as StoreEntry).storedAt)
  );
}

/**
 * @internal Reads `key`; a synchronous throw becomes `undefined` (reported), a promise is returned
 * with its rejection turned into `undefined` (reported).
 */
export function readEntry(store: KeyedStore, key: string, operator: string): MaybePromise<StoreEntry | undefined> {
  let got: MaybePromise<StoreEntry | undefined>;
  try {
    got = store.get(key);
  } catch (err) {
    reportStoreError(operator, 'get', err);
    return undefined;
  }
  if (!isPromiseLike<StoreEntry | undefined>(got)) return isEntry(got) ? got : undefined;
  return Promise.resolve(got).then(
    (entry) => (isEntry(entry) ? entry : undefined),
    (err: unknown) => {
      reportStoreError(operator, 'get', err);
      return undefined;
    },
  );
}

/** @internal Writes `entry`; failures (sync or async) are reported, never thrown. */
export function writeEntry(store: KeyedStore, key: string, entry: StoreEntry, operator: string): void {
  try {
    const done = store.set(key, entry);
    if (isPromiseLike(done)) done.then(undefined, (err: unknown) => reportStoreError(operator, 'set', err));
  } catch (err) {
    reportStoreError(operator, 'set', err);
  }
}

function reportStoreError(operator: string, op: 'get' | 'set', err: unknown): void {
  reportUnhandled(new Error(`${operator}: store.${op}() failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
}

// While values read from a store are being replayed synchronously, these hold the entry being
// replayed. An operator that stores the same values when its upstream completes during the replay
// (staleFallback around a cacheFirst hit) keeps the original `storedAt`, so the age of a stale value
// is counted from when it was fetched, not from when it last passed through.
let replayingValues: readonly unknown[] | undefined;
let replayingStoredAt = 0;

/**
 * @internal Emits `entry.values` (mapped by `project` when given) to `subscriber`, then completes
 * it; stops early if the subscriber closes.
 */
export function replayEntry<T, R>(subscriber: Subscriber<R>, entry: StoreEntry, project?: (value: T) => R): void {
  const prevValues = replayingValues;
  const prevAt = replayingStoredAt;
  replayingValues = entry.values;
  replayingStoredAt = entry.storedAt;
  try {
    const values = entry.values;
    for (let i = 0; i < values.length && !subscriber.closed; i++) {
      subscriber.next(project ? project(values[i] as T) : (values[i] as R));
    }
    subscriber.complete();
  } finally {
    replayingValues = prevValues;
    replayingStoredAt = prevAt;
  }
}

/**
 * @internal The `storedAt` of the entry being replayed right now if it holds exactly `values`
 * (same length, same elements), else `undefined`.
 */
export function replayOrigin(values: readonly unknown[]): number | undefined {
  const replaying = replayingValues;
  if (replaying === undefined || replaying.length !== values.length) return undefined;
  for (let i = 0; i < values.length; i++) if (replaying[i] !== values[i]) return undefined;
  return replayingStoredAt;
}

/**
 * @internal True when `store` already holds, synchronously, an entry with exactly these values
 * stored at `storedAt` (so writing it again would change nothing). Any doubt answers `false`.
 */
export function holdsEntry(store: KeyedStore, key: string, values: readonly unknown[], storedAt: number): boolean {
  let got: MaybePromise<StoreEntry | undefined>;
  try {
    got = store.get(key);
  } catch {
    return false;
  }
  if (isPromiseLike(got) || !isEntry(got) || got.storedAt !== storedAt || got.values.length !== values.length) return false;
  for (let i = 0; i < values.length; i++) if (got.values[i] !== values[i]) return false;
  return true;
}

/** @internal A key option: a fixed string or a function called once per subscription. */
export type KeyOption = string | (() => string);

/** @internal Validates a `key` option when the operator is created. */
export function checkKeyOption(key: unknown, operator: string): void {
  if (typeof key === 'function') return;
  if (typeof key !== 'string' || key.length === 0) {
    throw invalid(`${operator}.key`, `must be a non-empty string or a function returning one, got ${describe(key)}`);
  }
}

/** @internal Calls a key function; a wrong result becomes a TypeError naming the operator. */
export function resolveKey(key: KeyOption, operator: string): string {
  if (typeof key === 'string') return key;
  const value: unknown = key();
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${operator}: key() must return a non-empty string, got ${describe(value)}`);
  }
  return value;
}

/**
 * @internal Validates the options both store-backed operators share (`store`, `scheduler`, `name`)
 * and returns the store to use.
 */
export function checkCommonOptions(
  options: { store?: unknown; scheduler?: unknown; name?: unknown },
  operator: string,
): KeyedStore {
  const { store, scheduler, name } = options;
  if (store !== undefined) {
    const s = store as Partial<Record<keyof KeyedStore, unknown>> | null;
    if (typeof s !== 'object' || s === null || typeof s.get !== 'function' || typeof s.set !== 'function') {
      throw invalid(`${operator}.store`, 'must be a KeyedStore (an object with get(key) and set(key, entry), e.g. new MemoryStore())');
    }
  }
  if (scheduler !== undefined && typeof (scheduler as { now?: unknown } | null)?.now !== 'function') {
    throw invalid(`${operator}.scheduler`, 'must be an RxJS scheduler (an object with now())');
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
    throw invalid(`${operator}.name`, `must be a non-empty string, got ${describe(name)}`);
  }
  return (store as KeyedStore | undefined) ?? defaultStore();
}

/** @internal A ConfigError for one bad operator option. */
export function invalid(path: string, message: string): ConfigError {
  return new ConfigError(undefined, [{ path, message }]);
}

/** @internal A short description of a bad value for error messages (never the whole value). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string';
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/** @internal Default size estimate of an entry, in bytes. */
export function defaultSizeOf(entry: StoreEntry, key: string): number {
  return 64 + key.length * 2 + sizeOfValue(entry.values, new Set());
}

function sizeOfValue(value: unknown, seen: Set<object>): number {
  switch (typeof value) {
    case 'string':
      return 16 + value.length * 2;
    case 'number':
    case 'boolean':
    case 'undefined':
    case 'symbol':
    case 'function':
      return 8;
    case 'bigint':
      return 16;
  }
  if (value === null) return 8;
  const obj = value as object;
  if (seen.has(obj)) return 8;
  seen.add(obj);
  if (ArrayBuffer.isView(obj)) return 32 + obj.byteLength;
  if (obj instanceof ArrayBuffer) return 32 + obj.byteLength;
  if (obj instanceof Date) return 32;
  let size = 32;
  if (Array.isArray(obj)) {
    for (const item of obj) size += 8 + sizeOfValue(item, seen);
    return size;
  }
  if (obj instanceof Map) {
    for (const [k, v] of obj) size += 16 + sizeOfValue(k, seen) + sizeOfValue(v, seen);
    return size;
  }
  if (obj instanceof Set) {
    for (const v of obj) size += 8 + sizeOfValue(v, seen);
    return size;
  }
  for (const k of Object.keys(obj)) size += 16 + k.length * 2 + sizeOfValue((obj as Record<string, unknown>)[k], seen);
  return size;
}
