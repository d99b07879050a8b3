import { Observable, from, type ObservableInput, type ObservedValueOf, type Subscription } from 'rxjs';
import { SourcesFailedError, type SourceFailure } from '../errors/SourcesFailedError.js';
import { callSafely } from './internal/operate.js';

/** One value of a {@link mergeSources} result: the name of the source that emitted it, and the value. */
export type SourceValue<S> = S extends readonly unknown[]
  ? { readonly source: string; readonly value: ObservedValueOf<S[number]> }
  : { [K in keyof S & string]: { readonly source: K; readonly value: ObservedValueOf<S[K]> } }[keyof S & string];

/** Outcome of every source of one {@link mergeSources} subscription, given to `onComplete`. */
export interface MergeSourcesSummary {
  /** Names of the sources that completed without error, in the order they completed. */
  readonly succeeded: readonly string[];
  /** The sources that failed, with their errors, in the order they failed. */
  readonly failed: readonly SourceFailure[];
}

/** Options of {@link mergeSources}. */
export interface MergeSourcesOptions {
  /**
   * How many sources must complete without error for the merge to complete; with fewer it errors
   * with a `SourcesFailedError`. A number from 0 to the number of sources, or `'all'` (a quorum of
   * every source). `0` reproduces "never fail, deliver whatever arrived". Default `1` (or `0` when
   * there are no sources).
   */
  minSuccesses?: number | 'all';
  /**
   * Called as soon as a source fails. If it throws, the exception is reported as a process warning
   * (`TRIBUTARY_LISTENER_ERROR`) and the merge goes on.
   */
  onSourceError?: (failure: SourceFailure) => void;
  /**
   * Called once, when every source has completed or failed, just before the merge completes or
   * errors (not when it is unsubscribed early). A throw is reported like `onSourceError`'s.
   */
  onComplete?: (summary: MergeSourcesSummary) => void;
}

/** Sources accepted by {@link mergeSources} and `firstAvailable`: a record of named sources or an array. */
export type NamedSources = Readonly<Record<string, ObservableInput<unknown>>> | readonly ObservableInput<unknown>[];

/**
 * Runs several sources at once and merges their values, tagged with the source's name; a failing
 * source is reported while the others go on.
 *
 * Every source is subscribed at once (in the order given). Each value arrives downstream as
 * `{ source, value }`, where `source` is the key in the record (or the index as a string, `'0'`,
 * `'1'`, …, for an array). A source that errors does not stop the others: it is reported through
 * `onSourceError`, and the merge waits until every source has completed or failed. Then, if at least
 * `minSuccesses` sources completed, the merge completes; otherwise it errors with a
 * `SourcesFailedError` (an `AggregateError`) whose message names each failed source and its error —
 * after all values of the other sources have been delivered. `onComplete` receives the list of
 * sources that succeeded and of those that failed. A quorum is `minSuccesses: 'all'` (or any number
 * up to the number of sources).
 *
 * The result is cold: each subscriber runs every source anew. Unsubscribing unsubscribes every
 * source that is still running. To bound slow sources, give each one an `attemptTimeout`.
 *
 * @param sources A record `{ name: source$ }` or an array of sources (any RxJS `ObservableInput`).
 * @param options See {@link MergeSourcesOptions}.
 * @example
 * ```ts
 * import { mergeSources } from '@tributary/core';
 *
 * // partial success beats total failure: two of three news sources are enough
 * mergeSources(
 *   { newsapi: newsApi$, google: googleNews$, finnhub: finnhub$ },
 *   { minSuccesses: 2, onSourceError: ({ source, error }) => log.warn({ source, err: error }, 'source failed') },
 * ).subscribe(({ source, value }) => store(source, value));
 * ```
 */
export function mergeSources<const S extends NamedSources>(sources: S, options: MergeSourcesOptions = {}): Observable<SourceValue<S>> {
  const entries = namedEntries('mergeSources', sources);
  const min = options.minSuccesses ?? Math.min(1, entries.length);
  const required = min === 'all' ? entries.length : min;
  if (!Number.isInteger(required) || required < 0 || required > entries.length) {
    throw new RangeError(
      `mergeSources: minSuccesses must be 'all' or an integer from 0 to the number of sources (${entries.length}), got ${String(min)}`,
    );
  }
  const { onSourceError, onComplete } = options;
  if (onSourceError !== undefined && typeof onSourceError !== 'function') throw new TypeError('mergeSources: onSourceError must be a function');
  if (onComplete !== undefined && typeof onComplete !== 'function') throw new TypeError('mergeSources: onComplete must be a function');

  return new Observable<SourceValue<S>>((subscriber) => {
    const succeeded: string[] = [];
    const failed: SourceFailure[] = [];
    const subscriptions: Subscription[] = [];
    let settled = 0;

    const settle = (): void => {
      if (++settled < entries.length) return;
      callSafely(onComplete, { succeeded: [...succeeded], failed: [...failed] });
      if (succeeded.length >= required) subscriber.complete();
      else subscriber.error(new SourcesFailedError({ failures: failed, succeeded, required }));
    };

    if (entries.length === 0) {
      callSafely(onComplete, { succeeded: [], failed: [] });
      subscriber.complete();
      return undefined;
    }
    for (const [name, input] of entries) {
      if (subscriber.closed) break;
      subscriptions.push(
        input.subscribe({
          next: (value) => subscriber.next({ source: name, value } as SourceValue<S>),
          error: (error: unknown) => {
            failed.push({ source: name, error });
            callSafely(onSourceError, { source: name, error });
            settle();
          },
          complete: () => {
            succeeded.push(name);
            settle();
          },
        }),
      );
    }
    return () => {
      for (const s of subscriptions) s.unsubscribe();
    };
  });
}

/**
 * @internal Turns a record or an array of sources into `[name, Observable]` pairs, checking each one.
 * Array sources are named by their index (`'0'`, `'1'`, …).
 */
export function namedEntries(operator: string, sources: NamedSources): [string, Observable<unknown>][] {
  if (typeof sources !== 'object' || sources === null) {
    throw new TypeError(`${operator}: sources must be a record of Observables or an array of Observables, got ${sources === null ? 'null' : typeof sources}`);
  }
  const pairs: [string, unknown][] = Array.isArray(sources)
    ? sources.map((s, i) => [String(i), s])
    : Object.entries(sources as Record<string, unknown>);
  return pairs.map(([name, input]) => {
    // Strings are iterable, so RxJS would emit their characters: almost surely a mistake here (a URL?).
    if (typeof input === 'string') throw new TypeError(`${operator}: source "${name}" is a string, not an Observable`);
    try {
      return [name, from(input as ObservableInput<unknown>)];
    } catch {
      throw new TypeError(`${operator}: source "${name}" is not an Observable (or other ObservableInput), got ${input === null ? 'null' : typeof input}`);
    }
  });
}
