import { Observable, type ObservedValueOf, type Subscription } from 'rxjs';
import { SourcesFailedError, type SourceFailure } from '../errors/SourcesFailedError.js';
import { callSafely } from './internal/operate.js';
import { namedEntries, type NamedSources } from './mergeSources.js';

/** What {@link FirstAvailableOptions.onFallback} receives when a source fails and the next one is tried. */
export interface FallbackEvent {
  /** Name of the source that failed (its key, or its index as a string for an array). */
  readonly source: string;
  /** Its position in the chain, from 0. */
  readonly index: number;
  /** The error it failed with. */
  readonly error: unknown;
  /** Name of the source tried next. */
  readonly next: string;
}

/** What {@link FirstAvailableOptions.onServed} receives: the source whose values are delivered. */
export interface ServedEvent {
  /** Name of the source (its key, or its index as a string for an array). */
  readonly source: string;
  /** Its position in the chain, from 0. */
  readonly index: number;
}

/** Options of {@link firstAvailable}. */
export interface FirstAvailableOptions {
  /**
   * `true`: hold each source's values until it completes, and deliver them only then, so a source
   * that fails half-way contributes nothing and the next source starts clean (all or nothing).
   * `false`: deliver values as they arrive; a source that fails before its first value is replaced by
   * the next one, but once a source has delivered a value it is committed, and its later error goes
   * downstream as it is. Default `true`.
   */
  buffer?: boolean;
  /** Called when a source fails and the next one is about to be tried. A throw is reported as a process warning (`TRIBUTARY_LISTENER_ERROR`). */
  onFallback?: (event: FallbackEvent) => void;
  /**
   * Called once per subscription with the source that serves: when it completes (with `buffer: true`),
   * or when it delivers its first value or completes empty (with `buffer: false`). A throw is
   * reported like `onFallback`'s.
   */
  onServed?: (event: ServedEvent) => void;
}

/** Values emitted by {@link firstAvailable} for the given sources. */
export type FirstAvailableValue<S> = S extends readonly unknown[] ? ObservedValueOf<S[number]> : ObservedValueOf<S[keyof S]>;

/**
 * A failover chain: tries the sources one after another and delivers the values of the first one
 * that succeeds.
 *
 * The first source is subscribed; if it completes, its values are delivered and the result completes.
 * If it errors, the next source is subscribed, and so on. A later source is only subscribed after the
 * one before it failed. "Succeeds" means "completes without error": a source that completes empty
 * serves an empty result (add RxJS `throwIfEmpty()` to a source to make empty count as a failure).
 * When every source failed, the result errors with a `SourcesFailedError` (an `AggregateError`) that
 * names each source and its error.
 *
 * By default (`buffer: true`) each source's values are held until it completes, so data from a
 * source that fails half-way is never mixed with the next source's. With `buffer: false` values are
 * delivered live, and the chain moves on only while nothing has been delivered.
 *
 * Sources may be given as an array (named `'0'`, `'1'`, … in events and errors) or as a record
 * `{ name: source$ }` (tried in key order). The result is cold: each subscriber runs the chain anew.
 * Unsubscribing stops the source being tried.
 *
 * @param sources A record `{ name: source$ }` (tried in key order) or an array (tried in order).
 * @param options See {@link FirstAvailableOptions}.
 * @example
 * ```ts
 * import { firstAvailable } from '@tributary/core';
 *
 * // CoinCap first; Binance only if CoinCap fails
 * const coins$ = firstAvailable(
 *   { coincap: coinCap$, binance: binance$ },
 *   { onServed: ({ source }) => log.info({ source }, 'coins served') },
 * );
 * ```
 */
export function firstAvailable<const S extends NamedSources>(sources: S, options: FirstAvailableOptions = {}): Observable<FirstAvailableValue<S>> {
  const entries = namedEntries('firstAvailable', sources);
  if (entries.length === 0) throw new RangeError('firstAvailable: give at least one source');
  const buffer = options.buffer ?? true;
  if (typeof buffer !== 'boolean') throw new TypeError(`firstAvailable: buffer must be a boolean, got ${typeof buffer}`);
  const { onFallback, onServed } = options;
  if (onFallback !== undefined && typeof onFallback !== 'function') throw new TypeError('firstAvailable: onFallback must be a function');
  if (onServed !== undefined && typeof onServed !== 'function') throw new TypeError('firstAvailable: onServed must be a function');

  type V = FirstAvailableValue<S>;
  return new Observable<V>((subscriber) => {
    const failures: SourceFailure[] = [];
    let current: Subscription | undefined;
    let active = 0;

    const tryAt = (index: number): void => {
      active = index;
      const [name, input] = entries[index]!;
      let held: V[] = [];
      let committed = false;
      const serve = (): void => {
        committed = true;
        callSafely(onServed, { source: name, index });
      };
      const subscription = input.subscribe({
        next: (value) => {
          if (buffer) {
            held.push(value as V);
            return;
          }
          if (!committed) serve();
          subscriber.next(value as V);
        },
        error: (error: unknown) => {
          held = [];
          if (committed) {
            subscriber.error(error);
            return;
          }
          failures.push({ source: name, error });
          if (index + 1 >= entries.length) {
            subscriber.error(new SourcesFailedError({ failures, required: 1 }));
            return;
          }
          callSafely(onFallback, { source: name, index, error, next: entries[index + 1]![0] });
          if (!subscriber.closed) tryAt(index + 1);
        },
        complete: () => {
          if (!committed) serve();
          const values = held;
          held = [];
          for (const value of values) {
            if (subscriber.closed) return;
            subscriber.next(value);
          }
          subscriber.complete();
        },
      });
      // A source that failed synchronously has already moved on to the next one: keep the newest.
      if (active === index) current = subscription;
    };

    tryAt(0);
    return () => current?.unsubscribe();
  });
}
