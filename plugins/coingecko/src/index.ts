/**
 * `@tributary/plugin-coingecko`: crypto prices from CoinGecko's `/simple/price`, as
 * `tributary.crypto.Price` records shared with the CoinCap and Binance plugins.
 * @packageDocumentation
 */
import { z } from 'zod';
import { ResponseError, definePlugin } from '@tributary/core';
import { assetsOption, collectInBatches, describe, isObject, parseBody, priceSchema, priceStream, providerAssets, withDetail } from '@tributary/crypto-common';
import type { PriceRecord, ProviderAsset } from '@tributary/crypto-common';

export { priceSchema };
export type { AssetEntry } from '@tributary/crypto-common';

const PUBLIC_URL = 'https://api.coingecko.com/api/v3';
const PRO_URL = 'https://pro-api.coingecko.com/api/v3';

const configSchema = z.strictObject({
  assets: assetsOption('coingecko', { requireExplicit: false, idPattern: /^[a-z0-9][a-z0-9._-]*$/, idHint: 'bitcoin' }),
  vsCurrency: z
    .string()
    .regex(/^[a-z0-9]+$/, { error: 'expected a lower-case currency code such as usd or eur' })
    .default('usd'),
  apiKey: z.string().min(1).optional(),
  apiPlan: z.enum(['demo', 'pro']).default('demo'),
  baseUrl: z.url().optional(),
  batchSize: z.number().int().min(1).max(500).default(100),
});

/**
 * The options of a CoinGecko source as written in a pipeline file (defaults may be left out);
 * every option and its default is in the package README.
 *
 * @example
 * ```ts
 * import type { CoinGeckoOptions } from '@tributary/plugin-coingecko';
 * const options: CoinGeckoOptions = { assets: ['bitcoin', { id: 'bnb', coingecko: 'binancecoin' }], vsCurrency: 'eur', apiKey: process.env.COINGECKO_API_KEY };
 * ```
 */
export type CoinGeckoOptions = z.input<typeof configSchema>;

/** One coin in a `/simple/price` answer. */
type SimplePriceEntry = Record<string, number | null | undefined>;

/**
 * The CoinGecko plugin: one `/simple/price` request per `batchSize` assets per cycle, one
 * `prices` record per asset.
 *
 * The price is in `vsCurrency`, the volume is `<vs>_24h_vol` (also in `vsCurrency`), and
 * `observed_at` is CoinGecko's `last_updated_at` (epoch seconds, turned into ms). An API key goes
 * in the `x-cg-demo-api-key` header (or `x-cg-pro-api-key` with `apiPlan: pro`, which also
 * switches the default base URL to pro-api.coingecko.com); it never appears in URLs or logs.
 *
 * @example
 * ```ts
 * import { runPlugin } from '@tributary/core/testing';
 * import coingecko from '@tributary/plugin-coingecko';
 * const { records } = await runPlugin(coingecko, { assets: ['bitcoin', 'ethereum'], apiKey: process.env.CG_KEY });
 * ```
 */
export const plugin = definePlugin({
  name: '@tributary/plugin-coingecko',
  version: '0.1.0',
  coreVersion: '^0.1.0',
  description: 'Crypto prices from CoinGecko /simple/price (tributary.crypto.Price)',
  configSchema,
  streams: {
    prices: priceStream,
  },
  create(config, ctx) {
    const assets = providerAssets(config.assets, 'coingecko');
    const base = (config.baseUrl ?? (config.apiPlan === 'pro' ? PRO_URL : PUBLIC_URL)).replace(/\/+$/, '');
    const url = `${base}/simple/price`;
    const headers: Record<string, string> = {};
    if (config.apiKey) headers[config.apiPlan === 'pro' ? 'x-cg-pro-api-key' : 'x-cg-demo-api-key'] = config.apiKey;
    const vs = config.vsCurrency;

    const toRecords = (body: unknown, batch: readonly ProviderAsset[], fetchedAt: number, missing: string[]): PriceRecord[] => {
      if (!isObject(body)) {
        throw new ResponseError(`CoinGecko /simple/price: expected an object keyed by coin id, got ${describe(body)}`, { source: ctx.source, url });
      }
      const status = body['status'];
      if (isObject(status) && 'error_code' in status && !batch.some((a) => a.providerId === 'status')) {
        throw new ResponseError(`CoinGecko /simple/price answered with error ${String(status['error_code'])}: ${String(status['error_message'] ?? 'no message')}`, {
          source: ctx.source,
          url,
        });
      }
      const out: PriceRecord[] = [];
      for (const asset of batch) {
        const entry = body[asset.providerId];
        if (entry === undefined || entry === null || (isObject(entry) && entry[vs] == null)) {
          missing.push(asset.providerId);
          continue;
        }
        if (!isObject(entry)) {
          throw new ResponseError(`CoinGecko /simple/price: the entry of ${JSON.stringify(asset.providerId)} is ${describe(entry)}, expected { ${vs}: <price>, ... }`, {
            source: ctx.source,
            url,
          });
        }
        const e = entry as SimplePriceEntry;
        const price = e[vs];
        if (typeof price !== 'number' || !Number.isFinite(price)) {
          throw new ResponseError(`CoinGecko /simple/price: ${asset.providerId}.${vs} is ${describe(price)}, expected a number`, { source: ctx.source, url });
        }
        const volume = e[`${vs}_24h_vol`];
        const updated = e['last_updated_at'];
        const observedAt = typeof updated === 'number' && Number.isFinite(updated) && updated > 0 ? Math.round(updated * 1000) : fetchedAt;
        out.push({
          stream: 'prices',
          value: {
            asset: asset.id,
            quote_currency: vs,
            price,
            volume_24h: typeof volume === 'number' && Number.isFinite(volume) ? volume : null,
            observed_at: observedAt,
            provider: 'coingecko',
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
            request: (batch, signal) =>
              ctx.http.getJson$<unknown>(url, {
                query: {
                  ids: batch.map((a) => a.providerId).join(','),
                  vs_currencies: vs,
                  include_24hr_vol: 'true',
                  include_last_updated_at: 'true',
                  precision: 'full',
                },
                headers,
                signal,
              }),
            explainHttpError: (err) => withDetail(err, coinGeckoDetail(err.body)),
            toRecords,
            onMissing: (missing) => ctx.log.warn({ ids: missing, vsCurrency: vs }, 'CoinGecko returned no price for these coin ids (check them against /coins/list)'),
            noRecordsError: (listed) =>
              new ResponseError(`CoinGecko /simple/price returned no price in ${vs} for any of the ${assets.length} requested coin ids (${listed})`, { source: ctx.source, url }),
          },
          cycle.signal,
        ),
    };
  },
});

/** CoinGecko's error text from an error body: `{"status":{"error_code":429,"error_message":"..."}}` or `{"error":"..."}`. */
function coinGeckoDetail(body: string | undefined): string | undefined {
  const parsed = parseBody(body);
  if (!isObject(parsed)) return undefined;
  const status = parsed['status'];
  if (isObject(status)) {
    const code = status['error_code'];
    const message = status['error_message'];
    if (typeof message === 'string') return `CoinGecko error${code !== undefined ? ` ${String(code)}` : ''}: ${message}`;
  }
  if (typeof parsed['error'] === 'string') return `CoinGecko error: ${parsed['error']}`;
  return undefined;
}

export default plugin;
