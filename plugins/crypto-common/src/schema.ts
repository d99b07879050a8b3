/**
 * The shared crypto price record, declared once for @tributary/plugin-coingecko,
 * @tributary/plugin-coincap and @tributary/plugin-binance, so that a multi-source group of the
 * three writes one topic.
 */
import type { InferAvro, StreamDefinition, StreamRecord } from '@tributary/core';

/**
 * Avro schema of the `prices` stream: `tributary.crypto.Price`.
 *
 * The one schema object of every crypto price plugin; each plugin re-exports it as `priceSchema`.
 *
 * @example
 * ```ts
 * import { priceSchema } from '@tributary/crypto-common';
 * console.log(`${priceSchema.namespace}.${priceSchema.name}`); // tributary.crypto.Price
 * ```
 */
export const priceSchema = {
  type: 'record',
  name: 'Price',
  namespace: 'tributary.crypto',
  doc: 'The price of one crypto asset as reported by one provider (CoinGecko, CoinCap or Binance).',
  fields: [
    { name: 'asset', type: 'string', doc: 'Canonical lower-case asset id, the same for every provider (e.g. bitcoin).' },
    { name: 'quote_currency', type: 'string', doc: 'Lower-case code of the currency the price is in (e.g. usd).' },
    { name: 'price', type: 'double', doc: 'Price of one unit of the asset, in quote_currency.' },
    { name: 'volume_24h', type: ['null', 'double'], default: null, doc: 'Traded volume of the last 24 hours, in quote_currency; null when the provider gives none.' },
    {
      name: 'observed_at',
      type: { type: 'long', logicalType: 'timestamp-millis' },
      doc: "When the price was current: the provider's own timestamp when it sends one, else the time of the fetch.",
    },
    { name: 'provider', type: 'string', doc: 'Where the price comes from: coingecko, coincap or binance.' },
  ],
} as const;

/**
 * The value of one `prices` record (one field per field of {@link priceSchema}).
 *
 * @example
 * ```ts
 * import type { Price } from '@tributary/crypto-common';
 * const p: Price = { asset: 'bitcoin', quote_currency: 'usd', price: 96243.9, volume_24h: null, observed_at: Date.now(), provider: 'coincap' };
 * ```
 */
export type Price = InferAvro<typeof priceSchema>;

/**
 * A record of the `prices` stream, as a collector emits it.
 *
 * @example
 * ```ts
 * import type { PriceRecord } from '@tributary/crypto-common';
 * const r: PriceRecord = { stream: 'prices', value: { asset: 'bitcoin', quote_currency: 'usd', price: 1, volume_24h: null, observed_at: 0, provider: 'binance' }, timestamp: 0 };
 * ```
 */
export type PriceRecord = StreamRecord<'prices', Price>;

/**
 * The `prices` stream of every crypto price plugin: schema {@link priceSchema}, Kafka key
 * `asset`.
 *
 * @example
 * ```ts
 * import { definePlugin } from '@tributary/core';
 * import { priceStream } from '@tributary/crypto-common';
 * // definePlugin({ ..., streams: { prices: priceStream }, ... })
 * console.log(priceStream.key); // asset
 * ```
 */
export const priceStream = {
  schema: priceSchema,
  key: 'asset',
  description: 'The price of one asset from one provider',
} as const satisfies StreamDefinition<typeof priceSchema>;
