/**
 * `@tributary/plugin-coincap`: crypto prices from CoinCap's `/assets` (API 3.0 at
 * rest.coincap.io/v3, or the retired 2.0 at api.coincap.io/v2), as `tributary.crypto.Price`
 * records shared with the CoinGecko and Binance plugins.
 * @packageDocumentation
 */
import { z } from 'zod';
import { ResponseError, definePlugin } from '@tributary/core';
import { assetsOption, collectInBatches, decimal, describe, isObject, parseBody, priceSchema, priceStream, providerAssets, withDetail } from '@tributary/crypto-common';
import type { PriceRecord, ProviderAsset } from '@tributary/crypto-common';

export { priceSchema };
export type { AssetEntry } from '@tributary/crypto-common';

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
    prices: priceStream,
  },
  create(config, ctx) {
    const assets = providerAssets(config.assets, 'coincap');
    const url = `${(config.baseUrl ?? BASE_URLS[config.apiVersion]).replace(/\/+$/, '')}/assets`;
    const headers: Record<string, string> = config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {};

    const toRecords = (body: unknown, batch: readonly ProviderAsset[], fetchedAt: number, missing: string[]): PriceRecord[] => {
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
      const out: PriceRecord[] = [];
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

    return {
      collect: (cycle) =>
        collectInBatches(
          {
            assets,
            batchSize: config.batchSize,
            request: (batch, signal) => ctx.http.getJson$<unknown>(url, { query: { ids: batch.map((a) => a.providerId).join(','), limit: batch.length }, headers, signal }),
            explainHttpError: (err) => withDetail(err, coinCapDetail(err.body)),
            toRecords,
            onMissing: (missing) => ctx.log.warn({ ids: missing }, 'CoinCap returned no price for these asset ids (check them against GET /assets?search=...)'),
            noRecordsError: (listed) => new ResponseError(`CoinCap /assets returned no price for any of the ${assets.length} requested asset ids (${listed})`, { source: ctx.source, url }),
          },
          cycle.signal,
        ),
    };
  },
});

/** CoinCap's error text from an error body (`{"error":"..."}` or `{"message":"..."}`). */
function coinCapDetail(body: string | undefined): string | undefined {
  const parsed = parseBody(body);
  if (!isObject(parsed)) return undefined;
  const text = parsed['error'] ?? parsed['message'];
  return typeof text === 'string' ? `CoinCap says: ${text}` : undefined;
}

export default plugin;
