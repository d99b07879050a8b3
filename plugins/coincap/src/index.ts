/**
 * `@tributary/plugin-coincap`: crypto prices from CoinCap's `/assets` (API 3.0 at
 * rest.coincap.io/v3, or the retired 2.0 at api.coincap.io/v2), as `tributary.crypto.Price`
 * records shared with the CoinGecko and Binance plugins.
 * @packageDocumentation
 */
import { EMPTY, catchError, concat, concatMap, defer, from, map, throwError, type Observable } from 'rxjs';
import { z } from 'zod';
import { ResponseError, definePlugin, isHttpError } from '@tributary/core';
import type { InferAvro, StreamRecord } from '@tributary/core';
import { assetsOption, chunks, providerAssets, type ProviderAsset } from './assets.js';
import { describe, isObject, parseBody, withDetail } from './errors.js';
import { priceSchema } from './schema.js';

export { priceSchema };
export type { AssetEntry } from './assets.js';

const BASE_URLS = { v3: 'https://rest.coincap.io/v3', v2: 'https://api.coincap.io/v2' } as const;

const configSchema = z
  .strictObject({
    assets: assetsOption('coincap', { requireExplicit: false, idPattern: /^[a-z0-9][a-z0-9._-]*$/, idHint: 'bitcoin' }),
    apiVersion: z.enum(['v3', 'v2']).default('v3'),
    apiKey: z.string().min(1).optional(),
    baseUrl: z.url().optional(),
    batchSize: z.number().int().min(1).max(2000).default(100),
  })
  .superRefine((c, ctx) => {
    if (c.apiVersion === 'v3' && c.apiKey === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiKey'],
        message: 'expected an API key: CoinCap API 3.0 (rest.coincap.io/v3) needs one (apiKey: ${COINCAP_API_KEY}); the keyless 2.0 API is apiVersion: v2',
      });
    }
  });

/**
 * The options of a CoinCap source as written in a pipeline file (defaults may be left out);
 * every option and its default is in the package README.
 *
 * @example
 * ```ts
 * import type { CoinCapOptions } from '@tributary/plugin-coincap';
 * const options: CoinCapOptions = { assets: ['bitcoin', 'ethereum'], apiKey: process.env.COINCAP_API_KEY };
 * ```
 */
export type CoinCapOptions = z.input<typeof configSchema>;

/** A record of the `prices` stream. */
type Out = StreamRecord<'prices', InferAvro<typeof priceSchema>>;

/**
 * The CoinCap plugin: one `GET /assets?ids=...` per `batchSize` assets per cycle, one `prices`
 * record per asset.
 *
 * CoinCap sends its numbers as strings (`"priceUsd": "96243.89"`); they are parsed. Prices and
 * volumes are in USD (`quote_currency: usd`); `observed_at` is the answer's `timestamp` (epoch
 * ms). API 3.0 (the default) needs an API key, sent as `Authorization: Bearer <key>` so that it
 * never appears in a URL.
 *
 * @example
 * ```ts
 * import { runPlugin } from '@tributary/core/testing';
 * import coincap from '@tributary/plugin-coincap';
 * const { records } = await runPlugin(coincap, { assets: ['bitcoin', 'ethereum'], apiKey: process.env.COINCAP_API_KEY });
 * ```
 */
export const plugin = definePlugin({
  name: '@tributary/plugin-coincap',
  version: '0.1.0',
  coreVersion: '^0.1.0',
  description: 'Crypto prices from CoinCap /assets (tributary.crypto.Price)',
  configSchema,
  streams: {
    prices: { schema: priceSchema, key: 'asset', description: 'The price of one asset from one provider' },
  },
  create(config, ctx) {
    const assets = providerAssets(config.assets, 'coincap');
    const url = `${(config.baseUrl ?? BASE_URLS[config.apiVersion]).replace(/\/+$/, '')}/assets`;
    const headers: Record<string, string> = config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {};

    const toRecords = (body: unknown, batch: readonly ProviderAsset[], fetchedAt: number, missing: string[]): Out[] => {
      if (!isObject(body) || !Array.isArray(body['data'])) {
        const apiError = isObject(body) && typeof body['error'] === 'string' ? ` (CoinCap says: ${body['error']})` : '';
        throw new ResponseError(`CoinCap /assets: expected { data: [...], timestamp }, got ${describe(body)}${apiError}`, { source: ctx.source, url });
      }
      const timestamp = body['timestamp'];
      const observedAt = typeof timestamp === 'number' && Number.isFinite(timestamp) && timestamp > 0 ? timestamp : fetchedAt;
      const byId = new Map<string, Record<string, unknown>>();
      (body['data'] as unknown[]).forEach((item, i) => {
        if (!isObject(item) || typeof item['id'] !== 'string') {
          throw new ResponseError(`CoinCap /assets: data[${i}] is ${describe(item)}, expected an asset with an id`, { source: ctx.source, url });
        }
        byId.set(item['id'], item);
      });
      const out: Out[] = [];
      for (const asset of batch) {
        const item = byId.get(asset.providerId);
        if (!item || item['priceUsd'] === null || item['priceUsd'] === undefined) {
          missing.push(asset.providerId);
          continue;
        }
        const price = decimal(item['priceUsd']);
        if (price === undefined) {
          throw new ResponseError(`CoinCap /assets: priceUsd of ${JSON.stringify(asset.providerId)} is ${describe(item['priceUsd'])}, expected a decimal string`, { source: ctx.source, url });
        }
        out.push({
          stream: 'prices',
          value: {
            asset: asset.id,
            quote_currency: 'usd',
            price,
            volume_24h: decimal(item['volumeUsd24Hr']) ?? null,
            observed_at: observedAt,
            provider: 'coincap',
          },
          timestamp: observedAt,
        });
      }
      return out;
    };

    const fetchBatch = (batch: readonly ProviderAsset[], missing: string[], signal: AbortSignal): Observable<Out[]> =>
      ctx.http.getJson$<unknown>(url, { query: { ids: batch.map((a) => a.providerId).join(','), limit: batch.length }, headers, signal }).pipe(
        catchError((err: unknown) => throwError(() => (isHttpError(err) ? withDetail(err, coinCapDetail(err.body)) : err))),
        map((body) => toRecords(body, batch, Date.now(), missing)),
      );

    return {
      collect: (cycle) =>
        defer(() => {
          const missing: string[] = [];
          let emitted = 0;
          const records$ = from(chunks(assets, config.batchSize)).pipe(
            concatMap((batch) => fetchBatch(batch, missing, cycle.signal)),
            concatMap((records) => {
              emitted += records.length;
              return from(records);
            }),
          );
          const finish$ = defer(() => {
            if (missing.length > 0) ctx.log.warn({ ids: missing }, 'CoinCap returned no price for these asset ids (check them against GET /assets?search=...)');
            if (emitted > 0) return EMPTY;
            const listed = `${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`;
            return throwError(() => new ResponseError(`CoinCap /assets returned no price for any of the ${assets.length} requested asset ids (${listed})`, { source: ctx.source, url }));
          });
          return concat(records$, finish$);
        }),
    };
  },
});

/** A CoinCap decimal string (or number) as a number; `undefined` when it is missing or not a number. */
function decimal(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** CoinCap's error text from an error body (`{"error":"..."}` or `{"message":"..."}`). */
function coinCapDetail(body: string | undefined): string | undefined {
  const parsed = parseBody(body);
  if (!isObject(parsed)) return undefined;
  const text = parsed['error'] ?? parsed['message'];
  return typeof text === 'string' ? `CoinCap says: ${text}` : undefined;
}

export default plugin;
