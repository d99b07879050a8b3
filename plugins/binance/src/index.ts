/**
 * `@tributary/plugin-binance`: spot prices from Binance's `/api/v3/ticker/24hr` (or
 * `/api/v3/ticker/price`), as `tributary.crypto.Price` records shared with the CoinGecko and
 * CoinCap plugins.
 * @packageDocumentation
 */
import { z } from 'zod';
import { ResponseError, definePlugin } from '@tributary/core';
import type { HttpError } from '@tributary/core';
import { assetsOption, collectInBatches, decimal, describe, isObject, parseBody, priceSchema, priceStream, providerAssets, withDetail } from '@tributary/crypto-common';
import type { PriceRecord, ProviderAsset } from '@tributary/crypto-common';

export { priceSchema };
export type { AssetEntry } from '@tributary/crypto-common';

const configSchema = z.strictObject({
  assets: assetsOption('binance', { requireExplicit: true, idPattern: /^[A-Z0-9_.-]{2,30}$/, idHint: 'BTCUSDT' }),
  endpoint: z.enum(['ticker/24hr', 'ticker/price']).default('ticker/24hr'),
  quoteCurrency: z
    .string()
    .regex(/^[a-z0-9]+$/, { error: 'expected a lower-case currency code such as usd or usdt' })
    .default('usd'),
  baseUrl: z.url().default('https://api.binance.com'),
  batchSize: z.number().int().min(1).max(100).default(20),
});

/**
 * The options of a Binance source as written in a pipeline file (defaults may be left out);
 * every option and its default is in the package README.
 *
 * @example
 * ```ts
 * import type { BinanceOptions } from '@tributary/plugin-binance';
 * const options: BinanceOptions = { assets: [{ id: 'bitcoin', binance: 'BTCUSDT' }], endpoint: 'ticker/price' };
 * ```
 */
export type BinanceOptions = z.input<typeof configSchema>;

/**
 * The Binance plugin: one ticker request per `batchSize` symbols per cycle (the `symbols`
 * parameter), one `prices` record per asset.
 *
 * With `endpoint: ticker/24hr` (the default, `type=MINI`), the price is `lastPrice`, the volume
 * is `quoteVolume` (in the quote asset) and `observed_at` is the ticker's `closeTime`; with
 * `ticker/price` there is only `price`, so the volume is null and `observed_at` is the time of the
 * fetch. Binance sends numbers as strings; they are parsed. Prices are in the pair's quote asset:
 * `quoteCurrency` (default `usd`) labels them, so USDT pairs merge with the USD prices of
 * CoinGecko and CoinCap (set `usdt` to keep them apart).
 *
 * @example
 * ```ts
 * import { runPlugin } from '@tributary/core/testing';
 * import binance from '@tributary/plugin-binance';
 * const { records } = await runPlugin(binance, { assets: [{ id: 'bitcoin', binance: 'BTCUSDT' }] });
 * ```
 */
export const plugin = definePlugin({
  name: '@tributary/plugin-binance',
  version: '0.1.0',
  coreVersion: '^0.1.0',
  description: 'Spot prices from Binance /api/v3/ticker (tributary.crypto.Price)',
  configSchema,
  streams: {
    prices: priceStream,
  },
  create(config, ctx) {
    const assets = providerAssets(config.assets, 'binance');
    const url = `${config.baseUrl.replace(/\/+$/, '')}/api/v3/${config.endpoint}`;
    const full = config.endpoint === 'ticker/24hr';

    const toRecords = (body: unknown, batch: readonly ProviderAsset[], fetchedAt: number, missing: string[]): PriceRecord[] => {
      if (!Array.isArray(body)) {
        const apiError = isObject(body) && typeof body['msg'] === 'string' ? ` (Binance error ${String(body['code'])}: ${body['msg']})` : '';
        throw new ResponseError(`Binance /api/v3/${config.endpoint}: expected a list of tickers, got ${describe(body)}${apiError}`, { source: ctx.source, url });
      }
      const bySymbol = new Map<string, Record<string, unknown>>();
      body.forEach((item: unknown, i) => {
        if (!isObject(item) || typeof item['symbol'] !== 'string') {
          throw new ResponseError(`Binance /api/v3/${config.endpoint}: item ${i} is ${describe(item)}, expected a ticker with a symbol`, { source: ctx.source, url });
        }
        bySymbol.set(item['symbol'], item);
      });
      const out: PriceRecord[] = [];
      for (const asset of batch) {
        const ticker = bySymbol.get(asset.providerId);
        if (!ticker) {
          missing.push(asset.providerId);
          continue;
        }
        const field = full ? 'lastPrice' : 'price';
        const price = decimal(ticker[field]);
        if (price === undefined) {
          throw new ResponseError(`Binance /api/v3/${config.endpoint}: ${field} of ${asset.providerId} is ${describe(ticker[field])}, expected a decimal string`, { source: ctx.source, url });
        }
        const closeTime = ticker['closeTime'];
        const observedAt = full && typeof closeTime === 'number' && Number.isFinite(closeTime) && closeTime > 0 ? closeTime : fetchedAt;
        out.push({
          stream: 'prices',
          value: {
            asset: asset.id,
            quote_currency: config.quoteCurrency,
            price,
            volume_24h: full ? (decimal(ticker['quoteVolume']) ?? null) : null,
            observed_at: observedAt,
            provider: 'binance',
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
            request: (batch, signal) => {
              const query: Record<string, string> = { symbols: JSON.stringify(batch.map((a) => a.providerId)) };
              if (full) query['type'] = 'MINI';
              return ctx.http.getJson$<unknown>(url, { query, signal });
            },
            explainHttpError: binanceError,
            toRecords,
            onMissing: (missing) => ctx.log.warn({ symbols: missing }, 'Binance returned no ticker for these symbols'),
            noRecordsError: (listed) =>
              new ResponseError(`Binance /api/v3/${config.endpoint} returned no ticker for any of the ${assets.length} requested symbols (${listed})`, { source: ctx.source, url }),
          },
          cycle.signal,
        ),
    };
  },
});

/**
 * An `HttpError` with Binance's explanation: its `{ code, msg }` error document, and what 418
 * (IP banned), 429 (rate limit) and 451 (restricted location) mean. Status and `retryAfterMs`
 * are kept.
 */
function binanceError(err: HttpError): HttpError {
  const parsed = parseBody(err.body);
  const doc = isObject(parsed) && typeof parsed['msg'] === 'string' ? `Binance error ${String(parsed['code'])}: ${parsed['msg']}` : undefined;
  const wait = err.retryAfterMs !== undefined ? ` for ${Math.round(err.retryAfterMs / 1000)} s (Retry-After)` : '';
  let meaning: string | undefined;
  if (err.status === 418) meaning = `this IP is banned${wait} after repeated rate-limit violations; do not call again before then`;
  else if (err.status === 429) meaning = `request weight limit exceeded; back off${wait} or Binance bans the IP (HTTP 418)`;
  else if (err.status === 451) meaning = 'Binance refuses requests from the location of this host (restricted location); run the source from an eligible region';
  const detail = [doc, meaning].filter(Boolean).join('; ');
  return withDetail(err, detail || undefined);
}

export default plugin;
