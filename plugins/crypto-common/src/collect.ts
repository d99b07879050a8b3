/**
 * The collection cycle shared by the crypto price plugins: the assets in batches, one request per
 * batch, one after the other, and a warning or an error about assets the provider did not return.
 */
import { EMPTY, catchError, concat, concatMap, defer, from, map, throwError, type Observable } from 'rxjs';
import { isHttpError } from '@tributary/core';
import type { HttpError } from '@tributary/core';
import { chunks, type ProviderAsset } from './assets.js';

/** Options of {@link collectInBatches}. */
export interface BatchCycleOptions<R> {
  /** The assets to collect, in order (see `providerAssets`). */
  assets: readonly ProviderAsset[];
  /** At most this many assets per request. */
  batchSize: number;
  /** The request of one batch: an Observable of the decoded answer (e.g. `ctx.http.getJson$`). */
  request: (batch: readonly ProviderAsset[], signal: AbortSignal) => Observable<unknown>;
  /**
   * Turns an `HttpError` of a request into the one the cycle fails with, e.g. to add the
   * provider's own error text with `withDetail`. Default: the error as it is. Other errors pass
   * through untouched.
   */
  explainHttpError?: (err: HttpError) => HttpError;
  /**
   * The records of one answer. `fetchedAt` is the time the answer arrived (for providers that
   * send no timestamp); provider ids of the batch that got no price go onto `missing`. Throwing
   * (e.g. a `ResponseError`) fails the cycle.
   */
  toRecords: (body: unknown, batch: readonly ProviderAsset[], fetchedAt: number, missing: string[]) => R[];
  /** Called once after the last batch when some provider ids got no price (e.g. to log a warning). */
  onMissing: (missing: readonly string[]) => void;
  /**
   * The error a cycle fails with when no batch produced a record; `listed` names the first five
   * missing ids (`a, b, c, d, e, …`).
   */
  noRecordsError: (listed: string, missing: readonly string[]) => Error;
}

/**
 * One collection cycle over batches of assets: the records of every batch, in order.
 *
 * The assets are split into chunks of `batchSize`; each chunk is requested in turn (never two at
 * once), its HTTP errors go through `explainHttpError`, its answer through `toRecords`. After the
 * last batch, `onMissing` hears about assets the provider did not return, and if no record came
 * out at all the cycle fails with `noRecordsError`, so a `first-available` group moves on to the
 * next provider. Nothing happens before subscription; each subscription is a new cycle.
 *
 * @example
 * ```ts
 * import { collectInBatches, providerAssets } from '@tributary/crypto-common';
 * const collect = (cycle: { signal: AbortSignal }) =>
 *   collectInBatches({
 *     assets: providerAssets(config.assets, 'coincap'),
 *     batchSize: 100,
 *     request: (batch, signal) => ctx.http.getJson$(url, { query: { ids: batch.map((a) => a.providerId).join(',') }, signal }),
 *     toRecords: (body, batch, fetchedAt, missing) => toPriceRecords(body, batch, fetchedAt, missing),
 *     onMissing: (ids) => ctx.log.warn({ ids }, 'no price for these ids'),
 *     noRecordsError: (listed) => new Error(`no price for any requested id (${listed})`),
 *   }, cycle.signal);
 * ```
 */
export function collectInBatches<R>(options: BatchCycleOptions<R>, signal: AbortSignal): Observable<R> {
  const { assets, batchSize, request, explainHttpError, toRecords, onMissing, noRecordsError } = options;
  return defer(() => {
    const missing: string[] = [];
    let emitted = 0;
    const records$ = from(chunks(assets, batchSize)).pipe(
      concatMap((batch) =>
        request(batch, signal).pipe(
          catchError((err: unknown) => throwError(() => (explainHttpError && isHttpError(err) ? explainHttpError(err) : err))),
          map((body) => toRecords(body, batch, Date.now(), missing)),
        ),
      ),
      concatMap((records) => {
        emitted += records.length;
        return from(records);
      }),
    );
    const finish$ = defer(() => {
      if (missing.length > 0) onMissing(missing);
      if (emitted > 0) return EMPTY;
      const listed = `${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`;
      return throwError(() => noRecordsError(listed, missing));
    });
    return concat(records$, finish$);
  });
}
